"""Turn a PostgreSQL store into Citus's distributed and reference tables (docs/scaling.md).

    python -m industry_expert.store.citus postgresql://expert@coordinator/expert [--dry-run]

``chunks`` is distributed on ``doc_id`` (every chunk of a document on one shard, so writing or
forgetting a document stays a single-shard transaction), ``staged_vectors`` co-located with it,
and ``documents``, ``meta`` and ``skipped`` become reference tables (a copy on every node). The
store's SQL stays as it is.

Two steps, each one transaction:

1. ``PREPARE``: the keys Citus needs, in plain SQL any PostgreSQL runs. A distributed table's
   unique keys must hold its distribution column, so ``chunks`` is keyed by ``(doc_id, id)``, and
   a staged vector refers to its chunk by both; nothing else changes, and the store works the same
   on the result (``tests/test_citus.py`` runs the Store contract on it).
2. ``DISTRIBUTE``: Citus's own calls, reference tables first (``chunks`` refers to
   ``documents``), run only where the ``citus`` extension is installed.

Run it once, on the coordinator, with ingest stopped; a second run finds each step done and
skips it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ConfigError, ExpertError

PREPARE = (
    "ALTER TABLE staged_vectors DROP CONSTRAINT IF EXISTS staged_vectors_chunk_id_fkey",
    "ALTER TABLE chunks DROP CONSTRAINT chunks_pkey",
    "ALTER TABLE chunks ADD PRIMARY KEY (doc_id, id)",
    "CREATE INDEX IF NOT EXISTS chunks_id ON chunks (id)",  # a hit read back by its id alone
    "ALTER TABLE staged_vectors ADD CONSTRAINT staged_vectors_chunk_fkey FOREIGN KEY (doc_id, chunk_id)"
    " REFERENCES chunks (doc_id, id) ON DELETE CASCADE",
)
REFERENCE_TABLES = ("documents", "meta", "skipped")
DISTRIBUTE = (
    *(f"SELECT create_reference_table('{table}')" for table in REFERENCE_TABLES),
    "SELECT create_distributed_table('chunks', 'doc_id')",
    "SELECT create_distributed_table('staged_vectors', 'doc_id', colocate_with => 'chunks')",
)


def prepared(conn: Any) -> bool:
    """Whether ``chunks`` is keyed by ``(doc_id, id)`` already."""
    row = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'chunks_pkey'"
    ).fetchone()
    return row is not None and row[0] == "PRIMARY KEY (doc_id, id)"


def has_citus(conn: Any) -> bool:
    return conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone() is not None


def distributed(conn: Any) -> bool:
    """Whether ``chunks`` is a Citus table already."""
    return has_citus(conn) and (
        conn.execute("SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'chunks'::regclass").fetchone()
        is not None
    )


def statements(conn: Any) -> list[str]:
    """What is left to run on the database ``conn`` is connected to, in order."""
    if conn.execute("SELECT to_regclass('chunks')").fetchone()[0] is None:
        raise ConfigError("the database holds no store yet: open it once (`expert init --store URL`) first")
    todo = [] if prepared(conn) else list(PREPARE)
    if has_citus(conn) and not distributed(conn):
        todo += DISTRIBUTE
    return todo


def distribute(url: str, dry_run: bool = False) -> tuple[list[str], bool]:
    """Run (``dry_run``: only list) what is left to make the store at ``url`` distributable and,
    where Citus is installed, distributed; the statements and whether Citus is there."""
    import psycopg

    from .postgres import PostgresStore, explain

    PostgresStore(url).close()  # the schema made or brought up to date, as a workspace would
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            todo = statements(conn)
            citus = has_citus(conn)
            if not dry_run:
                prepare = [s for s in todo if s in PREPARE]
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext('industry_expert.schema'))")
                    for sql in prepare:
                        conn.execute(sql)
                with conn.transaction():
                    for sql in todo[len(prepare) :]:
                        conn.execute(sql)
    except psycopg.Error as exc:
        raise explain(url, exc) from None
    return todo, citus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m industry_expert.store.citus",
        description="Make a PostgreSQL store's tables distributable and, on Citus, distributed.",
    )
    parser.add_argument("url", help="the store's database (on Citus: the coordinator)")
    parser.add_argument("--dry-run", action="store_true", help="list the statements, run nothing")
    args = parser.parse_args(argv)
    try:
        todo, citus = distribute(args.url, args.dry_run)
    except ExpertError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for sql in todo:
        print(("would run: " if args.dry_run else "ran: ") + sql)
    if not todo:
        print("nothing left to do: the store is " + ("distributed" if citus else "distributable"))
    elif not citus:
        print(
            "the citus extension is not installed in this database: its tables are keyed for Citus; "
            "after CREATE EXTENSION citus (and adding the workers), run this again to distribute them"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
