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

A page without a usable text layer (a scan, or fonts without a Unicode map) is rendered and read
by OCR (``ocr.py``; ``LoadOptions.ocr``); its blocks carry the locator ``OCR``, so a citation says
where its words came from. What is left out: reconstruction of multi-column layouts beyond
PDFium's own reading order.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LoadError
from ..figures import is_table_row
from ..types import Block
from .ocr import (
    DEFAULT_OPTIONS,
    LONG_SIDE,
    LoadOptions,
    OcrEngine,
    inked,
    readable,
    unreadable_reason,
    usable,
)

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


def _wants_ocr(mode: str, lines: list[str], page: Any) -> bool:
    """Whether OCR should read ``page``: every page (``always``), or one whose text layer is
    not text, or empty with an image on it (``auto``: a blank page costs nothing)."""
    if mode == "always":
        return True
    if mode == "never" or usable(lines):
        return False
    if lines:
        return True
    import pypdfium2.raw as pdfium_c

    return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3))


def render(page: Any) -> np.ndarray:
    """``page`` as an RGB array whose longer side is ``LONG_SIDE`` pixels."""
    width, height = page.get_size()
    bitmap = page.render(scale=min(4.0, LONG_SIDE / max(width, height, 1.0)), rev_byteorder=True)
    return np.asarray(bitmap.to_numpy())[:, :, :3]


def _read_pages(
    pdf: Any, wanted: list[int], pages: list[list[str]], options: LoadOptions
) -> tuple[set[int], int]:
    """Read the pages ``wanted`` by OCR into ``pages``; the pages read, and how many marked pages
    OCR found no words on (those keep their text layer only if it is usable)."""
    engine = OcrEngine.shared()
    read: set[int] = set()
    failed = 0
    for done, index in enumerate(wanted, start=1):
        page = pdf[index]
        try:
            image = render(page)
            lines, confidence = engine.read(image)
        finally:
            page.close()
        if readable(lines, confidence):
            pages[index] = lines
            read.add(index)
        else:
            failed += bool(lines) or inked(image)
            if not usable(pages[index]):
                pages[index] = []
        if options.progress is not None:
            options.progress(done, len(wanted))
    return read, failed


def _open(data: bytes) -> Any:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        message = str(exc).lower()
        if "password" in message:
            raise LoadError(
                "encrypted PDF (password required); save a decrypted copy and ingest that"
            ) from None
        raise LoadError("not a valid PDF (damaged or truncated); re-export or re-download it") from None


def _text_pages(pdf: Any, mode: str) -> tuple[list[list[str]], list[int]]:
    """Each page's lines from its text layer, and the pages OCR should read under ``mode``."""
    import pypdfium2 as pdfium

    pages: list[list[str]] = []
    wanted: list[int] = []
    for index in range(len(pdf)):
        page = pdf[index]
        try:
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            textpage.close()
        except pdfium.PdfiumError:
            text = ""  # one unreadable page should not lose the document
        try:
            lines = page_lines(text)
            if _wants_ocr(mode, lines, page):
                wanted.append(index)
        finally:
            page.close()
        pages.append(lines)
    return pages, wanted


def pages_for_ocr(data: bytes, mode: str) -> int:
    """How many pages of the PDF ``data`` OCR would read under ``mode`` (text layers only: fast).
    A re-ingest after a change of ``ingest.ocr`` re-parses only documents where this is not 0."""
    pdf = _open(data)
    try:
        return len(_text_pages(pdf, mode)[1])
    finally:
        pdf.close()


def load_pdf(path: Path, data: bytes, options: LoadOptions = DEFAULT_OPTIONS) -> tuple[str, list[Block]]:
    pdf = _open(data)
    try:
        title = ""
        try:
            title = (pdf.get_metadata_dict().get("Title") or "").strip()
        except Exception:  # metadata is optional and sometimes malformed
            title = ""
        pages, wanted = _text_pages(pdf, options.ocr)
        read, failed = _read_pages(pdf, wanted, pages, options) if wanted else (set(), 0)
    finally:
        pdf.close()
    blocks = [
        replace(block, locator="OCR") if number - 1 in read else block
        for number, lines in enumerate(strip_running_lines(pages), start=1)
        for block in page_blocks(lines, number)
    ]
    if not blocks:
        if failed:
            raise LoadError(unreadable_reason(failed))
        if options.ocr == "never":
            raise LoadError(
                "PDF has no text layer (scanned images?); ingest with --ocr auto to read it by OCR"
            )
        raise LoadError("PDF has no text (blank pages)")
    return title, blocks
