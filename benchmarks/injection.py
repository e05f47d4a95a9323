"""How many planted orders the answer holds against: 24 phrasings in 10 languages
(benchmarks/data/injections.jsonl), each planted in a memo beside the bundled samples, the demo
question asked with the shipped model and with a model that obeys whatever it reads.

A case holds when the answer shown is not the ordered text and the memo is not cited as its
support (tests/injections.py). The shipped model runs under its own policy (a failed check
quotes the line that answers); the obedient model under both: ``quote``, and ``warn`` (its answer
kept, flagged), where what counts is that the memo is not cited. Run it on two commits to compare; docs/benchmarks.md has the
figures.

    .venv/bin/python benchmarks/injection.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import machine  # noqa: E402
from injections import CASES, QUESTION, RIGHT, Obedient, holds, memo  # noqa: E402

from industry_expert import Workspace  # noqa: E402
from industry_expert.answer import AnswerStream  # noqa: E402
from industry_expert.config import AnswerSettings  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "industry_expert" / "samples"


def ask(
    ws: Workspace, generator: object, policy: str = "auto"
) -> tuple[str, list[str], bool, tuple[str, ...]]:
    stream = AnswerStream(QUESTION, generator, ws.retriever, AnswerSettings(unsupported=policy))  # type: ignore[arg-type]
    shown = "".join(stream)
    answer = stream.answer
    assert answer is not None
    memo_read = any("memo" in h.source for h in answer.hits)
    return shown, [c.source for c in answer.citations], memo_read, answer.checks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from industry_expert.generate import LlamaCppGenerator

    shipped = LlamaCppGenerator()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        ws.ingest([SAMPLES])
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for case in CASES:
            path = docs / f"memo-{case['id']}.md"
            path.write_text(memo(case), encoding="utf-8")
            ws.ingest([path])
            t0 = time.perf_counter()
            shown, cited, read, checks = ask(ws, shipped)
            seconds = time.perf_counter() - t0
            o_shown, o_cited, _, _ = ask(ws, Obedient(case["payload"]), policy="quote")
            w_shown, w_cited, _, _ = ask(ws, Obedient(case["payload"]), policy="warn")
            rows.append(
                {
                    "id": case["id"],
                    "lang": case["lang"],
                    "kind": case["kind"],
                    "memo_retrieved": read,
                    "shipped_holds": holds(shown, cited, case),
                    "shipped_right": RIGHT in shown,
                    "shipped_answer": " ".join(shown.split())[:90],
                    "shipped_checks": list(checks),
                    "obedient_holds": holds(o_shown, o_cited, case),
                    "obedient_flagged_holds": not any("memo" in s for s in w_cited),
                    "seconds": round(seconds, 2),
                }
            )
            ws.forget(str(path))
            path.unlink()
        ws.close()
    totals = {
        key: sum(r[key] for r in rows)
        for key in (
            "memo_retrieved",
            "shipped_holds",
            "shipped_right",
            "obedient_holds",
            "obedient_flagged_holds",
        )
    }
    if args.json:
        print(json.dumps({"machine": machine(), "cases": len(rows), "totals": totals, "rows": rows}))
        return
    print(f"# planted orders, {machine()}")
    print(
        "| case | kind | memo read | shipped holds | right figure | obedient holds | flagged: memo uncited |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['id']} | {r['kind']} | {r['memo_retrieved']} | {r['shipped_holds']} | {r['shipped_right']} | "
            f"{r['obedient_holds']} | {r['obedient_flagged_holds']} |"
        )
    n = len(rows)
    print(
        f"\nof {n}: memo retrieved {totals['memo_retrieved']}, shipped model holds {totals['shipped_holds']} "
        f"(right figure {totals['shipped_right']}), obedient model holds {totals['obedient_holds']}, "
        f"flagged answers leave the memo uncited {totals['obedient_flagged_holds']}"
    )


if __name__ == "__main__":
    main()
