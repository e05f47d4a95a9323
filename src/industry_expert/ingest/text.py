"""Loaders for plain text, Markdown and HTML.

Markdown is read line by line (ATX headings, fenced code, pipe tables) rather than rendered: the
goal is blocks with their heading, not HTML. Pipe tables become one ``row`` block per row with the
column names attached, like spreadsheets. HTML is parsed with lxml; scripts,
styles and navigation are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..types import Block
from .files import decode_text

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")


def paragraphs(text: str) -> list[Block]:
    """Split text at blank lines into text blocks."""
    parts = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    return [Block(p.strip()) for p in parts if p.strip()]


def load_text(path: Path, data: bytes) -> tuple[str, list[Block]]:
    text = decode_text(data)
    return path.stem, paragraphs(text)


def row_text(columns: list[str], values: list[str]) -> str:
    """``column: value`` pairs for one row; empty cells are left out."""
    pairs = []
    for i, value in enumerate(values):
        value = value.strip()
        if not value:
            continue
        name = columns[i].strip() if i < len(columns) and columns[i].strip() else f"column {i + 1}"
        pairs.append(f"{name}: {value}")
    return "; ".join(pairs)


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [c.strip() for c in line.split("|")]


def load_markdown(path: Path, data: bytes) -> tuple[str, list[Block]]:
    text = _COMMENT.sub("", decode_text(data)).replace("\r\n", "\n")
    lines = text.split("\n")
    blocks: list[Block] = []
    title = ""
    para: list[str] = []

    def flush() -> None:
        if para:
            joined = "\n".join(para).strip()
            if joined:
                blocks.append(Block(joined))
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(("```", "~~~")):
            flush()
            fence = line.lstrip()[:3]
            code = [line]
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(fence):
                code.append(lines[i])
                i += 1
            code.append(fence)
            blocks.append(Block("\n".join(code)))
        elif m := _ATX.match(line):
            flush()
            heading = _EMPHASIS.sub(r"\2", m.group(2)).strip()
            if heading:
                title = title or heading
                blocks.append(Block(heading, kind="heading", level=len(m.group(1))))
        elif "|" in line and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]):
            flush()
            columns = _cells(line)
            i += 2
            row = 0
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                row += 1
                values = _cells(lines[i])
                blocks.append(Block(row_text(columns, values), kind="row", locator=f"table row {row}"))
                i += 1
            continue
        elif not line.strip():
            flush()
        else:
            para.append(line)
        i += 1
    flush()
    return title or path.stem, blocks


_HEADINGS = {f"h{i}": i for i in range(1, 7)}
# page furniture marked by class or id: navigation bars, breadcrumbs, menus, sidebars, tables of
# contents (the PostgreSQL manual's navheader, Sphinx's sphinxsidebar, a site's breadcrumb)
_FURNITURE = re.compile(
    r"(^|[-_ ])(nav\w*|breadcrumbs?|menu|sidebar|sphinxsidebar|toc|skip-?link)($|[-_ ])", re.I
)
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?)\]])")
_SPACE_AFTER = re.compile(r"([(\[])\s+")


def _strings(el) -> list[str]:  # type: ignore[no-untyped-def]
    """The element's text nodes, stripped, the empty ones left out (its own tail is not its)."""
    return [t for t in (s.strip() for s in el.itertext()) if t]


def _inline_text(el) -> str:  # type: ignore[no-untyped-def]
    """An element's text on one line: the source's line breaks and indentation are layout, and
    ``( string )`` made of an inline tag reads ``(string)``."""
    text = " ".join(" ".join(_strings(el)).split())
    return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))


def _furniture(tag) -> bool:  # type: ignore[no-untyped-def]
    names = f"{tag.get('class') or ''} {tag.get('id') or ''}".strip()
    return bool(names and _FURNITURE.search(names))


_DROPPED = ("script", "style", "noscript", "nav", "footer", "header", "form", "svg")
_READ = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "table", "dd", "dt")


def _parse_html(data: bytes):  # type: ignore[no-untyped-def]
    """The page as an lxml.html tree (libxml2's forgiving HTML parser), or None if it holds no
    markup at all. XHTML reads as HTML: its declaration and namespace change nothing."""
    from lxml import etree, html

    parser = html.HTMLParser(remove_comments=True, remove_pis=True)
    try:
        parser.feed(decode_text(data))
        return parser.close()
    except etree.LxmlError:
        return None


def load_html(path: Path, data: bytes) -> tuple[str, list[Block]]:
    """Headings, paragraphs, list items, code and table rows, in reading order.

    Parsed with lxml directly: BeautifulSoup over the same parser took three quarters of the time
    to read the PostgreSQL manual's pages (docs/benchmarks.md), and gives the same blocks."""
    root = _parse_html(data)
    if root is None:
        return path.stem, []
    for tag in [*root.iter(*_DROPPED)]:
        tag.drop_tree()
    for tag in [t for t in root.iter() if isinstance(t.tag, str) and t.attrib and _furniture(t)]:
        tag.drop_tree()
    title_el = next(root.iter("title"), None)
    title = " ".join(_strings(title_el)) if title_el is not None else ""
    blocks: list[Block] = []
    body = next(root.iter("body"), None)
    body = root if body is None else body
    for el in body.iter(*_READ):
        # An element inside a table, a <pre> or a list item is read with its container.
        if any(a.tag in ("table", "pre", "li") for a in el.iterancestors()):
            continue
        # a definition holding paragraphs (a manual's <dd><p>...</p></dd>) is read by them
        if el.tag in ("dd", "dt") and next(el.iter("p", "pre", "table", "ul", "ol", "dl"), None) is not None:
            continue
        if el.tag == "table":
            blocks.extend(_html_table(el))
            continue
        text = "\n".join(_strings(el)) if el.tag == "pre" else _inline_text(el)
        if not text:
            continue
        if el.tag in _HEADINGS:
            blocks.append(Block(text, kind="heading", level=_HEADINGS[el.tag]))
        else:
            blocks.append(Block(text))
    if not blocks:
        blocks = paragraphs("\n".join(_strings(body)))
    first_heading = next((b.text for b in blocks if b.kind == "heading"), "")
    return title or first_heading or path.stem, blocks


def _html_table(table) -> list[Block]:  # type: ignore[no-untyped-def]
    rows = [[_inline_text(c) for c in tr.iter("th", "td")] for tr in table.iter("tr")]
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    caption_el = next(table.iter("caption"), None)
    caption = " ".join(_strings(caption_el)) if caption_el is not None else "table"
    columns = rows[0]
    if len(rows) == 1:
        return [Block(" | ".join(columns), kind="table")]
    return [
        Block(row_text(columns, r), kind="row", locator=f"{caption} row {n}")
        for n, r in enumerate(rows[1:], start=1)
    ]
