"""Ingest jobs: files uploaded to a server, ingested away from the requests that answer.

Two queues keep one contract (``JobQueue``), picked by the store (``open_jobs``):

- ``local.LocalJobs`` for a SQLite store: the files are kept under ``WORKSPACE/uploads``, and the
  server runs the jobs one at a time in a child process, remembering them in memory;
- ``database.DatabaseJobs`` for a PostgreSQL store: the files and the jobs live in the store's
  database, and ``expert worker`` processes on any machine run them (procrastinate), so any
  server over the store takes uploads and shows every job.

A job's view is the same from either (``Job.to_dict``): its files, a result per file as
``expert ingest`` reports it, the ingest report, or one line saying why it failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from ..store import Store
    from ..workspace import Workspace

FINISHED = ("done", "failed")


@dataclass
class Job:
    id: str
    collection: str
    files: list[str]
    status: str = "queued"  # queued, running, done, failed
    results: list[dict[str, Any]] = field(default_factory=list)  # one per file, as the CLI reports
    report: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    kind: str = "upload"  # or "sync": a watched folder brought up to date (prune included)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "ingest.job",
            "collection": self.collection,
            "files": self.files,
            "status": self.status,
            "results": self.results,
            "report": self.report,
            "error": self.error,
            "created": round(self.created, 3),
            "finished": round(self.finished, 3) if self.finished else None,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its checked name (no folders) and its bytes, read from the start."""

    name: str
    file: BinaryIO


class JobQueue(Protocol):
    def submit(self, collection: str, files: list[Upload]) -> Job:
        """Keep the files and queue their ingest into ``collection``; ``BusyError`` when too many
        jobs wait. The files are stored before it returns: a crash afterwards loses no upload."""
        ...

    def sync(self, collection: str, folder: Path) -> Job:
        """Queue a sync of the watched ``folder`` on this machine (``ingest.watch``): an ingest
        with prune. One waiting sync of a folder is enough: another is not queued beside it.
        ``ConfigError`` where the jobs run elsewhere (a PostgreSQL store's workers)."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def all(self) -> list[Job]:
        """The jobs this queue remembers, oldest first."""
        ...

    def wait(self, job_id: str) -> Job:
        """The job once it is done or failed."""
        ...

    def discard(self, key: str) -> None:
        """A document was forgotten: drop the upload it was read from, if one is kept, so that a
        re-run of its job cannot bring it back."""
        ...

    def close(self) -> None:
        """Stop: what this server was running ends (its finished documents stay)."""
        ...


def open_jobs(ws: Workspace, writer: Store) -> JobQueue:
    """The job queue of ``ws``'s store: in its PostgreSQL database, or this server's own (SQLite).
    ``writer`` is the server's connection for its own small writes."""
    from ..store import store_scheme

    settings = ws.settings.serve
    if store_scheme(ws.settings.store.url) in ("postgresql", "postgres"):
        from ..extras import require

        require("postgres", why="the job queue of a PostgreSQL store")
        from .database import DatabaseJobs

        url = ws.settings.store.url
        return DatabaseJobs(url, ws.store, ws.path, settings.ingest_workers, settings.ingest_nice)
    from .local import LocalJobs

    return LocalJobs(ws.path, writer, ws.store, settings.ingest_nice)
