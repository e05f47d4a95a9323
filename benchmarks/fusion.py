"""Fusion fitted to the workspace (``expert tune fusion``): does a fit on one half of a question set
hold on the other?

For each set with evidence (the sets of benchmarks/evidence.py: filings, analyst, aviation,
clinical, federal, sec10q), the fit reads the tuning half (``evidence.half``) and the test half is
scored three ways: the configured weights (RRF 1:1, routing 1), the weights the fit chose (when its
own held-out check let it be used; else the configured ones), and the best fixed weights of the
same grid chosen afterwards on the test half itself (a ceiling no fit can know in advance).

``--self-questions`` fits instead on questions each workspace writes about itself from its
structure, no user involved: a table row's label, a section heading, a defined term or acronym,
each with its document's label, answered by its own page. This is what the issue first asked for;
it is kept here to show why the product does not do it (docs/benchmarks.md).

    .venv/bin/python benchmarks/fusion.py [--sets clinical,federal] [--self-questions] [--json]

Nothing is written to the workspaces: the fit is computed, not stored.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import random
import re
from pathlib import Path

from common import machine
from evidence import SETS, half, load

from industry_expert import fusion
from industry_expert.errors import InputError
from industry_expert.evaluate.questions import EvalQuestion, Evidence
from industry_expert.figures import is_table_row
from industry_expert.retrieve import Retriever

WORD = re.compile(r"[^\W\d_][\w'’&-]*")
DEFINED = re.compile(
    r"[“\"]([^”\"]{3,60})[”\"]\s*(?:means|refers to|is defined as|shall mean)\b"
    r"|\b[A-Z][\w-]*(?:\s+[\w-]+){0,5}\s*\(“?\"?([A-Z][A-Za-z0-9-]{1,10})”?\"?\)"
)


def as_questions(qs: list[dict], names: list[str]) -> list[EvalQuestion]:
    """The set's questions as ``expert eval`` reads them: evidence is the file and its pages, or
    (sec10q) every file its pattern matches."""
    out = []
    for i, q in enumerate(qs):
        files = [n for n in names if fnmatch.fnmatch(n, q["file"])]
        evidence = tuple(Evidence(f, tuple(q.get("pages", ()))) for f in files)
        out.append(EvalQuestion(i + 1, str(i + 1), q["question"], q.get("answer", ""), "lookup", evidence))
    return out


def self_questions(ws, n: int = 300, seed: int = 0) -> list[EvalQuestion]:  # type: ignore[no-untyped-def]
    """Questions from the documents' structure, a third each of table rows, headings and terms."""
    store = ws.store
    hits = store.get_chunks([i for i, _ in store.all_chunks()])
    pages: dict[tuple, set] = {}
    for h in hits:
        pages.setdefault((h.document_id, h.header), set()).add(h.page)
    rng = random.Random(seed)
    rng.shuffle(hits)
    made: list[EvalQuestion] = []
    kinds = {"row": 0, "heading": 0, "term": 0}
    for h in hits:
        label = h.header.split(" — ")[0]
        found = []
        for line in h.text.split("\n"):
            m = re.match(r"^\s*([^\d$€£¥(]+)", line) if is_table_row(line) else None
            text = " ".join(m.group(1).split()).strip(" :.-—") if m else ""
            if len(WORD.findall(text)) >= 2:
                found.append(("row", text, {h.page}))
                break
        for m in DEFINED.finditer(h.text):
            found.append(
                (
                    "term",
                    f"What does {m.group(1)} mean?" if m.group(1) else f"What is {m.group(2)}?",
                    {h.page},
                )
            )
            break
        section = h.header.split(" — ")[-1].split(" > ")[-1] if " — " in h.header else ""
        if len(WORD.findall(section)) >= 2 and h.text.startswith(section[:20]):
            found.append(("heading", section, pages[(h.document_id, h.header)]))
        if not found:
            continue
        kind, text, on = rng.choice(found)
        if kinds[kind] > n // 3:
            continue
        kinds[kind] += 1
        evidence = (Evidence(Path(h.source).name, tuple(p for p in on if p is not None)),)
        made.append(EvalQuestion(len(made) + 1, str(len(made) + 1), f"{text} — {label}", "", kind, evidence))
        if len(made) >= n:
            break
    return made


def scores(retriever: Retriever, cases: list[fusion.Case], w: fusion.Weights) -> tuple[int, int]:
    """(evidence in the top 5, evidence first) over ``cases`` under weights ``w``."""
    ranks = fusion.ranks(retriever, cases, w)
    return sum(r is not None for r in ranks), sum(r == 0 for r in ranks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument(
        "--self-questions", action="store_true", help="fit on questions from the documents' structure"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for name in args.sets.split(","):
        ws, qs = load(name)
        retriever = Retriever(ws.store, ws.settings.retrieval, lambda ws=ws: ws.embedder)
        names = [Path(d.source).name for d in ws.store.list_documents()]
        test = as_questions([q for q in qs if half(q["question"]) == "test"], names)
        if args.self_questions:
            tune = self_questions(ws)
        else:
            tune = as_questions([q for q in qs if half(q["question"]) == "tune"], names)
        fit_cases, _ = fusion.prepare(retriever, tune)
        configured = fusion.Weights.of(retriever.settings)
        try:
            fit = fusion.fit(retriever, fit_cases, f"{name} tuning half", ws.store.stats().chunks)
        except InputError:  # too few to fit: the product keeps the configured weights
            fit = None
        cases, _ = fusion.prepare(retriever, test)
        grid = {w: scores(retriever, cases, w) for w in fusion.grid(configured)}
        best = max(grid, key=lambda w: grid[w])
        used = fit.weights if fit and fit.used else configured
        rows.append(
            {
                "set": name,
                "test questions": len(cases),
                "fit on": len(fit_cases),
                "fitted": str(fit.weights) if fit else "too few questions",
                "used": bool(fit and fit.used),
                "configured R@5/R@1": grid[configured],
                "fitted R@5/R@1": grid[used],
                "best fixed afterwards": str(best),
                "best R@5/R@1": grid[best],
            }
        )
        if not args.json:
            r = rows[-1]
            print(
                f"{name:9} test {len(cases):3}  configured {grid[configured][0]:3}/{grid[configured][1]:3}  "
                f"fitted {grid[used][0]:3}/{grid[used][1]:3} ({r['fitted']}, {'used' if r['used'] else 'not used'})  "
                f"best afterwards {grid[best][0]:3}/{grid[best][1]:3} ({best})",
                flush=True,
            )
    if args.json:
        print(json.dumps({"machine": machine(), "self_questions": args.self_questions, "rows": rows}))
    else:
        print(f"# {machine()}; R@5/R@1 as questions of the test halves")


if __name__ == "__main__":
    main()
