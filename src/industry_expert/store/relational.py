"""What the relational stores share: the row mapping of documents, chunks and hits, over a dialect.

SQLite and PostgreSQL hold the same tables (``documents``, ``chunks``, ``skipped``,
``staged_vectors``, ``meta``). A ``Dialect`` says what differs for the rows: the placeholder, how a
file name's undecodable bytes are written into text (each backend's reversible encoding, kept as
it is on disk) and how a vector column reads back. ``Rows`` turns the shared statements' rows into the contract's types,
so the two backends keep only their own transactions, full-text and vector search.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..types import Chunk, Hit
from .base import DocumentRecord, StoredDocument


@dataclass(frozen=True)
class Dialect:
    """What one database needs that the other does not, for the shared row mapping."""

    name: str
    param: str  # the placeholder: "?" or "%s"
    encode: Callable[[str], str]  # a path or title into a text column
    decode: Callable[[str], str]  # and back
    vector: Callable[[Any], np.ndarray]  # a vector column's value as float32
    # the shared tables' types: a generated key, a 64-bit integer, a vector column; the chunk
    # columns only this database has; what ties a staged vector to its chunk
    serial: str
    bigint: str
    vector_type: str
    chunk_columns: str = ""
    staged_reference: str = ""

    def params(self, n: int) -> str:
        return ",".join([self.param] * n)

    def tables(self) -> str:
        """The tables both stores hold, in this database's types (``CREATE ... IF NOT EXISTS``)."""
        return TABLES.format(
            serial=self.serial,
            bigint=self.bigint,
            vector=self.vector_type,
            chunk_columns=self.chunk_columns,
            staged_reference=self.staged_reference,
        )


TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id {serial},
    key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    collection TEXT NOT NULL DEFAULT 'default',
    sha256 TEXT NOT NULL,
    size {bigint} NOT NULL,
    mtime_ns {bigint} NOT NULL,
    title TEXT NOT NULL,
    label TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{{}}',
    summary TEXT,
    chunks INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_collection ON documents(collection);
CREATE TABLE IF NOT EXISTS chunks (
    id {serial},
    doc_id {bigint} NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    page INTEGER,
    locator TEXT,
    header TEXT NOT NULL,
    text TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    vector {vector} NOT NULL{chunk_columns}
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS skipped (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS staged_vectors (
    chunk_id {bigint} PRIMARY KEY{staged_reference},
    tag TEXT NOT NULL,
    vector {vector} NOT NULL
);
"""


DOCUMENT_COLUMNS = (
    "id, key, source, collection, sha256, size, mtime_ns, title, chunks, ingested_at, metadata, summary"
)
HIT_COLUMNS = "c.id, d.source, c.page, c.locator, c.text, c.header, d.title, d.collection, d.id"
RECORD_COLUMNS = "id, key, source, collection, sha256, size, mtime_ns, title, label, metadata"
EXPORT_COLUMNS = "text, header, ordinal, page, locator, tokens, vector"
INSERT_DOCUMENT = (
    "INSERT INTO documents(key, source, collection, sha256, size, mtime_ns, title, label, metadata, chunks,"
    " ingested_at) VALUES ({})"
)


def now() -> str:
    """The time a document is stored, as both backends write it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Rows:
    """The shared statements and their rows as the contract's types, for one dialect."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        p = dialect.param
        self.select_document = f"SELECT {DOCUMENT_COLUMNS} FROM documents"
        self.document_by_key = f"{self.select_document} WHERE key = {p}"
        self.insert_document = INSERT_DOCUMENT.format(dialect.params(11))
        self.record_by_key = f"SELECT {RECORD_COLUMNS} FROM documents WHERE key = {p}"
        self.export_chunks = f"SELECT {EXPORT_COLUMNS} FROM chunks WHERE doc_id = {p} ORDER BY ordinal"
        self.document_chunks = (
            f"SELECT c.page, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.key = {p}"
            " ORDER BY c.ordinal"
        )
        self.hits_from = f"SELECT {HIT_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.doc_id"
        self.indexed_texts = "SELECT id, header, text FROM chunks ORDER BY id"

    def document(self, row: Sequence[Any]) -> StoredDocument:
        doc_id, key, source, collection, sha256, size, mtime_ns, title, chunks, ingested_at = row[:10]
        decode = self.dialect.decode
        return StoredDocument(
            int(doc_id),
            decode(key),
            decode(source),
            collection,
            sha256,
            int(size),
            int(mtime_ns),
            decode(title),
            int(chunks),
            ingested_at,
            metadata=json.loads(row[10]),
            summary=row[11],
        )

    def document_values(self, record: DocumentRecord, chunks: int) -> tuple[Any, ...]:
        """The values of ``insert_document`` for ``record`` with ``chunks`` chunks, stored now."""
        encode = self.dialect.encode
        return (
            encode(record.key),
            encode(record.source),
            record.collection,
            record.sha256,
            record.size,
            record.mtime_ns,
            encode(record.title),
            encode(record.label),
            json.dumps(record.metadata),
            chunks,
            now(),
        )

    def hits(self, ids: Sequence[int], rows: Sequence[Sequence[Any]]) -> list[Hit]:
        """The hits of ``ids`` in that order, from rows of ``hits_from`` (an id without a row is gone)."""
        decode = self.dialect.decode
        by_id = {int(r[0]): r for r in rows}
        return [
            Hit(
                chunk_id=int(i),
                source=decode(r[1]),
                page=r[2],
                locator=r[3],
                score=0.0,
                text=r[4],
                header=r[5],
                title=decode(r[6]),
                collection=r[7],
                document_id=int(r[8]),
            )
            for i in ids
            if (r := by_id.get(int(i))) is not None
        ]

    def exported(
        self, doc: Sequence[Any], rows: Sequence[Sequence[Any]]
    ) -> tuple[DocumentRecord, list[Chunk], np.ndarray]:
        """A document as ``put_document`` takes it, from ``record_by_key`` and ``export_chunks`` rows."""
        decode = self.dialect.decode
        record = DocumentRecord(
            decode(doc[1]), decode(doc[2]), doc[3], doc[4], int(doc[5]), int(doc[6]),
            decode(doc[7]), decode(doc[8]), json.loads(doc[9]),
        )  # fmt: skip
        chunks = [Chunk(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
        vectors = np.array([self.dialect.vector(r[6]) for r in rows], dtype=np.float32)
        return record, chunks, vectors.reshape(len(rows), -1)

    @staticmethod
    def indexed(rows: Sequence[Sequence[Any]]) -> list[tuple[int, str]]:
        """``(chunk id, what the embedder sees)`` from rows of ``indexed_texts``."""
        return [(int(r[0]), Chunk.indexed(r[1], r[2])) for r in rows]
