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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExpertError, StoreError, WorkspaceError
from ..types import Chunk
from . import dense_index, derived, languages
from .base import (
    DocumentRecord,
    SearchFilter,
    StoreStats,
    keyword_terms,
    path_matches,
    read_text,
    store_text,
)
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
    "sqlite", "?", store_text, read_text, lambda blob: np.frombuffer(blob, dtype=np.float32), _translate,
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
# what the indexes beside the database are made of, for the chunk ids in the ``{}``
_VECTOR_ROWS = "SELECT id, doc_id, vector FROM chunks WHERE id IN ({})"
_ALL_VECTORS = "SELECT id, doc_id, vector FROM chunks ORDER BY id"
# the document's name and label, then the chunk's header and text (keyword_index.Row)
_KEYWORD_ROWS = (
    "SELECT c.id, c.doc_id, d.source || ' ' || d.label, c.header || char(10) || c.text"
    " FROM chunks c JOIN documents d ON d.id = c.doc_id"
)


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
        return list(self._by_chunk_ids(select + " WHERE c.id IN ({})", ids))

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

    # -- search -------------------------------------------------------------------------------
    def _load_vectors(self) -> None:
        if self.vectors.fresh(self.generation()):
            return
        self.db.execute("BEGIN")  # one snapshot for the generation, the log and the rows
        try:
            generation = self.generation()
            seq = self._log_seq() if self.logged else None
            if seq is not None and self.vectors.seq is not None and self._catch_up(self.vectors.seq, seq):
                self.vectors.generation = generation
                return
            count, width = self.db.execute("SELECT COUNT(*), MAX(length(vector)) FROM chunks").fetchone()
            rows = self.db.execute(_ALL_VECTORS)
            self.vectors.load(rows, count, (width or 0) // 4, generation, seq)
        finally:
            self.db.execute("COMMIT")

    def _by_chunk_ids(self, select: str, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """The rows of ``select`` (whose ``IN ({})`` takes the ids) for ``ids``, asked 500 at a
        time: under SQLite's limit on bound parameters."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            rows += self.db.execute(select.format(",".join("?" * len(part))), part).fetchall()
        return rows

    def _log_seq(self) -> int:
        """The number of the last log entry ever written (kept by SQLite even when the entries
        themselves have been cut)."""
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunk_log'").fetchone()
        return 0 if row is None else int(row[0])

    def _catch_up(self, since: int, seq: int) -> bool:
        """Apply the chunks the log names after ``since`` to the vector matrix; False (nothing
        applied) when the log no longer reaches back to ``since``, or when so much changed that
        loading every row is as cheap (a reindex)."""
        if seq == since:
            return True  # a write that changed no chunk (a summary, a setting)
        changed = self._changed_since(since, max(1000, len(self.vectors.ids) // 4))
        return changed is not None and self.vectors.apply(*self._rows_of(_VECTOR_ROWS, changed), seq)

    def _changed_since(self, since: int, limit: int) -> list[int] | None:
        """The chunk ids the log names after ``since``; None when it no longer reaches back that
        far (cut by optimize), or names more than ``limit`` (loading everything again is then as
        cheap)."""
        oldest = self.db.execute("SELECT MIN(seq) FROM chunk_log").fetchone()[0]
        if oldest is None or oldest > since + 1:
            return None
        changed = [
            int(r[0])
            for r in self.db.execute("SELECT DISTINCT chunk_id FROM chunk_log WHERE seq > ?", (since,))
        ]
        return None if len(changed) > limit else changed

    def _rows_of(self, select: str, changed: Sequence[int]) -> tuple[list[tuple[Any, ...]], list[int]]:
        """The rows ``select`` gives for the chunk ids ``changed`` (first column: the id), and the
        ids among them that have no row any more (deleted)."""
        rows = self._by_chunk_ids(select, changed)
        present = {int(r[0]) for r in rows}
        return rows, [i for i in changed if i not in present]

    def _chunk_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

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
        self._load_vectors()
        return self.vectors.search(vector, n, self._allowed_docs(where))

    def _dense_index(self) -> DenseIndex | None:
        """The IVF-PQ index with the changes since its generation applied, or None (the exact
        matrix answers) when the store has none usable: below its size, or behind a log cut."""
        index = self.dense
        if index is None:
            return None
        seq = self._log_seq()
        if index.opened and index.applied == seq:
            return index
        if index.unusable_at == seq:
            return None  # found unusable at this position already: not loaded again per search
        self.db.execute("BEGIN")  # one snapshot for the log position and the rows
        try:
            seq = self._log_seq()
            index.unusable_at = seq  # until it is found usable below
            recorded = index.recorded()
            if recorded is None:
                index.close()
                return None
            if (not index.opened or recorded["seq"] != index.seq) and not index.open():
                return None
            if not self._dense_catch_up(index, seq):
                index.close()
                return None
            if not index.verified:  # first use in this process: one count
                index.verified = index.live() == self._chunk_count()
                if not index.verified:
                    index.close()
                    return None
            index.unusable_at = None
        except (OSError, ValueError, RuntimeError):
            index.close()  # unreadable: the exact matrix answers, and optimize builds it again
            return None
        finally:
            self.db.execute("COMMIT")
        return index

    def _dense_catch_up(self, index: DenseIndex, seq: int) -> bool:
        since = index.applied
        if since is None or since > seq:
            return False
        if since == seq:
            return True
        changed = self._changed_since(since, max(1000, int(index.index.ntotal) // 4))
        return changed is not None and index.apply(*self._rows_of(_VECTOR_ROWS, changed), seq)

    def _maintain_dense_index(self) -> None:
        """After a bulk load: fold the changes into the dense index, or build it when there is
        none usable and the store has reached ``dense_index.MIN_CHUNKS``."""
        index = self.dense
        if index is None:
            return
        with index.locked() as mine:
            if not mine:
                return  # another process is at it
            self.db.execute("BEGIN")
            try:
                seq = self._log_seq()
                count = self._chunk_count()
                usable = index.open() and self._dense_catch_up(index, seq)
                # else rows were written behind the log's back, or the store outgrew its lists
                usable = usable and index.live() == count and not index.outgrown(count)
                if usable and index.pending() == 0:
                    pass  # up to date
                elif usable and index.pending() <= max(1000, count // 4):
                    index.persist(seq)
                elif count >= dense_index.MIN_CHUNKS:
                    (width,) = self.db.execute("SELECT MAX(length(vector)) FROM chunks").fetchone()
                    rows = self.db.execute(_ALL_VECTORS)
                    index.build(rows, count, int(width) // 4, seq)
                    index.open()
                else:
                    index.close()
                    derived.remove(index.path)  # too small now: the exact matrix answers
                index.verified = True
                index.unusable_at = None  # built or brought up to date: searches may use it
            finally:
                self.db.execute("COMMIT")

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

    def _keyword_index(self) -> KeywordIndex | None:
        """The tantivy index brought up to the store's last write, or None (FTS5 answers) when
        there is none and none can be made (a read-only copy, another process writing it)."""
        index = self.keyword
        if index is None:
            return None
        if index.opened and index.seq == self._log_seq():
            return index
        self.db.execute("BEGIN")  # one snapshot for the log position and the rows
        try:
            seq = self._log_seq()
            current = (index.opened or index.open()) and self._keyword_catch_up(index, seq)
            if current and not index.verified:  # first use in this process: one count
                current = index.verified = index.documents() == self._chunk_count()
            if not current and not self.read_only:
                current = index.rebuild(self.db.execute(_KEYWORD_ROWS), seq)
        except (OSError, ValueError):
            index.close()  # unreadable: FTS5 answers; the next search rebuilds it
            current = False
        finally:
            self.db.execute("COMMIT")
        return index if current else None

    def _keyword_catch_up(self, index: KeywordIndex, seq: int) -> bool:
        """Apply the chunks the log names after the index's position; False when that cannot be
        done (no position, a log cut past it, another process holding the lock) or is not worth
        it (more than a quarter of the chunks changed: a rebuild is cheaper)."""
        recorded = index.recorded_seq()
        if recorded is None or recorded > seq:
            return False
        if recorded == seq:
            index.reload(seq)
            return True
        if self.read_only:
            return False
        changed = self._changed_since(recorded, max(1000, index.documents() // 4))
        if changed is None:
            return False
        # read under the index's lock, only when this connection is the one to apply them
        return index.apply(
            recorded, lambda: self._rows_of(_KEYWORD_ROWS + " WHERE c.id IN ({})", changed), seq
        )

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
    def ingest_lock(self) -> Iterator[bool]:
        if self.read_only:  # nothing can be written: every writer fails on its own
            yield True
            return
        with derived.write_lock(self.path.with_name(self.path.name + ".ingest")) as held:
            yield held

    def optimize(self) -> None:
        if not self.read_only:
            self.db.execute("PRAGMA optimize")  # refreshes the planner's statistics where they drifted
            self._keyword_index()  # after a bulk load: the keyword index catches up (or is built) now
            self._maintain_dense_index()
            # the log keeps about one entry per stored chunk (at least 10,000): enough for readers
            # to catch up after ordinary ingests; one further behind loads every row instead
            keep = max(10_000, int(self._chunk_count() * LOG_PER_CHUNK))
            self.db.execute("DELETE FROM chunk_log WHERE seq <= ?", (self._log_seq() - keep,))

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
