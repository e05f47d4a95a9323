"""Folders kept in sync with the store: ``expert ingest --watch DIR...`` and ``expert serve
--watch DIR=COLLECTION`` (watchfiles: the operating system's notifications, through the Rust
``notify`` crate).

A sync is an incremental ingest of the whole folder with prune, so what it does never depends
on what the watcher saw: files whose size and time are unchanged are not read, unchanged bytes
(SHA-256) are not parsed again, changed files are re-embedded, and documents whose files are gone
are removed. A rename is a removal and an addition. So:

- **at start**, each folder is synced once: what changed while nothing watched (the process was
  down, the machine was off) is caught up from the store's own sizes, times and hashes;
- **then**, the changes the watcher reports are gathered until none has come for ``quiet_ms``
  (at most ``debounce_ms``): an editor's save storm or a copy of many files is one sync of each
  folder it touched;
- **a watched folder that disappears** is said in one line and its documents are kept (a moved
  or unmounted share must not empty the store); it is synced again when it is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True)
class Watched:
    folder: Path
    collection: str


def watch(
    folders: Sequence[Watched],
    sync: Callable[[Watched], None],
    stop: threading.Event,
    say: Callable[[str], None],
    quiet_ms: int = 700,
    debounce_ms: int = 10_000,
    check_ms: int = 1000,
    initial: bool = True,
) -> None:
    """Sync each folder now (unless ``initial`` is False: the caller did), then whenever it
    changes, until ``stop`` is set."""
    import watchfiles

    logging.getLogger("watchfiles").setLevel(logging.ERROR)  # not a line for every batch, nor for Ctrl-C
    present = {w: w.folder.is_dir() for w in folders}
    for w in folders:
        if present[w]:
            if initial:
                sync(w)
        else:
            say(
                f"the watched folder {w.folder} is not there; its documents are kept, and it is synced when it is"
            )
    while not stop.is_set():
        live = [w for w in folders if present[w]]
        if not live:
            stop.wait(check_ms / 1000)
            present = _changed(folders, present, sync, say)
            continue
        try:
            for changes in watchfiles.watch(
                *(w.folder for w in live),
                debounce=debounce_ms,
                step=quiet_ms,
                stop_event=stop,
                yield_on_timeout=True,
                rust_timeout=check_ms,
                raise_interrupt=False,
            ):
                for w in live:
                    if w.folder.is_dir() and any(_inside(p, w.folder) for _, p in changes):
                        sync(w)
                if any(w.folder.is_dir() != present[w] for w in folders):
                    break  # watch the folders that are there now
            else:
                return  # stopped
        except OSError:  # a folder went between the look and the watch
            pass
        present = _changed(folders, present, sync, say)


def _changed(
    folders: Sequence[Watched],
    present: dict[Watched, bool],
    sync: Callable[[Watched], None],
    say: Callable[[str], None],
) -> dict[Watched, bool]:
    """A folder that went is said once (its documents are kept); one that is back is synced
    (what changed in it meanwhile) and watched again."""
    now = {w: w.folder.is_dir() for w in folders}
    for w in folders:
        if present[w] and not now[w]:
            say(f"the watched folder {w.folder} is gone; its documents are kept (expert forget removes them)")
        elif now[w] and not present[w]:
            say(f"the watched folder {w.folder} is back; syncing it")
            sync(w)
    return now


def _inside(path: str, folder: Path) -> bool:
    return Path(path).is_relative_to(folder)


def parse_watch(value: str, default_collection: str) -> Watched:
    """``DIR`` or ``DIR=COLLECTION`` (``serve --watch``), a folder that is there now."""
    folder, _, collection = value.partition("=")
    return checked(Watched(Path(folder).expanduser().resolve(), collection or default_collection))


def checked(w: Watched) -> Watched:
    """``w``, if its folder is there at the start (a typo must not wait for ever); one line if not."""
    if not w.folder.exists():
        raise InputError(f"there is no folder {w.folder} to watch; check the path, or create it first")
    if not w.folder.is_dir():
        raise InputError(f"--watch keeps folders in sync; {w.folder} is a file: name its folder")
    return w
