"""The SQLite store's change log and the vector matrix that catches up from it: a reader that
another connection wrote under applies the chunks named since, never serving a stale or a
deleted chunk, and loads every row again when the log no longer reaches back far enough."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
from test_store_contract import put, unit

from industry_expert.store import SearchFilter, SQLiteStore
from industry_expert.store.vectors import VectorMatrix

ALL = SearchFilter()


def blob(*values: float) -> bytes:
    return np.array(unit(*values), dtype=np.float32).tobytes()


def test_the_matrix_applies_adds_replacements_and_deletions() -> None:
    m = VectorMatrix()
    m.load([(1, 10, blob(1, 0)), (2, 10, blob(0, 1))], 2, 2, generation=1, seq=2)
    assert m.apply([(3, 11, blob(1, 1))], [], seq=3)
    found = [i for i, _ in m.search(np.array(unit(1, 1), dtype=np.float32), 3, None)]
    assert found[0] == 3 and sorted(found[1:]) == [1, 2]
    # chunk 1 gets a new vector, chunk 2 is gone: never found again, not even as a tie
    assert m.apply([(1, 10, blob(0, 1))], [2], seq=5)
    found = m.search(np.array(unit(0, 1), dtype=np.float32), 5, None)
    assert [i for i, _ in found][0] == 1 and 2 not in [i for i, _ in found] and len(found) == 2
    assert m.seq == 5 and m.live == 2
    # a filter still applies to rows added later
    assert [i for i, _ in m.search(np.array(unit(1, 1), dtype=np.float32), 5, np.array([11]))] == [3]
    # a vector of another size is refused whole: the caller loads every row instead
    assert not m.apply([(4, 12, np.ones(3, dtype=np.float32).tobytes())], [], seq=6) and m.seq == 5


def test_small_writes_go_beside_the_matrix_and_are_merged_later() -> None:
    m = VectorMatrix()
    m.load([(i, 1, blob(1, i)) for i in range(1, 9)], 8, 2, generation=1, seq=8)
    loaded = m.matrix
    assert m.apply([(9, 2, blob(0, 1))], [], seq=9)
    assert m.matrix is loaded and m.extra_ids.tolist() == [9]  # the large matrix was not copied
    assert m.apply([(9, 2, blob(1, 0))], [], seq=10)  # replaced while still beside it
    assert m.extra_ids.tolist() == [9] and m.search(np.array([1, 0], dtype=np.float32), 1, None)[0][0] == 9
    assert m.apply([], [9], seq=11) and m.live == 8


def test_deleted_rows_are_compacted_away() -> None:
    m = VectorMatrix()
    m.load([(i, 1, blob(1, i)) for i in range(1, 9)], 8, 2, generation=1, seq=8)
    assert m.apply([], [1, 2, 3], seq=11)
    assert m.dead == 0 and m.live == 5 and sorted(m.ids.tolist()) == [4, 5, 6, 7, 8]


def test_a_reader_catches_up_from_the_log_instead_of_reloading(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    writer, reader = SQLiteStore(db), SQLiteStore(db)
    put(writer, "/a", ["alpha", "beta"], [unit(1, 0), unit(0.9, 0.1)])
    assert len(reader.dense_search(np.array(unit(1, 0), dtype=np.float32), 5, ALL)) == 2
    loads = []
    full_load = reader.vectors.load
    reader.vectors.load = lambda *a, **kw: (loads.append(1), full_load(*a, **kw))  # type: ignore[method-assign]
    put(writer, "/b", ["gamma"], [unit(0, 1)])  # added
    put(writer, "/a", ["alpha again"], [unit(0.5, 0.5)])  # replaced: two chunks gone, one new
    found = reader.dense_search(np.array(unit(0, 1), dtype=np.float32), 5, ALL)
    texts = [h.text for h in reader.get_chunks([i for i, _ in found])]
    assert texts[0] == "gamma" and sorted(texts) == ["alpha again", "gamma"]
    assert loads == [] and reader.vectors.seq == writer._log_seq()  # caught up, not reloaded
    writer.delete_documents(["/b"])
    found = reader.dense_search(np.array(unit(0, 1), dtype=np.float32), 5, ALL)
    assert [h.text for h in reader.get_chunks([i for i, _ in found])] == ["alpha again"]
    # vectors replaced in place (a reindex) are logged too
    (chunk,) = [i for i, _ in found]
    writer.replace_vectors([chunk], np.array([unit(0, 1)], dtype=np.float32))
    ((_, score),) = reader.dense_search(np.array(unit(0, 1), dtype=np.float32), 5, ALL)
    assert score > 0.999 and loads == []
    writer.close()
    reader.close()


def test_a_reader_behind_the_cut_log_loads_every_row(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    writer, reader = SQLiteStore(db), SQLiteStore(db)
    put(writer, "/a", ["alpha"], [unit(1, 0)])
    reader.dense_search(np.array(unit(1, 0), dtype=np.float32), 5, ALL)
    for n in range(5):
        put(writer, f"/d{n}", [f"doc {n}"], [unit(0, 1)])
    loads = []
    full_load = reader.vectors.load
    reader.vectors.load = lambda *a, **kw: (loads.append(1), full_load(*a, **kw))  # type: ignore[method-assign]
    with sqlite3.connect(db) as conn:  # optimize's cut, made small for the test
        conn.execute("DELETE FROM chunk_log WHERE seq <= (SELECT MAX(seq) - 2 FROM chunk_log)")
    found = reader.dense_search(np.array(unit(0, 1), dtype=np.float32), 10, ALL)
    assert len(found) == 6 and loads == [1] and reader.vectors.seq == writer._log_seq()
    writer.close()
    reader.close()


def test_optimize_cuts_the_log_and_a_version_1_store_is_brought_to_2(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = SQLiteStore(db)
    for n in range(3):
        put(store, f"/d{n}", ["x", "y"], [unit(1, 0), unit(0, 1)])
    store.optimize()  # keeps at least 10,000 entries: nothing cut at this size
    assert store.db.execute("SELECT COUNT(*) FROM chunk_log").fetchone()[0] == 6
    store.close()
    with sqlite3.connect(db) as conn:  # as a store made before the log existed
        conn.executescript(
            "DROP TRIGGER chunk_log_insert; DROP TRIGGER chunk_log_delete; DROP TRIGGER chunk_log_vector;"
            "DROP TABLE chunk_log; UPDATE meta SET value = '1' WHERE key = 'schema_version';"
        )
    store = SQLiteStore(db)
    assert store.get_meta("schema_version") == "2" and store.logged
    put(store, "/d9", ["z"], [unit(1, 1)])
    assert store.db.execute("SELECT COUNT(*) FROM chunk_log").fetchone()[0] == 1
    assert len(store.dense_search(np.array(unit(1, 1), dtype=np.float32), 10, ALL)) == 7
    assert store.check() == []
    store.close()
