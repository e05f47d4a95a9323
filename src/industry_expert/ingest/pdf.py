"""PDF loading with PDFium (pypdfium2), one set of blocks per page.

PDFium was chosen by measurement (docs/benchmarks.md): on the 20 filings it extracts 340 pages/s
against pdfplumber's 10, with the same text for financial tables (one table row per line, columns
in order). PyMuPDF is faster still but AGPL-licensed, which many companies cannot ship.

Each page's lines are grouped into heading, table and prose blocks: a line with two or more
numeric cells is a table line and keeps its line break, so a table row stays one readable line.
What is left out: OCR of scanned pages (a page without a text layer yields nothing) and
reconstruction of multi-column layouts beyond PDFium's own reading order.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import LoadError
from ..types import Block

_NUMERIC = re.compile(r"^\(?[$€£¥]?\(?-?\d[\d,.]*\)?%?\)?$|^[$€£¥%—–-]$")
_ITEM = re.compile(r"^(PART\s+[IVX]+\b|Item\s+\d+[A-Z]?\.)", re.I)
_DIGITS = re.compile(r"\d+")


def _is_table_line(line: str) -> bool:
    """A table row: two or more numeric cells, a numeric last cell, numbers a quarter of it."""
    cells = line.split()
    numeric = sum(1 for c in cells if _NUMERIC.match(c))
    return numeric >= 2 and bool(_NUMERIC.match(cells[-1])) and numeric * 4 >= len(cells)


def _is_heading(line: str) -> int:
    """0 if ``line`` is not a heading, else its level (1 for filing parts and items)."""
    if _ITEM.match(line) and len(line) < 160:
        return 1
    if len(line) > 80 or len(line.split()) > 12 or len(line) < 3:
        return 0
    if line[-1] in ".,;" or not line[0].isupper() or len(_DIGITS.findall(line)) > 1:
        return 0
    return 2


def page_blocks(text: str, page: int) -> list[Block]:
    """Group one page's lines into heading, table and prose blocks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "-").replace("\x02", "-")
    blocks: list[Block] = []
    kind = ""
    lines: list[str] = []

    def flush() -> None:
        if lines:
            blocks.append(Block("\n".join(lines), kind="table" if kind == "table" else "text", page=page))
            lines.clear()

    for raw in text.split("\n"):
        line = " ".join(raw.split())
        if not line:
            continue
        level = _is_heading(line)
        if level:
            flush()
            blocks.append(Block(line, kind="heading", page=page, level=level))
            kind = ""
            continue
        this = "table" if _is_table_line(line) else "text"
        if this != kind:
            flush()
            kind = this
        lines.append(line)
    flush()
    return blocks


def load_pdf(path: Path, data: bytes) -> tuple[str, list[Block]]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        message = str(exc).lower()
        if "password" in message:
            raise LoadError(
                "encrypted PDF (password required); save a decrypted copy and ingest that"
            ) from None
        raise LoadError("not a valid PDF (damaged or truncated); re-export or re-download it") from None
    try:
        title = ""
        try:
            title = (pdf.get_metadata_dict().get("Title") or "").strip()
        except Exception:  # metadata is optional and sometimes malformed
            title = ""
        blocks: list[Block] = []
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                text = textpage.get_text_range()
                textpage.close()
            except pdfium.PdfiumError:
                continue  # one unreadable page should not lose the document
            finally:
                page.close()
            blocks.extend(page_blocks(text, index + 1))
    finally:
        pdf.close()
    if not blocks:
        raise LoadError("PDF has no text layer (scanned images?); run OCR on it first")
    return title, blocks
