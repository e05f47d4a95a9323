"""`expert ingest --watch`: scripted changes reach the store, a save storm is one sync, a rename is
a removal and an addition, a restart catches up from the store's hashes, and a folder that
disappears keeps its documents (ingest/watch.py, watchfiles)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from industry_expert import Workspace

pytestmark = [pytest.mark.slow, pytest.mark.long]


class Watcher:
    """``expert ingest --watch FOLDER --json`` in a child process, its lines read as they come."""

    def __init__(self, ws: Path, folder: Path):
        env = {**os.environ, "EXPERT_WORKSPACE": str(ws)}
        command = [sys.executable, "-m", "industry_expert.cli", "ingest", "--watch", str(folder), "--json"]
        self.child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        for name, stream in (("out", self.child.stdout), ("err", self.child.stderr)):
            threading.Thread(target=self._read, args=(name, stream), daemon=True).start()

    def _read(self, name: str, stream: Any) -> None:
        for line in stream:
            self.lines.put((name, line.rstrip("\n")))

    def next(self, kind: str = "out", seconds: float = 30) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                name, line = self.lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if name == kind:
                return line
        raise AssertionError(f"no {kind} line in {seconds} s")

    def sync(self, seconds: float = 30) -> dict[str, Any]:
        return dict(json.loads(self.next("out", seconds)))

    def quiet(self, seconds: float) -> None:
        """Nothing more is synced for ``seconds``."""
        time.sleep(seconds)
        extra = [line for name, line in list(self.lines.queue) if name == "out"]
        assert not extra, extra


def sources(ws: Path) -> set[str]:
    with Workspace.open(ws) as opened:
        return {Path(d.source).name for d in opened.sources()}


def test_a_watched_folder_stays_in_sync(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    Workspace.init(ws, {"embedder.backend": "static", "embedder.model": "wordllama-l2-supercat"}).close()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe pump line ran 40 hours.\n")
    (docs / "b.md").write_text("# B\n\nThe valve was replaced in March.\n")
    watcher = Watcher(ws, docs)
    try:
        first = watcher.sync(60)  # the start: what is there now
        assert sorted(Path(p).name for p in first["added"]) == ["a.md", "b.md"]
        # an editor's save storm: ten writes, one sync
        for i in range(10):
            (docs / "a.md").write_text(f"# A\n\nThe pump line ran {41 + i} hours.\n")
            time.sleep(0.05)
        storm = watcher.sync()
        assert [Path(p).name for p in storm["updated"]] == ["a.md"] and not storm["added"]
        watcher.quiet(3)
        # a rename: the old name removed, the new one added
        (docs / "b.md").rename(docs / "c.md")
        renamed = watcher.sync()
        assert [Path(p).name for p in renamed["added"]] == ["c.md"]
        assert [Path(p).name for p in renamed["removed"]] == ["b.md"]
        # a folder added, then deleted with what it holds
        (docs / "sub").mkdir()
        (docs / "sub" / "d.md").write_text("# D\n\nThe seal leaked twice.\n")
        assert [Path(p).name for p in watcher.sync()["added"]] == ["d.md"]
        shutil.rmtree(docs / "sub")
        assert [Path(p).name for p in watcher.sync()["removed"]] == ["d.md"]
    finally:
        watcher.child.kill()  # as a crash would
        watcher.child.wait()
    # while nothing watches: a file added, one deleted; the restart catches up from the store
    (docs / "e.md").write_text("# E\n\nThe motor was rewound.\n")
    (docs / "a.md").unlink()
    watcher = Watcher(ws, docs)
    try:
        caught = watcher.sync(60)
        time.sleep(1)  # the watch is set up after the catch-up sync
        assert [Path(p).name for p in caught["added"]] == ["e.md"]
        assert [Path(p).name for p in caught["removed"]] == ["a.md"]
        assert caught["unchanged"] == 1  # c.md: not read again
        # the folder disappears: one line, and its documents stay
        shutil.rmtree(docs)
        line = watcher.next("err")
        while "gone" not in line:
            line = watcher.next("err")
        assert f"the watched folder {docs} is gone; its documents are kept" in line
        watcher.quiet(2)
        assert sources(ws) == {"c.md", "e.md"}
        # it comes back: synced again
        docs.mkdir()
        (docs / "c.md").write_text("# B\n\nThe valve was replaced in March.\n")
        back = watcher.sync()
        assert [Path(p).name for p in back["removed"]] == ["e.md"]
        watcher.child.send_signal(signal.SIGINT)
        assert watcher.child.wait(20) == 0
    finally:
        if watcher.child.poll() is None:
            watcher.child.kill()
    assert sources(ws) == {"c.md"}


def test_watch_takes_folders_not_files(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    Workspace.init(ws, {"embedder.backend": "static", "embedder.model": "wordllama-l2-supercat"}).close()
    note = tmp_path / "note.md"
    note.write_text("x")
    env = {**os.environ, "EXPERT_WORKSPACE": str(ws)}
    result = subprocess.run(
        [sys.executable, "-m", "industry_expert.cli", "ingest", "--watch", str(note)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "is a file" in result.stderr and len(result.stderr.splitlines()) == 1
    typo = subprocess.run(
        [sys.executable, "-m", "industry_expert.cli", "ingest", "--watch", str(tmp_path / "no-such-folder")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert typo.returncode == 2 and "there is no folder" in typo.stderr and len(typo.stderr.splitlines()) == 1


def test_serve_watch_syncs_a_folder_as_jobs(tmp_path: Path) -> None:
    from serving import LiveServer

    from industry_expert.ingest.watch import Watched
    from industry_expert.server import ServerState

    ws_path = tmp_path / "ws"
    Workspace.init(ws_path, {"embedder.backend": "static", "embedder.model": "wordllama-l2-supercat"}).close()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("# A\n\nThe pump line ran 40 hours.\n")
    ws = Workspace.open(ws_path, shared=True)
    live = LiveServer(ServerState(ws, watch=[Watched(notes.resolve(), "notes")])).start()
    try:
        with live.client() as http:

            def synced(count: int) -> list[dict[str, Any]]:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    jobs = http.get("/api/jobs").json()["data"]
                    if len(jobs) >= count and all(j["status"] == "done" for j in jobs):
                        return list(jobs)
                    time.sleep(0.1)
                raise AssertionError(http.get("/api/jobs").json())

            [first] = synced(1)
            assert first["kind"] == "sync" and first["collection"] == "notes"
            assert first["files"] == [str(notes.resolve())] and first["report"]["added"]
            (notes / "b.md").write_text("# B\n\nThe valve was replaced in March.\n")
            second = synced(2)[-1]
            assert [Path(p).name for p in second["report"]["added"]] == ["b.md"]
            (notes / "a.md").unlink()
            third = synced(3)[-1]
            assert [Path(p).name for p in third["report"]["removed"]] == ["a.md"]
            hits = http.get("/api/search", params={"q": "valve replaced", "collection": "notes"}).json()[
                "hits"
            ]
            assert Path(hits[0]["source"]).name == "b.md"
    finally:
        live.stop()


def test_serve_watch_with_a_postgresql_store_is_one_line(tmp_path: Path) -> None:
    from postgres_server import fresh_database

    ws = tmp_path / "ws"
    Workspace.init(ws, {"store.url": fresh_database(), "embedder.backend": "static",
                        "embedder.model": "wordllama-l2-supercat"}).close()  # fmt: skip
    (tmp_path / "notes").mkdir()
    env = {**os.environ, "EXPERT_WORKSPACE": str(ws)}
    result = subprocess.run(
        [sys.executable, "-m", "industry_expert.cli", "serve", "--port", "18765", "--watch", f"{tmp_path / 'notes'}=notes"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "expert ingest --watch" in lines[0], result.stderr
