"""Which dense index for a million chunks on a laptop (issue 16): recall@10 against exact search,
latency, memory and build time of each design, on the same vectors and queries.

Vectors as in ``search_latency.py --vectors real``: each stored one is one of the 29.7k MiniLM
vectors of the filings and the PostgreSQL manual plus noise (0.02 a dimension), unit length;
queries are the filings' and analyst questions embedded by the shipped model. The truth is an
exact float32 scan. Designs:

- ``exact f32``: today's ``VectorMatrix`` (a float32 matrix product over every vector);
- ``binary+rescore R``: one bit a dimension (48 bytes a vector), Hamming distance over all of them
  (``np.bitwise_count``), then the best R re-scored exactly in float32;
- ``usearch hnsw DTYPE ef``: an HNSW graph from usearch (a maintained C++ library with wheels)
  storing vectors as f16 or i8, searched with candidate list ``ef``;
- ``usearch exact i8``: usearch's SIMD brute force over int8 codes;
- ``usearch hnsw i8 + rescore R``: the int8 graph's best R re-scored exactly in float32 (the
  store keeps the float32 vectors; reading R of them is what the re-score costs);
- ``faiss ivfpq + rescore R``: faiss's inverted lists of product-quantized codes (48 bytes a
  vector, ``nprobe`` lists searched), the best R re-scored exactly in float32;
- ``... + sq8 rescore R``: the same, re-scored from 8-bit codes scaled per dimension (384 bytes a
  vector, in memory), since reading R float32 vectors back from the SQLite store costs far more
  than the search (the ``read R vectors`` rows);
- ``... + f16 mmap rescore R``: re-scored from a float16 copy of the vectors in a file mapped into
  memory (768 bytes a vector on disk; only the pages a query touches become resident), with the
  process's resident memory before and after.

    .venv/bin/pip install 'usearch>=2.26.6' 'faiss-cpu>=1.15.1'     # candidates, not yet dependencies
    .venv/bin/python benchmarks/dense_index.py --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import numpy as np
from common import OUT, machine, questions

DIM = 384


def real_vectors() -> np.ndarray:
    import sqlite3

    rows: list[np.ndarray] = []
    for name in ("filings-onnx-200", "postgres-onnx-200"):
        with sqlite3.connect(OUT / name / "store.db") as db:
            rows += [np.frombuffer(r[0], dtype=np.float32) for r in db.execute("SELECT vector FROM chunks")]
    return np.stack(rows)


def corpus(size: int, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((size, DIM), dtype=np.float32)
    for start in range(0, size, 100_000):  # in slices: no second 1.5 GB array of noise
        n = min(100_000, size - start)
        part = base[rng.integers(0, len(base), n)] + 0.02 * rng.standard_normal((n, DIM)).astype(np.float32)
        out[start : start + n] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return out


def query_vectors(n: int) -> np.ndarray:
    from industry_expert.embed import embed_query
    from industry_expert.workspace import Workspace

    ws = Workspace.open(OUT / "filings-onnx-200", {"embedder.backend": "onnx"})
    texts = [q["question"] for q in questions("filings_questions") + questions("analyst_questions")][:n]
    vectors = np.stack([embed_query(ws.embedder, t) for t in texts]).astype(np.float32)
    ws.close()
    return vectors


def _rss_mb() -> int:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmRSS"))
    return int(line.split()[1]) // 1024


def exact_top(matrix: np.ndarray, q: np.ndarray, k: int = 10) -> np.ndarray:
    scores = matrix @ q
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]


def measure(search, queries: np.ndarray, truth: list[set[int]]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    for q in queries[:5]:  # warm
        search(q)
    times, recall = [], []
    for q, want in zip(queries, truth, strict=True):
        t0 = time.perf_counter()
        got = search(q)
        times.append((time.perf_counter() - t0) * 1000)
        recall.append(len(set(int(i) for i in got) & want) / len(want))
    return {
        "recall@10": round(float(np.mean(recall)), 3),
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
    }


def run_size(size: int, base: np.ndarray, queries: np.ndarray, designs: set[str]) -> None:
    matrix = corpus(size, base, np.random.default_rng(0))
    truth = [set(exact_top(matrix, q).tolist()) for q in queries]

    def emit(design: str, **figures: float) -> None:
        print(json.dumps({"chunks": size, "design": design, **figures}), flush=True)

    if "exact" in designs:
        emit("exact f32", **measure(lambda q: exact_top(matrix, q), queries, truth), bytes_per_vector=DIM * 4)
    if "binary" in designs:
        t0 = time.perf_counter()
        words = np.packbits(matrix > 0, axis=1).view(np.uint64)  # 48 bytes a vector, six words
        built = time.perf_counter() - t0
        for rescore in (200, 1000, 4000):

            def binary(q: np.ndarray, r: int = rescore) -> np.ndarray:
                qc = np.packbits(q > 0).view(np.uint64)
                distance = np.bitwise_count(words ^ qc).sum(axis=1, dtype=np.uint16)
                short = np.argpartition(distance, r)[:r]
                exact = matrix[short] @ q
                best = np.argpartition(-exact, 9)[:10]
                return short[best[np.argsort(-exact[best])]]

            emit(
                f"binary+rescore {rescore}",
                **measure(binary, queries, truth),
                build_s=round(built, 1),
                bytes_per_vector=48,
            )
    if "usearch" in designs:
        from usearch.index import Index
        from usearch.index import search as brute

        for dtype in ("i8", "f16"):
            index = Index(ndim=DIM, metric="cos", dtype=dtype, connectivity=16, expansion_add=128)
            t0 = time.perf_counter()
            index.add(np.arange(size), matrix, threads=os.cpu_count() or 1)
            built = time.perf_counter() - t0
            path = OUT / f"dense-index-{size}-{dtype}.usearch"
            index.save(str(path))
            memory = index.memory_usage
            for ef in (64, 128, 256, 512):
                index.expansion_search = ef
                emit(
                    f"usearch hnsw {dtype} ef {ef}",
                    **measure(lambda q, ix=index: ix.search(q, 10).keys, queries, truth),
                    build_s=round(built, 1),
                    index_mb=round(memory / 1e6),
                    file_mb=round(path.stat().st_size / 1e6),
                )
            del index
            t0 = time.perf_counter()
            viewed = Index.restore(str(path), view=True)
            opened = time.perf_counter() - t0
            viewed.expansion_search = 256
            emit(
                f"usearch hnsw {dtype} ef 256, memory-mapped",
                **measure(lambda q, ix=viewed: ix.search(q, 10).keys, queries, truth),
                open_s=round(opened, 3),
            )
            del viewed
            path.unlink()
        scale = 127 / float(np.abs(matrix).max())
        codes = np.clip(np.round(matrix * scale), -127, 127).astype(np.int8)

        def int8(q: np.ndarray) -> np.ndarray:
            probe = np.clip(np.round(q * scale), -127, 127).astype(np.int8)
            return brute(codes, probe, 10, metric="cos", exact=True).keys

        emit("usearch exact i8", **measure(int8, queries, truth), bytes_per_vector=DIM)
    if "rescore" in designs:
        from usearch.index import Index

        for connectivity in (8, 16):
            index = Index(ndim=DIM, metric="cos", dtype="i8", connectivity=connectivity, expansion_add=128)
            t0 = time.perf_counter()
            index.add(np.arange(size), matrix, threads=os.cpu_count() or 1)
            built = time.perf_counter() - t0
            for ef, r in ((128, 50), (256, 100), (512, 200)):
                index.expansion_search = ef

                def hnsw_rescore(q: np.ndarray, ix=index, r: int = r) -> np.ndarray:  # type: ignore[no-untyped-def]
                    short = ix.search(q, r).keys
                    exact = matrix[short] @ q
                    best = np.argsort(-exact)[:10]
                    return short[best]

                emit(
                    f"usearch hnsw i8 m {connectivity} ef {ef} + rescore {r}",
                    **measure(hnsw_rescore, queries, truth),
                    build_s=round(built, 1),
                    index_mb=round(index.memory_usage / 1e6),
                )
            del index
    if "sqlite" in designs and size == 1_000_000:
        # what re-scoring costs in the store: R float32 vectors read by chunk id from SQLite
        import sqlite3

        db = sqlite3.connect(OUT / f"latency-{size}-real" / "store.db")
        (top,) = db.execute("SELECT MAX(id) FROM chunks").fetchone()
        rng = np.random.default_rng(2)
        for r in (100, 400, 800):

            def read(q: np.ndarray, r: int = r) -> np.ndarray:
                ids = rng.integers(1, top + 1, r).tolist()
                marks = ",".join("?" * len(ids))
                rows = db.execute(f"SELECT id, vector FROM chunks WHERE id IN ({marks})", ids).fetchall()
                return np.array([i for i, _ in rows[:10]])

            figures = measure(read, queries, truth)
            figures.pop("recall@10")
            emit(f"read {r} vectors from SQLite by id", **figures)
        db.close()
    if "faiss" in designs:
        import faiss

        faiss.omp_set_num_threads(os.cpu_count() or 1)
        lists = int(4 * np.sqrt(size))
        quantizer = faiss.IndexFlatIP(DIM)
        index = faiss.IndexIVFPQ(quantizer, DIM, lists, 48, 8, faiss.METRIC_INNER_PRODUCT)
        t0 = time.perf_counter()
        sample = matrix[np.random.default_rng(1).choice(size, min(size, 50 * lists), replace=False)]
        index.train(sample)
        index.add(matrix)
        built = time.perf_counter() - t0
        faiss.omp_set_num_threads(1)  # one query at a time: threads cost more than they give

        def rescored(
            r: int, rows_of: Callable[[np.ndarray], np.ndarray]
        ) -> Callable[[np.ndarray], np.ndarray]:
            """A search: the index's best ``r`` (in id order: fewer page faults in a file), re-scored
            against the vectors ``rows_of`` gives for those ids."""

            def search(q: np.ndarray) -> np.ndarray:
                _, found = index.search(q[None, :], r)
                short = np.sort(found[0][found[0] >= 0])
                exact = rows_of(short).astype(np.float32) @ q
                return short[np.argsort(-exact)[:10]]

            return search

        for nprobe, r in ((16, 100), (32, 200), (64, 400), (128, 800), (128, 400)):
            index.nprobe = nprobe
            emit(
                f"faiss ivfpq {lists} lists nprobe {nprobe} + rescore {r}",
                **measure(rescored(r, lambda ids: matrix[ids]), queries, truth),
                build_s=round(built, 1),
                codes_mb=round(size * 48 / 1e6),
            )
        import resource

        half_path = OUT / f"dense-index-{size}.f16.npy"
        np.save(half_path, matrix.astype(np.float16))
        half = np.load(half_path, mmap_mode="r")
        before = _rss_mb()
        for nprobe, r in ((64, 400), (128, 800)):
            index.nprobe = nprobe
            emit(
                f"faiss ivfpq {lists} lists nprobe {nprobe} + f16 mmap rescore {r}",
                **measure(rescored(r, lambda ids: half[ids]), queries, truth),
                rss_before_mb=before,
                rss_after_mb=_rss_mb(),
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            )
        del half
        # the same file read two other ways: mapped with MADV_RANDOM (no fault-around, no
        # read-ahead), and row by row with positioned reads (no mapping at all)
        import mmap

        offset, row_bytes = 128, DIM * 2  # np.save's header for this shape fits in 128 bytes
        index.nprobe = 128
        with open(half_path, "rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            mapped.madvise(mmap.MADV_RANDOM)
            rows = np.frombuffer(mapped, dtype=np.float16, offset=offset).reshape(size, DIM)

            def positioned(ids: np.ndarray) -> np.ndarray:
                data = b"".join(
                    os.pread(handle.fileno(), row_bytes, offset + int(i) * row_bytes) for i in ids
                )
                return np.frombuffer(data, dtype=np.float16).reshape(-1, DIM)

            for how, rows_of in (("mmap MADV_RANDOM", lambda ids: rows[ids]), ("pread", positioned)):
                before = _rss_mb()
                emit(
                    f"faiss ivfpq {lists} lists nprobe 128 + f16 {how} rescore 800",
                    **measure(rescored(800, rows_of), queries, truth),
                    rss_before_mb=before,
                    rss_after_mb=_rss_mb(),
                )
            del rows
            mapped.close()
        half_path.unlink()
        low, high = matrix.min(axis=0), matrix.max(axis=0)
        step = (high - low) / 255
        sq8 = np.round((matrix - low) / step).astype(np.uint8)
        for nprobe, r in ((64, 400), (128, 800)):
            index.nprobe = nprobe
            emit(
                f"faiss ivfpq {lists} lists nprobe {nprobe} + sq8 rescore {r}",
                **measure(rescored(r, lambda ids: sq8[ids] * step + low), queries, truth),
                codes_mb=round(size * (48 + DIM) / 1e6),
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--designs", default="exact,binary,usearch")
    args = parser.parse_args()
    designs = set(args.designs.split(","))
    print(f"# {machine()}, {os.cpu_count()} cores")
    base = real_vectors()
    queries = query_vectors(args.queries)
    for size in [int(s) for s in args.sizes.split(",")]:
        run_size(size, base, queries, designs)


if __name__ == "__main__":
    main()
