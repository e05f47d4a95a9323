"""``expert worker``: runs a PostgreSQL store's ingest jobs (``database.py``), on any machine that
reaches the store's database, beside any number of other workers and servers.

A worker opens its workspace as ``expert ingest`` would (its settings name the store and the
embedder; a workspace whose embedder is not the store's is refused in one line), then takes jobs
from procrastinate's queue one at a time. For each: the job's files are read from the database
into a folder of its own, ingested under keys that name the upload, not the folder
(``ingest.naming.Copy``), with a result per file written to the job's row as it goes; then the
files are deleted. Every ``stalled_s / 3`` seconds it also looks for jobs whose worker stopped
sending heartbeats (killed, its machine gone) and queues them again: the next run finds the
documents the first one stored, unchanged, and stores the rest once.

    python -m industry_expert.jobs --workspace WS    (what ``expert worker`` runs)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..embed import embedder_id
from ..errors import ConfigError, ExpertError
from ..events import Event, FileDone
from ..ingest.naming import Copy
from ..store import store_scheme
from ..workspace import Workspace
from .database import QUEUE, TASK, UPLOAD_KEYS, connect, end, prepare

Log = Callable[[dict[str, Any]], None]
KEEP_DAYS = 30  # how long a finished job's row is kept


class NotForThisWorker(Exception):
    """The store's vectors are no longer this worker's embedder's: the job goes back to the queue."""


@dataclass(frozen=True)
class WorkerSettings:
    heartbeat_s: float = 10.0  # how often a worker says it is alive
    stalled_s: float = 30.0  # a worker silent this long is taken for dead, and its job run again
    attempts: int = 3  # runs of one job before it is failed (a file that kills every worker)


def check_store(ws: Workspace) -> str:
    """The store URL whose jobs a worker runs; one line for a workspace without such a store."""
    url = ws.settings.store.url
    if store_scheme(url) not in ("postgresql", "postgres"):
        raise ConfigError(
            f"{ws.path} keeps its store in SQLite, whose upload jobs `expert serve` runs itself; "
            "`expert worker` runs the jobs of a PostgreSQL store: set [store] url as the servers do"
        )
    return url


class JobRunner:
    """Runs one job at a time (called in procrastinate's worker thread)."""

    def __init__(self, ws: Workspace, pool: Any, settings: WorkerSettings, log: Log):
        self.ws, self.pool, self.settings, self.log = ws, pool, settings, log
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.embedder = embedder_id(ws.settings.embedder)

    def run(self, job_id: str) -> None:
        try:
            self._run(job_id)
        except NotForThisWorker:
            raise
        except Exception as exc:  # a fault of ours: the job says so in one line; the log has the rest
            self._fail(job_id, f"the ingest failed ({type(exc).__name__}: {exc}); upload the files again")
            raise
        finally:
            with self.pool.connection() as conn:  # finished jobs are kept a while for their reports
                conn.execute(
                    "DELETE FROM ingest_jobs WHERE finished < %s", (time.time() - KEEP_DAYS * 86400,)
                )

    def _run(self, job_id: str) -> None:
        started = time.monotonic()
        with self.pool.connection() as conn:
            row = conn.execute(
                "UPDATE ingest_jobs SET status = 'running', attempts = attempts + 1, worker = %s,"
                " results = '[]' WHERE id = %s AND status IN ('queued', 'running')"
                " RETURNING collection, files, attempts",
                (self.name, job_id),
            ).fetchone()
        if row is None:
            return  # ended already (its worker stopped after finishing it), or removed
        collection, files, attempts = row
        if attempts > self.settings.attempts:
            return self._fail(
                job_id,
                f"the workers running this job stopped {attempts - 1} times before it finished "
                "(killed, or out of memory on one of its files?); upload the files again, fewer at a time",
            )
        built_by = self.ws.store.get_meta("embedder")
        if built_by and built_by != self.embedder:
            self._set(job_id, "queued")
            raise NotForThisWorker(
                f"the store's vectors are now {built_by}'s and this worker embeds with {self.embedder}: "
                "restart it with the store's embedder"
            )
        self.log(
            {"event": "job", "job": job_id, "status": "running", "files": len(files), "attempt": attempts}
        )
        with tempfile.TemporaryDirectory(prefix="expert-job-") as folder:
            with self.pool.connection() as conn:
                held = dict(
                    conn.execute(
                        "SELECT name, data FROM ingest_uploads WHERE job_id = %s", (job_id,)
                    ).fetchall()
                )
            paths = []
            for file in files:
                name = Path(file).name
                if name not in held:
                    return self._fail(
                        job_id,
                        f"the upload {file} is no longer in the store's database (removed while the job "
                        "waited); upload it again",
                    )
                path = Path(folder) / file
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(held[name])
                paths.append(path)
            try:
                report = self.ws.ingest(
                    paths, collection, progress=self._progress(job_id), naming=Copy(Path(folder), UPLOAD_KEYS)
                )
            except ExpertError as exc:
                return self._fail(job_id, str(exc))
        for source, _ in report.skipped:  # an upload that could not be read is not kept, nor its record
            self.ws.store.record_skipped(UPLOAD_KEYS + source, "", None)
        end(self.pool, job_id, "done", report=report.to_dict())
        self.log(
            {
                "event": "job",
                "job": job_id,
                "status": "done",
                "added": len(report.added),
                "updated": len(report.updated),
                "unchanged": len(report.unchanged),
                "skipped": len(report.skipped),
                "chunks": report.chunks,
                "seconds": round(time.monotonic() - started, 3),
            }
        )
        return None

    def _progress(self, job_id: str) -> Callable[[Event], None]:
        def on_event(event: Event) -> None:
            if isinstance(event, FileDone):
                with self.pool.connection() as conn:
                    conn.execute(
                        "UPDATE ingest_jobs SET results = results || %s::jsonb WHERE id = %s",
                        (json.dumps([asdict(event)]), job_id),
                    )

        return on_event

    def _set(self, job_id: str, status: str) -> None:
        with self.pool.connection() as conn:
            conn.execute("UPDATE ingest_jobs SET status = %s WHERE id = %s", (status, job_id))

    def _fail(self, job_id: str, error: str) -> None:
        end(self.pool, job_id, "failed", error=error)
        self.log({"event": "job", "job": job_id, "status": "failed", "error": error})


