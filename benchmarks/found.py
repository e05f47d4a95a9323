"""The first stage per embedder: how often the default search (hybrid RRF 1:1 with routing) puts
the evidence page (the document, for sec10q) first, in the top 5 and in the top 10, on every set of
``benchmarks/evidence.py``, per half. Each embedder gets its own cached workspaces (chunks of 200 of
its own tokens); building one also prints its ingest figures.

    .venv/bin/python benchmarks/found.py --embedders onnx,multilingual,static
"""

from __future__ import annotations

import argparse
import time

from common import FILINGS, INDUSTRIES, build_workspace, machine, questions, require
from evidence import OVERRIDES, SETS, half, on_page

EMBEDDERS = {
    "onnx": {"embedder.backend": "onnx"},  # MiniLM-L6 int8, the default
    "multilingual": {"embedder.backend": "onnx", "embedder.model": "multilingual-e5-small"},
    "static": {"embedder.backend": "static"},
}
KS = (1, 5, 10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedders", default="onnx,multilingual,static")
    parser.add_argument("--sets", default=",".join(SETS))
    args = parser.parse_args()
    print(f"# {machine()}; evidence first / top 5 / top 10, as questions")
    for emb in args.embedders.split(","):
        overrides = {**OVERRIDES, **EMBEDDERS[emb]}
        for name in args.sets.split(","):
            if name in ("filings", "analyst"):
                ws, report = build_workspace(f"filings-{emb}-200", overrides, [require(FILINGS)])
                qs = questions("filings_questions" if name == "filings" else "analyst_questions")
            else:
                docs, file, _ = INDUSTRIES[name]
                ws, report = build_workspace(f"kg-{name}-{emb}-200", overrides, [require(docs)])
                qs = questions(file)
            if report is not None:
                tokens = ws.store.stats().tokens
                print(
                    f"built {emb} {name}: {report.chunks} chunks, {tokens} tokens, {report.seconds:.0f} s "
                    f"({report.embed_seconds:.0f} s embedding, {tokens / max(report.embed_seconds, 1e-9):.0f} tokens/s)"
                )
            counts: dict[str, list[int]] = {"tune": [0, 0, 0, 0], "test": [0, 0, 0, 0]}
            t0 = time.perf_counter()
            for q in qs:
                hits = ws.retriever.search(q["question"], max(KS))
                first = next((i for i, h in enumerate(hits) if on_page(h, q)), None)
                row = counts[half(q["question"])]
                row[0] += 1
                for j, k in enumerate(KS, start=1):
                    row[j] += first is not None and first < k
            ms = 1000 * (time.perf_counter() - t0) / len(qs)
            for h, (n, *found) in counts.items():
                print(
                    f"{emb:12} {name:9} {h:4} {n:3} questions: "
                    + " / ".join(map(str, found))
                    + f"  ({ms:.0f} ms a search)"
                )


if __name__ == "__main__":
    main()
