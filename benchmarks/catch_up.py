"""What a reader pays for another process's write (issue 16, index life cycle): the first dense
search after a one-document ingest, with the vector matrix catching up from the store's change
log, against loading every row again (what every such search did before the log).

A copy of a synthetic store of ``search_latency.py --vectors real`` (built there first) is opened
twice, as a server and an ingest job would: the reader searches (the matrix is loaded), the
writer stores a document of 20 chunks, and the reader's next search is timed; then the same with
the catching up turned off.

    .venv/bin/python benchmarks/catch_up.py --sizes 100000,1000000

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


def one_write_then_search(db: Path, catch_up: bool, rng: np.random.Generator) -> dict[str, float]:
    reader, writer = SQLiteStore(db), SQLiteStore(db)
    if not catch_up:
        reader._catch_up = lambda since, seq: False  # type: ignore[method-assign]
    query = rng.standard_normal(DIM).astype(np.float32)
    query /= np.linalg.norm(query)
    t0 = time.perf_counter()
    reader.dense_search(query, 10, SearchFilter())
    first = time.perf_counter() - t0
    vectors = rng.standard_normal((20, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    stamp = time.time_ns()
    record = DocumentRecord(
        f"/new/{stamp}.txt", f"new/{stamp}.txt", "default", str(stamp), 1, 1, "new", "new"
    )
    writer.put_document(record, [Chunk(f"new chunk {i}", "new", i) for i in range(20)], vectors)
    t0 = time.perf_counter()
    found = reader.dense_search(vectors[0], 1, SearchFilter())
    after = time.perf_counter() - t0
    assert reader.get_chunks([found[0][0]])[0].text == "new chunk 0"
    reader.close()
    writer.close()
    return {"first_search_s": round(first, 2), "search_after_write_ms": round(after * 1000, 1)}


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
            for catch_up in (True, False):
                figures = one_write_then_search(db, catch_up, rng)
                print(json.dumps({"chunks": size, "catch_up": catch_up, **figures}), flush=True)
        print(json.dumps({"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
