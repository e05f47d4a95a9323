"""A store in PostgreSQL with pgvector: the same contract as the SQLite store, for a team's server.

``[store] url = "postgresql://user@db.internal/expert"`` (or ``EXPERT_STORE_URL``) puts a
workspace's documents, chunks, keyword index and vectors in that database; the workspace folder
keeps its settings. Several processes and machines may read and write at once:

- **One document, one transaction.** ``put_document`` deletes the old version and writes the new
  one (document row, chunks with their vectors and ``tsvector``) in one transaction; a killed
  process's transaction is rolled back by the server, so no half document is ever seen.
- **Writers serialize on one row.** Every write ends by bumping ``meta.generation`` in its own
  transaction: the row lock orders concurrent writers (two ingests into different collections
  interleave document by document) and readers key their caches on the committed value.
- **Search in the database.** Dense: pgvector's cosine distance (``<=>``), exact below
  ``HNSW_MIN_CHUNKS`` and through an HNSW index over half-precision vectors above it (``optimize``
  builds it after a bulk load). Keyword: a ``tsvector`` per chunk in a GIN index, ranked as
  BM25 ranks (``pg_keywords``).
- **A language per collection** (``set_language``, ``store.languages``): a collection's words are
  reduced to terms by its text-search configuration (``english`` unless one is recorded, which
  stems as the SQLite store's Porter tokenizer does and keeps words of other scripts whole;
  ``simple`` for languages PostgreSQL has no stemmer for), and a query by each configuration of
  the collections it searches.
- **Errors as one line**: an unreachable server, refused credentials, a database without the
  vector extension and no right to create it, a query vector of another dimension.

Connections come from a ``psycopg_pool.ConnectionPool`` (one per store), so the threads of a
server share it without a lock of their own.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, ExpertError, StoreError, StoreUnreachableError, WorkspaceError
from ..types import Chunk
from . import languages, pg_keywords
from .base import (
    DocumentRecord,
    SearchFilter,
    StoreStats,
    keyword_terms,
    path_matches,
)
from .pg_keywords import KeywordSearch
from .relational import Dialect, RelationalStore, Rows

SCHEMA_VERSION = "2"  # 2: staged vectors keyed by document too (store/citus.py co-locates them)
# Dense search is exact below this many chunks and uses an HNSW index above it, built once by
# ``optimize`` after a bulk load over the vectors cast to half precision (an expression index:
# the column keeps float32). ``ef_search`` is the candidate list a query walks.
HNSW_MIN_CHUNKS = 5_000  # exact search takes 38 ms at 10k chunks, the index 1.1 ms (docs/benchmarks.md)
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64
# advisory locks: the store's ingest lock, the space of one lock per document, and the optimize
INGEST_LOCK, DOCUMENT_LOCKS, OPTIMIZE_LOCK = (
    "industry_expert.ingest",
    "industry_expert.document",
    "industry_expert.optimize",
)
MAX_DOCUMENT_LOCKS = 1_000  # beyond it an ingest locks the store (each lock is a slot in shared memory)


def ef_search(chunks: int, n: int = 10) -> int:
    """The HNSW candidate list for a store of ``chunks``: 100 up to 100k chunks (recall@10 0.997
    at 10k, 0.991 at 100k), growing in proportion beyond, to pgvector's most of 1,000 at 1M
    (recall@10 there: 0.87 at 200, 0.94 at 400, 0.98 at 800, 0.99 at 1,000, each about 11 ms
    warm; docs/benchmarks.md), and never fewer than ``n`` up to that most (beyond, the iterative
    scan walks on until ``n`` are found).

    >>> ef_search(10_000), ef_search(300_000), ef_search(1_000_000), ef_search(10, 500), ef_search(10, 5000)
    (100, 300, 1000, 500, 1000)
    """
    return min(1000, max(n, int(100 * max(1.0, chunks / 100_000))))


_ESCAPE = re.compile("\x01(\x01|[0-9a-f]{2})")
_SURROGATE = re.compile("[\udc80-\udcff]")


def pg_text(text: str) -> str:
    r"""``text`` as PostgreSQL takes it: no NUL, valid UTF-8. A file name's undecodable byte (a
    lone surrogate) becomes U+0001 and two hex digits, and a U+0001 of its own is doubled, so
    ``db_text`` gives back exactly what was stored.

    >>> db_text(pg_text("caf\udce9\x01.txt")) == "caf\udce9\x01.txt"
    True
    """
    return _SURROGATE.sub(lambda m: f"\x01{ord(m.group()) - 0xDC00:02x}", text.replace("\x01", "\x01\x01"))


def db_text(text: str) -> str:
    """The text ``pg_text`` was given."""
    if "\x01" not in text:
        return text
    return _ESCAPE.sub(lambda m: "\x01" if m.group(1) == "\x01" else chr(0xDC00 + int(m.group(1), 16)), text)


def _clean(text: str) -> str:
    return text.replace("\x00", "")  # PostgreSQL text holds no NUL; a passage loses nothing by it


def where_to(url: str) -> str:
    """``user@host:port/dbname`` of a connection URL, without its password, for messages."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - a URL psycopg cannot parse is named as given, less any password
        return re.sub(r"://([^:/@]*):[^@]*@", r"://\1@", url)
    host = info.get("host") or "localhost"
    port = info.get("port") or "5432"
    user = f"{info['user']}@" if info.get("user") else ""
    return f"{user}{host}:{port}/{info.get('dbname') or ''}"


