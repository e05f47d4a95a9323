"""The PostgreSQL store's HNSW index against exact search, on a real workspace.

Opens the PostgreSQL copy of the filings workspace (``benchmarks/retrieval.py --store postgresql``
builds it), embeds the 177 questions of the filings and analyst sets once, and measures dense
search exact (no index) and through the HNSW index at several ``ef_search``: recall@10 against
exact, p50/p95 of the ``dense_search`` call, the index's build time and size, and hybrid R@k of
the workspace with the index in place.

    python benchmarks/pg_vectors.py
"""

from __future__ import annotations

import time

import numpy as np
from common import OUT, local_postgres, machine, questions
from retrieval import recall

import industry_expert.store.postgres as pg
from industry_expert import Workspace
from industry_expert.embed import embed_query
from industry_expert.store import SearchFilter


def timed(store, vectors):  # type: ignore[no-untyped-def]
    found, times = [], []
    for v in vectors:
        t0 = time.perf_counter()
        found.append([i for i, _ in store.dense_search(v, 10, SearchFilter())])
        times.append(1000 * (time.perf_counter() - t0))
    return found, float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main() -> None:
    name = "filings-onnx-200-pg"
    ws = Workspace.open(OUT / name, {"store.url": local_postgres(name.replace("-", "_"))})
    store = ws.store
    qs = questions("filings_questions") + questions("analyst_questions")
    vectors = [embed_query(ws.embedder, q["question"]) for q in qs]
    print(f"# {name}: {store.stats().chunks} chunks, {len(qs)} questions; {machine()}")
    with store.pool.connection() as conn:  # start from no index
        for index in store._hnsw_indexes(conn):
            conn.execute(f'DROP INDEX "{index}"')
    exact, p50, p95 = timed(store, vectors)
    print("| search | recall@10 vs exact | p50 ms | p95 ms |\n|---|---|---|---|")
    print(f"| exact (no index) | 1.000 | {p50:.1f} | {p95:.1f} |")
    store.hnsw_min_chunks = 0
    t0 = time.perf_counter()
    store.optimize()
    build = time.perf_counter() - t0
    chosen = pg.ef_search
    for ef in (40, 100, 200):
        pg.ef_search = lambda chunks, n=10, ef=ef: max(n, ef)  # type: ignore[misc]
        found, p50, p95 = timed(store, vectors)
        overlap = np.mean([len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(found, exact, strict=True)])
        print(f"| HNSW, ef_search {ef} | {overlap:.3f} | {p50:.1f} | {p95:.1f} |")
    pg.ef_search = chosen
    with store.pool.connection() as conn:
        size = conn.execute("SELECT pg_relation_size('chunks_hnsw_384')").fetchone()[0]
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    print(f"\nindex build (optimize) {build:.1f} s; index {size / 1e6:.1f} MB; database {total / 1e6:.0f} MB")
    for set_name in ("filings_questions", "analyst_questions"):
        r = recall(ws, questions(set_name), "hybrid")
        print(f"hybrid with the index, {set_name}: R@1/5/10 {r['R@1']} / {r['R@5']} / {r['R@10']}")
    ws.close()


if __name__ == "__main__":
    main()
