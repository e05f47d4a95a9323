"""A SQLite workspace's ingest jobs: uploaded files kept under ``WORKSPACE/uploads/COLLECTION/``,
ingested one job at a time in a child process of the server, remembered in memory.

The server is the store's one writer of documents, and a job is its write: jobs run in order, each
in ``child``'s process at CPU priority ``nice`` (answers first, ingest with what is left), while
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
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from ..errors import BusyError
from ..events import FileDone, JobFailed, JobReport, parse
from ..store import Store
from ..store.replica import note
from . import Job, Upload

KEEP = 200  # finished jobs remembered
UPLOADS = "uploads"  # uploaded files are kept under WORKSPACE/uploads/COLLECTION/


class LocalJobs:
    """Runs jobs in order in a background thread, each in a child process.

    ``writer`` is the server's connection for its own small writes (skip records of uploads that
    could not be read); ``reader`` is the one its reads go through (told where a job's writes end,
    for a read replica)."""

    def __init__(self, workspace: Path, writer: Store, reader: Store, nice: int = 10, max_queued: int = 32):
        self.workspace = workspace.resolve()
        self.uploads = self.workspace / UPLOADS
        self.writer, self.reader = writer, reader
        self.nice = nice
        self.max_queued = max_queued
        clear_partial_uploads(self.uploads)  # what an upload cut by a crash left
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[str, Job] = {}
        self._done: dict[str, threading.Event] = {}
        self._child: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ingest-jobs", daemon=True)
        self._thread.start()

    def submit(self, collection: str, files: list[Upload]) -> Job:
        with self._lock:
            queued = sum(1 for j in self._jobs.values() if j.status == "queued")
            if queued >= self.max_queued:
                raise BusyError(f"{queued} ingest jobs are waiting; try again when some have finished", 30)
        names = save(self.uploads / collection, files)
        with self._lock:
            job = Job(secrets.token_hex(8), collection, [f"{UPLOADS}/{collection}/{n}" for n in names])
            self._jobs[job.id] = job
            self._done[job.id] = threading.Event()
            finished = [j for j in self._jobs.values() if j.finished]
            for old in finished[: max(0, len(finished) - KEEP)]:
                del self._jobs[old.id]
                self._done.pop(old.id, None)
        self._queue.put(job)
        return job

    def sync(self, collection: str, folder: Path) -> Job:
        with self._lock:
            waiting = next(
                (
                    j
                    for j in self._jobs.values()
                    if j.kind == "sync" and j.status == "queued" and j.files == [str(folder)]
                ),
                None,
            )
            if waiting is not None:
                return waiting  # it will see this change too
            job = Job(secrets.token_hex(8), collection, [str(folder)], kind="sync")
            self._jobs[job.id] = job
            self._done[job.id] = threading.Event()
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def wait(self, job_id: str) -> Job:
        done = self._done.get(job_id)
        if done is not None:
            done.wait()
        return self._jobs[job_id]

    def discard(self, key: str) -> None:
        path = Path(key)
        if path.is_relative_to(self.uploads):
            path.unlink(missing_ok=True)

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
            self._tidy(job)
        finally:
            self._done[job.id].set()

    def _tidy(self, job: Job) -> None:
        """After a job: this server's reads see what it wrote (a replica waits for it, by
        ``store.read_after_write``), and uploaded files that could not be ingested are not kept."""
        note(self.reader, (job.report or {}).get("read_after"))
        for result in job.results:
            if result.get("status") == "skipped":
                key = str((self.workspace / str(result["path"])).resolve())
                if Path(key).is_relative_to(self.uploads):
                    self.writer.record_skipped(key, "", None)
                    self.discard(key)

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
        command = [sys.executable, "-m", "industry_expert.jobs.child", "--workspace", str(self.workspace)]
        command += [
            "--collection",
            job.collection,
            *(["--prune"] if job.kind == "sync" else []),
            "--",
            *job.files,
        ]
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


def save(folder: Path, files: list[Upload]) -> list[str]:
    """Write each file beside its final name, then rename: a reader never sees half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, Path]] = []
    try:
        for upload in files:
            partial = folder / f".{secrets.token_hex(4)}.{upload.name}.partial"
            with partial.open("wb") as out:
                upload.file.seek(0)
                shutil.copyfileobj(upload.file, out)
            written.append((partial, folder / upload.name))
        for partial, final in written:
            partial.replace(final)
    except BaseException:
        for partial, _ in written:
            partial.unlink(missing_ok=True)
        raise
    return [u.name for u in files]


def clear_partial_uploads(folder: Path) -> None:
    """Remove the ``.*.partial`` files of uploads a crash cut short (``save``)."""
    if folder.is_dir():
        for partial in folder.rglob("*.partial"):
            partial.unlink(missing_ok=True)
