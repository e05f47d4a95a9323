"""The embedded store: one SQLite database holding documents, chunks, an FTS5 index and vectors.

Each document is written in one transaction (WAL journal), so ``kill -9`` mid-ingest leaves the
database as it was before that document. Vectors are float32 blobs in the chunk rows; dense
search loads them once into a ``vectors.VectorMatrix`` and answers with a matrix product (exact
search: 100k x 384 takes milliseconds). The matrix is rebuilt when another process has written
since (``generation``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExpertError, StoreError, WorkspaceError
from ..types import Chunk
from . import derived, languages
from .base import (
    DocumentRecord,
    SearchFilter,
    StoreStats,
    keyword_terms,
    path_matches,
    read_text,
    store_text,
)
from .change_log import ChangeLog
from .dense_index import DenseIndex
from .keyword_index import KeywordIndex
from .relational import Dialect, RelationalStore, Rows
from .sqlite_errors import explain
from .vectors import VectorMatrix

SCHEMA_VERSION = "2"  # 2: chunk_log (a store of version 1 is brought to 2 when opened for writing)
# How the keyword index splits and stems words; routing's in-memory index of document names uses
# the same, so both match a word alike.
TOKENIZER = "porter unicode61 remove_diacritics 2"


def _translate(store: SQLiteStore, exc: Exception) -> ExpertError | None:
    return explain(store.path, exc) if isinstance(exc, sqlite3.DatabaseError) else None


DIALECT = Dialect(
    "?", store_text, read_text, lambda blob: np.frombuffer(blob, dtype=np.float32), _translate,
    serial="INTEGER PRIMARY KEY", bigint="INTEGER", vector_type="BLOB", vector_dims="length(vector) / 4.0",
)  # fmt: skip
ROWS = Rows(DIALECT)

_SCHEMA = (
    DIALECT.tables()
    + """
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    doc, header, text, tokenize = 'TOKENIZER'
);
-- Which chunks changed, in order, written by the same transaction as the change: what an index
-- kept beside the rows (the vector matrix of each reader) reads to catch up instead of loading
-- every row again. A chunk named here was added, deleted or given a new vector; its row now
-- says which. AUTOINCREMENT: a number is never reused, so "everything after N" stays exact.
CREATE TABLE IF NOT EXISTS chunk_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS chunk_log_insert AFTER INSERT ON chunks
    BEGIN INSERT INTO chunk_log(chunk_id) VALUES (new.id); END;
CREATE TRIGGER IF NOT EXISTS chunk_log_delete AFTER DELETE ON chunks
    BEGIN INSERT INTO chunk_log(chunk_id) VALUES (old.id); END;
CREATE TRIGGER IF NOT EXISTS chunk_log_vector AFTER UPDATE OF vector ON chunks
    BEGIN INSERT INTO chunk_log(chunk_id) VALUES (new.id); END;
