"""Loading files into Documents: one loader per format family, registered by extension.

A loader is ``(path, data) -> (title, blocks)``; it raises ``LoadError`` with a one-line reason
for a file it cannot read. ``register_loader`` adds a format the same way the built-ins are added.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import LoadError
from ..types import Block, Document
from .chunk import chunk_document, document_label
from .files import Found, decode_text, printable, read_bytes, walk
from .filing import detect_filing
from .office import load_docx, load_pptx, load_xlsx
from .pdf import load_pdf
from .tabular import load_csv, load_json, load_jsonl
from .text import load_html, load_markdown, load_text

Loader = Callable[[Path, bytes], tuple[str, list[Block]]]

LOADERS: dict[str, Loader] = {
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
}


def register_loader(extension: str, loader: Loader) -> None:
    """Make ``extension`` (``".eml"``) ingestible with ``loader``."""
    LOADERS[extension.lower()] = loader


def load_document(path: Path, data: bytes, source: str | None = None) -> Document:
    """Parse ``data`` (the bytes of ``path``) into a Document with filing metadata where found."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoadError(f"unsupported file type {path.suffix or '(none)'}")
    try:
        title, blocks = loader(path, data)
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
    return Document(source or str(path), printable(title or path.stem), tuple(blocks), metadata)


__all__ = [
    "LOADERS",
    "Found",
    "LoadError",
    "chunk_document",
    "decode_text",
    "document_label",
    "load_document",
    "read_bytes",
    "register_loader",
    "walk",
]
