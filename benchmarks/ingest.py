"""Ingest throughput on the filings, against the embedder's raw encode time in the same run.

Ingests every PDF under ../shared/data/filings into a fresh workspace, then encodes the very same
chunk texts again with the bare embedder (one call, the backend's own batching). The difference
is what the pipeline costs beyond embedding: PDF parsing, chunking, token counting, SQLite and
FTS writes (parsing runs in a worker thread, overlapped with embedding).

    python benchmarks/ingest.py --embedder onnx
    python benchmarks/ingest.py --store sqlite,postgresql     # both stores, one after the other
    python benchmarks/ingest.py --corpus large --ocr never    # ~70k chunks, 9M tokens

``--corpus large`` ingests a corpus the size of a company's shelf instead: five copies of the
filings (hard links under five folders: the same bytes, five documents each) and the
PostgreSQL manual (apt-get install postgresql-doc-15), about 70k chunks. The report's breakdown
says where the time beyond embedding goes: the parsing worker (overlapped with embedding), the
main thread waiting for it, the store's writes, and its ``optimize`` (the indexes) at the end.

With PostgreSQL (a fresh database on the server kept in bench-out/pg), the ingest includes what
``optimize`` does after it: ``VACUUM (ANALYZE)`` and the HNSW index.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from common import FILINGS, OUT, POSTGRES_DOCS, local_postgres, machine, require

from industry_expert import Workspace


def large_corpus() -> Path:
    """Five copies of the filings and the PostgreSQL manual, as hard links under bench-out."""
    root = OUT / "corpus-large"
    if not root.exists():
        for source, target in [(FILINGS, root / f"filings-{n}") for n in range(1, 6)] + [
            (require(POSTGRES_DOCS), root / "postgresql-manual")
        ]:
            for file in sorted(p for p in source.rglob("*") if p.is_file()):
                copy = target / file.relative_to(source)
                copy.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(file, copy)
                except OSError:  # another file system
                    shutil.copy2(file, copy)
    return root


def run(embedder_name: str, store: str, ocr: str = "auto", corpus: Path = FILINGS) -> dict:  # type: ignore[type-arg]
    backend = "onnx" if embedder_name.startswith("onnx") else embedder_name
    path = OUT / f"ingest-{embedder_name}{'-pg' if store == 'postgresql' else ''}"
    shutil.rmtree(path, ignore_errors=True)
    overrides = {
        "embedder.backend": backend,
        "embedder.quantize": embedder_name != "onnx-fp32",
        "ingest.ocr": ocr,
    }
    if store == "postgresql":
        overrides["store.url"] = local_postgres(f"ingest_{int(time.time())}")
    ws = Workspace.init(path, overrides)
    t0 = time.perf_counter()
    embedder = ws.embedder  # model load, timed apart from ingest
    load_s = time.perf_counter() - t0
    report = ws.ingest([corpus])
    texts = [text for _, text in ws.store.all_chunks()]
    t0 = time.perf_counter()
    embedder.embed_batch(texts)
    raw_s = time.perf_counter() - t0
    tokens = ws.status(check=False)["tokens"]
    result = {
        "store": store,
        "ocr": ocr,
        "embedder": embedder.name,
        "machine": machine(),
        "files": len(report.added),
        "pages": report.pages,
        "chunks": report.chunks,
        "tokens": tokens,
        "model_load_s": round(load_s, 2),
        "ingest_s": round(report.seconds, 2),
        "embed_in_pipeline_s": round(report.embed_seconds, 2),
        "parse_worker_s": round(report.parse_seconds, 2),
        "waiting_for_parse_s": round(report.wait_seconds, 2),
        "store_writes_s": round(report.store_seconds, 2),
        "optimize_s": round(report.index_seconds, 2),
        "raw_encode_s": round(raw_s, 2),
        "overhead_vs_raw_pct": round(100 * (report.seconds - raw_s) / raw_s, 1),
        "pages_per_s": round(report.pages / report.seconds, 1),
        "chunks_per_s": round(report.chunks / report.seconds, 1),
        "raw_tokens_per_s": round(tokens / raw_s),
    }
    ws.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default="onnx", help="sentence-transformers | onnx | onnx-fp32")
    parser.add_argument("--store", default="sqlite", help="sqlite, postgresql, or both: sqlite,postgresql")
    parser.add_argument("--ocr", default="auto", help="auto | never | always (ingest.ocr)")
    parser.add_argument("--corpus", default="filings", help="filings | large | a folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    require(FILINGS)
    for store in args.store.split(","):
        if args.corpus == "filings":
            corpus = FILINGS
        elif args.corpus == "large":
            corpus = large_corpus()
        else:
            corpus = Path(args.corpus)
        result = run(args.embedder, store, args.ocr, corpus)
        print(
            json.dumps(result) if args.json else "\n".join(f"{k:22} {v}" for k, v in result.items()),
            flush=True,
        )


if __name__ == "__main__":
    main()
