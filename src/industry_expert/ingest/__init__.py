"""Loading files into Documents: one loader per format family, registered by extension.

A loader is ``(path, data) -> (title, blocks)``; it raises ``LoadError`` with a one-line reason
for a file it cannot read. ``register_loader`` adds a format the same way the built-ins are added,
and so does an installed package's entry point in the group ``industry_expert.loaders``, named by
the extension (``".eml" = "my_package:load_eml"``; ``registry.LOADERS``).
A loader that can read pages by OCR (PDF, images) takes a third argument, ``LoadOptions``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

from ..errors import LoadError
from ..registry import LOADERS
from ..types import Block, Document
from .chunk import chunk_document, document_label
from .files import Found, decode_text, printable, read_bytes, walk
from .filing import describe, detect_filing
from .images import IMAGE_EXTENSIONS, load_image
from .ocr import DEFAULT_OPTIONS, LoadOptions
from .office import load_docx, load_pptx, load_xlsx
from .pdf import load_pdf
from .tabular import load_csv, load_json, load_jsonl
from .text import load_html, load_markdown, load_text

Loader = Callable[..., tuple[str, list[Block]]]  # (path, data[, options]) -> (title, blocks)

_BUILT_IN: dict[str, Loader] = {
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".pptx": load_pptx,
    ".xlsx": load_xlsx,
    ".xlsm": load_xlsx,
    ".html": load_html,
    ".htm": load_html,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".text": load_text,
    ".rst": load_text,
    ".log": load_text,
    ".csv": load_csv,
    ".tsv": load_csv,
    ".json": load_json,
    ".jsonl": load_jsonl,
    ".ndjson": load_jsonl,
    **dict.fromkeys(IMAGE_EXTENSIONS, load_image),
}
for _extension, _loader in _BUILT_IN.items():
    LOADERS.register(_extension, _loader)


@cache
def _takes_options(loader: Loader) -> bool:
    try:
        return len(inspect.signature(loader).parameters) >= 3
    except (TypeError, ValueError):
        return False


def register_loader(extension: str, loader: Loader) -> None:
    """Make ``extension`` (``".eml"``) ingestible with ``loader``."""
    LOADERS.register(extension.lower(), loader)


def load_document(
    path: Path, data: bytes, source: str | None = None, options: LoadOptions = DEFAULT_OPTIONS
) -> Document:
    """Parse ``data`` (the bytes of ``path``) into a Document with filing metadata where found;
    ``options`` reach the loaders that read pages by OCR."""
    loader = LOADERS.find(path.suffix.lower())
    if loader is None:
        raise LoadError(f"unsupported file type {path.suffix or '(none)'}")
    try:
        title, blocks = loader(path, data, options) if _takes_options(loader) else loader(path, data)
    except LoadError:
        raise
    except RecursionError:
        raise LoadError("could not parse: nested too deeply to read (RecursionError)") from None
    except Exception as exc:  # any failure of a loader costs this file only, never the run
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise LoadError(f"could not parse ({type(exc).__name__}{': ' + first if first else ''})") from None
    blocks = [b for b in blocks if b.text.strip()]
    if not blocks:
        raise LoadError("no text found in the file")
    metadata = {"format": path.suffix.lower().lstrip(".")}
    metadata.update(detect_filing(blocks))
    if metadata.get("company"):
        title = describe(metadata)  # what the cover says beats what the producing tool wrote
    elif not useful_title(title, path):
        title = _first_heading(blocks) or path.stem
    return Document(source or str(path), printable(title), tuple(blocks), metadata)


_JUNK_TITLE = re.compile(
    r"^(untitled|document\d*|title|slide \d+|presentation\d*|microsoft (word|powerpoint|excel) - .*)$"
    r"|\.(pdf|docx?|pptx?|xlsx?|rtf|txt|html?|indd|qxd)$"
    r"|^[\W\d_]*$",  # no letters: an accession number, a date, a code
    re.I,
)


def useful_title(title: str, path: Path) -> bool:
    """Whether a file's own title (PDF or Office metadata) names the document.

    Metadata titles are often junk left by the tool that made the file: an SEC accession number
    (``0000320193-19-000119``), the source file name (``Q422-8-KtoFile.pdf``), ``Untitled``,
    ``Microsoft Word - draft3.doc``. Those give way to what the document says it is.

    >>> [useful_title(t, Path("x.pdf")) for t in ("0000320193-19-000119", "CRM Q1 FY24.pdf", "Pump manual")]
    [False, False, True]
    """
    title = " ".join(title.split())
    if not title or len(title) > 200 or _JUNK_TITLE.search(title):
        return False
    return title.casefold() != path.stem.casefold()


def _first_heading(blocks: list[Block]) -> str:
    """The first heading on the first page: where a document names itself."""
    first_page = blocks[0].page
    for block in blocks[:40]:
        if block.page != first_page:
            break
        text = " ".join(block.text.split())
        if block.kind == "heading" and 3 <= len(text) <= 120:
            return text
    return ""


__all__ = [
    "LOADERS",
    "Found",
    "LoadError",
    "LoadOptions",
    "chunk_document",
    "decode_text",
    "document_label",
    "load_document",
    "read_bytes",
    "register_loader",
    "walk",
]
