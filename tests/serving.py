"""Helpers for the server tests: a workspace with two collections, and the real server (uvicorn
on a free loopback port, in a thread of the test process) over it."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from industry_expert import Workspace
from industry_expert.generate import Generator
from industry_expert.server import ServerState, create_app

FINANCE = {
    "capex.md": "# Capital expenditure\n\nNorthwind's capital expenditure in fiscal 2023 was $38.4 million, "
    "compared with $29.9 million in fiscal 2022. Most of it funded the new machining line.\n",
    "revenue.md": "# Revenue\n\nNorthwind's revenue in fiscal 2023 was $512.0 million, up 8% from fiscal 2022.\n",
}
HR = {
    "leave.md": "# Paid leave\n\nEvery employee receives 27 days of paid leave per year, plus public holidays.\n",
}


def build_workspace(folder: Path, overrides: dict[str, Any] | None = None) -> Path:
    """A workspace with the real default embedder: collections finance and hr (its store where
    ``overrides`` say, e.g. ``{"store.url": "postgresql://..."}``)."""
    ws = Workspace.init(folder / "ws", overrides)
    for collection, files in (("finance", FINANCE), ("hr", HR)):
        docs = folder / collection
        docs.mkdir()
        for name, text in files.items():
            (docs / name).write_text(text, encoding="utf-8")
        ws.ingest([docs], collection=collection)
    ws.close()
    return folder / "ws"


def copy_workspace(template: Path, folder: Path) -> Path:
    """A copy of ``template`` (its documents point at the same files) for a test that writes."""
    target = folder / "ws"
    shutil.copytree(template, target)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn serving ``state`` on 127.0.0.1 in a background thread."""

    def __init__(self, state: ServerState):
        import uvicorn

        self.state = state
        self.port = free_port()
        config = uvicorn.Config(create_app(state), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.state.close()

    def client(self, key: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)


def finished(http: httpx.Client, job: dict[str, Any], seconds: float = 60) -> dict[str, Any]:
    """The upload job ``job`` once it is done or failed (polled every 0.1 s, at most ``seconds``)."""
    deadline = time.monotonic() + seconds
    while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = http.get(f"/api/jobs/{job['id']}").json()
    return job


@contextmanager
def serving(
    path: Path,
    generator: Generator | None = None,
    tuned: Mapping[str, Generator] | None = None,
    overrides: dict[str, Any] | None = None,
    evaluations: Path | None = None,
) -> Iterator[LiveServer]:
    ws = Workspace.open(path, overrides, shared=True)
    if generator is not None:
        ws.use_generator(generator)
    state = ServerState(ws, "127.0.0.1", tuned=tuned, evaluations=evaluations)
    live = LiveServer(state).start()
    try:
        yield live
    finally:
        live.stop()
