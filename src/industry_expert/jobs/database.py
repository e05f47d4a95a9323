"""A PostgreSQL store's ingest jobs, kept in the store's own database.

Any number of servers over one store take uploads, and any number of ``expert worker`` processes,
on any machine that reaches the database, run them:

- **The uploads are kept in the database** (``ingest_uploads``), not on a disk: the worker that
  runs a job may be on another machine, and nothing has to be mounted or shared. A job's files are
  deleted once the job has ended, done or failed; what was ingested lives on in the store.
- **A job's view is a row** (``ingest_jobs``): its files, one result per file, the ingest report
  or the one line that says why it failed. Every server reads the same row, so a job's status is
  the same whichever server is asked.
- **Who runs a job is procrastinate's work** (``procrastinate_jobs``): a maintained PostgreSQL
  job queue, whose workers take a job with ``SELECT ... FOR UPDATE SKIP LOCKED`` (two workers
  never take one job), are woken by ``LISTEN/NOTIFY``, and write a heartbeat; the job of a
  worker whose heartbeat stopped (killed, its machine gone) is run again by another worker
  (``worker.py``). Ingest is idempotent per document, and an upload's key names where it came
  from (``ingest.naming.Copy``), so a second run stores each document once.

``prepare`` creates the tables (procrastinate's too) on first use, under an advisory lock so that
servers and workers starting together create them once.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import BusyError, ExpertError, StoreError
from ..store import Store
from ..store.replica import note
from . import FINISHED, Job, Upload

# procrastinate's own log says what a server's and a worker's lines already say, at INFO
logging.getLogger("procrastinate").setLevel(logging.WARNING)

TASK = "industry_expert.ingest"  # the procrastinate task that runs a job (worker.py)
QUEUE = "ingest"
KEEP = 200  # jobs listed by GET /api/jobs, newest first
UPLOAD_KEYS = "upload:"  # an uploaded file's document key: upload:uploads/COLLECTION/NAME
SCHEMA_LOCK = "industry_expert.jobs.schema"

SCHEMA = """
CREATE TABLE IF NOT EXISTS ingest_jobs (
    id text PRIMARY KEY,
    collection text NOT NULL,
    files jsonb NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    results jsonb NOT NULL DEFAULT '[]',
    report jsonb,
    error text,
    created double precision NOT NULL,
    finished double precision,
    attempts integer NOT NULL DEFAULT 0,
    worker text
);
CREATE INDEX IF NOT EXISTS ingest_jobs_created ON ingest_jobs (created);
CREATE TABLE IF NOT EXISTS ingest_uploads (
    job_id text NOT NULL REFERENCES ingest_jobs (id) ON DELETE CASCADE,
    name text NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (job_id, name)
);
"""
COLUMNS = "id, collection, files, status, results, report, error, created, finished"


def connect(url: str, size: int = 4) -> Any:
    """A connection pool to the store's database (autocommit; one line if it cannot be reached)."""
    import psycopg
    from psycopg_pool import ConnectionPool

    from ..store.postgres import explain

    try:
        psycopg.connect(url, connect_timeout=10).close()
    except psycopg.Error as exc:
        raise explain(url, exc) from None
    return ConnectionPool(
        url, min_size=1, max_size=size, open=True, kwargs={"autocommit": True, "connect_timeout": 10}
    )


def prepare(pool: Any) -> None:
    """Create the job tables and procrastinate's, where they are missing."""
    from procrastinate.schema import SchemaManager

    with pool.connection() as conn, conn.transaction():
        conn.execute(f"SELECT pg_advisory_xact_lock(hashtext('{SCHEMA_LOCK}'))")
        conn.execute(SCHEMA)
        (exists,) = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if not exists:
            conn.execute(SchemaManager.get_schema())


def end(
    pool: Any, job_id: str, status: str, report: dict[str, Any] | None = None, error: str | None = None
) -> None:
    """Job ``job_id`` ends (``done`` or ``failed``), and its uploaded files go with it."""
    with pool.connection() as conn, conn.transaction():
        conn.execute(
            "UPDATE ingest_jobs SET status = %s, report = %s, error = %s, finished = %s WHERE id = %s",
            (status, json.dumps(report) if report is not None else None, error, time.time(), job_id),
        )
        conn.execute("DELETE FROM ingest_uploads WHERE job_id = %s", (job_id,))


def row_to_job(row: tuple[Any, ...]) -> Job:
    id_, collection, files, status, results, report, error, created, finished = row
    return Job(id_, collection, list(files), status, list(results), report, error, created, finished)