""".replace("TOKENIZER", TOKENIZER)
)


# versions the schema script brings to SCHEMA_VERSION by itself (CREATE ... IF NOT EXISTS)
_UPGRADES = frozenset({"1"})
# the log is cut back to this many entries per stored chunk by ``optimize`` (a reader further
# behind than the cut loads every row again, as it would without a log)
LOG_PER_CHUNK = 1


def _fts_query(query: str) -> str:
    terms = keyword_terms(query)
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


class SQLiteStore(RelationalStore):
    """The default Store: ``path`` is the database file (created if missing).

    A database the process may not write (a shared read-only copy) is opened read-only: searches
    work, and a write says the workspace is read-only. Every error SQLite raises becomes one line
    that says whether the database is read-only, busy or damaged, and what to do.
    """

    ROWS = ROWS

    def __init__(self, path: Path):
        self.path = path
        if not path.exists() and os.access(path.parent, os.W_OK):
            # created readable by the owner only; SQLite gives its -wal and -shm files the same mode
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self.read_only = path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
        try:
            if self.read_only:
                # immutable: no -wal or -shm file can be made beside a file we may not write
                uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
                self.db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                self.db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            # the contract's path patterns, the same function on every backend
            self.db.create_function(
                "path_matches",
                3,
                lambda p, s, k: path_matches(p, read_text(s), read_text(k)),
                deterministic=True,
            )
            if not self.read_only:
                self.db.executescript(_SCHEMA)
            version = self.get_meta("schema_version")
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(
                f"{path} is not a usable workspace database ({exc}); restore it from a backup, or run "
                "expert init in a new folder and ingest again"
            ) from None
        if not self.read_only:  # names the store to the indexes kept beside it
            self.db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex,)
            )
        if (version is None or version in _UPGRADES) and not self.read_only:
            self.set_meta("schema_version", SCHEMA_VERSION)  # the schema script made what it lacked
        elif version is not None and version != SCHEMA_VERSION and version not in _UPGRADES:
            raise WorkspaceError(f"{path} has store schema {version}; this version reads {SCHEMA_VERSION}")
        # a read-only copy of a version-1 store has no log: its readers load every row instead
        self.logged = version not in _UPGRADES or not self.read_only
        self.log = ChangeLog(self.db, self.logged, self.read_only)
        self.vectors = VectorMatrix()
        # the indexes kept beside the database for large stores, derived from its rows and log
        store_id = self.get_meta("store_id") if self.logged else None
        self.keyword = KeywordIndex(path.with_name(path.name + ".keyword"), store_id) if store_id else None
        self.dense = DenseIndex(path.with_name(path.name + ".dense"), store_id) if store_id else None

    # -- the hooks of RelationalStore ------------------------------------------------------------
    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return self.db.execute(sql, args).fetchall()

    def _run(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.db.execute(sql, args)

    def _by_ids(self, select: str, ids: Sequence[int]) -> list[Sequence[Any]]:
        return list(self.log.rows(select + " WHERE c.id IN ({})", ids))

    @contextlib.contextmanager
    def _writing(self, bump: bool = True) -> Iterator[sqlite3.Cursor]:
        """A cursor in one write transaction; the generation moves with the commit (``bump``)."""
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
            if bump:
                cur.execute(
                    "INSERT INTO meta(key, value) VALUES ('generation', '1') "
                    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
                )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    # -- metadata -----------------------------------------------------------------------------

    def languages(self) -> dict[str, str]:
        return languages.recorded(self.all_meta())

    def set_language(self, collection: str, language: str) -> int:
        config = languages.text_search_config(language)
        if not languages.stems_like_sqlite(config):
            raise StoreError(
                f"the SQLite store has one keyword index for every collection, which stems English and "
                f"keeps the words of other scripts whole; it cannot index {language!r} ({config}): move "
                "the workspace to PostgreSQL (`expert store migrate --to postgresql://...`) for a "
                "language per collection, or leave --language out"
            )
        self.set_meta(languages.META_PREFIX + collection, config)
        return 0  # the index is the same for every language it takes: nothing to redo

    # -- documents ----------------------------------------------------------------------------
    def _put_chunks(
        self,
        cur: sqlite3.Cursor,
        doc_id: int,
        record: DocumentRecord,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
    ) -> None:
        rows = [
            (doc_id, c.ordinal, c.page, c.locator, c.header, c.text, c.tokens, vectors[i].tobytes())
            for i, c in enumerate(chunks)
        ]
        cur.executemany(
            "INSERT INTO chunks(doc_id, ordinal, page, locator, header, text, tokens, vector) VALUES (?,?,?,?,?,?,?,?)",
            rows,
        )
        cur.execute(
            "INSERT INTO chunks_fts(rowid, doc, header, text) SELECT id, ?, header, text FROM chunks WHERE doc_id = ?",
            (store_text(f"{record.source} {record.label}"), doc_id),
        )

    @staticmethod
    def _delete(cur: sqlite3.Cursor, keys: Sequence[str]) -> int:
        removed = 0
        for key in keys:
            row = cur.execute("SELECT id FROM documents WHERE key = ?", (store_text(key),)).fetchone()
            if row is None:
                continue
            cur.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?)", row)
            # a reindex's staged vector must not outlive its chunk: its id may be given to another
            cur.execute(
                "DELETE FROM staged_vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE doc_id = ?)", row
            )
            cur.execute("DELETE FROM documents WHERE id = ?", row)
            removed += 1
        for key in keys:
            cur.execute("DELETE FROM skipped WHERE key = ?", (store_text(key),))
        return removed

    # -- the indexes beside the rows (derived.DerivedIndex), following the change log -----------
    def _log_seq(self) -> int:
        return self.log.seq()

    def _dense_index(self) -> DenseIndex | None:
        """The IVF-PQ index brought up to date, or None (the exact matrix answers)."""
        return self.dense if self.dense is not None and self.dense.follow(self.log) else None

    def _keyword_index(self) -> KeywordIndex | None:
        """The tantivy index brought up to date, or None (FTS5 answers)."""
        return self.keyword if self.keyword is not None and self.keyword.follow(self.log) else None

    # -- search -------------------------------------------------------------------------------
    def _allowed_docs(self, where: SearchFilter) -> np.ndarray | None:
        """The ids of the documents inside ``where``, or None when it restricts nothing."""
        if where.unrestricted:
            return None
        sql, args = "SELECT id FROM documents WHERE 1=1", []
        if where.collection is not None:
            sql += " AND collection = ?"
            args.append(where.collection)
        if where.collections is not None:
            sql += " AND collection IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(sorted(where.collections)))
        if where.source is not None:
            sql += " AND path_matches(?, source, key)"
            args.append(where.source)
        return np.array([r[0] for r in self.db.execute(sql, args)], dtype=np.int64)

    def dense_search(self, vector: np.ndarray, n: int, where: SearchFilter) -> list[tuple[int, float]]:
        index = self._dense_index()
        if index is not None:
            if index.dim != len(vector):
                raise StoreError(
                    f"the query vector has {len(vector)} dimensions but the stored ones {index.dim}; "
                    "run `expert reindex`"
                )
            return index.search(vector, n, self._allowed_docs(where))
        self.vectors.follow(self.log)
        return self.vectors.search(vector, n, self._allowed_docs(where))

    def keyword_search(self, query: str, n: int, where: SearchFilter) -> list[tuple[int, float]]:
        terms = keyword_terms(query)
        if not terms:
            return []
        allowed = self._allowed_docs(where)
        if allowed is not None and not len(allowed):
            return []
        index = self._keyword_index()
        if index is not None:
            try:
                return index.search(terms, n, allowed)
            except (OSError, ValueError):
                index.close()  # damaged under us: FTS5 answers, the next search rebuilds it
        sql = "SELECT f.rowid, bm25(chunks_fts) AS s FROM chunks_fts f"
        args: list[Any] = []
        if allowed is not None:
            sql += " JOIN chunks c ON c.id = f.rowid WHERE c.doc_id IN (SELECT value FROM json_each(?)) AND"
            args.append(json.dumps(allowed.tolist()))
        else:
            sql += " WHERE"
        rows = self.db.execute(
            sql + " chunks_fts MATCH ? ORDER BY s LIMIT ?", [*args, _fts_query(query), n]
        ).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def term_counts(self, term: str, doc_ids: Sequence[int]) -> tuple[int, int]:
        index = self._keyword_index()
        if index is not None:
            try:
                counted = index.count(term, doc_ids)
            except (OSError, ValueError):
                counted = None
            if counted is not None:
                return counted
        match = '{header text} : "' + term.replace('"', '""') + '"'
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(c.doc_id IN (SELECT value FROM json_each(?))), 0)"
            " FROM chunks_fts f JOIN chunks c ON c.id = f.rowid WHERE chunks_fts MATCH ?",
            (json.dumps([int(i) for i in doc_ids]), match),
        ).fetchone()
        return int(row[1]), int(row[0])

    # -- maintenance --------------------------------------------------------------------------
    def replace_vectors(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._writing() as cur:
            cur.executemany(
                "UPDATE chunks SET vector = ? WHERE id = ?",
                [(v.tobytes(), i) for i, v in zip(ids, vectors, strict=True)],
            )

    def stage_vectors(self, tag: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._writing(bump=False) as cur:  # staged vectors change no search
            cur.execute("DELETE FROM staged_vectors WHERE tag != ?", (tag,))
            cur.executemany(
                "INSERT OR REPLACE INTO staged_vectors(chunk_id, tag, vector) VALUES (?, ?, ?)",
                [(i, tag, v.tobytes()) for i, v in zip(ids, vectors, strict=True)],
            )

    def commit_staged(self, tag: str, meta: dict[str, str] | None = None) -> int:
        with self._writing() as cur:
            cur.execute(
                "UPDATE chunks SET vector = (SELECT s.vector FROM staged_vectors s WHERE s.chunk_id = chunks.id)"
                " WHERE id IN (SELECT chunk_id FROM staged_vectors WHERE tag = ?)",
                (tag,),
            )
            changed = cur.rowcount
            cur.execute("DELETE FROM staged_vectors")
            for key, value in (meta or {}).items():
                cur.execute(ROWS.upsert_meta, (key, value))
        return int(changed)

    @contextlib.contextmanager
    def ingest_lock(self, keys: Collection[str] | None = None) -> Iterator[bool]:
        # one writer at a time whatever it writes: SQLite takes one write transaction at a time
        if self.read_only:  # nothing can be written: every writer fails on its own
            yield True
            return
        with derived.write_lock(self.path.with_name(self.path.name + ".ingest")) as held:
            yield held

    def optimize(self) -> None:
        if not self.read_only:
            self.db.execute("PRAGMA optimize")  # refreshes the planner's statistics where they drifted
            self._keyword_index()  # after a bulk load: the keyword index catches up (or is built) now
            if self.dense is not None:
                self.dense.maintain(self.log)
            # the log keeps about one entry per stored chunk (at least 10,000): enough for readers
            # to catch up after ordinary ingests; one further behind loads every row instead
            keep = max(10_000, int(self.log.chunk_count() * LOG_PER_CHUNK))
            self.db.execute("DELETE FROM chunk_log WHERE seq <= ?", (self.log.seq() - keep,))

    def stats(self) -> StoreStats:
        documents, chunks, tokens = self.db.execute(
            "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks),"
            " (SELECT COALESCE(SUM(tokens), 0) FROM chunks)"
        ).fetchone()
        size = sum(
            f.stat().st_size
            for p in self.path.parent.glob(self.path.name + "*")
            for f in ([p] if p.is_file() else p.rglob("*"))
            if f.is_file()
        )
        return StoreStats(documents, chunks, tokens, size)

    def check(self) -> list[str]:
        """Problems found by SQLite's own check and by cross-checking chunks, index and vectors."""
        problems = [r[0] for r in self.db.execute("PRAGMA quick_check") if r[0] != "ok"]
        chunks = self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        indexed = self.db.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0]
        if chunks != indexed:
            problems.append(f"{chunks} chunks but {indexed} keyword-index rows")
        orphans = self.db.execute(
            "SELECT COUNT(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} chunks without a document")
        return problems + self._row_problems()

    def close(self) -> None:
        if self.keyword is not None:
            self.keyword.close()
        self.db.close()
