"""The SQLite store's IVF-PQ dense index (built above ``dense_index.MIN_CHUNKS``, lowered here to
a few thousand chunks): built by ``optimize``, kept by the change log through new documents,
replacements and forgets (in memory by a reader, folded into a new generation by the next
optimize), and never silently stale: a crash before the state is written, another store's index,
a missing file and a count that disagrees all fall back to the exact matrix or rebuild."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from industry_expert.store import DocumentRecord, SearchFilter, SQLiteStore, dense_index
from industry_expert.types import Chunk

ALL = SearchFilter()
DIM = 32


@pytest.fixture(autouse=True)
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dense_index, "MIN_CHUNKS", 1000)


def clustered(rng: np.random.Generator, n: int) -> np.ndarray:
    """Vectors near 40 centres, as real embeddings cluster by topic (random ones do not)."""
    centres = np.random.default_rng(7).standard_normal((40, DIM))
    v = centres[rng.integers(0, 40, n)] + 0.3 * rng.standard_normal((n, DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def put(store: SQLiteStore, key: str, vectors: np.ndarray) -> None:
    record = DocumentRecord(key, key, "default", key, 1, 1, key, key)
    store.put_document(record, [Chunk(f"{key} {i}", "", i) for i in range(len(vectors))], vectors)


def exact(store: SQLiteStore, query: np.ndarray, n: int = 10) -> list[int]:
    rows = store.db.execute("SELECT id, vector FROM chunks").fetchall()
    matrix = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    ids = np.array([r[0] for r in rows])
    return ids[np.argsort(-(matrix @ query))[:n]].tolist()


def found(store: SQLiteStore, query: np.ndarray, where: SearchFilter = ALL) -> list[int]:
    return [i for i, _ in store.dense_search(query, 10, where)]


def fill(db: Path, documents: int = 8) -> SQLiteStore:
    store = SQLiteStore(db)
    rng = np.random.default_rng(0)
    for d in range(documents):
        put(store, f"/d{d}", clustered(rng, 500))
    store.optimize()
    return store


def queries(n: int = 20) -> np.ndarray:
    return clustered(np.random.default_rng(99), n)


def recall(store: SQLiteStore) -> float:
    return float(np.mean([len(set(found(store, q)) & set(exact(store, q))) / 10 for q in queries()]))


def test_optimize_builds_the_index_and_search_reads_it_not_the_matrix(tmp_path: Path) -> None:
    store = fill(tmp_path / "store.db")
    assert store._dense_index() is not None and store.dense.live() == 4000  # type: ignore[union-attr]
    assert recall(store) >= 0.9
    assert store.vectors.matrix is None  # the float32 matrix was never loaded
    inside = SearchFilter(source="/d3")
    ids = {
        r[0]
        for r in store.db.execute(
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.key = '/d3'"
        )
    }
    assert set(found(store, queries()[0], inside)) <= ids and len(found(store, queries()[0], inside)) == 10
    with pytest.raises(Exception, match="run `expert reindex`"):
        store.dense_search(np.ones(DIM + 1, dtype=np.float32), 5, ALL)


def test_a_small_store_keeps_the_exact_matrix(tmp_path: Path) -> None:
    store = fill(tmp_path / "store.db", documents=1)
    assert store._dense_index() is None and found(store, queries()[0]) == exact(store, queries()[0])


def test_writes_are_searched_at_once_and_folded_in_by_the_next_optimize(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    reader = fill(db)
    writer = SQLiteStore(db)
    target = queries()[0]
    put(writer, "/new", clustered(np.random.default_rng(5), 3))
    put(writer, "/new", np.stack([target] * 3))  # replaced by the best possible answers
    writer.delete_documents(["/d1"])
    new = {
        r[0]
        for r in writer.db.execute(
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.key = '/new'"
        )
    }
    gone = set(range(501, 1001))  # /d1's chunks (/new's first three gave their ids to the second)
    hits = found(reader, target)
    assert set(hits[:3]) == new and not gone & set(hits)
    assert reader.dense.pending() > 0 and reader.dense.live() == 3 + 7 * 500  # type: ignore[union-attr]
    before = json.loads((db.with_name("store.db.dense") / "state.json").read_text())["generation"]
    writer.optimize()
    state = json.loads((db.with_name("store.db.dense") / "state.json").read_text())
    assert state["generation"] != before and state["seq"] == writer._log_seq()
    assert writer._dense_index() is not None and writer.dense.pending() == 0  # type: ignore[union-attr]
    assert set(found(writer, target)[:3]) == new and not gone & set(found(writer, target))
    fresh = SQLiteStore(db)
    assert set(found(fresh, target)[:3]) == new and recall(fresh) >= 0.9


def test_a_crash_before_the_state_is_written_keeps_the_last_generation(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    fill(db).close()
    code = f"""
