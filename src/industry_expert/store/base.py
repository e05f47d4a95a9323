"""The Store protocol: documents, chunks, a keyword index and vectors behind one interface.

Callers never see SQL. A backend must replace a document's chunks atomically (``put_document``):
a crash leaves the old version or the new one, never half of each. The SQLite backend is the
embedded default; a PostgreSQL + pgvector backend implements the same methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..types import Chunk, Hit


@dataclass(frozen=True)
class DocumentRecord:
    """What ingest knows about a file before it is stored."""

    key: str  # absolute path: the identity of the document
    source: str  # the path as the user named it
    collection: str
    sha256: str
    size: int
    mtime_ns: int
    title: str
    label: str  # what the document is, for the keyword index ("Apple Inc. Form 10-K, FY2022")
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredDocument:
    id: int
    key: str
    source: str
    collection: str
    sha256: str
    size: int
    mtime_ns: int
    title: str
    chunks: int
    ingested_at: str
    metadata: dict[str, str] = field(default_factory=dict)
    summary: str | None = None


@dataclass(frozen=True)
class SearchFilter:
    """Restrict a search to a collection and/or sources matching a glob (``*`` crosses folders)."""

    collection: str | None = None
    source_glob: str | None = None


class Store(Protocol):
    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def get_document(self, key: str) -> StoredDocument | None: ...

    def list_documents(self, pattern: str | None = None) -> list[StoredDocument]: ...

    def put_document(self, record: DocumentRecord, chunks: Sequence[Chunk], vectors: np.ndarray) -> int: ...

    def touch_document(self, key: str, source: str, mtime_ns: int) -> None: ...

    def record_skipped(self, key: str, source: str, reason: str | None) -> None: ...

    def list_skipped(self, pattern: str | None = None) -> list[tuple[str, str, str]]: ...

    def delete_documents(self, keys: Sequence[str]) -> int: ...

    def set_summary(self, key: str, summary: str | None) -> None: ...

    def document_chunks(self, key: str) -> list[tuple[int | None, str]]: ...

    def dense_search(self, vector: np.ndarray, n: int, where: SearchFilter) -> list[tuple[int, float]]: ...

    def keyword_search(self, query: str, n: int, where: SearchFilter) -> list[tuple[int, float]]: ...

    def hits(self, scored: Sequence[tuple[int, float]]) -> list[Hit]: ...

    def all_chunks(self) -> list[tuple[int, str]]: ...

    def replace_vectors(self, ids: Sequence[int], vectors: np.ndarray) -> None: ...

    def stats(self) -> dict[str, object]: ...

    def check(self) -> list[str]: ...

    def close(self) -> None: ...


_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have how i in is it its of on or that the "
    "their this to was were what when where which who whom why will with".split()
)


def keyword_terms(query: str) -> list[str]:
    """The terms a keyword search looks for: words without English stop words, lower-cased.

    A word mixing letters and digits also contributes its digits ("FY2019" -> "fy2019", "2019"),
    since documents write "fiscal 2019" where questions write "FY2019".
    """
    import re

    words = [w.lower() for w in re.findall(r"\w+", query)]
    kept = [w for w in words if w not in _STOPWORDS] or words
    terms: list[str] = []
    for word in kept:
        for term in (word, *re.findall(r"\d{2,}", word)):
            if term not in terms:
                terms.append(term)
    return terms
