"""The answering line: how often the evidence scorer (generate/grounding.py) picks a line that holds
the reference, on every question set with evidence, and its fit.

    .venv/bin/python benchmarks/evidence.py measure [--weights FILE] [--json]
    .venv/bin/python benchmarks/evidence.py fit [--leave-out SET] [--out FILE]

No model runs: the line is what the shipped model is shown and, when its answer fails a check,
what the user reads instead (answer.unsupported = quote). Sets (benchmarks/data): the team's 50
filings questions and 127 analyst questions over the 20 filings, the aviation, clinical and
federal sets written over KG-RAG's documents (with pages), and KG-RAG's 195 sec-10-q questions
written by others (no pages: the right document counts, and a long reference "holds" when the
line states one of its figures).

**Tuning and test halves** are fixed by a hash of the question (``half``), before any fit: ``fit``
reads tuning halves only and ``measure`` reports each half separately; quote the test half.
``fit --leave-out SET,...`` fits without those sets (all their questions unseen) to measure an
industry nobody fitted on: finance is filings, analyst and sec10q together.

Per set and half: questions; "found" the share whose answering page (document, for sec10q) is
among the passages retrieved; "holds" the share whose chosen line holds the reference, over the
found ones; "page" the share whose chosen line is on an answering page, over the found ones.
Arithmetic questions (kind "arithmetic") count a line holding one of their operands.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from common import FILINGS, INDUSTRIES, build_workspace, machine, questions, require

from industry_expert.figures import figures, same_figure

if TYPE_CHECKING:
    from industry_expert.generate.grounding import EvidenceModel

OVERRIDES = {"embedder.backend": "onnx", "chunking.max_tokens": 200}
SETS = ("filings", "analyst", "aviation", "clinical", "federal", "sec10q")
WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "industry_expert" / "reference" / "evidence.json"


def half(question: str) -> str:
    """ "tune" or "test", fixed by the question's text."""
    return "tune" if hashlib.sha256(question.encode("utf-8")).digest()[0] % 2 == 0 else "test"


def load(name: str):  # type: ignore[no-untyped-def]
    """The workspace and questions of set ``name``."""
    if name in ("filings", "analyst"):
        ws, _ = build_workspace("filings-onnx-200", OVERRIDES, [require(FILINGS)])
        return ws, questions("filings_questions" if name == "filings" else "analyst_questions")
    docs, file, _ = INDUSTRIES[name]
    ws, _ = build_workspace(f"kg-{name}-onnx-200", OVERRIDES, [require(docs)])
    return ws, questions(file)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w%$.,/-]+", " ", text.casefold()).split())


def holds(text: str, q: dict) -> bool:  # type: ignore[type-arg]
    """Whether ``text`` states the reference of ``q`` (an operand, for an arithmetic question)."""
    if q.get("kind") == "arithmetic":
        return any(_norm(op) in _norm(text) for op in q.get("operands", []))
    if "figures" in q:  # a long reference written by others: one of its figures
        stated = figures(text)
        return any(any(same_figure(f, s) for s in stated) for want in q["figures"] for f in figures(want))
    reference = q["answer"]
    wanted = [f for f in figures(reference) if not f.year_like] or []
    if wanted and len(_norm(reference).split()) <= 4:
        stated = figures(text)
        return all(any(same_figure(f, s) for s in stated) for f in wanted)
    return _norm(reference) in _norm(text)


def on_page(hit, q: dict) -> bool:  # type: ignore[no-untyped-def,type-arg]
    source = Path(hit.source).name
    if "pages" not in q:
        return fnmatch.fnmatch(source, q["file"])
    return source == q["file"] and hit.page in q["pages"]


def gather(names: list[str]) -> list[dict]:  # type: ignore[type-arg]
    """Every question of the sets with its retrieved passages' candidate lines and their labels."""
    from industry_expert.generate.grounding import candidates
    from industry_expert.question import Question

    rows = []
    for name in names:
        ws, qs = load(name)
        k = ws.settings.answer.k
        for q in qs:
            hits = ws.retriever.search(q["question"], k)
            analysis = Question.analyse(q["question"])
            lines = candidates(analysis, hits)
            rows.append(
                {
                    "set": name,
                    "half": half(q["question"]),
                    "q": q,
                    "analysis": analysis,
                    "hits": hits,
                    "found": any(on_page(h, q) for h in hits),
                    "lines": [
                        (c.features, holds(c.text, q) and on_page(hits[c.source - 1], q)) for c in lines
                    ],
                }
            )
    return rows


def measure(rows: list[dict], model: EvidenceModel) -> list[dict]:  # type: ignore[type-arg]
    from industry_expert.generate.grounding import select_evidence

    table = []
    for name in dict.fromkeys(r["set"] for r in rows):
        for part in ("tune", "test"):
            picked = [r for r in rows if r["set"] == name and r["half"] == part]
            found = [r for r in picked if r["found"]]
            held = page = 0
            for r in found:
                e = select_evidence(r["analysis"], r["hits"], model)
                if e is not None:
                    held += holds(e.text, r["q"]) or bool(e.cell and holds(e.cell, r["q"]))
                    page += on_page(r["hits"][e.source - 1], r["q"])
            n = len(found) or 1
            table.append(
                {
                    "set": name,
                    "half": part,
                    "questions": len(picked),
                    "found": round(len(found) / (len(picked) or 1), 3),
                    "holds": round(held / n, 3),
                    "page": round(page / n, 3),
                }
            )
    return table


