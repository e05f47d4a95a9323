"""Every error the package raises on purpose, in two branches, and what each means to a caller.

An ``ExpertError``'s message says what was expected, what was found and what to do, on one
line, so the CLI prints it without a traceback and the server sends it as the error's message.

- ``UserError``: the user's input or settings are wrong (a missing file, a bad flag, an empty
  question, a model folder that is not one). Fixing the input fixes it. Exit code 2, HTTP 4xx.
- ``UpstreamError``: something the package relies on failed (a model server or embedding API
  that is down or answers nonsense, later a database server). The same command may work later.
  Exit code 3, HTTP 502 (answered badly) or 503 (unreachable).

``STATUS`` is the one table from class to exit code and HTTP status; ``exit_code`` and
``http_status`` read it along the class's ancestry, so a new subclass inherits its branch's
codes unless it is given its own row::

    >>> exit_code(ConfigError("x")), http_status(ConfigError("x"))
    (2, 400)
    >>> exit_code(UnreachableError("x")), http_status(UnreachableError("x"))
    (3, 503)
"""

from __future__ import annotations


class ExpertError(Exception):
    """Base class of every error the package raises on purpose."""


# -- the user's input or settings ---------------------------------------------------------------
class UserError(ExpertError):
    """The user's input, files or settings are wrong; changing them fixes it."""


class InputError(UserError):
    """A request is malformed: an empty question, ``k < 1``, an unknown search mode, bad flags."""


class ConfigError(UserError):
    """A setting in expert.toml, the environment or a flag is invalid."""


class WorkspaceError(UserError):
    """The workspace is missing, damaged, or was built with other settings."""


class EmbedderMismatchError(WorkspaceError):
    """The configured embedder is not the one that built the workspace's vectors."""


class StoreUnreachableError(WorkspaceError):
    """The store's database server cannot be reached (down, refused, timed out); ``detail`` is
    the driver's own words."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail or message


class StoreError(WorkspaceError):
    """The store refused an operation (vectors of the wrong dimension, a schema it cannot read)."""


class LoadError(UserError):
    """One file could not be read; ingest skips it and carries on with the others."""


class ModelError(UserError):
    """A model reference names nothing usable: a missing file, a folder that is not a model, an
    adapter without its base."""


class MissingExtraError(UserError):
    """A command needs an optional part of the install (an extra: ``train``, ``ocr``,
    ``postgres``, ``eval``) that is not installed; the message names it and how to add it."""


class EmbedderError(ModelError):
    """The embedder could not be loaded, or its settings are wrong."""


class GeneratorError(ModelError):
    """The generator could not be loaded, or its settings are wrong."""


class ChatTemplateError(GeneratorError):
    """The model has no usable chat template, or the one named cannot be read."""


class NotFoundError(InputError):
    """A request names something that does not exist: a model, a collection, a document, a job."""


class TooLargeError(InputError):
    """A request or upload is larger than the server accepts."""


class AuthenticationError(UserError):
    """A server request carries no key, or a key that is wrong or revoked."""


class PermissionDeniedError(UserError):
    """A server request's key may not read or write what the request names."""


class QuestionTooLongError(InputError):
    """The question (with its chat history) leaves no room for sources or the answer."""


class DatasetError(UserError):
    """A training or evaluation data file is missing or holds no usable example."""


class BuildError(UserError):
    """A dataset cannot be built from the workspace (no chunks, existing output)."""


class TargetError(UserError):
    """LoRA target modules that the model does not have."""


class TrainError(UserError):
    """Training cannot start or continue: bad base model, data, run directory or hardware."""


class ExportError(UserError):
    """A run cannot be exported (not a finished run, converter missing or failing)."""


# -- something upstream failed -------------------------------------------------------------------
class UpstreamError(ExpertError):
    """A server the package relies on answered with an error or with something it cannot read."""


class UnreachableError(UpstreamError):
    """A server the package relies on cannot be reached, or kept failing through the retries."""


class GenerationError(UpstreamError):
    """A loaded model failed while generating (out of memory, a runtime error in the library)."""


class BusyError(UpstreamError):
    """The server's model or writer is taken and its queue is full; ``retry_after`` says when to
    try again (seconds)."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


# class -> (exit code, HTTP status); a class without a row takes its nearest ancestor's.
STATUS: dict[type[ExpertError], tuple[int, int]] = {
    ExpertError: (2, 400),
    UserError: (2, 400),
    InputError: (2, 400),
    QuestionTooLongError: (2, 413),
    NotFoundError: (2, 404),
    TooLargeError: (2, 413),
    AuthenticationError: (2, 401),
    PermissionDeniedError: (2, 403),
    ConfigError: (2, 400),
    WorkspaceError: (2, 409),
    LoadError: (2, 422),
    ModelError: (2, 400),
    DatasetError: (2, 422),
    UpstreamError: (3, 502),
    UnreachableError: (3, 503),
    GenerationError: (3, 502),
    BusyError: (3, 503),
}


def _status(exc: BaseException) -> tuple[int, int]:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return (1, 500)  # not ours: a bug, which the caller reports as such


def exit_code(exc: BaseException) -> int:
    """The CLI's exit code for ``exc``: 2 for the user's input or settings, 3 upstream."""
    return _status(exc)[0]


def http_status(exc: BaseException) -> int:
    """The HTTP status a server answers ``exc`` with: 4xx for the request, 502/503 upstream."""
    return _status(exc)[1]


__all__ = [
    "STATUS",
    "AuthenticationError",
    "BuildError",
    "BusyError",
    "ChatTemplateError",
    "ConfigError",
    "DatasetError",
    "EmbedderError",
    "EmbedderMismatchError",
    "ExpertError",
    "ExportError",
    "GenerationError",
    "GeneratorError",
    "InputError",
    "LoadError",
    "MissingExtraError",
    "ModelError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuestionTooLongError",
    "StoreError",
    "StoreUnreachableError",
    "TargetError",
    "TooLargeError",
    "TrainError",
    "UnreachableError",
    "UpstreamError",
    "UserError",
    "WorkspaceError",
    "exit_code",
    "http_status",
]
