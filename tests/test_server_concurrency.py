"""Ingest while serving: searches go on during an upload's ingest job and an `expert ingest` in
another process, and when both writers are done every document is there once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import FakeGenerator
from serving import build_workspace, serving

from industry_expert import Workspace

TOPICS = ["pumps", "valves", "boilers", "turbines", "compressors", "gearboxes", "bearings", "seals"]


def paragraphs(topic: str, n: int) -> bytes:
    lines = [f"# {topic.title()} report {n}", ""]
    for i in range(40):
        lines.append(
            f"Section {i}: the {topic} line at plant {n} ran {1000 + 37 * i} hours in fiscal {2015 + i % 9}, "
            f"with {i % 7} stoppages and maintenance costs of ${3 + i % 11}.{i % 10} million."
        )
        lines.append("")
    return "\n".join(lines).encode()


@pytest.mark.long
def test_readers_never_wait_for_an_ingest_and_two_writers_lose_nothing(tmp_path: Path) -> None:
    ws_path = build_workspace(tmp_path)
    folder = tmp_path / "cli-docs"
    folder.mkdir()
    for n in range(12):
        (folder / f"manual-{n}.md").write_bytes(paragraphs(TOPICS[n % 8], n))
    upload = [
        ("files", (f"report-{n}.md", paragraphs(TOPICS[n % 8], 100 + n), "text/markdown")) for n in range(12)
    ]
    latencies: list[float] = []
    errors: list[str] = []
    with serving(ws_path, FakeGenerator()) as live:
        with live.client() as http:
            job = http.post("/api/collections/ops/files", files=upload).json()
        cli = subprocess.Popen(
            [sys.executable, "-m", "industry_expert.cli", "-w", str(ws_path), "ingest", "--collection", "manuals", str(folder)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        stop = threading.Event()

        def reader() -> None:
            with live.client() as http:
                while not stop.is_set():
                    started = time.monotonic()
                    response = http.get(
                        "/api/search", params={"q": "maintenance costs of the pumps line", "k": 5}
                    )
                    latencies.append(time.monotonic() - started)
                    if response.status_code != 200:
                        errors.append(response.text)

        threads = [threading.Thread(target=reader) for _ in range(2)]
        began = time.monotonic()
        for t in threads:
            t.start()
        live.state.jobs.wait(job["id"])
        out, err = cli.communicate(timeout=300)
        ingest_seconds = time.monotonic() - began
        stop.set()
        for t in threads:
            t.join()
        final = live.state.jobs.get(job["id"])
    assert cli.returncode == 0, err
    assert final is not None and final.status == "done", final
    assert errors == []
    assert len(latencies) >= 10, latencies  # searches went on while both writers worked
    assert max(latencies) < ingest_seconds / 2, (max(latencies), ingest_seconds)
    with Workspace.open(ws_path) as ws:
        sources = [d.source for d in ws.sources()]
        assert len(sources) == len(set(sources)) == 3 + 12 + 12
        assert {d.collection for d in ws.sources()} == {"finance", "hr", "ops", "manuals"}
        assert ws.status()["problems"] == []
