"""One step of arithmetic (generate/arithmetic.py), measured on every question set, no model.

    .venv/bin/python benchmarks/arithmetic.py [--json] [--verbose]

Per set and half: the questions written as arithmetic (``kind: arithmetic``: a change, a sum, a
ratio ... of figures the documents state; aviation, clinical and federal have them), how many the
answer computes, how many of those computations hold the reference result (to its rounding), how
many get "the passages found do not state every figure" instead; and, over the other questions
(the filings, analyst and sec10q sets do not mark arithmetic), how many were computed or told
"no figure", and how many of those computations hold the reference (the rest are false triggers:
a user asked for one figure and got a computation or none).
"""

from __future__ import annotations

import argparse
import json

from common import machine
from evidence import SETS, half, load
from refusals import Nothing

from industry_expert.answer import NO_OPERANDS, AnswerStream
from industry_expert.figures import figures
from industry_expert.generate.arithmetic import needed


def right(text: str, reference: str) -> bool:
    """The computed result (after "=") states the reference to the reference's rounding."""
    result = figures(text.split("=")[-1])
    want = figures(reference)
    if not result or not want:
        return False
    r, w = result[0], want[0]
    tolerance = 0.5 * 10 ** (-w.decimals) + 1e-9
    return abs(abs(r.number) - abs(w.number)) <= max(tolerance, abs(w.number) * 0.005)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    table = []
    for name in SETS:
        ws, qs = load(name)
        for part in ("tune", "test"):
            row = {"set": name, "half": part, "arithmetic": 0, "computed": 0, "right": 0, "said no figure": 0,
                   "other questions": 0, "other computed": 0, "other computed right": 0}  # fmt: skip
            for q in (q for q in qs if half(q["question"]) == part):
                stream = AnswerStream(q["question"], Nothing(), ws.retriever, ws.settings.answer)
                plan = stream._plan
                text = plan.computation.text() if plan.computation else ""
                said = (
                    plan.computation is None
                    and plan.analysis is not None
                    and plan.prompt is not None
                    and needed(plan.analysis)
                )
                if q.get("kind") == "arithmetic":
                    row["arithmetic"] += 1
                    row["computed"] += bool(text)
                    row["right"] += bool(text) and right(text, q["answer"])
                    row["said no figure"] += bool(said)
                else:
                    row["other questions"] += 1
                    row["other computed"] += bool(text) or bool(said)
                    row["other computed right"] += bool(text) and right(text, q["answer"])
                if args.verbose and (text or said):
                    print(
                        json.dumps(
                            {"q": q["question"], "ref": q["answer"][:80], "answer": text or NO_OPERANDS}
                        )
                    )
            table.append(row)
    if args.json:
        print(json.dumps({"machine": machine(), "table": table}))
        return
    keys = list(table[0])
    print(f"# arithmetic, {machine()}\n\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in table:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