def explain(url: str, exc: Exception) -> ExpertError:
    """One line for an error the server or the driver raised, saying what to do."""
    import psycopg

    text = " ".join(str(exc).split())
    place = where_to(url)
    if isinstance(exc, psycopg.OperationalError):
        if "password authentication failed" in text or "role" in text and "does not exist" in text:
            return WorkspaceError(
                f"PostgreSQL at {place} refused the credentials ({text}); fix the user or password in "
                "store.url (or EXPERT_STORE_URL), or put the password in ~/.pgpass"
            )
        if "database" in text and "does not exist" in text:
            return WorkspaceError(
                f"PostgreSQL at {place} has no such database ({text}); create it (createdb) or fix store.url"
            )
        return StoreUnreachableError(
            f"cannot reach PostgreSQL at {place} ({text}); start the server or fix store.url "
            "(or EXPERT_STORE_URL), then run the command again",
            text,
        )
    if "different vector dimensions" in text or "expected" in text and "dimensions" in text:
        return StoreError(
            f"the query vector's dimensions differ from the stored ones ({text}); run `expert reindex`"
        )
    return StoreError(f"PostgreSQL at {place} failed: {text}")


def _vector(value: Any) -> np.ndarray:
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)


def _translate(store: PostgresStore, exc: Exception) -> ExpertError | None:
    import psycopg

    return explain(store.url, exc) if isinstance(exc, psycopg.Error) else None


DIALECT = Dialect(
    "%s", pg_text, db_text, _vector, _translate,
    serial="BIGSERIAL PRIMARY KEY", bigint="BIGINT", vector_type="vector", chunk_columns=",\n    tsv tsvector NOT NULL",
    staged_reference=" REFERENCES chunks(id) ON DELETE CASCADE", staged_key="NOT NULL",
    staged_columns=",\n    doc_id BIGINT NOT NULL,\n    PRIMARY KEY (doc_id, chunk_id)", clean=_clean,
)  # fmt: skip
ROWS = Rows(DIALECT)

_SCHEMA = (
    DIALECT.tables()
    + """
CREATE INDEX IF NOT EXISTS chunks_tsv ON chunks USING GIN (tsv);
INSERT INTO meta(key, value) VALUES ('generation', '0') ON CONFLICT (key) DO NOTHING;
"""
)


def _upgrade_from_1(conn: Any) -> None:
    """Schema 1 to 2, in the caller's transaction: staged vectors gain their document (a
    reindex staged under 1 keeps what it staged)."""
    conn.execute("ALTER TABLE staged_vectors ADD COLUMN doc_id BIGINT")
    conn.execute("UPDATE staged_vectors s SET doc_id = c.doc_id FROM chunks c WHERE c.id = s.chunk_id")
    conn.execute("ALTER TABLE staged_vectors ALTER COLUMN doc_id SET NOT NULL")
    conn.execute("ALTER TABLE staged_vectors DROP CONSTRAINT staged_vectors_pkey")
    conn.execute("ALTER TABLE staged_vectors ADD PRIMARY KEY (doc_id, chunk_id)")
    conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (SCHEMA_VERSION,))


