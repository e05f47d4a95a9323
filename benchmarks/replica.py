"""Searches from the primary alone against a streaming replica serving them, while an ingest
writes to the primary (issue 32: `[store] read_url`).

A primary with 100k synthetic chunks (the corpus of `search_latency.py`: Zipf words, random
384-dimensional unit vectors, the HNSW index built) and a streaming replica of it made with
`pg_basebackup -R`, both from `tools/local_postgres.py`, in `bench-out/replica/`. Then, in turn
and alternating for `--rounds`:

- `primary`: `--clients` threads run hybrid searches (`Workspace.search`, the query embedded by
  the real ONNX model) against the primary, nothing else running;
- `primary+ingest`: the same while a writer puts a 200-chunk document into the primary again
  and again;
- `replica+ingest`: the same writer on the primary, the searches through `read_url` on the replica.

Each prints searches per second and the p50 and p95 of one search, and the writer's chunks per
second. On one machine the primary, the replica and the clients share the same cores, so this
measures what routing reads to a replica costs or spares on that machine, not added capacity:
that needs the replica on a machine of its own.

    python benchmarks/replica.py --size 100000 --seconds 20 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time

import numpy as np
from common import OUT, ROOT, machine

sys.path.insert(0, str(ROOT / "tools"))
import local_postgres  # noqa: E402

from industry_expert import Workspace  # noqa: E402
from industry_expert.store import DocumentRecord  # noqa: E402
from industry_expert.types import Chunk  # noqa: E402

DIM = 384
HERE = OUT / "replica"


def synthetic(rng: np.random.Generator, n: int, name: str) -> tuple[DocumentRecord, list[Chunk], np.ndarray]:
    vocab = np.array([f"w{i}" for i in range(50_000)])
    words = vocab[np.minimum(rng.zipf(1.2, size=(n, 60)), 50_000) - 1]
    chunks = [Chunk(" ".join(row), name, i, page=i // 5 + 1) for i, row in enumerate(words)]
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return (
        DocumentRecord(f"/synthetic/{name}.txt", f"synthetic/{name}.txt", "default", name, 1, 1, name, name),
        chunks,
        vectors,
    )


def build(url: str, size: int) -> None:
    """The primary's store: ``size`` chunks in documents of 1,000, then its indexes."""
    path = HERE / "ws"
    if (path / "expert.toml").exists():
        return
    shutil.rmtree(path, ignore_errors=True)
    ws = Workspace.init(path, {"embedder.backend": "onnx", "store.url": url})
    ws.store.set_meta("embedder_dim", str(DIM))
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for d in range(size // 1000):
        ws.store.put_document(*synthetic(rng, 1000, f"doc{d}"))
    ws.store.optimize()
    print(f"built {size:,} chunks in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    ws.close()


def run(read_url: str, url: str, ingest: bool, clients: int, seconds: float) -> dict[str, object]:
    overrides = {"embedder.backend": "onnx", "store.url": url, "store.read_url": read_url}
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(2000)]
    queries = [" ".join(rng.choice(vocab, 6)) for _ in range(2000)]
    ws = Workspace.open(HERE / "ws", overrides, shared=True)  # as `expert serve` opens it
    ws.search(queries[0], k=10)  # the model and the pools, loaded
    stop = threading.Event()
    times: list[float] = []
    written = [0]

    def search(offset: int) -> None:
        i = offset
        while not stop.is_set():
            t = time.perf_counter()
            ws.search(queries[i % len(queries)], k=10)
            times.append(time.perf_counter() - t)
            i += clients

    def write() -> None:
        writer = Workspace.open(HERE / "ws", {"embedder.backend": "onnx", "store.url": url})
        rng_w = np.random.default_rng(2)
        n = 0
        while not stop.is_set():
            writer.store.put_document(*synthetic(rng_w, 200, f"churn{n % 5}"))
            written[0] += 200
            n += 1
        writer.close()

    threads = [threading.Thread(target=search, args=(c,)) for c in range(clients)]
    if ingest:
        threads.append(threading.Thread(target=write))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    ws.close()
    p50, p95 = np.percentile(np.array(times) * 1000, [50, 95])
    return {
        "searches_per_s": round(len(times) / elapsed, 1),
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "ingest_chunks_per_s": round(written[0] / elapsed) if ingest else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = {"shared_buffers": "512MB", "max_wal_size": "4GB"}
    base, stop_primary = local_postgres.start(HERE / "primary", settings=settings)
    stops = [stop_primary]
    try:
        url = local_postgres.ensure_database(base, "expert")
        build(url, args.size)
        shutil.rmtree(
            HERE / "replica", ignore_errors=True
        )  # a fresh copy: the WAL an old one needs may be gone
        replica_base, stop_replica = local_postgres.start_replica(HERE / "replica", base, settings=settings)
        stops.append(stop_replica)
        read_url = f"{replica_base}/expert"
        results: dict[str, list[dict[str, object]]] = {
            "primary": [],
            "primary+ingest": [],
            "replica+ingest": [],
        }
        for _ in range(args.rounds):
            results["primary"].append(run("", url, False, args.clients, args.seconds))
            results["primary+ingest"].append(run("", url, True, args.clients, args.seconds))
            results["replica+ingest"].append(run(read_url, url, True, args.clients, args.seconds))
    finally:
        for stop in reversed(stops):
            stop()
    if args.json:
        print(json.dumps({"machine": machine(), "size": args.size, "results": results}, indent=1))
        return
    print(f"{machine()}; {args.size:,} chunks; {args.clients} search threads; {args.seconds:.0f} s a run\n")
    print("| reads from | searches/s | p50 ms | p95 ms | ingest chunks/s |\n|---|---|---|---|---|")
    for name, runs in results.items():
        for r in runs:
            print(
                f"| {name} | {r['searches_per_s']} | {r['p50_ms']} | {r['p95_ms']} | "
                f"{r['ingest_chunks_per_s'] if r['ingest_chunks_per_s'] is not None else '–'} |"
            )


if __name__ == "__main__":
    main()
