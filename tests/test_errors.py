"""Errors with a class: every error lives in ``errors.py``, is exported, and maps to one exit code
and one HTTP status through ``STATUS``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import industry_expert
from industry_expert import errors
from industry_expert.errors import (
    AuthenticationError,
    BusyError,
    ConfigError,
    ExpertError,
    GenerationError,
    InputError,
    LoadError,
    NotFoundError,
    PermissionDeniedError,
    TooLargeError,
    UnreachableError,
    UpstreamError,
    UserError,
    WorkspaceError,
    exit_code,
    http_status,
)


def _package_modules() -> list[str]:
    names = ["industry_expert"]
    for info in pkgutil.walk_packages(industry_expert.__path__, "industry_expert."):
        if not info.name.endswith(".__main__"):  # runs the command when imported
            names.append(info.name)
    return names


def test_every_error_class_is_defined_in_errors_and_exported() -> None:
    defined_elsewhere = []
    for name in _package_modules():
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, ExpertError) and obj.__module__ != errors.__name__:
                defined_elsewhere.append(f"{obj.__module__}.{obj.__name__}")
    assert defined_elsewhere == []
    classes = [c for c in vars(errors).values() if inspect.isclass(c) and issubclass(c, ExpertError)]
    assert len(classes) >= 20
    for cls in classes:
        assert getattr(industry_expert, cls.__name__) is cls, cls
        assert cls.__doc__, cls
        # every error is in exactly one branch
        assert cls is ExpertError or issubclass(cls, UserError) != issubclass(cls, UpstreamError), cls


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (ConfigError("bad setting"), 2, 400),
        (InputError("empty question"), 2, 400),
        (WorkspaceError("no workspace"), 2, 409),
        (LoadError("corrupt PDF"), 2, 422),
        (UpstreamError("server answered nonsense"), 3, 502),
        (UnreachableError("server down"), 3, 503),
        (GenerationError("out of memory"), 3, 502),
        (NotFoundError("no such model"), 2, 404),
        (TooLargeError("huge upload"), 2, 413),
        (AuthenticationError("no key"), 2, 401),
        (PermissionDeniedError("other collection"), 2, 403),
        (BusyError("queue full", 7), 3, 503),
    ],
)
def test_one_table_maps_errors_to_exit_codes_and_http_statuses(
    error: ExpertError, code: int, status: int
) -> None:
    assert (exit_code(error), http_status(error)) == (code, status)


def test_a_new_subclass_inherits_its_branch_and_a_foreign_error_is_a_bug() -> None:
    class PluginError(UnreachableError):
        """A third-party backend's server is down."""

    assert (exit_code(PluginError("x")), http_status(PluginError("x"))) == (3, 503)
    assert (exit_code(ValueError("x")), http_status(ValueError("x"))) == (1, 500)
    for cls, (code, status) in errors.STATUS.items():
        branch_upstream = issubclass(cls, UpstreamError)
        assert code == (3 if branch_upstream else 2), cls
        assert (500 <= status < 600) if branch_upstream else (400 <= status < 500), cls
