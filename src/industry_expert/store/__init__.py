"""Stores behind one interface; ``open_store`` picks the backend from a URL or path."""

from __future__ import annotations

from pathlib import Path

from .base import DocumentRecord, SearchFilter, Store, StoredDocument, keyword_terms
from .sqlite import SQLiteStore


def open_store(path: Path) -> Store:
    return SQLiteStore(path)


__all__ = [
    "DocumentRecord",
    "SQLiteStore",
    "SearchFilter",
    "Store",
    "StoredDocument",
    "keyword_terms",
    "open_store",
]