import os, numpy as np
from pathlib import Path
from industry_expert.store import DocumentRecord, SQLiteStore, dense_index
from industry_expert.types import Chunk
dense_index.MIN_CHUNKS = 1000
store = SQLiteStore(Path({str(db)!r}))
v = np.ones((5, {DIM}), dtype=np.float32) / np.sqrt({DIM})
store.put_document(DocumentRecord("/late", "/late", "default", "x", 1, 1, "l", "l"), [Chunk("late", "", i) for i in range(5)], v)
real = os.replace
os.replace = lambda a, b: os._exit(9) if str(b).endswith("state.json") else real(a, b)
store.optimize()
"""
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 9
    store = SQLiteStore(db)
    target = np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)
    late = {
        r[0]
        for r in store.db.execute(
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.key = '/late'"
        )
    }
    assert set(found(store, target)[:5]) == late  # the log brings the old generation forward
    store.optimize()  # the crashed writer's appended rows are cut, then the changes folded in
    again = SQLiteStore(db)
    assert set(found(again, target)[:5]) == late and again.dense.pending() == 0  # type: ignore[union-attr]
    state = json.loads((db.with_name("store.db.dense") / "state.json").read_text())
    assert (db.with_name("store.db.dense") / state["vectors"]).stat().st_size == state["rows"] * DIM * 2


@pytest.mark.parametrize("damage", ["another store", "files gone", "count"])
def test_an_index_that_cannot_be_trusted_is_not_used_and_optimize_rebuilds_it(
    tmp_path: Path, damage: str
) -> None:
    db = tmp_path / "store.db"
    fill(db).close()
    folder = db.with_name("store.db.dense")
    state = json.loads((folder / "state.json").read_text())
    if damage == "another store":
        state["store"] = "0" * 32
        (folder / "state.json").write_text(json.dumps(state))
    elif damage == "files gone":
        (folder / state["generation"] / "ivfpq.faiss").unlink()
    else:  # a chunk written behind the log's back
        raw = SQLiteStore(db)
        raw.db.execute("DROP TRIGGER chunk_log_insert")
        put(raw, "/z", np.ones((1, DIM), dtype=np.float32) / np.sqrt(DIM))
        raw.close()
    store = SQLiteStore(db)
    q = queries()[0]
    assert store._dense_index() is None and found(store, q) == exact(store, q)  # the exact matrix answers
    store.optimize()
    again = SQLiteStore(db)
    assert again._dense_index() is not None and recall(again) >= 0.9


def test_a_new_embedder_rebuilds_the_index(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = fill(db)
    ids = [r[0] for r in store.db.execute("SELECT id FROM chunks ORDER BY id")]
    wider = np.random.default_rng(3).standard_normal((len(ids), DIM * 2)).astype(np.float32)
    store.replace_vectors(ids, wider / np.linalg.norm(wider, axis=1, keepdims=True))
    store.optimize()
    assert store._dense_index() is not None and store.dense.dim == DIM * 2  # type: ignore[union-attr]
    assert found(store, wider[0] / np.linalg.norm(wider[0]))[0] == ids[0]


def test_a_store_grown_four_times_past_its_training_is_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = fill(db, documents=3)  # 1,500 chunks: 154 lists
    assert store._dense_index() is not None
    lists = store.dense.index.nlist  # type: ignore[union-attr]
    rng = np.random.default_rng(4)
    for d in range(3, 12):  # small steps, each folded in with the trained lists
        put(store, f"/d{d}", clustered(rng, 500))
        store.optimize()
        assert store.dense.index.nlist == lists or store.dense.live() >= 4 * 1500  # type: ignore[union-attr]
    assert store.dense.index.nlist > lists and store.dense.live() == 6000  # type: ignore[union-attr]
    assert recall(store) >= 0.9


def test_an_unusable_index_is_not_loaded_again_for_every_search(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    fill(db).close()
    raw = SQLiteStore(db)
    raw.db.execute("DROP TRIGGER chunk_log_insert")
    put(raw, "/z", np.ones((1, DIM), dtype=np.float32) / np.sqrt(DIM))
    raw.close()
    store = SQLiteStore(db)
    assert store.dense is not None
    opened: list[int] = []
    real_open = store.dense.open

    def counted() -> bool:
        opened.append(1)
        return real_open()

    store.dense.open = counted  # type: ignore[method-assign]
    for q in queries(3):
        assert found(store, q) == exact(store, q)
    assert len(opened) == 1  # tried once at this position; the exact matrix answers meanwhile
    store.optimize()  # rebuilt: the next search uses it
    assert store._dense_index() is not None and recall(store) >= 0.9