async def rerun_stalled(app: Any, settings: WorkerSettings, log: Log) -> None:
    """Queue again the jobs of workers whose heartbeat stopped (any worker may find them; the
    first to retry one wins, the others' retries are refused and ignored)."""
    while True:
        await asyncio.sleep(max(0.5, settings.stalled_s / 3))
        stalled = await app.job_manager.get_stalled_jobs(
            queue=QUEUE, seconds_since_heartbeat=settings.stalled_s
        )
        for job in stalled:
            with contextlib.suppress(Exception):
                await app.job_manager.retry_job(job)
                log({"event": "stalled", "job": job.task_kwargs.get("job_id"), "status": "queued again"})


def run(workspace: Path, log: Log) -> None:
    """Run jobs until stopped (SIGINT or SIGTERM: the job in hand is finished first)."""
    import procrastinate

    with Workspace.open(workspace) as ws:
        url = check_store(ws)
        serve = ws.settings.serve
        settings = WorkerSettings(serve.worker_heartbeat_s, serve.worker_stalled_s, serve.job_attempts)
        pool = connect(url, size=2)
        try:
            prepare(pool)
            runner = JobRunner(ws, pool, settings, log)
            app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
            retry = procrastinate.RetryStrategy(retry_exceptions={NotForThisWorker}, wait=5, max_attempts=100)
            app.task(name=TASK, queue=QUEUE, retry=retry)(runner.run)
            log({"event": "worker", "status": "ready", "store": _where(url), "worker": runner.name})
            asyncio.run(_serve(app, settings, log))
        finally:
            pool.close()


async def _serve(app: Any, settings: WorkerSettings, log: Log) -> None:
    async with app.open_async():
        watchdog = asyncio.create_task(rerun_stalled(app, settings, log))
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=1,
                update_heartbeat_interval=settings.heartbeat_s,
                stalled_worker_timeout=settings.stalled_s,
                delete_jobs="successful",
            )
        finally:
            watchdog.cancel()


def _where(url: str) -> str:
    from ..store.postgres import where_to

    return where_to(url)


def line_log(as_json: bool) -> Log:
    """One line a job on stderr (``--json``: a JSON object a line on stdout)."""

    def log(event: dict[str, Any]) -> None:
        if as_json:
            print(json.dumps(event), flush=True)
            return
        words = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("event",))
        print(f"worker: {event['event']} {words}", file=sys.stderr, flush=True)

    return log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="expert worker")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        run(Path(args.workspace), line_log(args.json))
    except ExpertError as exc:
        print(f"expert worker: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
