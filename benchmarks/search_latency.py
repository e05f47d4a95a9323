"""Hybrid search latency and memory at 10k, 100k and 1M synthetic chunks.

Chunks are 60 words drawn from a Zipf distribution over a 50k-word vocabulary (so the keyword
index has realistic posting lists) with random unit vectors of 384 dimensions, written through
the store's own ``put_document`` in documents of 1,000 chunks. Queries are 6 words drawn the same
way. The store is built and optimized (its indexes built) in this process; the search is then
measured in a fresh one, as a user meets it: ``open_s`` (open the workspace and answer the first
hybrid search, loading the model and the indexes), p50/p95/p99 of the whole ``Workspace.search``
call in hybrid mode (query embedding by the real ONNX int8 model included), of dense and keyword
alone, the process's peak RSS, and then recall@10 of the dense stage against exact search over
every stored vector (computed after the RSS is taken: it loads the whole matrix).

    python benchmarks/search_latency.py --sizes 10000,100000,1000000
    python benchmarks/search_latency.py --store postgresql --sizes 10000,100000 --vectors real
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import OUT, local_postgres, machine, questions

from industry_expert import Workspace
from industry_expert.embed import embed_query
from industry_expert.store import DocumentRecord, SearchFilter
from industry_expert.types import Chunk

DIM = 384


def real_vectors() -> np.ndarray:
    """The MiniLM vectors of the filings' and the PostgreSQL manual's chunks (29.7k), from the
    workspaces benchmarks/retrieval.py builds: what an index meets in use. Random vectors are the
    worst case for a graph index (no neighbour is much nearer than any other)."""
    import sqlite3

    rows = []
    for name in ("filings-onnx-200", "postgres-onnx-200"):
        with sqlite3.connect(OUT / name / "store.db") as db:
            rows += [np.frombuffer(r[0], dtype=np.float32) for r in db.execute("SELECT vector FROM chunks")]
    return np.stack(rows)


def where(size: int, store: str, real: bool) -> tuple[Path, dict[str, str]]:
    """The cached workspace of this size and kind, and the settings it is opened with."""
    overrides = {"embedder.backend": "onnx"}
    path = OUT / f"latency-{size}{'-real' if real else ''}"
    if store == "postgresql":
        path = path.with_name(path.name + "-pg")
        overrides["store.url"] = local_postgres(path.name.replace("-", "_"))
    return path, overrides


def build(
    size: int, rng: np.random.Generator, store: str = "sqlite", base: np.ndarray | None = None
) -> Workspace:
    """``base``: real vectors to draw from (each stored one is a random row plus noise of 0.02
    per dimension, about cosine 0.93 to its row), instead of random unit vectors."""
    path, overrides = where(size, store, base is not None)
    if (path / "expert.toml").exists():
        return Workspace.open(path, overrides)
    shutil.rmtree(path, ignore_errors=True)
    ws = Workspace.init(path, overrides)
    ws.store.set_meta("embedder_dim", str(DIM))
    vocab = np.array([f"w{i}" for i in range(50_000)])
    per_doc = 1000
    for d in range(size // per_doc):
        words = vocab[np.minimum(rng.zipf(1.2, size=(per_doc, 60)), 50_000) - 1]
        chunks = [Chunk(" ".join(row), f"doc {d}", i, page=i // 5 + 1) for i, row in enumerate(words)]
        if base is None:
            vectors = rng.standard_normal((per_doc, DIM)).astype(np.float32)
        else:
            vectors = base[rng.integers(0, len(base), per_doc)] + 0.02 * rng.standard_normal((per_doc, DIM))
            vectors = vectors.astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        record = DocumentRecord(
            f"/synthetic/{d}.txt", f"synthetic/{d}.txt", "default", str(d), 1, 1, f"doc {d}", f"doc {d}"
        )
        ws.store.put_document(record, chunks, vectors)
    return ws


def index_recall(ws: Workspace, queries: list[str]) -> float | None:
    """PostgreSQL: recall@10 of the HNSW index against an exact scan of the float32 column."""
    store = ws.store
    if not hasattr(store, "pool"):
        return None
    found = []
    for q in queries:
        v = embed_query(ws.embedder, q)
        approx = {i for i, _ in store.dense_search(v, 10, SearchFilter())}
        with store.pool.connection() as conn:
            exact = {
                r[0] for r in conn.execute("SELECT id FROM chunks ORDER BY vector <=> %s LIMIT 10", (v,))
            }
        found.append(len(approx & exact) / 10)
    return round(float(np.mean(found)), 3)


def timed(fn, queries: list[str]) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t0) * 1000)
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def resident_mb(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as status:
        return int(status.read().split(f"{field}:")[1].split()[0]) // 1024


def exact_recall(ws: Workspace, queries: list[str]) -> float:
    """Recall@10 of the store's dense search against an exact scan of every stored vector."""
    import sqlite3

    with sqlite3.connect(ws.store.path) as db:  # type: ignore[attr-defined]
        (count,) = db.execute("SELECT COUNT(*) FROM chunks").fetchone()
        ids = np.zeros(count, dtype=np.int64)
        matrix = np.zeros((count, DIM), dtype=np.float32)
        for n, (chunk_id, blob) in enumerate(db.execute("SELECT id, vector FROM chunks")):
            ids[n], matrix[n] = chunk_id, np.frombuffer(blob, dtype=np.float32)
    found = []
    for q in queries:
        v = embed_query(ws.embedder, q)
        approx = {i for i, _ in ws.store.dense_search(v, 10, SearchFilter())}
        found.append(len(approx & set(ids[np.argsort(-(matrix @ v))[:10]].tolist())) / 10)
    return round(float(np.mean(found)), 3)


