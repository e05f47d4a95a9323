"""Answers with the shipped model on every question set with evidence, one half at a time.

    .venv/bin/python benchmarks/answers.py [--half test] [--sets filings aviation ...] [--set answer.k=2 ...] [--json]
    PYTHONPATH=/path/to/an/older/checkout/src .venv/bin/python benchmarks/answers.py ...   # "before"

For each question of the half (benchmarks/evidence.py's hash), ``Workspace.ask`` with the
defaults over the set's cached workspace, and per set:

- **holds**: the answer states the reference (its figure; its span; for KG-RAG's long sec-10-q
  references, one of the figures they state; for an arithmetic question, the computed result),
  over all questions and over those whose answering page (document, for sec10q) retrieval found;
- **cites page**: a citation is on an answering page (document, for sec10q);
- **false refusals**: answers that say the workspace does not hold an answer (every question here
  is answerable);
- **unflagged unsupported**: answers stating a figure no cited passage holds, shown without a
  flag (no check failed, not quoted); a computed answer's operands, not its result;
- median seconds per answer and to its first token (2 cores; compare within one run only).

``--set KEY=VALUE`` overrides a setting (``answer.k=2``) of every workspace opened.

It uses only ``Workspace.ask`` and ``Answer``'s fields, so an older checkout measures the same
way (the "before" of docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from common import machine
from evidence import OVERRIDES, SETS, half, holds, load, on_page

from industry_expert.figures import figures, supported


def unsupported_unflagged(answer) -> bool:  # type: ignore[no-untyped-def]
    if not answer.found or answer.quoted or answer.checks or answer.unsupported:
        return False
    asked = {f.number for f in figures(answer.question)}
    # a computation's result is in no passage by design: its operands are what must be
    text = answer.text.rsplit("=", 1)[0] if getattr(answer, "computation", "") else answer.text
    stated = [f for f in figures(text) if not (f.year_like or f.number in asked)]
    cited = [f for c in answer.citations for f in figures(c.passage)]
    return bool(stated) and not all(supported(f, cited) for f in stated)


def holds_answer(text: str, q: dict) -> bool:  # type: ignore[type-arg]
    if q.get("kind") == "arithmetic":
        want = figures(q["answer"])
        return bool(want) and any(supported(w, figures(text)) for w in want)
    return holds(text, q)


def run(name: str, part: str) -> dict:  # type: ignore[type-arg]
    ws, qs = load(name)
    rows = []
    picked = [q for q in qs if half(q["question"]) == part]
    for i, q in enumerate(picked, 1):
        answer = ws.ask(q["question"])
        print(f"{name} {i}/{len(picked)}", file=sys.stderr, flush=True)
        rows.append(
            {
                "question": q["question"],
                "reference": q["answer"][:200],
                "answer": answer.text,
                "found_by_retrieval": any(on_page(h, q) for h in answer.hits),
                "refused": not answer.found,
                "holds": holds_answer(answer.text, q),
                "cites_page": any(on_page(c, q) for c in answer.citations),
                "unflagged_unsupported": unsupported_unflagged(answer),
                "quoted": answer.quoted,
                "seconds": answer.timings.get("total", 0) / 1000,
                "first_token_s": answer.timings.get("first_token", answer.timings.get("total", 0)) / 1000,
            }
        )
    n = len(rows) or 1
    found = [r for r in rows if r["found_by_retrieval"]]
    return {
        "set": name,
        "half": part,
        "questions": len(rows),
        "retrieval found %": round(100 * len(found) / n, 1),
        "holds %": round(100 * sum(r["holds"] for r in rows) / n, 1),
        "holds where found %": round(100 * sum(r["holds"] for r in found) / (len(found) or 1), 1),
        "cites page %": round(100 * sum(r["cites_page"] for r in rows) / n, 1),
        "false refusals": sum(r["refused"] for r in rows),
        "unflagged unsupported": sum(r["unflagged_unsupported"] for r in rows),
        "quoted %": round(100 * sum(r["quoted"] for r in rows) / n, 1),
        "median s": round(statistics.median(r["seconds"] for r in rows), 2) if rows else 0,
        "median first token s": round(statistics.median(r["first_token_s"] for r in rows), 2) if rows else 0,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--half", default="test", choices=["tune", "test"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a setting to override"
    )
    args = parser.parse_args()
    for item in args.set:
        key, _, value = item.partition("=")
        OVERRIDES[key] = value
    start = time.perf_counter()
    results = [run(name, args.half) for name in args.sets]
    data = {"machine": machine(), "results": results, "seconds": round(time.perf_counter() - start)}
    if args.out:
        args.out.write_text(json.dumps(data, ensure_ascii=False))
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
        return
    keys = [k for k in results[0] if k != "rows"]
    print(f"# answers, {data['machine']}\n\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in results:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
