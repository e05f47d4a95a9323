"""Files parsed ahead of the embedder: a worker thread turns the next files into chunks while
the ingest embeds and stores the ones before (``ParseAhead``), each as a ``Prepared`` file."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..store import DocumentRecord, StoredDocument
from ..types import Chunk


@dataclass(frozen=True)
class Prepared:
    """One file as the ingest will store it: its record and chunks, or why it is unchanged or skipped."""

    path: Path
    key: str
    source: str
    record: DocumentRecord | None = None
    chunks: tuple[Chunk, ...] = ()
    pages: int = 0
    unchanged: bool = False
    touch_mtime: int | None = None
    problem: str | None = None
    existed: bool = False  # the workspace held an earlier version (an update, not an addition)
    moved_from: str | None = None  # the collection it was in, when it changes collection
    metadata: dict[str, str] | None = None  # new metadata for an unchanged document


class ParseAhead:
    """Parses files in a worker thread, in order, while the caller embeds: it runs ahead until
    it holds ``limit`` chunks not yet taken (always at least one file), then waits.

    The worker drives itself, so that it keeps parsing while the caller is busy embedding; with
    a pool topped up by the caller between groups, the embedder waited 33 s of a 791 s ingest of a
    shelf of small HTML pages, file after file, to fill its next group (docs/benchmarks.md).
    PDFium, lxml and the tokenizer release the GIL, so parsing overlaps embedding.

    ``take`` returns the next file's result, or ``None`` after the last; an error raised by the
    worker is raised there. Leaving the ``with`` block stops the worker (an interrupted ingest
    does not wait for the rest of the files to be parsed).
    """

    def __init__(
        self,
        jobs: Sequence[tuple[Path, StoredDocument | None]],
        prepare: Callable[[Path, StoredDocument | None], Prepared],
        limit: int,
    ):
        self._jobs = jobs
        self._prepare = prepare
        self._limit = limit
        self._ready: deque[Prepared] = deque()
        self._held = 0  # chunks parsed and not yet taken
        self._done = False
        self._stop = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="ingest-parse", daemon=True)

    def __enter__(self) -> ParseAhead:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        try:
            for path, stored in self._jobs:
                with self._cond:
                    while self._held >= self._limit and not self._stop:
                        self._cond.wait()
                    if self._stop:
                        return
                prepared = self._prepare(path, stored)
                with self._cond:
                    self._ready.append(prepared)
                    self._held += len(prepared.chunks)
                    self._cond.notify_all()
        except BaseException as exc:  # handed to the caller, which raises it
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def ready(self) -> bool:
        """Whether ``take`` would answer at once."""
        with self._cond:
            return bool(self._ready) or self._done

    def take(self) -> Prepared | None:
        with self._cond:
            while not self._ready and not self._done:
                self._cond.wait()
            if self._ready:
                prepared = self._ready.popleft()
                self._held -= len(prepared.chunks)
                self._cond.notify_all()
                return prepared
            if self._error is not None:
                raise self._error
            return None
