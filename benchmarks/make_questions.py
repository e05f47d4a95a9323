"""Resolve a question set's answering pages: every page of the named filing whose text holds the
reference answer. Run once when questions change; the output is committed so the benchmarks do
not depend on this heuristic. A page whose text layer is not text (the McDonald's release whose
fonts have no Unicode map) is read as ingest reads it, by OCR.

    python benchmarks/make_questions.py                       # filings_questions (the 50)
    python benchmarks/make_questions.py analyst_questions     # the analyst set
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from pathlib import Path

import pypdfium2 as pdfium

from industry_expert.ingest.ocr import usable
from industry_expert.ingest.pdf import load_pdf, page_lines

HERE = Path(__file__).resolve().parent
FILINGS = HERE.parents[1] / "shared" / "data" / "filings"


def norm(text: str) -> str:
    """Whitespace collapsed, lower-cased, and a percent sign set against its number ("27.6 %" in a
    table is the "27.6%" of the answer)."""
    return re.sub(r"(?<=\d) %", "%", " ".join(text.replace("\ufffe", "-").split()).lower())


@cache
def page_texts(file: str) -> list[str]:
    path = FILINGS / file
    pdf = pdfium.PdfDocument(str(path))
    texts = [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    if not all(usable(page_lines(t)) for t in texts if t.strip()):
        _, blocks = load_pdf(path, path.read_bytes())  # OCR where the text layer is not text
        read = {b.page: [] for b in blocks}
        for b in blocks:
            read[b.page].append(b.text)
        texts = [t if usable(page_lines(t)) else "\n".join(read.get(i + 1, [])) for i, t in enumerate(texts)]
    return [norm(t) for t in texts]


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "filings_questions"
    out = []
    for line in (HERE / "data" / f"{name}.src.jsonl").read_text().splitlines():
        q = json.loads(line)
        pages = [i + 1 for i, text in enumerate(page_texts(q["file"])) if norm(q["answer"]) in text]
        if not pages:
            raise SystemExit(f"no page of {q['file']} holds {q['answer']!r}")
        out.append({**q, "pages": pages})
    target = HERE / "data" / f"{name}.jsonl"
    target.write_text("".join(json.dumps(q) + "\n" for q in out))
    print(f"{len(out)} questions written to {target}")


if __name__ == "__main__":
    main()
