"""Stores behind one contract (``base.Store``); ``open_store`` picks the backend from a URL.

Backends are registered by URL scheme, built-ins the same way as third-party ones::

    register_store("sqlite", lambda url, workspace: SQLiteStore(...))

or by an installed package's entry point in the group ``industry_expert.stores``
(``registry.STORES``), named by the scheme.

``[store] url`` names the store: empty for ``store.db`` in the workspace folder, a path (relative
to the workspace) or ``sqlite://`` and a path (``sqlite:///srv/expert.db``) for SQLite; another
scheme (``postgresql://...``) for the backend registered under it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

from ..config import StoreSettings
from ..extras import require
from ..registry import STORES
from .base import (
    DocumentRecord,
    SearchFilter,
    Store,
    StoredDocument,
    StoreStats,
    keyword_terms,
    path_matches,
)
from .sqlite import SQLiteStore

STORE_FILE = "store.db"

StoreFactory = Callable[[str, Path], Store]  # (url, workspace folder) -> an open store


def register_store(scheme: str, factory: StoreFactory) -> None:
    """Open URLs ``SCHEME://...`` with ``factory(url, workspace)``."""
    STORES.register(scheme, factory)


def store_scheme(url: str) -> str:
    """The scheme that picks the backend: ``sqlite`` for an empty URL or a plain path."""
    return url.split("://", 1)[0].lower() if "://" in url else "sqlite"


def open_store(settings: StoreSettings, workspace: Path) -> Store:
    """Open (creating where needed) the store ``settings.url`` names for the workspace folder;
    with ``settings.read_url``, reads go to that replica (``replica.ReplicatedStore``)."""
    scheme = store_scheme(settings.url)
    if settings.read_url:
        return _replicated(settings)
    return STORES.get_factory(scheme)(settings.url, workspace)  # type: ignore[no-any-return]


def _replicated(settings: StoreSettings) -> Store:
    require("postgres", why="a store in PostgreSQL with a read replica (store.read_url)")
    from ..errors import ConfigError
    from .postgres import PostgresStore, where_to
    from .replica import ReplicatedStore

    primary = PostgresStore(settings.url)

    def replica() -> PostgresStore:
        # a replica that is down is read around; reads wait for one at most replica_wait_s or 5 s
        store = PostgresStore(
            settings.read_url, read_only=True, wait_s=max(1.0, min(5.0, settings.replica_wait_s))
        )
        if store.system_id() != primary.system_id():
            store.close()
            raise ConfigError(
                f"store.read_url: PostgreSQL at {where_to(settings.read_url)} is a replica of another "
                f"cluster than the primary at {where_to(settings.url)}; name a replica of store.url"
            )
        return store

    try:
        replicated = ReplicatedStore(
            primary, replica, where_to(settings.read_url), settings.read_after_write, settings.replica_wait_s
        )
    except BaseException:
        primary.close()
        raise
    return cast(Store, replicated)


def _sqlite(url: str, workspace: Path) -> Store:
    path = url.removeprefix("sqlite://")  # sqlite:///srv/expert.db is the file /srv/expert.db
    file = Path(path).expanduser() if path else Path(STORE_FILE)
    return SQLiteStore(file if file.is_absolute() else workspace / file)


register_store("sqlite", _sqlite)


def _postgres(url: str, workspace: Path) -> Store:
    require("postgres", why="a store in PostgreSQL (store.url)")
    from .postgres import PostgresStore

    return PostgresStore(url)


register_store("postgresql", _postgres)
register_store("postgres", _postgres)

__all__ = [
    "STORE_FILE",
    "DocumentRecord",
    "SQLiteStore",
    "SearchFilter",
    "Store",
    "StoreStats",
    "StoredDocument",
    "keyword_terms",
    "open_store",
    "path_matches",
    "register_store",
    "store_scheme",
]
