"""Write benchmarks/data/sec10q_questions.jsonl from KG-RAG's sec-10-q questions (qna_data.csv, 195
questions written and reviewed by people outside the team, MIT): the question as written, the
documents it is about (its ``Source Docs`` pattern, as ``file``), the reference answer, its kind
and the figures the reference states (what "the answer holds the reference" compares, since a
long reference is not a span to find). The source states no pages, so no page is claimed.

    .venv/bin/python benchmarks/kg_questions.py
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

from common import KG_RAG, require

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import contextlib

from industry_expert.figures import figures  # noqa: E402

MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
OUT = Path(__file__).resolve().parent / "data" / "sec10q_questions.jsonl"


def clean(text: str) -> str:
    # the csv was saved through a Windows code page: "Companyâ€™s" is "Company’s"
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("cp1252").decode("utf-8")
    return text.strip()


def main() -> None:
    source = require(KG_RAG / "sec-10-q" / "data" / "v1" / "qna_data.csv")
    lines = []
    with source.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            answer = clean(row["Answer"])
            body = re.split(r"\n\s*SOURCE\(S\):", answer)[0]
            body = re.sub(r"\(SOURCE:[^)]*\)", " ", body)
            # a date's day and a list's item number are no figures the answer must state
            plain = re.sub(rf"\b(?:{MONTHS})\.? \d{{1,2}},?", " ", body)
            plain = re.sub(r"(?m)^\s*(?:\d+\.|[-*])\s", " ", plain)
            stated = [x.text for x in figures(plain) if not x.year_like]
            lines.append(
                json.dumps(
                    {
                        "question": clean(row["Question"]),
                        "file": row["Source Docs"].strip(),
                        "answer": body.strip(),
                        "figures": list(dict.fromkeys(stated)),
                        "kind": row["Question Type"].strip(),
                        "chunk": row["Source Chunk Type"].strip(),
                    },
                    ensure_ascii=False,
                )
            )
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} questions -> {OUT}")


if __name__ == "__main__":
    main()
