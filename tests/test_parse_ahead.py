"""Ingest's parsing worker: runs ahead of embedding by at most a group of chunks, in order, and
stops when the ingest does."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from industry_expert.ingest.ahead import ParseAhead, Prepared
from industry_expert.types import Chunk


def parsed(path: Path, chunks: int) -> Prepared:
    return Prepared(path, str(path), str(path), chunks=tuple(Chunk(f"c{i}", "", i) for i in range(chunks)))


def test_it_runs_ahead_by_at_most_the_limit_and_keeps_order() -> None:
    started: list[str] = []
    jobs = [(Path(f"f{i}"), None) for i in range(12)]

    def prepare(path: Path, stored: object) -> Prepared:
        started.append(path.name)
        return parsed(path, 3)

    with ParseAhead(jobs, prepare, limit=7) as ahead:
        time.sleep(0.2)  # nothing taken yet: it stops once it holds 7 chunks or more (3 files)
        assert started == ["f0", "f1", "f2"] and ahead.ready()
        names = []
        while (p := ahead.take()) is not None:
            names.append(p.path.name)
    assert names == [f"f{i}" for i in range(12)]
    assert ahead.take() is None and ahead.ready()


def test_the_embedder_does_not_wait_for_the_worker_to_be_asked() -> None:
    """The worker parses while the caller is busy (here: sleeping), without being topped up."""
    jobs = [(Path(f"f{i}"), None) for i in range(5)]
    with ParseAhead(jobs, lambda p, s: parsed(p, 1), limit=100) as ahead:
        time.sleep(0.2)
        assert ahead._held == 5 and ahead._done


def test_a_worker_error_reaches_the_caller_after_the_files_before_it() -> None:
    def prepare(path: Path, stored: object) -> Prepared:
        if path.name == "f2":
            raise KeyboardInterrupt  # anything prepare itself does not turn into a skipped file
        return parsed(path, 1)

    with ParseAhead([(Path(f"f{i}"), None) for i in range(4)], prepare, limit=10) as ahead:
        assert ahead.take().path.name == "f0"  # type: ignore[union-attr]
        assert ahead.take().path.name == "f1"  # type: ignore[union-attr]
        with pytest.raises(KeyboardInterrupt):
            ahead.take()


def test_leaving_early_stops_the_worker() -> None:
    started: list[str] = []

    def prepare(path: Path, stored: object) -> Prepared:
        started.append(path.name)
        return parsed(path, 5)

    with (
        pytest.raises(RuntimeError),
        ParseAhead([(Path(f"f{i}"), None) for i in range(50)], prepare, 5) as ahead,
    ):
        ahead.take()
        raise RuntimeError("embedding failed")
    assert len(started) <= 3
    assert not any(t.name == "ingest-parse" for t in threading.enumerate())
