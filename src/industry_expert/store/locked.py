"""A store shared by the threads of one process: each call holds one lock.

A backend's connection is not meant for several threads at once (SQLite's would interleave one
thread's statements into another's transaction). The server's request threads share one reader
connection through ``LockedStore``: calls are short (a search is milliseconds), so a lock costs
less than one connection and one vector matrix per thread. Writers that may wait (an ingest, a
forget) use a connection of their own, so readers never wait behind them: SQLite's WAL journal
lets a reader see the last commit while another connection writes.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, cast

from .base import Store


class LockedStore:
    """``store`` with every method call made under one re-entrant lock."""

    def __init__(self, store: Store):
        self._store = store
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return value(*args, **kwargs)

        return call


def locked(store: Store) -> Store:
    """``store`` made safe to share between threads (the same object if it already is)."""
    return store if isinstance(store, LockedStore) else cast(Store, LockedStore(store))


__all__ = ["LockedStore", "locked"]
