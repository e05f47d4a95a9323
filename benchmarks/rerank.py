"""A second stage, tried: late interaction (MaxSim over the embedder's token vectors, ColBERT-style,
no training) reranking the top 20 hybrid hits, alone and fused with the hybrid rank (RRF), on the
three question sets. Reports R@1/5/10 of each order and the reranking time per query.

    .venv/bin/python benchmarks/rerank.py      # needs the cached workspaces of benchmarks/retrieval.py
"""

from __future__ import annotations

import time

import numpy as np
from common import OUT, machine, questions
from retrieval import relevant

from industry_expert import Workspace
from industry_expert.embed.local import resolve_model_dir

SETS = [("filings-onnx-200", "filings_questions"), ("filings-onnx-200", "analyst_questions"),
        ("postgres-onnx-200", "postgres_questions")]  # fmt: skip


def main(depth: int = 20) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(
        str(resolve_model_dir("all-MiniLM-L6-v2")), device="cpu", local_files_only=True
    )

    def tokens(texts: list[str]) -> list[np.ndarray]:
        out = model.encode(texts, output_value="token_embeddings", convert_to_numpy=False, batch_size=32)
        return [(t / t.norm(dim=1, keepdim=True).clamp(min=1e-9)).numpy() for t in out]

    print(f"# {machine()}; top {depth} hybrid hits reranked")
    for workspace, name in SETS:
        ws = Workspace.open(OUT / workspace)
        ranks: dict[str, list[int | None]] = {"hybrid": [], "maxsim": [], "hybrid + maxsim (RRF)": []}
        spent = 0.0
        qs = questions(name)
        for q in qs:
            hits = ws.search(q["question"], k=depth, mode="hybrid")
            started = time.perf_counter()
            query = tokens([q["question"]])[0]
            scores = np.array(
                [
                    float((query @ p.T).max(axis=1).mean())
                    for p in tokens([f"{h.header}\n{h.text}" for h in hits])
                ]
            )
            spent += time.perf_counter() - started
            by_maxsim = [int(i) for i in np.argsort(-scores)]
            place = {i: r for r, i in enumerate(by_maxsim, 1)}
            fused = sorted(range(len(hits)), key=lambda i: -(1 / (61 + i) + 1 / (60 + place[i])))
            for label, order in (
                ("hybrid", list(range(len(hits)))),
                ("maxsim", by_maxsim),
                ("hybrid + maxsim (RRF)", fused),
            ):
                ranks[label].append(next((r for r, i in enumerate(order, 1) if relevant(hits[i], q)), None))
        ws.close()
        for label, found in ranks.items():
            r = [100 * sum(x is not None and x <= k for x in found) / len(found) for k in (1, 5, 10)]
            print(f"| {name} | {label} | {r[0]:.1f} / {r[1]:.1f} / {r[2]:.1f} |")
        print(f"| {name} | reranking time | {1000 * spent / len(qs):.0f} ms a query |")


if __name__ == "__main__":
    main()
