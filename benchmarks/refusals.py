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
passage holds); "after" is the rule in ``answer.py`` (``AnswerStream`` run to the point where a model would be
asked: names and codes of ``question.py`` that no retrieved passage, no chunk of a retrieved
document and no file name or title holds, a code held anywhere in the workspace, and near
spellings searched as the word the passages hold). No threshold is fitted, but the rules were
shaped by reading refusals of the aviation, federal and analyst sets (both halves): the
industry sets are reported by half (benchmarks/evidence.py's hash), and clinical and sec10q are
the sets whose failures were not read. Tried and dropped: any chunk of the workspace holding the
word (0 false refusals, but 51 of 105 absent companies refused: filings name their competitors);
for a name of several capitalised words, each word alone (Federal Election Commission: every
word is in the federal reports).

Also over KG-RAG's documents (benchmarks/common.py INDUSTRIES): each set's questions (every
refusal false) and its questions about names the documents lack (``*_absent.jsonl``).

    .venv/bin/python benchmarks/refusals.py [--json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from common import FILINGS, INDUSTRIES, build_workspace, machine, questions, require
from evidence import half

from industry_expert.answer import AnswerStream

# the rule before issue 28 (a capitalised word past the question's first that no retrieved passage
# holds, bar a list of English words), kept here to measure against
_NAME = re.compile(r"(?<![\w'’])([A-Z][a-z]+(?:[A-Z][a-z]+)*)(?:['’]s)?(?![\w&])")
_NOT_NAMES = frozenset(
    """What Which Who Whom Whose When Where Why How Is Are Was Were Did Does Do Can Could Should
    Would Will Has Have Had The A An In On At For Of By To From And Or Please Tell Give List Show
    Name Describe Explain Compare Summarize January February March April May June July August
    September October November December Monday Tuesday Wednesday Thursday Friday Saturday Sunday
    Q1 Q2 Q3 Q4 Fiscal Year Quarter Total Net Gross Form Item Part Note""".split()
)

OVERRIDES = {"embedder.backend": "onnx", "chunking.max_tokens": 200}
SUFFIXES = ("", " Answer in USD millions.", " Round your answer to two decimal places.")
ABSENT = ["Tesla", "Toyota", "Siemens", "Nestle", "Samsung", "Unilever", "Boeing", "Pfizer"]


class Nothing:
    """A generator that is never asked: the refusal is decided before a model would be."""

    name = "none"
    context_window = 4096

    def stream(self, messages, max_tokens=0, temperature=0.0):  # type: ignore[no-untyped-def]
        raise AssertionError("not asked")

    def count_tokens(self, text: str) -> int:
        return len(text.split())


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

    def refused(question: str, ws=ws) -> tuple[bool, bool]:  # type: ignore[no-untyped-def]
        hits, relevance = ws.retriever.search_scored(question, k)
        low = not hits or (threshold > 0 and relevance is not None and relevance < threshold)
        old = low or bool(before(question, hits))
        if low:
            return True, True
        stream = AnswerStream(question, Nothing(), ws.retriever, ws.settings.answer)
        return old, stream.prompt is None

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

    # the industries of KG-RAG's documents: their questions, and questions about what they lack
    for name, (docs, file, absent_file) in INDUSTRIES.items():
        if not docs.exists():
            continue
        kg, _ = build_workspace(f"kg-{name}-onnx-200", OVERRIDES, [docs])
        for q in questions(file):
            old, new = refused(q["question"], kg)
            rows.append({"set": name, "kind": "answerable", "suffix": "", "before": old, "after": new,
                         "half": half(q["question"])})  # fmt: skip
        for q in questions(absent_file) if absent_file else []:
            old, new = refused(q["question"], kg)
            rows.append({"set": name, "kind": "absent", "suffix": "", "before": old, "after": new,
                         "half": half(q["question"])})  # fmt: skip

    def share(kind: str, when: str, **match: str) -> str:
        picked = [r for r in rows if r["kind"] == kind and all(r.get(k) == v for k, v in match.items())]
        return f"{sum(r[when] for r in picked)}/{len(picked)}" if picked else "-"

    table = []
    for name in ("filings", "analyst"):
        for suffix in SUFFIXES:
            label = f"{name}, {'as written' if not suffix else suffix.strip()}"
            table.append((f"false refusals: {label}", share("answerable", "before", set=name, suffix=suffix.strip()),
                          share("answerable", "after", set=name, suffix=suffix.strip())))  # fmt: skip
    table.append(("true refusals: analyst, an absent company", share("absent", "before", set="analyst"),
                  share("absent", "after", set="analyst")))  # fmt: skip
    for name, (_, _, absent_file) in INDUSTRIES.items():
        if any(r["set"] == name for r in rows):
            for part in ("tune", "test"):
                table.append((f"false refusals: {name}, {part} half", share("answerable", "before", set=name, half=part),
                              share("answerable", "after", set=name, half=part)))  # fmt: skip
                if absent_file:
                    table.append((f"true refusals: {name}, absent names, {part} half",
                                  share("absent", "before", set=name, half=part),
                                  share("absent", "after", set=name, half=part)))  # fmt: skip
    if args.json:
        print(json.dumps({"machine": machine(), "rows": rows, "table": table}))
        return
    print(f"# refusals, {machine()}\n\n| | before | after |\n|---|---|---|")
    for label, old, new in table:
        print(f"| {label} | {old} | {new} |")


if __name__ == "__main__":
    main()
