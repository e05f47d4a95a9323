"""Retrieval quality on the filings question set: recall@1, @5 and @10 of the answering page.

A hit counts when it comes from the question's filing and one of the pages holding the reference
answer (benchmarks/data/filings_questions.jsonl). Each configuration gets its own cached
workspace under bench-out/, so re-runs only search.

    python benchmarks/retrieval.py                       # default settings, three modes
    python benchmarks/retrieval.py --chunk-tokens 128 --no-header --embedder onnx
    python benchmarks/retrieval.py --embedder onnx --questions analyst_questions --routes 0,1
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from common import FILINGS, POSTGRES_DOCS, build_workspace, local_postgres, machine, questions, require


def norm(text: str) -> str:
    """As make_questions.py compares: whitespace collapsed, lower-cased, "27.6 %" as "27.6%"."""
    return re.sub(r"(?<=\d) %", "%", " ".join(text.split()).lower())


def relevant(hit, q: dict) -> bool:  # type: ignore[no-untyped-def]
    """From the question's file, and on one of its pages (PDFs) or holding its answer (HTML)."""
    if Path(hit.source).name != q["file"]:
        return False
    return hit.page in q["pages"] if "pages" in q else norm(q["answer"]) in norm(hit.text)


def recall(ws, qs: list[dict], mode: str, ks=(1, 5, 10)) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """R@k for each k, MRR@10, and (``doc@5``) how often the right filing is among the top 5."""
    found = {k: 0 for k in ks}
    reciprocal = 0.0
    document = 0
    for q in qs:
        hits = ws.search(q["question"], k=max(ks), mode=mode)
        document += any(Path(h.source).name == q["file"] for h in hits[:5])
        for rank, hit in enumerate(hits, start=1):
            if relevant(hit, q):
                for k in ks:
                    if rank <= k:
                        found[k] += 1
                reciprocal += 1 / rank
                break
    out = {f"R@{k}": round(100 * found[k] / len(qs), 1) for k in ks}
    return {**out, "MRR": round(reciprocal / len(qs), 3), "doc@5": round(100 * document / len(qs), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--embedder",
        default="sentence-transformers",
        help="sentence-transformers | onnx | onnx-fp32 | multilingual (multilingual-e5-small, onnx int8)",
    )
    parser.add_argument("--chunk-tokens", type=int, default=200)
    parser.add_argument("--no-header", action="store_true")
    parser.add_argument(
        "--fusions", default="rrf:1:1", help="comma-separated FUSION:DENSE_W:KEYWORD_W to compare"
    )
    parser.add_argument(
        "--routes",
        default="1",
        help="comma-separated WEIGHT[:CONCENTRATION] of routing to compare (0: no routing)",
    )
    parser.add_argument(
        "--questions",
        default="filings_questions",
        help="filings_questions | analyst_questions (the filings) | postgres_questions (the PostgreSQL manual)",
    )
    parser.add_argument(
        "--workspace", help="measure this workspace as it is (e.g. after expert reindex --embedder)"
    )
    parser.add_argument(
        "--store", default="sqlite", help="sqlite | postgresql (a local server kept in bench-out/pg)"
    )
    parser.add_argument(
        "--fts5", action="store_true", help="SQLite: keyword search and term counts by FTS5, not tantivy"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    corpus = POSTGRES_DOCS if args.questions.startswith("postgres") else FILINGS
    require(corpus)
    backend = "onnx" if args.embedder.startswith("onnx") or args.embedder == "multilingual" else args.embedder
    overrides = {
        "embedder.backend": backend,
        **({"embedder.model": "multilingual-e5-small"} if args.embedder == "multilingual" else {}),
        "embedder.quantize": args.embedder != "onnx-fp32",
        "chunking.max_tokens": args.chunk_tokens,
        "chunking.header": not args.no_header,
    }
    prefix = "postgres" if corpus == POSTGRES_DOCS else "filings"
    name = f"{prefix}-{args.embedder}-{args.chunk_tokens}{'-nohdr' if args.no_header else ''}"
    if args.store == "postgresql":
        name += "-pg"
        overrides["store.url"] = local_postgres(name.replace("-", "_"))
    if args.workspace:
        from industry_expert import Workspace

        ws, report, name = Workspace.open(args.workspace), None, Path(args.workspace).name
    else:
        ws, report = build_workspace(name, overrides, [corpus])
    if args.fts5:
        ws.store.keyword = None  # the SQLite store falls back to its FTS5 table
        name += "-fts5"
    qs = questions(args.questions)
    rows = {}
    for mode in ("keyword", "dense"):
        rows[mode] = recall(ws, qs, mode)
    routes = args.routes.split(",")
    for spec in args.fusions.split(","):
        fusion, dense_w, keyword_w = spec.split(":")
        for route in routes:
            weight, _, concentration = route.partition(":")
            view = ws.retriever.with_settings(
                fusion=fusion,
                dense_weight=float(dense_w),
                keyword_weight=float(keyword_w),
                route_weight=float(weight),
                route_concentration=float(concentration or ws.settings.retrieval.route_concentration),
            )
            label = f"hybrid {spec}" + (f" route {route}" if len(routes) > 1 else "")
            rows[label] = recall(view, qs, "hybrid")
    result = {"config": name, "questions": len(qs), "machine": machine(), "recall": rows}
    if report is not None:
        result["chunks"] = report.chunks
    if args.json:
        print(json.dumps(result))
        return
    print(f"# {name}: {len(qs)} {args.questions}; {machine()}")
    print("| mode | R@1 | R@5 | R@10 | MRR@10 | right filing in top 5 |\n|---|---|---|---|---|---|")
    for mode, r in rows.items():
        print(f"| {mode} | {r['R@1']} | {r['R@5']} | {r['R@10']} | {r['MRR']} | {r['doc@5']} |")


if __name__ == "__main__":
    main()
