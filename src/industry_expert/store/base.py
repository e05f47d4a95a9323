"""The Store contract: documents, chunks, a keyword index and vectors behind one interface.

Callers never see SQL. What every backend guarantees (``tests/test_store_contract.py`` checks each
point on every backend):

- **One document, one transaction.** ``put_document`` replaces a document and all its chunks,
  vectors and index rows at once: a crash or an error leaves the old version or the new one,
  never half of each. ``delete_documents`` and ``replace_vectors`` are atomic the same way.
- **Readers see committed data only**, and see another process's writes on their next call.
- **Identity.** A document is its ``key`` (the absolute path); chunk ids are integers that
  stay fixed until their document is replaced or deleted.
- **Ordering.** Listings are sorted by source; searches best-first, at most ``n`` results.
- **File names as they are.** A key or source may hold bytes that are not UTF-8 (a Latin-1
  ``café.txt`` made on another system), which Python gives as lone surrogates; a backend stores
  and returns them unchanged (``store_text``/``read_text`` is one lossless way).
- **Patterns.** A ``pattern`` or ``SearchFilter.source`` names documents by ``path_matches``: the
  exact source or key, or a glob over either (``*`` and ``?`` within one folder level, ``**`` any
  number of levels, ``[abc]`` one of a set; a pattern without ``/`` is matched against the file
  name), case-sensitive, the same on every backend.

A backend is one class with these methods and one ``register_store`` call (see ``store/__init__``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

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

    def to_dict(self) -> dict[str, Any]:
        """What ``expert sources --json`` and the server's document list show of it."""
        return {
            "id": self.id,
            "source": self.source,
            "collection": self.collection,
            "chunks": self.chunks,
            "title": self.title,
            "ingested_at": self.ingested_at,
            "size": self.size,
            "sha256": self.sha256,
            "metadata": self.metadata,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class StoreStats:
    """Counts of a store; ``bytes`` is the space it takes where the backend can tell, else None."""

    documents: int
    chunks: int
    tokens: int
    bytes: int | None = None


@dataclass(frozen=True)
class SearchFilter:
    """Restrict a search to a collection and/or to documents whose source or key ``path_matches``
    ``source``; None means no restriction. ``collections`` is a set of allowed collections on top
    of both (what a server's key may read): a document must be in it too, and an empty set
    allows nothing."""

    collection: str | None = None
    source: str | None = None
    collections: frozenset[str] | None = None

    @property
    def unrestricted(self) -> bool:
        return self.collection is None and self.source is None and self.collections is None


_SURROGATE = re.compile("[\udc80-\udcff]")
_ESCAPED = re.compile("\x00([0-9a-f]{2})")


def store_text(text: str) -> str:
    r"""``text`` with each undecodable file-name byte (a lone surrogate) as NUL and two hex digits:
    valid UTF-8 for a database, and reversible, since no file name holds a NUL.

    >>> read_text(store_text("caf\udce9.txt")) == "caf\udce9.txt"
    True
    """
    return _SURROGATE.sub(lambda m: f"\x00{ord(m.group()) - 0xDC00:02x}", text)


def read_text(text: str) -> str:
    """The text ``store_text`` was given."""
    return _ESCAPED.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), text) if "\x00" in text else text


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression of a path glob: ``*`` and ``?`` stay inside one folder level,
    ``**`` crosses levels (``a/**/b`` also matches ``a/b``), ``[abc]`` and ``[!abc]`` are sets.

    >>> bool(glob_regex("reports/*.pdf").fullmatch("reports/2023/q1.pdf"))
    False
    >>> bool(glob_regex("reports/**/*.pdf").fullmatch("reports/2023/q1.pdf"))
    True
    """
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            negate = body.startswith(("!", "^"))
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out))


def path_matches(pattern: str, *paths: str) -> bool:
    """Whether ``pattern`` names one of ``paths``: equal to it, or a glob that matches it
    (``glob_regex``); a pattern without ``/`` is also tried on each path's file name.

    >>> path_matches("*.pdf", "reports/2023/q1.pdf")            # a file-name pattern, at any depth
    True
    >>> path_matches("reports/*.pdf", "reports/2023/q1.pdf")    # * stays in one folder level
    False
    >>> path_matches("/data/a[1].pdf", "/data/a[1].pdf")        # an exact path always matches
    True
    """
    if pattern in paths:
        return True
    regex = glob_regex(pattern)
    names = paths if "/" in pattern else (*paths, *(p.rsplit("/", 1)[-1] for p in paths))
    return any(regex.fullmatch(p) for p in names)


@runtime_checkable
class Store(Protocol):
    """Where a workspace keeps its documents, chunks, keyword index and vectors."""

    def get_meta(self, key: str) -> str | None:
        """The value stored under ``key`` (``embedder``, ``embedder_dim``, ...), or None."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing any earlier value."""
        ...

    def all_meta(self) -> dict[str, str]:
        """Every key and value ``set_meta`` stored (a migration copies them)."""
        ...

    def get_document(self, key: str) -> StoredDocument | None:
        """The document whose key is exactly ``key``, or None."""
        ...

    def list_documents(self, pattern: str | None = None) -> list[StoredDocument]:
        """Every document (those ``pattern`` names by ``path_matches``), sorted by source."""
        ...

    def put_document(self, record: DocumentRecord, chunks: Sequence[Chunk], vectors: np.ndarray) -> int:
        """Replace document ``record.key`` (if any) by ``record`` with ``chunks`` and their
        ``vectors`` (one row each, in order) in one transaction; index the chunks for keyword
        search; forget any skip recorded for the key. Returns the document's id. Raises
        ``StoreError`` when the counts differ, leaving the store as it was."""
        ...

    def touch_document(
        self, key: str, source: str, mtime_ns: int, metadata: dict[str, str] | None = None
    ) -> None:
        """Record a new modification time and source path for an unchanged document, and new
        ``metadata`` when given (how it was parsed: a re-ingest that needed no re-parse)."""
        ...

    def record_skipped(self, key: str, source: str, reason: str | None) -> None:
        """Remember why the file ``key`` was skipped, or forget it (``reason=None``)."""
        ...

    def list_skipped(self, pattern: str | None = None) -> list[tuple[str, str, str]]:
        """``(key, source, reason)`` of skipped files (those ``pattern`` names), sorted by source."""
        ...

    def delete_documents(self, keys: Sequence[str]) -> int:
        """Remove the documents ``keys`` name, with their chunks, vectors, index rows and skip
        records, in one transaction; returns how many documents existed."""
        ...

    def set_summary(self, key: str, summary: str | None) -> None:
        """Store (or clear) the summary of document ``key``; replacing a document clears it."""
        ...

    def document_chunks(self, key: str) -> list[tuple[int | None, str]]:
        """``(page, text)`` of the chunks of document ``key``, in reading order."""
        ...

    def export_document(self, key: str) -> tuple[DocumentRecord, list[Chunk], np.ndarray] | None:
        """Document ``key`` as ``put_document`` was given it: its record, its chunks in reading
        order and their vectors (float32), for copying into another store; None if absent."""
        ...

    def get_chunks(self, ids: Sequence[int]) -> list[Hit]:
        """The chunks ``ids`` name, in that order, as hits of score 0 with their document's
        source, title, collection and id; ids that name no chunk are left out."""
        ...

    def dense_search(self, vector: np.ndarray, n: int, where: SearchFilter) -> list[tuple[int, float]]:
        """Up to ``n`` ``(chunk id, cosine similarity)`` pairs inside ``where``, best first.
        ``vector`` has unit length, as the stored ones do. Raises ``StoreError`` when its
        dimension differs from the stored vectors'."""
        ...

    def keyword_search(self, query: str, n: int, where: SearchFilter) -> list[tuple[int, float]]:
        """Up to ``n`` ``(chunk id, score)`` pairs inside ``where`` that contain any of
        ``keyword_terms(query)`` in their text, header or document label, best (BM25) first;
        scores are larger for better matches."""
        ...

    def term_counts(self, term: str, doc_ids: Sequence[int]) -> tuple[int, int]:
        """How many chunks hold the keyword ``term`` (one of ``keyword_terms``, matched as
        ``keyword_search`` matches it) in their header or text: ``(inside the documents doc_ids,
        in the whole store)``. Routing asks it to tell a term that names documents ("Intel",
        "2023") from one that every document uses ("connection" in a database manual)."""
        ...

    def generation(self) -> int:
        """A number that changes whenever a document, its chunks or their vectors change (in this
        process or another): what callers key their caches on."""
        ...

    def languages(self) -> dict[str, str]:
        """``{collection: text-search configuration}`` recorded by ``set_language``; a collection
        not in it is indexed as ``english``."""
        ...

    def set_language(self, collection: str, language: str) -> int:
        """Index ``collection``'s words as ``language`` (a code, a name or a configuration,
        ``store.languages.text_search_config``) from now on, its chunks already stored included, in
        one transaction; returns how many chunks were indexed again. Raises ``StoreError`` for a
        language the backend cannot index, leaving the store as it was."""
        ...

    def all_chunks(self) -> list[tuple[int, str]]:
        """``(chunk id, header and text as embedded)`` of every chunk, by id."""
        ...

    def replace_vectors(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Give the chunks ``ids`` the rows of ``vectors``, in one transaction (reindex)."""
        ...

    def stage_vectors(self, tag: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Keep ``vectors`` for the chunks ``ids`` aside under ``tag`` (the embedder a reindex
        moves to), in one transaction, without touching the vectors searches use. Vectors staged
        under another tag are dropped first: a reindex to another embedder starts over."""
        ...

    def staged(self, tag: str) -> set[int]:
        """The chunk ids with vectors staged under ``tag`` (empty when another tag is staged)."""
        ...

    def commit_staged(self, tag: str, meta: dict[str, str] | None = None) -> int:
        """Make the vectors staged under ``tag`` the chunks' vectors and set the ``meta`` entries
        (which embedder made them), in one transaction, and drop the staging; chunks deleted since
        are skipped. Returns how many chunks changed."""
        ...

    def ingest_lock(self, keys: Collection[str] | None = None) -> contextlib.AbstractContextManager[bool]:
        """Try to become the ingest writing the documents ``keys`` (None: any document, as a
        prune may): a context that yields True while this caller holds the lock, or False at once
        when another holds it (another process, another machine on a shared database). Released
        on exit, and by the system when its holder dies. The ingest pipeline waits for it, so that
        two ingests of one folder do not embed the same files twice and each reports what it did.
        A backend may lock more than asked (SQLite has one writer, so it locks the store); one
        that takes writes from many machines (PostgreSQL) lets ingests of other documents run."""
        ...

    def optimize(self) -> None:
        """Called after a run of writes (an ingest, a reindex, a migration): build or refresh what
        makes searching fast (PostgreSQL: the HNSW index, once the store is large enough). Safe to
        call at any time; a backend with nothing to do does nothing."""
        ...

    def stats(self) -> StoreStats:
        """How many documents, chunks and tokens the store holds, and its size where known."""
        ...

    def check(self) -> list[str]:
        """Problems found by an integrity check (the backend's own, and chunks against the
        keyword index and the vectors), one line each; empty when the store is consistent."""
        ...

    def close(self) -> None:
        """Release connections and files; the store is not used afterwards."""
        ...


def foreign_embedder(store: Store, embedder: str | None) -> str | None:
    """The embedder whose vectors ``store`` already holds when it is not ``embedder``, else None:
    a shared store (a workspace made elsewhere on the same database, a migration's target) must
    not mix two embedders' vectors."""
    theirs = store.get_meta("embedder")
    return theirs if theirs and embedder and theirs != embedder and store.stats().chunks else None


_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have how i in is it its of on or that the "
    "their this to was were what when where which who whom why will with".split()
)


def keyword_terms(query: str) -> list[str]:
    """The terms a keyword search looks for: words without English stop words, lower-cased.

    A word mixing letters and digits also contributes its digits ("FY2019" -> "fy2019", "2019"),
    since documents write "fiscal 2019" where questions write "FY2019".
    """
    words = [w.lower() for w in re.findall(r"\w+", query)]
    kept = [w for w in words if w not in _STOPWORDS] or words
    terms: list[str] = []
    for word in kept:
        for term in (word, *re.findall(r"\d{2,}", word)):
            if term not in terms:
                terms.append(term)
    return terms