def measure(path: Path, overrides: dict[str, str], size: int, n: int, store: str) -> dict[str, object]:
    """In a fresh process: open, first search, latencies, peak memory, then dense recall."""
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(2000)]
    queries = [" ".join(rng.choice(vocab, 6)) for _ in range(n)]
    t0 = time.perf_counter()
    ws = Workspace.open(path, overrides)
    ws.search(queries[0], k=10)  # loads the model and the indexes (or the vector matrix)
    result: dict[str, object] = {"chunks": size, "open_s": round(time.perf_counter() - t0, 2)}
    result["open_rss_mb"] = resident_mb()
    for mode in ("hybrid", "dense", "keyword"):
        p50, p95, p99 = timed(lambda q, m=mode, w=ws: w.search(q, k=10, mode=m), queries)
        result[f"{mode}_ms"] = [round(p50, 1), round(p95, 1), round(p99, 1)]
        result[f"{mode}_rss_mb"] = resident_mb()
    p50, _, _ = timed(lambda q, w=ws: embed_query(w.embedder, q), queries)
    result["query_embed_p50_ms"] = round(p50, 1)
    result["peak_rss_mb"] = resident_mb("VmHWM")  # not ru_maxrss: a forked child inherits the parent's
    result["store_mb"] = round((ws.store.stats().bytes or 0) / 1e6)
    real = [q["question"] for q in questions("filings_questions") + questions("analyst_questions")]
    if store == "postgresql":
        result["index_recall@10"] = index_recall(ws, real[:100])
    else:
        result["dense_recall@10"] = exact_recall(ws, real[:100])
    ws.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--store", default="sqlite", help="sqlite | postgresql (bench-out/pg)")
    parser.add_argument(
        "--vectors", default="random", help="random | real (the filings' and the manual's, with noise)"
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the fresh process: a workspace path
    parser.add_argument("overrides", nargs="?", help=argparse.SUPPRESS)  # and its settings, as JSON
    args = parser.parse_args()
    if args.measure:
        path, overrides, size = Path(args.measure), json.loads(args.overrides), int(args.sizes)
        print(json.dumps(measure(path, overrides, size, args.queries, args.store)), flush=True)
        return
    base = real_vectors() if args.vectors == "real" else None
    rng = np.random.default_rng(0)
    print(f"# {machine()}")
    for size in [int(s) for s in args.sizes.split(",")]:
        t0 = time.perf_counter()
        ws = build(size, rng, args.store, base)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ws.store.optimize()  # what ingest runs after a bulk load: the indexes are built here
        optimize_s = time.perf_counter() - t0
        path, overrides = where(size, args.store, base is not None)
        ws.close()
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(path), "--sizes", str(size), "--queries",
             str(args.queries), "--store", args.store, json.dumps(overrides)],
            capture_output=True, text=True,
        )  # fmt: skip
        if child.returncode:
            raise SystemExit(child.stderr)
        result = {"build_s": round(build_s, 1), "optimize_s": round(optimize_s, 1)}
        result.update(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
