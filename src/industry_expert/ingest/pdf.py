"""PDF loading with PDFium (pypdfium2), one set of blocks per page.

PDFium was chosen by measurement (docs/benchmarks.md): on the 20 filings it extracts 340 pages/s
against pdfplumber's 10, with the same text for financial tables (one table row per line, columns
in order). PyMuPDF is faster still but AGPL-licensed, which many companies cannot ship.

Each page's lines are grouped into heading, table and prose blocks: a line with two or more
numeric cells is a table line and keeps its line break, so a table row stays one readable line.
Running headers and footers (``Apple Inc. | 2022 Form 10-K | 47``, ``Table of Contents``, a
bare page number) are dropped: a line at a page's top or bottom edge whose digit-blind form recurs
at the edge of at least a third of the document's pages is page furniture, not content. Left in,
it fills chunks with words that match every question about the company and section headings that
name the wrong section. Lines inside a page (a table's column header) are never dropped.

What is left out: OCR of scanned pages (a page without a text layer yields nothing) and
reconstruction of multi-column layouts beyond PDFium's own reading order.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import LoadError
from ..figures import is_table_row
from ..types import Block

_ITEM = re.compile(r"^(PART\s+[IVX]+\b|Item\s+\d+[A-Z]?\.)", re.I)
_DIGITS = re.compile(r"\d+")
_EDGE = 3  # lines at a page's top and bottom where headers and footers sit
_RUNNING_SHARE = 1 / 3  # ... recurring on at least this share of pages
_RUNNING_MIN_PAGES = 4
_RUNNING_MAX_CHARS = 120


def _furniture_key(line: str) -> str:
    return _DIGITS.sub("#", " ".join(line.split())).casefold()


def _page_numbered(occurrences: list[tuple[int, list[int]]]) -> bool:
    """Whether the numbers that vary between a line's occurrences are page numbers.

    A footer's only changing number follows the page (``| 47`` on page 49, ``| 48`` on page 50),
    while a table row repeated at the bottom of several pages changes its figures at random.
    """
    for position in range(len(occurrences[0][1])):
        values = [numbers[position] for _, numbers in occurrences]
        if len(set(values)) == 1:
            continue
        offsets: dict[int, int] = {}
        for (page, _), value in zip(occurrences, values, strict=True):
            offsets[value - page] = offsets.get(value - page, 0) + 1
        if max(offsets.values()) * 2 < len(occurrences):
            return False
    return True


def strip_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop running headers and footers from a document's pages (lists of lines).

    A running line sits among the top or bottom lines of at least a third of the pages, word for
    word, its numbers either the same everywhere or counting with the page. The first page is
    kept whole: a cover or masthead names the document there.

    >>> words = "pumps valves seals gaskets motors fans".split()
    >>> pages = [["Contents", f"All about {w}.", f"Total {len(w)}", f"ACME | Manual | {i}"] for i, w in enumerate(words)]
    >>> strip_running_lines(pages)[1]
    ['All about valves.', 'Total 6']
    >>> strip_running_lines(pages)[0]
    ['Contents', 'All about pumps.', 'Total 5', 'ACME | Manual | 0']
    """
    if len(pages) < _RUNNING_MIN_PAGES:
        return pages
    seen: dict[str, list[tuple[int, list[int]]]] = {}
    for index, lines in enumerate(pages):
        edge = {line for line in lines[:_EDGE] + lines[-_EDGE:] if len(line) <= _RUNNING_MAX_CHARS}
        for line in edge:
            numbers = [int(n) for n in _DIGITS.findall(line)]
            seen.setdefault(_furniture_key(line), []).append((index, numbers))
    need = max(_RUNNING_MIN_PAGES, len(pages) * _RUNNING_SHARE)
    running = {
        key
        for key, occurrences in seen.items()
        if len({page for page, _ in occurrences}) >= need and _page_numbered(occurrences)
    }
    if not running:
        return pages
    out = [pages[0]]
    for lines in pages[1:]:
        top = min(_EDGE, len(lines))
        bottom = max(top, len(lines) - _EDGE)
        kept = [
            line
            for i, line in enumerate(lines)
            if not ((i < top or i >= bottom) and _furniture_key(line) in running)
        ]
        out.append(kept)
    return out


def _is_heading(line: str) -> int:
    """0 if ``line`` is not a heading, else its level (1 for filing parts and items)."""
    if _ITEM.match(line) and len(line) < 160:
        return 1
    if len(line) > 80 or len(line.split()) > 12 or len(line) < 3:
        return 0
    if line[-1] in ".,;" or not line[0].isupper() or len(_DIGITS.findall(line)) > 1:
        return 0
    return 2


def page_lines(text: str) -> list[str]:
    """A page's non-empty lines, whitespace collapsed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "-").replace("\x02", "-")
    return [line for line in (" ".join(raw.split()) for raw in text.split("\n")) if line]


def page_blocks(text: str | list[str], page: int) -> list[Block]:
    """Group one page's lines (its text, or its lines from ``page_lines``) into blocks."""
    lines_in = page_lines(text) if isinstance(text, str) else text
    blocks: list[Block] = []
    kind = ""
    lines: list[str] = []

    def flush() -> None:
        if lines:
            blocks.append(Block("\n".join(lines), kind="table" if kind == "table" else "text", page=page))
            lines.clear()

    for line in lines_in:
        level = _is_heading(line)
        if level:
            flush()
            blocks.append(Block(line, kind="heading", page=page, level=level))
            kind = ""
            continue
        this = "table" if is_table_row(line) else "text"
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
        pages: list[list[str]] = []
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                text = textpage.get_text_range()
                textpage.close()
            except pdfium.PdfiumError:
                text = ""  # one unreadable page should not lose the document
            finally:
                page.close()
            pages.append(page_lines(text))
    finally:
        pdf.close()
    blocks = [
        block
        for number, lines in enumerate(strip_running_lines(pages), start=1)
        for block in page_blocks(lines, number)
    ]
    if not blocks:
        raise LoadError("PDF has no text layer (scanned images?); run OCR on it first")
    return title, blocks
