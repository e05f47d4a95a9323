"""The one relational store: shared methods, their errors translated per dialect, one schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from industry_expert.errors import ExpertError
from industry_expert.store import SQLiteStore
from industry_expert.store.relational import RelationalStore


def _public(cls: type) -> list[str]:
    return [n for n in dir(cls) if not n.startswith("_") and n != "close" and callable(getattr(cls, n))]


def test_every_public_method_of_each_backend_translates_its_drivers_errors() -> None:
    from industry_expert.store.postgres import PostgresStore

    for cls in (SQLiteStore, PostgresStore):
        assert issubclass(cls, RelationalStore)
        untranslated = [n for n in _public(cls) if not getattr(getattr(cls, n), "translated", False)]
        assert untranslated == [], cls.__name__
    shared = {n for n in vars(RelationalStore) if not n.startswith("_")}
    assert {"get_document", "list_documents", "get_chunks", "export_document", "record_skipped"} <= shared
    for cls in (SQLiteStore, PostgresStore):  # written once: each backend runs the shared code
        assert all(getattr(cls, n).__qualname__ == f"RelationalStore.{n}" for n in shared), cls.__name__


def test_a_shared_method_says_a_driver_error_in_one_line(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    store.db.close()  # as if the file went away under it
    with pytest.raises(ExpertError) as failed:
        store.list_documents()  # inherited from RelationalStore
    assert "\n" not in str(failed.value) and str(tmp_path / "store.db") in str(failed.value)
    assert not isinstance(failed.value, sqlite3.Error)


def test_the_shared_tables_are_made_in_each_dialects_types() -> None:
    from industry_expert.store.postgres import DIALECT as POSTGRES
    from industry_expert.store.sqlite import DIALECT as SQLITE

    db = sqlite3.connect(":memory:")
    db.executescript(SQLITE.tables())
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names == {"meta", "documents", "chunks", "skipped", "staged_vectors"}
    made = POSTGRES.tables()
    assert "id BIGSERIAL PRIMARY KEY" in made and "tsv tsvector NOT NULL" in made
    assert (
        "REFERENCES chunks(id) ON DELETE CASCADE" in made and "REFERENCES chunks(id)" not in SQLITE.tables()
    )