def procrastinate_app(url: str) -> Any:
    """procrastinate's app over the store's database, opened for deferring jobs from sync code."""
    import procrastinate

    return procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=url)).open()


class DatabaseJobs:
    """Jobs in the store's database; ``reader`` is the store the server reads through (told where
    a job's writes end, for a read replica)."""

    def __init__(
        self,
        url: str,
        reader: Store,
        workspace: Path | None = None,
        workers: int = 0,
        nice: int = 10,
        max_queued: int = 32,
        poll_s: float = 0.2,
    ):
        self.pool = connect(url)
        prepare(self.pool)
        self.app = procrastinate_app(url)
        self.reader = reader
        self.max_queued = max_queued
        self.poll_s = poll_s
        # workers of this server's own, at its ingest priority; more run anywhere with `expert worker`
        self.workers = [start_worker(workspace, nice) for _ in range(workers)] if workspace else []

    def submit(self, collection: str, files: list[Upload]) -> Job:
        with self.pool.connection() as conn:
            (queued,) = conn.execute("SELECT COUNT(*) FROM ingest_jobs WHERE status = 'queued'").fetchone()
            if queued >= self.max_queued:
                raise BusyError(f"{queued} ingest jobs are waiting; try again when some have finished", 30)
            job = Job(secrets.token_hex(8), collection, [f"uploads/{collection}/{u.name}" for u in files])
            with conn.transaction():  # the job and its files, or neither
                conn.execute(
                    "INSERT INTO ingest_jobs (id, collection, files, created) VALUES (%s, %s, %s, %s)",
                    (job.id, collection, json.dumps(job.files), job.created),
                )
                for upload in files:
                    upload.file.seek(0)
                    conn.execute(
                        "INSERT INTO ingest_uploads (job_id, name, data) VALUES (%s, %s, %s)",
                        (job.id, upload.name, upload.file.read()),
                    )
        try:
            self.app.configure_task(TASK, queue=QUEUE).defer(job_id=job.id)
        except Exception as exc:  # the job says why it will not run, and its files go
            end(
                self.pool,
                job.id,
                "failed",
                error=f"the job could not be queued ({exc}); upload the files again",
            )
            raise StoreError(f"the ingest job could not be queued: {exc}") from None
        return job

    def sync(self, collection: str, folder: Path) -> Job:
        from ..errors import ConfigError

        raise ConfigError(
            f"serve --watch syncs folders of the server's machine, and a PostgreSQL store's jobs run on "
            f"its workers: run `expert ingest --watch {folder} --collection {collection}` on the machine "
            "that has the folder instead"
        )

    def get(self, job_id: str) -> Job | None:
        with self.pool.connection() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM ingest_jobs WHERE id = %s", (job_id,)).fetchone()
        if row is None:
            return None
        job = row_to_job(row)
        if job.status == "done":  # this server's next reads see what the job wrote
            note(self.reader, (job.report or {}).get("read_after"))
        return job

    def all(self) -> list[Job]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM ingest_jobs ORDER BY created DESC LIMIT {KEEP}"
            ).fetchall()
        return [row_to_job(r) for r in reversed(rows)]

    def wait(self, job_id: str) -> Job:
        while (job := self.get(job_id)) is not None and job.status not in FINISHED:
            time.sleep(self.poll_s)
        if job is None:
            raise ExpertError(f"the ingest job {job_id} is gone from the store's database")
        return job

    def discard(self, key: str) -> None:
        """Nothing to drop: an upload's bytes are deleted when its job ends."""

    def close(self) -> None:
        """Stop this server's workers: a job one of them holds is run again by the next worker
        that finds it stalled (its documents stored so far stay)."""
        for child in self.workers:
            if child.poll() is None:
                child.terminate()  # procrastinate finishes the job in hand; not for long
        deadline = time.monotonic() + 5
        for child in self.workers:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.app.close()
        self.pool.close()


def start_worker(workspace: Path, nice: int) -> subprocess.Popen[bytes]:
    """``expert worker`` for ``workspace`` in a child process at CPU priority ``nice``."""
    return subprocess.Popen(
        [sys.executable, "-m", "industry_expert.jobs", "--workspace", str(workspace)],
        cwd=workspace,
        stdin=subprocess.DEVNULL,
        preexec_fn=(lambda: os.nice(nice)) if nice and hasattr(os, "nice") else None,
    )
