"""What the indexes kept beside the SQLite database share: one kind, ``DerivedIndex``, that follows
the store's change log (``change_log.py``): the exact vector matrix (``vectors``), the keyword
index (``keyword_index``) and the dense index (``dense_index``), each in its own file. The two on
disk also share a state file naming the store and the change-log position they reflect, written
atomically after the index itself, and a write lock one process (or connection) holds at a time."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .change_log import ChangeLog


class DerivedIndex(Protocol):
    """An index derived from the store's rows that follows its change log."""

    def follow(self, log: ChangeLog) -> bool:
        """Bring the index to the log's last position (the chunks named since its own, or every
        row again); False when it cannot answer now, and the store's own search answers."""
        ...


def read_state(folder: Path, store_id: str, version: int) -> dict[str, Any] | None:
    """``folder/state.json`` when it is of format ``version`` and names store ``store_id``; None
    when it is missing, unreadable, of another format or another store's."""
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("format") != version or state.get("store") != store_id:
        return None
    return state


def write_state(folder: Path, state: dict[str, Any]) -> None:
    """Replace ``folder/state.json`` at once: a crash leaves the old one or the new one."""
    temporary = folder / "state.json.tmp"
    temporary.write_text(json.dumps(state))
    os.replace(temporary, folder / "state.json")


@contextlib.contextmanager
def write_lock(folder: Path) -> Iterator[bool]:
    """Hold the lock on ``folder`` (yields True), or yield False while another holds it. ``flock``
    on a file beside the folder: the kernel releases it when its holder dies, and two connections
    of one process exclude each other as two processes do."""
    path = folder.with_name(folder.name + ".lock")
    with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600)) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove(folder: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(folder)
