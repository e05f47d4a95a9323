"""Several servers and several ingest workers over one PostgreSQL store (jobs/database.py,
jobs/worker.py): the real PostgreSQL on loopback (tests/postgres_server.py), two uvicorn servers,
and ``expert worker`` processes; a race, a killed worker, and the faults each give one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import finished, serving

from industry_expert import Workspace

pytestmark = pytest.mark.slow

# a worker silent for 2 s is taken for dead; documents are stored a few at a time, so a kill lands mid-job
FAST = {
    "serve.worker_heartbeat_s": 0.5,
    "serve.worker_stalled_s": 2.0,
    "serve.ingest_workers": 0,
    "ingest.embed_group": 40,
}


def note(text: str, n: int = 1) -> bytes:
    return f"# Note {text}\n\n".encode() + b"".join(
        f"Paragraph {i} of {text}: the pump line in plant {i % 7} ran {i} hours.\n\n".encode()
        for i in range(n)
    )


@pytest.fixture
def store_url() -> str:
    from postgres_server import fresh_database

    return fresh_database("jobs")


@pytest.fixture
def workspace(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "ws"
    Workspace.init(path, {"store.url": store_url, **FAST}).close()
    return path


@contextmanager
def worker(ws: Path) -> Iterator[subprocess.Popen[str]]:
    """``expert worker`` on ``ws`` (as another machine would run it), stopped at the end."""
    env = {**os.environ, "EXPERT_WORKSPACE": str(ws)}
    child = subprocess.Popen(
        [sys.executable, "-m", "industry_expert.cli", "worker", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # the worker says it is ready once its workspace is open
        assert '"ready"' in line, (line, child.stderr.read() if child.poll() is not None else "")
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def lines(child: subprocess.Popen[str]) -> list[dict[str, Any]]:
    import json

    assert child.stdout is not None
    return [json.loads(x) for x in child.stdout.read().splitlines() if x.startswith("{")]


def upload(http: httpx.Client, collection: str, files: dict[str, bytes]) -> dict[str, Any]:
    response = http.post(
        f"/api/collections/{collection}/files",
        files=[("files", (name, data, "text/markdown")) for name, data in files.items()],
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def chunks_by_document(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT d.key, COUNT(c.id) FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.key"
        ).fetchall()
    return {k: n for k, n in rows}


@pytest.mark.long
def test_two_servers_and_two_workers_share_one_queue(workspace: Path, store_url: str) -> None:
    """An upload to either server is run once by one of the workers; every server shows the same
    job; nothing is kept on a server's disk."""
    with ExitStack() as stack:
        a = stack.enter_context(serving(workspace))
        b = stack.enter_context(serving(workspace))
        one, two = stack.enter_context(worker(workspace)), stack.enter_context(worker(workspace))
        http_a, http_b = stack.enter_context(a.client()), stack.enter_context(b.client())
        jobs = []
        for i in range(8):  # both servers at once, faster than the workers take them
            http = (http_a, http_b)[i % 2]
            jobs.append(upload(http, "ops", {f"n{i}.md": note(f"N{i}", 3), f"m{i}.md": note(f"M{i}", 2)}))
        done = [finished(http_b, job, 120) for job in jobs]
        assert [j["status"] for j in done] == ["done"] * 8, done
        for job in done:
            assert sorted(r["status"] for r in job["results"]) == ["added", "added"]
            assert http_a.get(f"/api/jobs/{job['id']}").json() == job  # the same from either server
        listed = {j["id"] for j in http_a.get("/api/jobs").json()["data"]}
        assert listed == {j["id"] for j in jobs} == {j["id"] for j in http_b.get("/api/jobs").json()["data"]}
        hit = http_a.get(
            "/api/search", params={"q": "Paragraph 2 of N5 pump line", "collection": "ops"}
        ).json()
        assert hit["hits"][0]["source"] == "uploads/ops/n5.md"
        assert http_b.get("/api/status").json()["jobs"] == {"queued": 0, "running": 0}
    ran = [e["job"] for child in (one, two) for e in lines(child) if e.get("status") == "done"]
    assert sorted(ran) == sorted(j["id"] for j in jobs)  # each job run once, by one worker
    keys = chunks_by_document(store_url)
    assert len(keys) == 16 and all(k.startswith("upload:uploads/ops/") for k in keys)
    assert not (workspace / "uploads").exists()  # the files were kept in the database, then dropped
    import psycopg

    with psycopg.connect(store_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM ingest_uploads").fetchone() == (0,)
        assert conn.execute("SELECT MAX(attempts) FROM ingest_jobs").fetchone() == (1,)
    with Workspace.open(workspace) as ws:
        assert ws.status(check=True)["problems"] == []


@pytest.mark.long
def test_a_killed_worker_s_job_is_run_again_by_another_without_losing_or_doubling_chunks(
    workspace: Path, store_url: str
) -> None:
    import psycopg

    files = {f"long{i}.md": note(f"L{i}", 300) for i in range(6)}
    with serving(workspace) as live, live.client() as http:
        with worker(workspace) as first:
            job = upload(http, "ops", files)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # kill it once it has stored some files, not all
                seen = http.get(f"/api/jobs/{job['id']}").json()
                if len(seen["results"]) >= 2:
                    break
                time.sleep(0.05)
            first.kill()
            first.wait()
        before = {r["path"]: r["chunks"] for r in seen["results"]}
        assert 2 <= len(before) < 6, seen
        assert http.get(f"/api/jobs/{job['id']}").json()["status"] == "running"  # as far as the row knows
        with worker(workspace) as second:
            done = finished(http, job, 180)
        log = lines(second)
    assert done["status"] == "done", done
    assert any(e["event"] == "stalled" and e["job"] == job["id"] for e in log), log
    status = {r["path"]: r["status"] for r in done["results"]}
    assert len(status) == 6
    assert all(status[p] == "unchanged" for p in before), status  # stored by the first run, kept
    assert all(s == "added" for p, s in status.items() if p not in before), status
    chunks = {**{r["path"]: r["chunks"] for r in done["results"] if r["status"] == "added"}, **before}
    stored = chunks_by_document(store_url)
    assert stored == {f"upload:{p}": n for p, n in chunks.items()}  # each document once, whole
    with psycopg.connect(store_url) as conn:
        assert conn.execute("SELECT attempts FROM ingest_jobs").fetchone() == (2,)
        assert conn.execute("SELECT COUNT(*) FROM ingest_uploads").fetchone() == (0,)


def test_a_job_whose_upload_vanished_fails_in_one_line_and_the_others_run(
    workspace: Path, store_url: str
) -> None:
    import psycopg

    with serving(workspace) as live, live.client() as http:
        gone = upload(http, "ops", {"a.md": note("A"), "b.md": note("B")})
        kept = upload(http, "ops", {"c.md": note("C")})
        with psycopg.connect(store_url, autocommit=True) as conn:  # an operator's purge, say
            conn.execute("DELETE FROM ingest_uploads WHERE job_id = %s AND name = 'b.md'", (gone["id"],))
        with worker(workspace):
            failed, done = finished(http, gone, 60), finished(http, kept, 60)
    assert failed["status"] == "failed" and done["status"] == "done"
    assert "uploads/ops/b.md is no longer in the store's database" in failed["error"]
    assert "\n" not in failed["error"] and "upload it again" in failed["error"]
    assert set(chunks_by_document(store_url)) == {"upload:uploads/ops/c.md"}


def test_a_job_that_stopped_its_workers_too_often_fails_in_one_line(workspace: Path, store_url: str) -> None:
    """A file that kills every worker that reads it (out of memory, say) must not kill them forever."""
    import psycopg

    with serving(workspace) as live, live.client() as http:
        job = upload(http, "ops", {"a.md": note("A")})
        with psycopg.connect(store_url, autocommit=True) as conn:  # as if three workers had died on it
            conn.execute("UPDATE ingest_jobs SET attempts = 3 WHERE id = %s", (job["id"],))
        with worker(workspace):
            failed = finished(http, job, 60)
    assert failed["status"] == "failed" and "stopped 3 times" in failed["error"], failed
    assert chunks_by_document(store_url) == {}


def test_a_server_runs_its_own_worker_by_default(workspace: Path) -> None:
    with serving(workspace, overrides={"serve.ingest_workers": 1}) as live, live.client() as http:
        response = http.post(
            "/api/collections/ops/files",
            params={"wait": True},
            files=[("files", ("x.md", note("X"), "text/plain"))],
        )
        assert response.status_code == 200 and response.json()["status"] == "done", response.text
        assert (
            http.get("/api/search", params={"q": "Note X pump line"}).json()["hits"][0]["source"]
            == "uploads/ops/x.md"
        )


def run_worker(ws: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXPERT_WORKSPACE": str(ws)}
    command = [sys.executable, "-m", "industry_expert.cli", "worker"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_a_worker_for_another_store_or_embedder_is_refused_in_one_line(
    tmp_path: Path, workspace: Path
) -> None:
    sqlite = tmp_path / "sqlite"
    Workspace.init(sqlite).close()
    cases = {}
    cases["sqlite"] = run_worker(sqlite)
    # the store's vectors are MiniLM's; this copy of the workspace names another embedder
    import shutil

    shutil.copytree(workspace, tmp_path / "static")
    settings = tmp_path / "static" / "expert.toml"
    settings.write_text(
        settings.read_text().replace(
            'backend = "onnx"\nmodel = "all-MiniLM-L6-v2"',
            'backend = "static"\nmodel = "wordllama-l2-supercat"',
            1,
        )
    )
    cases["embedder"] = run_worker(tmp_path / "static")
    shutil.copytree(workspace, tmp_path / "down")
    down = tmp_path / "down" / "expert.toml"
    url = next(x for x in down.read_text().splitlines() if x.startswith("url ="))
    down.write_text(down.read_text().replace(url, 'url = "postgresql://postgres@127.0.0.1:1/nowhere"'))
    cases["unreachable"] = run_worker(tmp_path / "down")
    words = {
        "sqlite": "runs the jobs of a PostgreSQL store",
        "embedder": "vectors were made by",
        "unreachable": "127.0.0.1:1",
    }
    for name, result in cases.items():
        assert result.returncode == 2, (name, result.stderr)
        assert words[name] in result.stderr and len(result.stderr.strip().splitlines()) == 1, (
            name,
            result.stderr,
        )
        assert "Traceback" not in result.stderr
