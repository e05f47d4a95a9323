"""What a reader pays for another process's write (issue 16, index life cycle): the first dense
search after a one-document ingest, with the vector matrix catching up from the store's change
log, against loading every row again (what every such search did before the log).

A copy of a synthetic store of ``search_latency.py --vectors real`` (built there first) is opened
twice, as a server and an ingest job would: the reader searches (the matrix is loaded), the
writer stores a document of 20 chunks, and the reader's next search is timed; then the same with
the catching up turned off.

    .venv/bin/python benchmarks/catch_up.py --sizes 100000,1000000

With ``--indexes``, the same write against the indexes kept beside the database (the tantivy
keyword index and, from 50k chunks, the IVF-PQ dense index), copied with the store: the reader's
first dense and keyword searches after opening, its next ones after the write (each index catches
up from the log: the keyword one commits the change, the dense one holds it in memory), the
writer's ``optimize`` (which folds the change into a new dense generation), and the reader's
search after that.

It also times what the log costs a writer: 500 documents of 20 chunks stored into a fresh store
with the log's triggers and into one without them, alternately, three times each.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import OUT, machine

from industry_expert.store import DocumentRecord, SearchFilter, SQLiteStore
from industry_expert.types import Chunk

DIM = 384


def write_document(writer: SQLiteStore, rng: np.random.Generator, text: str) -> np.ndarray:
    """Store one new document of 20 chunks (``text`` formatted with each chunk's number) with
    random unit vectors, as an ingest job would; return the vectors."""
    vectors = rng.standard_normal((20, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    stamp = time.time_ns()
    record = DocumentRecord(
        f"/new/{stamp}.txt", f"new/{stamp}.txt", "default", str(stamp), 1, 1, "new", "new"
    )
    writer.put_document(record, [Chunk(text.format(i), "new", i) for i in range(20)], vectors)
    return vectors


def one_write_then_search(db: Path, catch_up: bool, rng: np.random.Generator) -> dict[str, float]:
    reader, writer = SQLiteStore(db), SQLiteStore(db)
    if not catch_up:
        reader._catch_up = lambda since, seq: False  # type: ignore[method-assign]
    query = rng.standard_normal(DIM).astype(np.float32)
    query /= np.linalg.norm(query)
    t0 = time.perf_counter()
    reader.dense_search(query, 10, SearchFilter())
    first = time.perf_counter() - t0
    vectors = write_document(writer, rng, "new chunk {}")
    t0 = time.perf_counter()
    found = reader.dense_search(vectors[0], 1, SearchFilter())
    after = time.perf_counter() - t0
    assert reader.get_chunks([found[0][0]])[0].text == "new chunk 0"
    reader.close()
    writer.close()
    return {"first_search_s": round(first, 2), "search_after_write_ms": round(after * 1000, 1)}


def indexes_after_write(db: Path, rng: np.random.Generator) -> dict[str, float]:
    reader, writer = SQLiteStore(db), SQLiteStore(db)
    query = rng.standard_normal(DIM).astype(np.float32)
    query /= np.linalg.norm(query)
    figures: dict[str, float] = {}

    def both(name: str, vector: np.ndarray, words: str) -> list[int]:
        t0 = time.perf_counter()
        found = reader.dense_search(vector, 10, SearchFilter())
        t1 = time.perf_counter()
        reader.keyword_search(words, 10, SearchFilter())
        t2 = time.perf_counter()
        figures[f"{name}_dense_ms"] = round((t1 - t0) * 1000, 1)
        figures[f"{name}_keyword_ms"] = round((t2 - t1) * 1000, 1)
        return [i for i, _ in found]

    both("first_after_open", query, "w1 w2 w3")
    assert reader.dense is not None and reader.dense.opened, "no dense index beside this store"
    vectors = write_document(writer, rng, "fresh{} chunk")
    found = both("after_write", vectors[0], "fresh0")
    assert reader.get_chunks(found[:1])[0].text == "fresh0 chunk"
    t0 = time.perf_counter()
    writer.optimize()
    figures["writer_optimize_s"] = round(time.perf_counter() - t0, 2)
    found = both("after_optimize", vectors[0], "fresh0")
    assert reader.get_chunks(found[:1])[0].text == "fresh0 chunk"
    reader.close()
    writer.close()
    return figures


def write_cost(rounds: int = 3, documents: int = 500) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((20, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [Chunk(" ".join(f"w{j}" for j in rng.integers(0, 5000, 60)), "h", i) for i in range(20)]
    times: dict[str, list[float]] = {"with the log": [], "without": []}
    for _ in range(rounds):
        for kind in times:
            with tempfile.TemporaryDirectory(dir=OUT) as tmp:
                store = SQLiteStore(Path(tmp) / "store.db")
                if kind == "without":
                    store.db.executescript(
                        "DROP TRIGGER chunk_log_insert; DROP TRIGGER chunk_log_delete; DROP TRIGGER chunk_log_vector;"
                    )
                t0 = time.perf_counter()
                for d in range(documents):
                    record = DocumentRecord(f"/w/{d}.txt", f"w/{d}.txt", "default", str(d), 1, 1, "w", "w")
                    store.put_document(record, chunks, vectors)
                times[kind].append(time.perf_counter() - t0)
                store.close()
    best = {kind: min(values) for kind, values in times.items()}
    print(
        json.dumps(
            {
                "write_cost": f"{documents} documents x 20 chunks",
                **{f"{kind}_s": round(v, 2) for kind, v in best.items()},
                "log_overhead_pct": round(100 * (best["with the log"] / best["without"] - 1), 1),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--no-write-cost", action="store_true")
    parser.add_argument("--indexes", action="store_true", help="the indexes beside the database")
    args = parser.parse_args()
    print(f"# {machine()}")
    if not args.no_write_cost:
        write_cost()
    for size in [int(s) for s in args.sizes.split(",") if s]:
        source = OUT / f"latency-{size}-real" / "store.db"
        if not source.exists():
            print(f"# {source} is missing: run search_latency.py --vectors real --sizes {size} first")
            continue
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            db = Path(tmp) / "store.db"
            shutil.copy(source, db)
            rng = np.random.default_rng(0)
            if args.indexes:
                for folder in ("store.db.keyword", "store.db.dense"):
                    shutil.copytree(source.with_name(folder), db.with_name(folder))
                print(json.dumps({"chunks": size, **indexes_after_write(db, rng)}), flush=True)
                continue
            for catch_up in (True, False):
                figures = one_write_then_search(db, catch_up, rng)
                print(json.dumps({"chunks": size, "catch_up": catch_up, **figures}), flush=True)
        print(json.dumps({"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