# the hand-set weights the scorer was designed with (the 0.3 threshold's scale): the fit's prior
PRIOR = {
    "overlap": 1.0, "entity_overlap": 0.5, "stop_overlap": 0.1, "header_overlap": 0.6, "pairs": 0.3,
    "no_terms": 0.0, "row_extra": -0.1, "row_named": 0.15, "period_cell": 0.3, "period_table": 0.2, "period_sentence": 0.3,
    "other_year": -0.2, "figure_wanted": 0.2, "figure_open": 0.0, "figure_other": 0.0, "no_figure_wanted": -0.5,
    "rank": -0.03, "length": -0.01,
}  # fmt: skip


def fit(rows: list[dict], l2: float = 0.01) -> EvidenceModel:  # type: ignore[type-arg]
    """Weights that make a line holding the reference score highest among its question's lines
    (a softmax over each question's lines, L2-regularised), and the threshold under which the
    best line of a question is not shown."""
    import numpy as np
    from scipy.optimize import minimize

    from industry_expert.generate.grounding import FEATURES, EvidenceModel

    groups = []
    for r in rows:
        if r["lines"] and any(label for _, label in r["lines"]):
            x = np.array([[f[name] for name in FEATURES] for f, _ in r["lines"]])
            y = np.array([label for _, label in r["lines"]], dtype=float)
            groups.append((x, y))

    def loss(w):  # type: ignore[no-untyped-def]
        total, grad = 0.0, np.zeros_like(w)
        for x, y in groups:
            s = x @ w
            s -= s.max()
            p = np.exp(s) / np.exp(s).sum()
            total -= np.log((p * y).sum() + 1e-12)
            q = p * y / ((p * y).sum() + 1e-12)
            grad -= x.T @ (q - p)
        return total / len(groups) + l2 * ((w - prior) @ (w - prior)), grad / len(groups) + 2 * l2 * (
            w - prior
        )

    # regularised towards the design's prior weights (PRIOR), not towards 0: a feature the tuning
    # sets say little about (a year's column, in sets without tables by year) keeps what it was
    # designed to mean instead of vanishing
    prior = np.array([PRIOR.get(n, 0.0) for n in FEATURES])
    w = minimize(loss, prior.copy(), jac=True, method="L-BFGS-B").x
    weights = {n: round(float(v), 4) for n, v in zip(FEATURES, w, strict=True)}
    # threshold: keep 95% of the questions whose best line is a right one; a question whose best
    # line scores under it gets no line (the model answers alone, or the answer says it found none)
    right = []
    for r in rows:
        if r["lines"]:
            scores = [(sum(weights[n] * f[n] for n in FEATURES), label) for f, label in r["lines"]]
            top = max(scores, key=lambda s: s[0])
            if top[1]:
                right.append(top[0])
    right.sort()
    threshold = round(right[len(right) // 20], 3) if right else 0.0
    return EvidenceModel(weights, threshold)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["measure", "fit"])
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--weights", type=Path, help="a weights file to measure instead of the shipped one")
    parser.add_argument(
        "--leave-out",
        default="",
        help="fit without these sets (comma-separated: an industry's, e.g. filings,analyst,sec10q)",
    )
    parser.add_argument("--out", type=Path, help="where fit writes the weights (default: print)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from industry_expert.generate.grounding import EvidenceModel

    start = time.perf_counter()
    rows = gather(args.sets)
    if args.mode == "fit":
        left_out = set(filter(None, args.leave_out.split(",")))
        tuning = [r for r in rows if r["half"] == "tune" and r["set"] not in left_out]
        model = fit(tuning)
        data = {
            "about": "Weights of generate/grounding.py's evidence scorer (FEATURES) and the score under "
            "which no line answers, fitted by benchmarks/evidence.py fit on the tuning halves named "
            "in fitted_on (a softmax over each question's lines); never on a test half.",
            "fitted_on": sorted({r["set"] for r in tuning}),
            "threshold": model.threshold,
            "weights": model.weights,
        }
        text = json.dumps(data, indent=2)
        if args.out:
            args.out.write_text(text + "\n")
        shipped = measure(rows, EvidenceModel.shipped())
        fitted = measure(rows, model)
        result = {"machine": machine(), "weights": data, "before": shipped, "after": fitted}
    else:
        model = EvidenceModel.shipped()
        if args.weights:
            data = json.loads(args.weights.read_text())
            model = EvidenceModel(dict(data["weights"]), float(data["threshold"]))
        result = {"machine": machine(), "table": measure(rows, model)}
    result["seconds"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps(result))
        return
    print(f"# evidence lines, {result['machine']}\n")
    if args.mode == "fit":
        print(json.dumps(result["weights"], indent=2))
        print("\n| set | half | questions | found | holds before | holds after | page before | page after |")
        print("|---|---|---|---|---|---|---|---|")
        for b, a in zip(result["before"], result["after"], strict=True):
            print(
                f"| {b['set']} | {b['half']} | {b['questions']} | {b['found']} | {b['holds']} | {a['holds']} | {b['page']} | {a['page']} |"
            )
    else:
        print("| set | half | questions | found | holds | page |\n|---|---|---|---|---|---|")
        for r in result["table"]:
            print(
                f"| {r['set']} | {r['half']} | {r['questions']} | {r['found']} | {r['holds']} | {r['page']} |"
            )


if __name__ == "__main__":
    main()
