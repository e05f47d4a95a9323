"""Structure-aware chunking, sized in the embedder's own tokens.

Blocks are packed into chunks in reading order. A chunk never crosses a page (so its page number
is exact); each record of a spreadsheet, CSV or JSON file is a chunk of its own (its locator names
the one row); and starts afresh at a top-level heading or at a
sub-heading once it holds a third of its budget; a lone short heading is carried into the next
chunk instead of standing alone. A block larger than the budget is cut at line breaks (tables),
then sentences, then words, and prose cut this way overlaps by ``overlap`` tokens. A table that
goes on in the next chunk of its page takes its column heading along (``(in millions) 2019
2018 2017``), so that each row can be read under its period wherever the cut fell.

Every chunk gets a one-line context header: the file name, what the document is (company, form
and period for filings, else its title) and the section path, so that the vector and the keyword
index both see which document a passage belongs to.

Example::

    >>> from industry_expert.types import Block, Document
    >>> doc = Document("q.md", "Quality manual", (Block("Scope", "heading", level=1), Block("Applies to all plants.")))
    >>> [c.header for c in chunk_document(doc, lambda ts: [len(t.split()) for t in ts], 50)]
    ['q — Quality manual — Scope']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import PurePath

from ..figures import figures
from ..types import Block, Chunk, Document
from .files import printable
from .filing import describe

TokenCounter = Callable[[Sequence[str]], list[int]]
_SENTENCE = re.compile(r"(?<=[.!?؟۔])\s+")
_MAX_SECTION_CHARS = 80
_MAX_HEADING_WORDS = 14  # a table's column heading; a sentence naming two years is longer


def document_label(doc: Document, short: bool = False) -> str:
    """What the document is: company, form and period for filings, else title; and file name.

    The short form (chunk headers) leaves the file name out when the company is known.
    """
    stem = re.sub(r"[_]+", " ", printable(PurePath(doc.source).stem)).strip()
    what = describe(doc.metadata, short) or doc.title.strip()
    if not what or re.sub(r"[_\s]+", " ", what).strip().lower() == stem.lower():
        return stem
    if short and doc.metadata.get("company"):
        return what
    return f"{stem} — {what}"


def _span(locators: list[str]) -> str | None:
    """``sheet S row 2`` .. ``sheet S row 9`` -> ``sheet S rows 2-9``."""
    locs = [loc for loc in locators if loc]
    if not locs:
        return None
    first, last = locs[0], locs[-1]
    if first == last:
        return first
    m1, m2 = re.match(r"^(.*\brow) (\d+)$", first), re.match(r"^(.*\brow) (\d+)$", last)
    if m1 and m2 and m1.group(1) == m2.group(1):
        return f"{m1.group(1)}s {m1.group(2)}-{m2.group(2)}"
    return f"{first} – {last}"


def _split_words(text: str, tokens: int, budget: int, overlap: int) -> list[tuple[str, int]]:
    """Cut at word boundaries, estimating tokens per word from the whole unit."""
    words = text.split()
    per_word = max(tokens / max(len(words), 1), 1e-6)
    size = max(int(budget / per_word), 1)
    step = max(size - int(overlap / per_word), 1)
    pieces, i = [], 0
    while True:
        part = words[i : i + size]
        pieces.append((" ".join(part), min(budget, round(len(part) * per_word))))
        if i + size >= len(words):
            return pieces
        i += step


def column_heading(lines: Sequence[str]) -> str:
    """The last of ``lines`` that heads a table's columns by period: a short line with two or more
    years and no other figure (``(in millions) 2019 2018 2017``, ``Fiscal 2023 Fiscal 2022``);
    "" if none.

    >>> column_heading(["(in millions) 2019 2018 2017", "Net income $ 11,083 $ 3,587 $ 9,452"])
    '(in millions) 2019 2018 2017'
    >>> column_heading(["Revenue grew 8% in 2023 over 2022"])
    ''
    """
    for line in reversed(lines):
        if len(line.split()) > _MAX_HEADING_WORDS:
            continue
        found = figures(line)
        if len(found) >= 2 and all(f.year_like for f in found):
            return line
    return ""


def split_block(
    text: str, count: TokenCounter, budget: int, overlap: int, table: bool
) -> list[tuple[str, int]]:
    """Cut one oversized block into ``(piece, tokens)`` of at most ``budget`` tokens each.

    Piece sizes are the sums of their lines' or sentences' counts, so nothing is tokenized twice.
    """
    units = [u for u in (text.split("\n") if table else _SENTENCE.split(text)) if u.strip()]
    sizes = count(units)
    joiner = "\n" if table else " "
    pieces: list[tuple[str, int]] = []
    current: list[tuple[str, int]] = []
    used = 0

    def close() -> None:
        pieces.append((joiner.join(u for u, _ in current), used))

    for unit, size in zip(units, sizes, strict=True):
        if size > budget:
            if current:
                close()
                current, used = [], 0
            pieces.extend(_split_words(unit, size, budget, 0 if table else overlap))
            continue
        if used + size > budget and current:
            close()
            keep: list[tuple[str, int]] = []
            if not table and overlap:
                carried = 0
                for u, n in reversed(current):
                    if carried + n > overlap:
                        break
                    keep.insert(0, (u, n))
                    carried += n
            current, used = keep, sum(n for _, n in keep)
        current.append((unit, size))
        used += size
    if current:
        close()
    return pieces


def chunk_document(
    doc: Document,
    count: TokenCounter,
    max_tokens: int = 200,
    overlap: int = 32,
    header: bool = True,
) -> list[Chunk]:
    """Pack ``doc``'s blocks into chunks of at most ``max_tokens`` tokens, header included."""
    label = document_label(doc, short=True) if header else ""
    blocks = [b for b in doc.blocks if b.text.strip()]
    sizes = count([b.text for b in blocks]) if blocks else []
    chunks: list[Chunk] = []
    sections: dict[int, str] = {}
    parts: list[str] = []
    locators: list[str] = []
    used = 0
    page: int | None = None
    rows = False
    content = False  # whether parts holds more than headings
    chunk_header = label
    heading, heading_page = "", None  # the column heading of the page's table that is going on
    line_sizes: dict[str, int] = {}  # tokens of chunk headers and carried column headings

    def header_for() -> str:
        if not header:
            return ""
        names = [sections[k] for k in sorted(sections)[-2:]]
        if names and label.endswith(names[0]):  # the title heading repeats what the label says
            names = names[1:]
        path = " > ".join(names)
        if len(path) > _MAX_SECTION_CHARS:
            path = "…" + path[-_MAX_SECTION_CHARS:]
        return f"{label} — {path}" if path else label

    def size_of(line: str) -> int:
        if line not in line_sizes:
            line_sizes[line] = count([line])[0] if line else 0
        return line_sizes[line]

    def budget_for(header_text: str) -> int:
        return max(max_tokens - size_of(header_text) - bool(header_text), 16)

    def flush() -> None:
        nonlocal parts, locators, used, content
        body = "\n".join(parts).strip()
        if body:
            chunks.append(
                Chunk(
                    body,
                    chunk_header,
                    len(chunks),
                    page,
                    _span(locators),
                    used + size_of(chunk_header) + bool(chunk_header),
                )
            )
        parts, locators, used, content = [], [], 0, False

    def start(block: Block) -> None:
        nonlocal page, rows, chunk_header
        page, rows = block.page, block.kind == "row"
        chunk_header = header_for()

    def carry(block: Block, text: str) -> None:
        """Put the column heading of the table that ``text`` goes on with above it."""
        nonlocal used
        if (
            block.kind == "table"
            and heading
            and heading_page == block.page
            and not content
            and not column_heading(text.split("\n")[:1])
            # a heading laid out one line per column ("FY 2013" / "Target") is already here
            and not any(f.year_like for part in parts for f in figures(part))
        ):
            parts.append(heading)
            used += size_of(heading)

    def note(block: Block, text: str) -> None:
        """Remember the column heading ``text`` sets for what follows on its page."""
        nonlocal heading, heading_page
        found = column_heading(text.split("\n"))
        if found:  # a PDF may run the heading into a label ("... 2019 2018 2017 Revenues:"): text
            heading, heading_page = found, block.page
        elif block.kind != "table":
            heading = ""  # prose ends the table

    for block, size in zip(blocks, sizes, strict=True):
        budget = budget_for(chunk_header)
        if block.kind == "heading":
            if content and (block.level <= 1 or used >= budget // 3 or block.page != page):
                flush()
            for deeper in [k for k in sections if k >= block.level]:
                del sections[deeper]
            sections[block.level] = block.text.strip()
            if not parts:
                start(block)
            parts.append(block.text.strip())
            used += size
            continue
        # A record is its own chunk, so a question about one row retrieves exactly that row.
        if parts and (block.page != page or rows or block.kind == "row" or used + size > budget):
            if content:
                flush()
            else:  # headings waiting for their first paragraph travel with it
                page, rows = block.page, block.kind == "row"
        if not parts:
            start(block)
        budget = budget_for(chunk_header)
        carry(block, block.text)
        if size > budget - used:
            room = max(budget - used, budget // 2)
            if block.kind == "table":  # its column heading goes on with each piece
                ahead = column_heading(block.text.split("\n")) or (
                    heading if heading_page == block.page else ""
                )
                room = max(room - size_of(ahead), 16) if ahead else room
            pieces = split_block(block.text, count, room, overlap, block.kind == "table")
            for i, (piece, piece_tokens) in enumerate(pieces):
                if i:
                    carry(block, piece)
                parts.append(piece)
                if block.locator:
                    locators.append(block.locator)
                used += piece_tokens
                content = True
                note(block, piece)
                flush()
                start(block)
            continue
        parts.append(block.text)
        if block.locator:
            locators.append(block.locator)
        used += size
        content = True
        note(block, block.text)
    flush()
    return chunks
