"""Loaders for Word (python-docx), PowerPoint (python-pptx) and Excel (openpyxl) files.

Word paragraphs and tables are read in document order; a paragraph styled ``Heading N`` or
``Title`` becomes a heading. Slides become one section each (``slide 3``), with their title as the
heading and speaker notes included. Each worksheet is a table: its first non-empty row names the
columns, and every later row becomes a ``row`` block carrying those names and its row number.
Left out: page numbers in Word files (they depend on rendering), embedded images and charts.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from ..errors import LoadError
from ..types import Block
from .text import row_text


def _open_zip_check(data: bytes, kind: str) -> None:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise LoadError(f"not a valid {kind} file (damaged, or another format with this extension)")


def load_docx(path: Path, data: bytes) -> tuple[str, list[Block]]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    _open_zip_check(data, ".docx")
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several unrelated types for damaged files
        raise LoadError(f"not a readable .docx file ({type(exc).__name__}); re-save it in Word") from None
    title = (document.core_properties.title or "").strip()
    blocks: list[Block] = []
    tables = 0
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            if style == "Title":
                title = title or text
                blocks.append(Block(text, kind="heading", level=1))
            elif style.startswith("Heading"):
                level = int(style.split()[-1]) if style.split()[-1].isdigit() else 1
                blocks.append(Block(text, kind="heading", level=level))
            else:
                blocks.append(Block(text))
        elif isinstance(item, Table):
            tables += 1
            rows = [[cell.text for cell in row.cells] for row in item.rows]
            rows = [r for r in rows if any(c.strip() for c in r)]
            if not rows:
                continue
            columns = rows[0]
            for n, values in enumerate(rows[1:], start=1):
                blocks.append(Block(row_text(columns, values), kind="row", locator=f"table {tables} row {n}"))
            if len(rows) == 1:
                blocks.append(Block(" | ".join(columns), kind="table", locator=f"table {tables}"))
    return title, blocks


def load_pptx(path: Path, data: bytes) -> tuple[str, list[Block]]:
    from pptx import Presentation

    _open_zip_check(data, ".pptx")
    try:
        deck = Presentation(io.BytesIO(data))
    except Exception as exc:
        raise LoadError(f"not a readable .pptx file ({type(exc).__name__}); re-save it") from None
    title = (deck.core_properties.title or "").strip()
    blocks: list[Block] = []
    for number, slide in enumerate(deck.slides, start=1):
        where = f"slide {number}"
        slide_title = ""
        if slide.shapes.title is not None and slide.shapes.title.has_text_frame:
            slide_title = slide.shapes.title.text_frame.text.strip()
        blocks.append(Block(slide_title or where, kind="heading", level=1, locator=where))
        for shape in slide.shapes:
            if shape == slide.shapes.title:
                continue
            if shape.has_text_frame:
                text = shape.text_frame.text.strip()
                if text:
                    blocks.append(Block(text, locator=where))
            if getattr(shape, "has_table", False) and shape.has_table:
                rows = [[c.text for c in r.cells] for r in shape.table.rows]
                for n, values in enumerate(rows[1:], start=1):
                    blocks.append(Block(row_text(rows[0], values), kind="row", locator=f"{where} row {n}"))
        if slide.has_notes_slide:
            notes = (
                slide.notes_slide.notes_text_frame.text.strip() if slide.notes_slide.notes_text_frame else ""
            )
            if notes:
                blocks.append(Block(f"Notes: {notes}", locator=where))
        title = title or (slide_title if number == 1 else "")
    return title, blocks


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value)


def load_xlsx(path: Path, data: bytes) -> tuple[str, list[Block]]:
    import openpyxl

    _open_zip_check(data, ".xlsx")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise LoadError(f"not a readable .xlsx file ({type(exc).__name__}); re-save it in Excel") from None
    blocks: list[Block] = []
    try:
        for sheet in book.worksheets:
            columns: list[str] | None = None
            blocks.append(
                Block(f"Sheet {sheet.title}", kind="heading", level=1, locator=f"sheet {sheet.title}")
            )
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                values = [_cell(v) for v in row]
                if not any(v.strip() for v in values):
                    continue
                if columns is None:
                    columns = values
                    continue
                text = row_text(columns, values)
                blocks.append(Block(text, kind="row", locator=f"sheet {sheet.title} row {number}"))
    finally:
        book.close()
    return "", blocks
