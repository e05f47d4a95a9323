"""Ingest jobs: files uploaded to the server, ingested one job at a time in a child process.

The server is the store's one writer of documents, and a job is its write: jobs run in order, each
in ``worker``'s process at CPU priority ``nice`` (answers first, ingest with what is left), while
request threads keep reading the last committed state (SQLite's WAL journal). A second writer in
another process (``expert ingest``) takes turns with the job document by document: each document
is one transaction, and SQLite makes the other writer wait for it. A child that dies mid-job
leaves the documents it finished, and the job says what happened; re-sending the files finishes
the work.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BusyError
from ..events import FileDone, JobFailed, JobReport, parse

KEEP = 200  # finished jobs remembered


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
    done: threading.Event = field(default_factory=threading.Event, repr=False)

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
        }


class IngestJobs:
    """Runs jobs in order in a background thread, each in a child process."""

    def __init__(
        self,
        workspace: Path,
        nice: int = 10,
        max_queued: int = 32,
        on_done: Callable[[Job], None] | None = None,
    ):
        self.workspace = workspace.resolve()
        self.nice = nice
        self.max_queued = max_queued
        self.on_done = on_done or (lambda job: None)
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[str, Job] = {}
        self._child: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ingest-jobs", daemon=True)
        self._thread.start()

    def submit(self, collection: str, files: list[str]) -> Job:
        with self._lock:
            queued = sum(1 for j in self._jobs.values() if j.status == "queued")
            if queued >= self.max_queued:
                raise BusyError(f"{queued} ingest jobs are waiting; try again when some have finished", 30)
            job = Job(secrets.token_hex(8), collection, files)
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.finished]
            for old in finished[: max(0, len(finished) - KEEP)]:
                del self._jobs[old.id]
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def close(self) -> None:
        """Stop: the running child is ended (its finished documents stay), queued jobs fail."""
        self._queue.put(None)
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
        self._thread.join(timeout=10)
        for job in self._jobs.values():
            if job.status in ("queued", "running"):
                self._finish(
                    job, "failed", "the server stopped before this job finished; upload the files again"
                )

    def _finish(self, job: Job, status: str, error: str | None = None) -> None:
        job.status, job.error, job.finished = status, error, time.time()
        try:
            self.on_done(job)
        finally:
            job.done.set()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._run_one(job)
            except Exception as exc:  # a broken child must not end the loop
                self._finish(job, "failed", f"the ingest process failed: {exc}")

    def _run_one(self, job: Job) -> None:
        job.status = "running"
        nice = self.nice
        command = [sys.executable, "-m", "industry_expert.server.worker", "--workspace", str(self.workspace)]
        command += ["--collection", job.collection, "--", *job.files]
        with tempfile.TemporaryFile(mode="w+") as stderr:  # a file: a chatty child cannot block on a pipe
            child = subprocess.Popen(
                command,
                cwd=self.workspace,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                preexec_fn=(lambda: os.nice(nice)) if nice and hasattr(os, "nice") else None,
            )
            self._child = child
            assert child.stdout is not None
            error: str | None = None
            for line in child.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                match parse(event, (FileDone, JobReport, JobFailed)):
                    case FileDone() as done:
                        job.results.append(asdict(done))
                    case JobReport(report=report):
                        job.report = dict(report)
                    case JobFailed(message=message):
                        error = message
            code = child.wait()
            self._child = None
            stderr.seek(0)
            errors = stderr.read()
        if job.report is not None and code == 0:
            self._finish(job, "done")
        elif error:
            self._finish(job, "failed", error)
        else:
            last = errors.strip().splitlines()[-1] if errors.strip() else f"exit code {code}"
            self._finish(
                job, "failed", f"the ingest process stopped ({last}); upload the files again to finish"
            )
