"""SQLite's errors as one line each: read-only, busy or damaged, and what to do about it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import ExpertError, StoreError, WorkspaceError


def explain(path: Path, exc: sqlite3.DatabaseError) -> ExpertError:
    """One line for an error SQLite raised: read-only, busy, or damaged, and what to do."""
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return WorkspaceError(
            f"the workspace database {path} is read-only: it can be searched but not changed; "
            "ingest into a workspace you can write"
        )
    if "locked" in text or "busy" in text:
        return WorkspaceError(f"{path} is busy: another process is writing to it; try again when it is done")
    return StoreError(
        f"the workspace database {path} is damaged ({text}); restore it from a backup, or ingest "
        "the documents again into a new workspace (expert init -w NEW, then expert ingest)"
    )
