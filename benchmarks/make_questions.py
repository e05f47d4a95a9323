"""Resolve the question set's answering pages: every page of the named filing whose text holds the
reference answer. Run once when questions change; the output is committed so the benchmark does
not depend on this heuristic. Usage: python benchmarks/make_questions.py [FILINGS_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pypdfium2 as pdfium

HERE = Path(__file__).resolve().parent
FILINGS = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[1] / "shared" / "data" / "filings"


def norm(text: str) -> str:
    return " ".join(text.replace("\ufffe", "-").split()).lower()


def main() -> None:
    out = []
    for line in (HERE / "data" / "filings_questions.src.jsonl").read_text().splitlines():
        q = json.loads(line)
        pdf = pdfium.PdfDocument(str(FILINGS / q["file"]))
        pages = [
            i + 1
            for i in range(len(pdf))
            if norm(q["answer"]) in norm(pdf[i].get_textpage().get_text_range())
        ]
        if not pages:
            raise SystemExit(f"no page of {q['file']} holds {q['answer']!r}")
        out.append({**q, "pages": pages})
    target = HERE / "data" / "filings_questions.jsonl"
    target.write_text("".join(json.dumps(q) + "\n" for q in out))
    print(f"{len(out)} questions written to {target}")


if __name__ == "__main__":
    main()