class PostgresStore(RelationalStore):
    """The Store contract over one PostgreSQL database with the pgvector extension."""

    ROWS = ROWS

    hnsw_min_chunks = HNSW_MIN_CHUNKS

    def __init__(self, url: str, pool_size: int = 4, read_only: bool = False, wait_s: float = 30.0):
        """``read_only``: a streaming replica (``store.read_url``), whose schema the primary
        makes; ``wait_s``: how long a call waits for a connection before it fails."""
        import psycopg
        from psycopg_pool import ConnectionPool

        self.url = url
        self.read_only = read_only
        # what searches need of the whole store, read again when its generation moves
        self.keywords = KeywordSearch()
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                self._check_replica(conn) if read_only else self._prepare(conn)
        except psycopg.Error as exc:
            raise explain(url, exc) from None
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=wait_s,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(wait_s))},
            configure=self._configure,
            open=True,
            name="industry-expert",
        )

    @staticmethod
    def _configure(conn: Any) -> None:
        from pgvector.psycopg import register_vector

        register_vector(conn)

    def _prepare(self, conn: Any) -> None:
        """The vector extension and the schema, created where missing; the schema version checked."""
        import psycopg

        present = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
        if present is None:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise WorkspaceError(
                    f"the database at {where_to(self.url)} has no pgvector extension and this user may "
                    f"not create it ({' '.join(str(exc).split())}); ask its administrator to run "
                    "CREATE EXTENSION vector; in it, or install pgvector on the server"
                ) from None
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('industry_expert.schema'))")
            conn.execute(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', %s)", (SCHEMA_VERSION,))
            elif row[0] == "1":
                _upgrade_from_1(conn)
            elif row[0] != SCHEMA_VERSION:
                raise WorkspaceError(
                    f"the database at {where_to(self.url)} has store schema {row[0]}; this version reads "
                    f"{SCHEMA_VERSION}"
                )

    def _check_replica(self, conn: Any) -> None:
        """A replica is read as it is: it must be one, and hold a store of this schema."""
        if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            raise ConfigError(
                f"store.read_url: PostgreSQL at {where_to(self.url)} is not a replica (pg_is_in_recovery() is "
                "false); name a streaming replica of the primary, or leave read_url empty"
            )
        present = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]
        row = (
            conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if present
            else None
        )
        if row is None or row[0] != SCHEMA_VERSION:
            raise ConfigError(
                f"store.read_url: the replica at {where_to(self.url)} holds no store of schema {SCHEMA_VERSION} "
                "(is it a replica of store.url's database?)"
            )

    # -- replication (store/replica.py) -----------------------------------------------------------
    def system_id(self) -> int:
        """The cluster's identifier, the same on a primary and its physical replicas."""
        with self.pool.connection() as conn:
            return int(conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0])

    def wal_position(self) -> str:
        """The primary's current WAL position."""
        with self.pool.connection() as conn:
            return str(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])

    def replayed(self, lsn: str) -> bool:
        """Whether this replica has replayed the WAL up to ``lsn``."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()
        return bool(row[0])

    def replay_state(self) -> tuple[str, float | None]:
        """The WAL position this replica has replayed to, and the seconds since the last
        transaction it replayed."""
        with self.pool.connection() as conn:
            lsn, age = conn.execute(
                "SELECT pg_last_wal_replay_lsn()::text,"
                " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8"
            ).fetchone()
        return str(lsn), None if age is None else float(age)

    # -- the hooks of RelationalStore ------------------------------------------------------------
    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        with self.pool.connection() as conn:
            return conn.execute(sql, args).fetchall()  # type: ignore[no-any-return]

    def _run(self, sql: str, args: Sequence[Any] = ()) -> None:
        with self.pool.connection() as conn:
            conn.execute(sql, args)

    def _by_ids(self, select: str, ids: Sequence[int]) -> list[Sequence[Any]]:
        return self._all(select + " WHERE c.id = ANY(%s)", ([int(i) for i in ids],))

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Any]:
        """A connection inside one transaction that ends by bumping the generation."""
        with self.pool.connection() as conn, conn.transaction():
            yield conn
            conn.execute("UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation'")

    # -- meta ---------------------------------------------------------------------------------
    # -- documents ----------------------------------------------------------------------------
    def _put_chunks(
        self, conn: Any, doc_id: int, record: DocumentRecord, chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> None:
        """The chunks and their keyword index entries, in the collection's language."""
        config = pg_keywords.language(conn, record.collection)
        name = _clean(pg_text(f"{record.source} {record.label}"))
        with conn.cursor() as cur:
            # named values: psycopg sends each once, however often the statement uses it
            cur.executemany(
                "INSERT INTO chunks(doc_id, ordinal, page, locator, header, text, tokens, vector, tsv)"
                " VALUES (%(doc)s, %(ordinal)s, %(page)s, %(locator)s, %(header)s, %(text)s, %(tokens)s,"
                f" %(vector)s, {pg_keywords.TSVECTOR.format(name='%(name)s', header='%(header)s', text='%(text)s')})",
                [
                    {
                        "doc": doc_id,
                        "ordinal": c.ordinal,
                        "page": c.page,
                        "locator": c.locator,
                        "header": _clean(c.header),
                        "text": _clean(c.text),
                        "tokens": c.tokens,
                        "vector": vectors[i],
                        "name": name,
                        "config": config,
                    }
                    for i, c in enumerate(chunks)
                ],
            )

    @staticmethod
    def _delete(conn: Any, keys: Sequence[str]) -> int:
        stored = [pg_text(k) for k in keys]
        # chunks, their index entries and staged vectors go with the document (ON DELETE CASCADE)
        removed = conn.execute("DELETE FROM documents WHERE key = ANY(%s)", (stored,)).rowcount
        conn.execute("DELETE FROM skipped WHERE key = ANY(%s)", (stored,))
        return int(removed)

    # -- search -------------------------------------------------------------------------------
    def _allowed_docs(self, conn: Any, where: SearchFilter) -> list[int] | None:
        """The ids of the documents inside ``where``, or None when it restricts nothing."""
        if where.unrestricted:
            return None
        sql = "SELECT id, source, key FROM documents WHERE TRUE"
        args: list[Any] = []
        if where.collection is not None:
            sql += " AND collection = %s"
            args.append(where.collection)
        if where.collections is not None:
            sql += " AND collection = ANY(%s)"
            args.append(sorted(where.collections))
        rows = conn.execute(sql, args).fetchall()
        if where.source is None:
            return [int(r[0]) for r in rows]
        return [int(r[0]) for r in rows if path_matches(where.source, db_text(r[1]), db_text(r[2]))]

    @staticmethod
    def _hnsw_indexes(conn: Any) -> dict[str, int]:
        """``{index name: dimension}`` of the HNSW indexes on the chunks' vectors."""
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'chunks' AND indexname LIKE 'chunks_hnsw_%%'"
        ).fetchall()
        return {r[0]: int(r[0].rsplit("_", 1)[1]) for r in rows}

    def dense_search(self, vector: np.ndarray, n: int, where: SearchFilter) -> list[tuple[int, float]]:
        query = np.asarray(vector, dtype=np.float32)
        with self.pool.connection() as conn, conn.transaction():
            self.keywords.refresh(conn)
            allowed = self._allowed_docs(conn, where)
            if allowed is not None and not allowed:
                return []
            dims = set(self._hnsw_indexes(conn).values())
            if len(dims) == 1 and (dim := dims.pop()) == len(query):
                # the index: half precision, a candidate list growing with the store; a filter keeps
                # walking the graph until n pass it (pgvector 0.8's iterative scan), in roughly
                # ranked order
                column, probe = f"(vector::halfvec({dim}))", f"%s::halfvec({dim})"
                conn.execute(f"SET LOCAL hnsw.ef_search = {ef_search(self.keywords.chunk_count, n)}")
                conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            else:
                column, probe = "vector", "%s"
            sql = f"SELECT id, 1 - ({column} <=> {probe}) FROM chunks"
            args: list[Any] = [query]
            if allowed is not None:
                sql += " WHERE doc_id = ANY(%s)"
                args.append(allowed)
            rows = conn.execute(
                sql + f" ORDER BY {column} <=> {probe} LIMIT %s", [*args, query, n]
            ).fetchall()
        found = [(int(r[0]), float(r[1])) for r in rows]
        return sorted(found, key=lambda hit: -hit[1])

    @contextlib.contextmanager
    def ingest_lock(self, keys: Collection[str] | None = None) -> Iterator[bool]:
        # session-level advisory locks on a connection held for the whole ingest: PostgreSQL
        # releases them when that connection ends, however their holder died. An ingest of named
        # documents shares the store's lock and holds one lock per document, so workers ingesting
        # other documents run beside it; one of any document (a prune), or of more documents than
        # is sensible to lock one by one, holds the store's lock alone.
        exclusive = keys is None or len(keys) > MAX_DOCUMENT_LOCKS
        with self.pool.connection() as conn:
            try:
                (held,) = conn.execute(
                    f"SELECT pg_try_advisory_lock{'' if exclusive else '_shared'}(hashtext('{INGEST_LOCK}'))"
                ).fetchone() or (False,)
                if held and not exclusive:
                    (held,) = conn.execute(
                        "SELECT COALESCE(bool_and(pg_try_advisory_lock(hashtext(%s), hashtext(k))), true)"
                        " FROM unnest(%s::text[]) AS k",
                        (DOCUMENT_LOCKS, sorted(keys or ())),
                    ).fetchone() or (False,)
                yield bool(held)
            finally:
                conn.execute("SELECT pg_advisory_unlock_all()")  # this connection holds no other

    def optimize(self) -> None:
        """VACUUM and ANALYZE the chunks, and build the HNSW index once the store holds
        ``hnsw_min_chunks`` vectors of one dimension (``CREATE INDEX CONCURRENTLY``: searches and
        writes go on meanwhile; inserts afterwards maintain it)."""
        dim = self.get_meta("embedder_dim")
        with self.pool.connection() as conn:
            # one optimize at a time: two ingests ending together would each take the other's
            # index build in progress (not yet valid) for one a killed build left, and drop it
            (mine,) = conn.execute(
                f"SELECT pg_try_advisory_lock(hashtext('{OPTIMIZE_LOCK}'))"
            ).fetchone() or (False,)
            if not mine:
                return  # another ingest is optimizing; whatever it leaves, the next optimize does
            try:
                self._optimize(conn, dim)
            finally:
                conn.execute(f"SELECT pg_advisory_unlock(hashtext('{OPTIMIZE_LOCK}'))")

    def _optimize(self, conn: Any, dim: str | None) -> None:
        import psycopg

        # what a bulk load wants: planner statistics, and the visibility map set, so searches
        # do not meet autovacuum's work (or hint-bit writes) right after an ingest
        conn.execute("VACUUM (ANALYZE) chunks")
        if not dim:
            return
        name = f"chunks_hnsw_{int(dim)}"
        indexes = self._hnsw_indexes(conn)
        invalid = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE NOT i.indisvalid AND c.relname LIKE 'chunks_hnsw_%%'"
            )
        }
        # one made for another embedder's dimension, or left invalid by a build that was killed
        for other in (indexes.keys() - {name}) | invalid:
            conn.execute(f'DROP INDEX IF EXISTS "{other}"')
            indexes.pop(other, None)
        (count,) = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()
        if name in indexes or count < self.hnsw_min_chunks:
            return
        # the graph should fit in memory while it is built (about 1.2 KB a vector at m = 16;
        # beyond it pgvector builds on, far slower): up to 4 GB for this session only
        memory_mb = min(4096, max(256, int(count * 1.5 / 1024)))
        conn.execute(f"SET maintenance_work_mem = '{memory_mb}MB'")
        # only the tables' owner may index them; for anyone else searches stay exact until it runs
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON chunks USING hnsw"
                f" ((vector::halfvec({int(dim)})) halfvec_cosine_ops)"
                f" WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
            )

    # -- keyword search and languages (pg_keywords) ----------------------------------------------
    def keyword_search(self, query: str, n: int, where: SearchFilter) -> list[tuple[int, float]]:
        """Chunks holding any term, ranked as BM25 ranks them (``pg_keywords``)."""
        terms = keyword_terms(query)
        if not terms:
            return []
        with self.pool.connection() as conn:
            self.keywords.refresh(conn)
            allowed = self._allowed_docs(conn, where)
            if allowed is not None and not allowed:
                return []
            return self.keywords.search(conn, terms, n, where, allowed)

    def term_counts(self, term: str, doc_ids: Sequence[int]) -> tuple[int, int]:
        with self.pool.connection() as conn:
            self.keywords.refresh(conn)
            return self.keywords.term_counts(conn, term, doc_ids)

    def languages(self) -> dict[str, str]:
        return languages.recorded(self.all_meta())

    def set_language(self, collection: str, language: str) -> int:
        config = languages.text_search_config(language)
        with self._writing() as conn:
            if conn.execute("SELECT 1 FROM pg_ts_config WHERE cfgname = %s", (config,)).fetchone() is None:
                known = ", ".join(r[0] for r in conn.execute("SELECT cfgname FROM pg_ts_config ORDER BY 1"))
                raise StoreError(
                    f"PostgreSQL at {where_to(self.url)} has no text-search configuration {config!r} for "
                    f"{language!r}; use one of {known} (simple keeps words whole, for any language)"
                )
            if pg_keywords.language(conn, collection, exclusive=True) == config:
                return 0
            conn.execute(ROWS.upsert_meta, (languages.META_PREFIX + collection, config))
            return pg_keywords.reindex_collection(conn, collection, config)

    # -- maintenance --------------------------------------------------------------------------
    def replace_vectors(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._writing() as conn, conn.cursor() as cur:
            cur.executemany(
                "UPDATE chunks SET vector = %s WHERE id = %s",
                [(v, int(i)) for i, v in zip(ids, vectors, strict=True)],
            )

    def stage_vectors(self, tag: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("DELETE FROM staged_vectors WHERE tag != %s", (tag,))
            with conn.cursor() as cur:
                # a chunk deleted since it was read is skipped, as its vector would outlive it
                cur.executemany(
                    "INSERT INTO staged_vectors(chunk_id, doc_id, tag, vector)"
                    " SELECT id, doc_id, %s, %s FROM chunks WHERE id = %s"
                    " ON CONFLICT (doc_id, chunk_id) DO UPDATE SET tag = EXCLUDED.tag, vector = EXCLUDED.vector",
                    [(tag, v, int(i)) for i, v in zip(ids, vectors, strict=True)],
                )

    def commit_staged(self, tag: str, meta: dict[str, str] | None = None) -> int:
        with self._writing() as conn:
            dim = (meta or {}).get("embedder_dim")
            for name, indexed in self._hnsw_indexes(conn).items():
                if dim is not None and indexed != int(dim):  # vectors of another size are coming
                    conn.execute(f'DROP INDEX IF EXISTS "{name}"')
            changed = conn.execute(
                "UPDATE chunks c SET vector = s.vector FROM staged_vectors s"
                " WHERE s.doc_id = c.doc_id AND s.chunk_id = c.id AND s.tag = %s",
                (tag,),
            ).rowcount
            conn.execute("DELETE FROM staged_vectors")
            for key, value in (meta or {}).items():
                conn.execute(ROWS.upsert_meta, (key, value))
        return int(changed)

    def stats(self) -> StoreStats:
        with self.pool.connection() as conn:
            documents, chunks, tokens, size = conn.execute(
                "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks),"
                " (SELECT COALESCE(SUM(tokens), 0) FROM chunks), pg_database_size(current_database())"
            ).fetchone()
        return StoreStats(int(documents), int(chunks), int(tokens), int(size))

    def check(self) -> list[str]:
        problems = self._row_problems()
        with self.pool.connection() as conn:
            invalid = conn.execute(
                "SELECT COUNT(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE NOT i.indisvalid AND (c.relname IN ('chunks_doc', 'chunks_tsv', 'documents_collection')"
                " OR c.relname LIKE 'chunks_hnsw_%%')"
            ).fetchone()[0]
            if invalid:
                problems.append(
                    f"{invalid} invalid indexes (a build was interrupted); run `expert ingest` again"
                )
        return problems

    def close(self) -> None:
        self.pool.close()
