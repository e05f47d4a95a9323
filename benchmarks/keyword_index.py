"""Which keyword index for a million chunks (issue 16): SQLite's FTS5 (the store's today) against
tantivy (a Rust engine built for top-k retrieval: block-max WAND over BM25), on latency at
100k and 1M synthetic chunks and on R@k of the question sets, which must not fall.

- Latency: the synthetic stores of ``search_latency.py --vectors real`` (60 Zipf-distributed words
  a chunk), 100 six-word queries, k = 10, after five warm-up queries; tantivy is built from the
  same rows (the document's source and label, header, text: the FTS5 columns).
- Quality: the cached real workspaces (the 20 filings; the PostgreSQL manual), keyword mode, the
  same terms (``keyword_terms``), FTS5's ``bm25`` against tantivy's BM25 over the three fields
  with its English stemmer.

    .venv/bin/pip install 'tantivy>=0.27.0'      # the candidate, not yet a dependency
    .venv/bin/python benchmarks/keyword_index.py --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
from common import OUT, machine, questions
from retrieval import relevant

from industry_expert.store import SearchFilter, SQLiteStore
from industry_expert.store.base import keyword_terms

# One field holding the document's name and label, the header and the text, as FTS5's bm25()
# scores a row: one length and one term frequency over all columns. (Three fields scored apart
# and summed let a short name field outweigh the text: filings keyword R@5 fell from 94 to 80.)
FIELDS = ["body"]


def build_tantivy(db: Path, where: Path) -> tuple[object, float]:
    import tantivy

    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("id", stored=True, indexed=True, fast=True)
    # positions: a word the tokenizer splits ("pg_dump") is searched as a phrase, as in FTS5
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem", index_option="position")
    schema = builder.build()
    index = tantivy.Index(schema, path=str(where))
    t0 = time.perf_counter()
    writer = index.writer(heap_size=256_000_000, num_threads=2)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT c.id, d.source || ' ' || d.label, c.header, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id"
        )
        for chunk_id, doc, header, text in rows:
            fields = {"id": chunk_id, "body": f"{doc}\n{header}\n{text}"}
            writer.add_document(tantivy.Document.from_dict(fields, schema))
    writer.commit()
    writer.wait_merging_threads()
    built = time.perf_counter() - t0
    index.reload()
    return index, built


def tantivy_search(index, query: str, k: int) -> list[int]:  # type: ignore[no-untyped-def]
    terms = keyword_terms(query)
    if not terms:
        return []
    searcher = index.searcher()
    parsed = index.parse_query(" ".join(terms), FIELDS)
    return [searcher.doc(address)["id"][0] for _, address in searcher.search(parsed, k).hits]


def timed(fn, queries: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    for q in queries[:5]:
        fn(q)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        "p99_ms": round(float(np.percentile(times, 99)), 2),
    }


def size_on_disk(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def latency(size: int) -> None:
    db = OUT / f"latency-{size}-real" / "store.db"
    store = SQLiteStore(db)
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(2000)]
    queries = [" ".join(rng.choice(vocab, 6)) for _ in range(100)]
    row = {"chunks": size}
    fts = timed(lambda q: store.keyword_search(q, 10, SearchFilter()), queries)
    print(json.dumps({**row, "engine": "fts5", **fts}), flush=True)
    index, built = build_tantivy(db, OUT / f"keyword-{size}.tantivy")
    figures = timed(lambda q: tantivy_search(index, q, 10), queries)
    print(
        json.dumps(
            {
                **row,
                "engine": "tantivy",
                **figures,
                "build_s": round(built, 1),
                "index_mb": round(size_on_disk(OUT / f"keyword-{size}.tantivy") / 1e6),
            }
        ),
        flush=True,
    )
    # the same top 10? (ties and BM25 variants differ; the overlap says how much)
    overlap = [
        len({i for i, _ in store.keyword_search(q, 10, SearchFilter())} & set(tantivy_search(index, q, 10)))
        / 10
        for q in queries[:50]
    ]
    print(json.dumps({**row, "top10_overlap": round(float(np.mean(overlap)), 3)}), flush=True)
    store.close()


def quality(workspace: str, sets: list[str]) -> None:
    db = OUT / workspace / "store.db"
    store = SQLiteStore(db)
    index, built = build_tantivy(db, OUT / f"keyword-{workspace}.tantivy")
    for set_name in sets:
        qs = questions(set_name)
        for engine in ("fts5", "tantivy"):
            found = {1: 0, 5: 0, 10: 0}
            for q in qs:
                if engine == "fts5":
                    ids = [i for i, _ in store.keyword_search(q["question"], 10, SearchFilter())]
                else:
                    ids = tantivy_search(index, q["question"], 10)
                hits = store.get_chunks(ids)
                rank = next((r for r, h in enumerate(hits, 1) if relevant(h, q)), None)
                for k in found:
                    found[k] += rank is not None and rank <= k
            print(
                json.dumps(
                    {
                        "set": set_name,
                        "engine": engine,
                        **{f"R@{k}": round(100 * v / len(qs), 1) for k, v in found.items()},
                    }
                ),
                flush=True,
            )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--no-quality", action="store_true")
    args = parser.parse_args()
    print(f"# {machine()}")
    if not args.no_quality:
        quality("filings-onnx-200", ["filings_questions", "analyst_questions"])
        quality("postgres-onnx-200", ["postgres_questions"])
    for size in [int(s) for s in args.sizes.split(",") if s]:
        latency(size)


if __name__ == "__main__":
    main()
