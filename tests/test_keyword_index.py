"""The SQLite store's tantivy keyword index: kept by the change log through ingest, forget and
replacement, shared by connections and processes, and never silently stale: a position behind
the index (kill -9 between tantivy's commit and the position's write), ahead of the store (a
restored backup), another store's index, a damaged index and a lock held elsewhere all give the
right chunks, each once."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_store_contract import put, unit

from industry_expert.store import SearchFilter, SQLiteStore

ALL = SearchFilter()


def texts(store: SQLiteStore, query: str, where: SearchFilter = ALL) -> list[str]:
    return [h.text for h in store.get_chunks([i for i, _ in store.keyword_search(query, 10, where)])]


def state(db: Path) -> dict[str, object]:
    return json.loads((db.with_name(db.name + ".keyword") / "state.json").read_text())


def fill(db: Path) -> SQLiteStore:
    store = SQLiteStore(db)
    put(store, "/a", ["capital expenditure rose", "revenue grew in Europe"], [unit(1, 0)] * 2)
    put(store, "/b", ["expenditure on expenditure fell expenditure", "nothing here"], [unit(0, 1)] * 2)
    store.optimize()  # what an ingest ends with: the index is built here
    return store


def test_keyword_search_is_answered_by_the_index_and_ranks_as_fts5(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = fill(db)
    assert state(db)["seq"] == store._log_seq() and store._keyword_index() is not None
    found = store.keyword_search("expenditures", 10, ALL)  # stemmed as FTS5's porter stems
    assert texts(store, "expenditures")[0].startswith("expenditure on") and len(found) == 2
    assert found[0][1] > found[1][1] > 0
    assert texts(store, "label /b") and texts(store, "") == []  # the document's name and label count
    # filters: only the chunks of the documents inside
    inside = SearchFilter(source="/a")
    assert texts(store, "expenditure", inside) == ["capital expenditure rose"]
    assert (store.stats().bytes or 0) > db.stat().st_size + 1000  # the index is counted in the store's size


def test_another_connections_writes_and_forgets_are_caught_up(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    reader = fill(db)
    writer = SQLiteStore(db)
    put(writer, "/c", ["expenditure in Asia"], [unit(1, 1)])
    put(writer, "/a", ["margins narrowed"], [unit(1, 0)])  # replaced: its two chunks are gone
    assert sorted(texts(reader, "expenditure")) == [
        "expenditure in Asia",
        "expenditure on expenditure fell expenditure",
    ]
    assert texts(reader, "margins") == ["margins narrowed"] and texts(reader, "capital") == []
    writer.delete_documents(["/c"])
    assert texts(reader, "asia") == [] and reader.keyword_search("asia", 10, ALL) == []
    index = reader._keyword_index()
    assert index is not None and index.documents() == 3  # the replaced and forgotten chunks are gone
    assert state(db)["seq"] == writer._log_seq()
    # the writer's own view moves with the index another connection advanced
    assert texts(writer, "margins") == ["margins narrowed"]


def test_a_position_behind_the_index_replays_each_chunk_once(tmp_path: Path) -> None:
    """kill -9 after tantivy's commit and before the position is written: the changes are applied
    again, which deletes each chunk's entry before adding it."""
    db = tmp_path / "store.db"
    fill(db).close()
    behind = state(db)
    store = SQLiteStore(db)
    put(store, "/c", ["expenditure in Asia"], [unit(1, 1)])
    store.optimize()
    (db.with_name(db.name + ".keyword") / "state.json").write_text(json.dumps(behind))
    store.close()
    again = SQLiteStore(db)
    assert sorted(texts(again, "expenditure")) == [
        "capital expenditure rose",
        "expenditure in Asia",
        "expenditure on expenditure fell expenditure",
    ]
    index = again._keyword_index()
    assert index is not None and index.documents() == 5 and state(db)["seq"] == again._log_seq()


def test_a_process_killed_between_commit_and_position_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    fill(db).close()
    code = f"""
import os, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_store_contract import put, unit
from industry_expert.store import SQLiteStore
from industry_expert.store.keyword_index import KeywordIndex
KeywordIndex._record = lambda self, seq: os._exit(9)  # dies right after tantivy's commit
store = SQLiteStore(__import__("pathlib").Path({str(db)!r}))
put(store, "/c", ["expenditure in Asia"], [unit(1, 1)])
store.optimize()
"""
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 9
    store = SQLiteStore(db)
    assert state(db)["seq"] != store._log_seq()  # the position was left behind
    assert texts(store, "asia") == ["expenditure in Asia"]
    index = store._keyword_index()
    assert index is not None and index.documents() == 5


@pytest.mark.parametrize("damage", ["ahead", "another store", "files gone", "format"])
def test_an_index_that_cannot_be_trusted_is_rebuilt(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "store.db"
    fill(db).close()
    folder = db.with_name(db.name + ".keyword")
    recorded = state(db)
    if damage == "ahead":  # the database restored from a backup older than the index
        recorded["seq"] = int(recorded["seq"]) + 100  # type: ignore[call-overload]
    elif damage == "another store":
        recorded["store"] = "0" * 32
    elif damage == "format":
        recorded["format"] = 0
    else:
        for f in (folder / "index").iterdir():
            if f.suffix in (".idx", ".term", ".store"):
                f.unlink()
    (folder / "state.json").write_text(json.dumps(recorded))
    store = SQLiteStore(db)
    assert sorted(texts(store, "expenditure")) == [
        "capital expenditure rose",
        "expenditure on expenditure fell expenditure",
    ]
    assert state(db)["seq"] == store._log_seq() and state(db)["store"] == store.get_meta("store_id")


def test_an_index_with_a_chunk_missing_is_found_by_its_count_and_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    fill(db).close()
    raw = SQLiteStore(db)
    # a chunk written behind the log's back (a tool editing the database): the count disagrees
    raw.db.execute("DROP TRIGGER chunk_log_insert")
    put(raw, "/z", ["zeppelin"], [unit(1, 0)])
    raw.close()
    store = SQLiteStore(db)  # opening for writing puts the trigger back
    assert texts(store, "zeppelin") == ["zeppelin"]


def test_while_another_holds_the_lock_fts5_answers_and_the_index_waits(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    reader = fill(db)
    before = state(db)["seq"]
    writer = SQLiteStore(db)
    put(writer, "/c", ["expenditure in Asia"], [unit(1, 1)])
    with open(db.with_name(db.name + ".keyword.lock"), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert texts(reader, "asia") == ["expenditure in Asia"]  # right, from FTS5
        assert state(db)["seq"] == before
        fcntl.flock(held, fcntl.LOCK_UN)
    assert texts(reader, "asia") == ["expenditure in Asia"]
    assert state(db)["seq"] == reader._log_seq()


def test_a_read_only_copy_uses_a_current_index_and_fts5_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "store.db"
    fill(db).close()
    real_access = os.access
    # a shared copy this process may not write (the tests run as root, who may write anything)
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == db and mode == os.W_OK else real_access(p, mode)
    )
    shared = SQLiteStore(db)
    assert shared.read_only and shared._keyword_index() is not None
    assert texts(shared, "capital") == ["capital expenditure rose"]
    monkeypatch.undo()
    writer = SQLiteStore(db)
    put(writer, "/c", ["expenditure in Asia"], [unit(1, 1)])  # no search, no optimize: index behind
    writer.close()
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == db and mode == os.W_OK else real_access(p, mode)
    )
    shared = SQLiteStore(db)
    assert shared._keyword_index() is None  # it may not bring the index up: FTS5 answers
    assert texts(shared, "asia") == ["expenditure in Asia"] and texts(shared, "capital")
