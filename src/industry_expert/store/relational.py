"""One relational store over two dialects: what SQLite and PostgreSQL share, written once.

Both hold the same tables (``documents``, ``chunks``, ``skipped``, ``staged_vectors``, ``meta``).
A ``Dialect`` says what differs: the placeholder, how a file name's undecodable bytes are written
into text (each backend's reversible encoding, kept as it is on disk), how a vector column reads
back, the tables' types and the driver's errors. ``Rows`` holds the shared statements and turns
their rows into the contract's types; ``RelationalStore`` writes the contract's methods that are
the same SQL on both, so each backend keeps only its connection, transactions, full-text and
vector search.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import ExpertError, StoreError
from ..types import Chunk, Hit
from .base import DocumentRecord, StoredDocument, path_matches


def _same(text: str) -> str:
    return text


@dataclass(frozen=True)
class Dialect:
    """What one database needs that the other does not, for the shared row mapping."""

    param: str  # the placeholder: "?" or "%s"
    encode: Callable[[str], str]  # a path or title into a text column
    decode: Callable[[str], str]  # and back
    vector: Callable[[Any], np.ndarray]  # a vector column's value as float32
    # the driver's error as one line (None: not the driver's), for the store it came from
    translate: Callable[[Any, Exception], ExpertError | None]
    # the shared tables' types: a generated key, a 64-bit integer, a vector column; the chunk
    # columns only this database has; what ties a staged vector to its chunk, and how staged
    # vectors are keyed (PostgreSQL: by document too, so Citus can co-locate them with chunks)
    serial: str
    bigint: str
    vector_type: str
    chunk_columns: str = ""
    staged_reference: str = ""
    staged_key: str = "PRIMARY KEY"
    staged_columns: str = ""
    clean: Callable[[str], str] = _same  # text a column cannot hold taken out (PostgreSQL: NUL)
    vector_dims: str = "vector_dims(vector)"  # a stored vector's dimension, in SQL

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
            staged_key=self.staged_key,
            staged_columns=self.staged_columns,
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
    chunk_id {bigint} {staged_key}{staged_reference},
    tag TEXT NOT NULL,
    vector {vector} NOT NULL{staged_columns}
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
        self.upsert_meta = f"INSERT INTO meta(key, value) VALUES ({p}, {p}) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        self.upsert_skipped = (
            f"INSERT INTO skipped(key, source, reason, seen_at) VALUES ({dialect.params(4)}) ON CONFLICT (key)"
            " DO UPDATE SET source = excluded.source, reason = excluded.reason, seen_at = excluded.seen_at"
        )
        self.touch_document = f"UPDATE documents SET mtime_ns = {p}, source = {p}, metadata = COALESCE({p}, metadata) WHERE key = {p}"

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


class RelationalStore:
    """The contract's methods that are the same SQL on SQLite and PostgreSQL, over a few hooks.

    A backend sets ``ROWS`` (its dialect's row mapping) and provides ``_all`` (a read's rows),
    ``_run`` (one statement, committed), ``_by_ids`` (rows of a statement for many chunk ids),
    ``_writing`` (a transaction that moves the store's generation when it commits), ``_delete``
    (what removing documents takes there: an index beside the rows, or a cascade) and
    ``_put_chunks`` (a document's chunks and their keyword index entries). Its driver's
    errors become one line each through ``Dialect.translate``, for every public method, its own
    and these alike.
    """

    ROWS: ClassVar[Rows]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in dir(cls):
            method = getattr(cls, name)
            if (
                name.startswith("_")
                or name == "close"
                or not callable(method)
                or hasattr(method, "translated")
            ):
                continue
            setattr(cls, name, _translated(method))

    # -- what each backend provides ------------------------------------------------------------
    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        raise NotImplementedError

    def _run(self, sql: str, args: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def _by_ids(self, select: str, ids: Sequence[int]) -> list[Sequence[Any]]:
        """The rows of ``select`` (ending in a condition on ``c.id``, completed here) for ``ids``."""
        raise NotImplementedError

    def _writing(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _delete(self, tx: Any, keys: Sequence[str]) -> int:
        raise NotImplementedError

    def _put_chunks(
        self, tx: Any, doc_id: int, record: DocumentRecord, chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> None:
        """Insert a new document's chunks and index them for keyword search, inside ``tx``."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    def _one(self, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None:
        rows = self._all(sql, args)
        return rows[0] if rows else None

    def get_meta(self, key: str) -> str | None:
        row = self._one(f"SELECT value FROM meta WHERE key = {self.ROWS.dialect.param}", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._run(self.ROWS.upsert_meta, (key, value))

    def all_meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._all("SELECT key, value FROM meta")}

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def put_document(self, record: DocumentRecord, chunks: Sequence[Chunk], vectors: np.ndarray) -> int:
        """Replace the document ``record.key`` and all its chunks in one transaction."""
        if len(chunks) != len(vectors):
            raise StoreError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._writing() as tx:
            self._delete(tx, [record.key])
            row = tx.execute(
                self.ROWS.insert_document + " RETURNING id", self.ROWS.document_values(record, len(chunks))
            )
            doc_id = int(row.fetchone()[0])
            self._put_chunks(tx, doc_id, record, chunks, vectors)
        return doc_id

    def get_document(self, key: str) -> StoredDocument | None:
        row = self._one(self.ROWS.document_by_key, (self.ROWS.dialect.encode(key),))
        return None if row is None else self.ROWS.document(row)

    def list_documents(self, pattern: str | None = None) -> list[StoredDocument]:
        docs = sorted(
            (self.ROWS.document(r) for r in self._all(self.ROWS.select_document)), key=lambda d: d.source
        )
        return [d for d in docs if not pattern or path_matches(pattern, d.source, d.key)]

    def touch_document(
        self, key: str, source: str, mtime_ns: int, metadata: dict[str, str] | None = None
    ) -> None:
        encode = self.ROWS.dialect.encode
        self._run(
            self.ROWS.touch_document,
            (mtime_ns, encode(source), None if metadata is None else json.dumps(metadata), encode(key)),
        )

    def record_skipped(self, key: str, source: str, reason: str | None) -> None:
        """Remember why ``key`` was last skipped, or forget it (``reason=None``) once it loads."""
        encode, clean = self.ROWS.dialect.encode, self.ROWS.dialect.clean
        if reason is None:
            self._run(f"DELETE FROM skipped WHERE key = {self.ROWS.dialect.param}", (encode(key),))
        else:
            self._run(self.ROWS.upsert_skipped, (encode(key), encode(source), encode(clean(reason)), now()))

    def list_skipped(self, pattern: str | None = None) -> list[tuple[str, str, str]]:
        """``(key, source, reason)`` of files the last ingests could not use."""
        decode = self.ROWS.dialect.decode
        found = sorted(
            (
                (decode(k), decode(s), decode(r))
                for k, s, r in self._all("SELECT key, source, reason FROM skipped")
            ),
            key=lambda r: r[1],
        )
        return [r for r in found if not pattern or path_matches(pattern, r[1], r[0])]

    def delete_documents(self, keys: Sequence[str]) -> int:
        with self._writing() as tx:
            return self._delete(tx, keys)

    def set_summary(self, key: str, summary: str | None) -> None:
        """Store (or clear) the summary of document ``key``; a replaced document loses its summary."""
        dialect = self.ROWS.dialect
        self._run(
            f"UPDATE documents SET summary = {dialect.param} WHERE key = {dialect.param}",
            (None if summary is None else dialect.clean(summary), dialect.encode(key)),
        )

    def document_chunks(self, key: str) -> list[tuple[int | None, str]]:
        """``(page, text)`` of the chunks of document ``key``, in reading order."""
        return [(r[0], r[1]) for r in self._all(self.ROWS.document_chunks, (self.ROWS.dialect.encode(key),))]

    def export_document(self, key: str) -> tuple[DocumentRecord, list[Chunk], np.ndarray] | None:
        doc = self._one(self.ROWS.record_by_key, (self.ROWS.dialect.encode(key),))
        if doc is None:
            return None
        return self.ROWS.exported(doc, self._all(self.ROWS.export_chunks, (doc[0],)))

    def get_chunks(self, ids: Sequence[int]) -> list[Hit]:
        return self.ROWS.hits(ids, self._by_ids(self.ROWS.hits_from, ids)) if ids else []

    def all_chunks(self) -> list[tuple[int, str]]:
        return self.ROWS.indexed(self._all(self.ROWS.indexed_texts))

    def _row_problems(self) -> list[str]:
        """What the rows themselves may get wrong, the same on every database: a document's chunk
        count against its chunks, and vectors of another dimension than the embedder's."""
        problems = []
        (counted,) = self._one(
            "SELECT COUNT(*) FROM documents d WHERE chunks != (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id)"
        ) or (0,)
        if counted:
            problems.append(f"{counted} documents whose chunk count does not match their chunks")
        dim = self.get_meta("embedder_dim")
        if dim:
            sql = f"SELECT COUNT(*) FROM chunks WHERE {self.ROWS.dialect.vector_dims} != {self.ROWS.dialect.param}"
            (bad,) = self._one(sql, (int(dim),)) or (0,)
            if bad:
                problems.append(f"{bad} vectors not of dimension {dim}")
        return problems

    def staged(self, tag: str) -> set[int]:
        sql = f"SELECT chunk_id FROM staged_vectors WHERE tag = {self.ROWS.dialect.param}"
        return {int(r[0]) for r in self._all(sql, (tag,))}


def _translated(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` with its driver's errors raised as the dialect's one-line ``ExpertError``."""

    @functools.wraps(method)
    def call(self: RelationalStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ExpertError:
            raise
        except Exception as exc:
            translated = self.ROWS.dialect.translate(self, exc)
            if translated is None:
                raise
            raise translated from None

    call.translated = True  # type: ignore[attr-defined]
    return call
