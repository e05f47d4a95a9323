"""The error hierarchy.

Every error a user can cause is an ``ExpertError``: its message says what was expected, what was
found and what to do, on one line, so the CLI can print it without a traceback.
"""

from __future__ import annotations


class ExpertError(Exception):
    """Base class of every error caused by input, configuration or the environment."""

    exit_code = 2


class ConfigError(ExpertError):
    """A setting in expert.toml, the environment or a flag is invalid."""


class WorkspaceError(ExpertError):
    """The workspace is missing, damaged, or was built with other settings."""


class EmbedderMismatchError(WorkspaceError):
    """The configured embedder is not the one that built the workspace's vectors."""


class LoadError(ExpertError):
    """One file could not be read; ingest skips it and carries on with the others."""


class EmbedderError(ExpertError):
    """The embedder could not be loaded or did not answer."""


class StoreError(ExpertError):
    """The store rejected an operation."""


class GeneratorError(ExpertError):
    """The generator could not be loaded or did not answer."""
