"""When does the answer path say "the workspace does not contain an answer"? Measured without a
model: the decision is made before one is asked (too little relevance, or a name that nothing
holds).

Sets, over the 20 filings (the cached benchmark workspace, as benchmarks/answer.py):

- answerable: the 50 filings questions and the 127 analyst questions, each as written and with
  a second sentence as analysts write it (" Answer in USD millions.", " Round your answer to
  two decimal places."): every refusal is a false one;
- absent: each analyst question with its company's name replaced by one of eight companies the
  workspace does not hold (Tesla, Toyota, Siemens ...): every answer is a false one.

"before" is the rule as it was (a capitalised word past the question's first that no retrieved
passage holds); "after" is the rule in ``answer.py`` (a capitalised word that opens no sentence,
that no retrieved passage holds and that no document's file name or title holds). No threshold
is fitted here, so there are no tuning and test halves to keep apart. Tried and dropped: any
chunk of the workspace holding the word (0 false refusals, but 51 of 105 absent companies
refused: filings name their competitors).

    .venv/bin/python benchmarks/refusals.py [--json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from common import FILINGS, build_workspace, machine, questions, require

from industry_expert.generate.grounding import _NAME, _NOT_NAMES, missing_names

OVERRIDES = {"embedder.backend": "onnx", "chunking.max_tokens": 200}
SUFFIXES = ("", " Answer in USD millions.", " Round your answer to two decimal places.")
ABSENT = ["Tesla", "Toyota", "Siemens", "Nestle", "Samsung", "Unilever", "Boeing", "Pfizer"]


def before(question: str, hits: list) -> list[str]:  # type: ignore[type-arg]
    words = _NAME.findall(question)
    first = re.match(r"\s*([A-Z][a-z]+)", question)
    names = [w for w in dict.fromkeys(words) if w not in _NOT_NAMES and not (first and w == first.group(1))]
    seen = " ".join(f"{h.source} {h.title} {h.header} {h.text}" for h in hits).lower().replace("’", "'")
    return [n for n in names if n.lower() not in seen]


def company(file: str) -> str:
    return Path(file).stem.split("_")[0].title()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    require(FILINGS)
    ws, _ = build_workspace("filings-onnx-200", OVERRIDES, [FILINGS])
    threshold = ws.settings.answer.min_relevance
    k = ws.settings.answer.k

    def refused(question: str) -> tuple[bool, bool]:
        hits, relevance = ws.retriever.search_scored(question, k)
        low = not hits or (threshold > 0 and relevance is not None and relevance < threshold)
        old = low or bool(before(question, hits))
        new = low or any(not ws.retriever.names(n) for n in missing_names(question, hits))
        return old, new

    rows = []
    answerable = [(q["question"], "filings") for q in questions()]
    answerable += [(q["question"], "analyst") for q in questions("analyst_questions")]
    for text, name in answerable:
        for suffix in SUFFIXES:
            old, new = refused(text + suffix)
            rows.append(
                {"set": name, "kind": "answerable", "suffix": suffix.strip(), "before": old, "after": new}
            )
    absent = 0
    for i, q in enumerate(questions("analyst_questions")):
        name = company(q["file"])
        if not re.search(rf"\b{re.escape(name)}\b", q["question"], re.I):
            continue  # asked by ticker or nickname ("AAPL"): nothing to replace
        other = ABSENT[i % len(ABSENT)]
        text = re.sub(rf"\b{re.escape(name)}\b", other, q["question"], flags=re.I)
        old, new = refused(text)
        absent += 1
        rows.append({"set": "analyst", "kind": "absent", "suffix": "", "before": old, "after": new})

    def share(kind: str, when: str, **match: str) -> str:
        picked = [r for r in rows if r["kind"] == kind and all(r[k] == v for k, v in match.items())]
        return f"{sum(r[when] for r in picked)}/{len(picked)}" if picked else "-"

    table = []
    for name in ("filings", "analyst"):
        for suffix in SUFFIXES:
            label = f"{name}, {'as written' if not suffix else suffix.strip()}"
            table.append((f"false refusals: {label}", share("answerable", "before", set=name, suffix=suffix.strip()),
                          share("answerable", "after", set=name, suffix=suffix.strip())))  # fmt: skip
    table.append(("true refusals: an absent company", share("absent", "before"), share("absent", "after")))
    if args.json:
        print(json.dumps({"machine": machine(), "rows": rows, "table": table}))
        return
    print(f"# refusals, {machine()}\n\n| | before | after |\n|---|---|---|")
    for label, old, new in table:
        print(f"| {label} | {old} | {new} |")


if __name__ == "__main__":
    main()
