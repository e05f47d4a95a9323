"""Documents from an S3-compatible bucket (ingest/s3.py, ingest/sources.py), against moto's S3
server on loopback: incremental by ETag, deletions pruned, credentials from the environment and
never kept, and a refusal in one line that changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from industry_expert import Workspace

pytestmark = pytest.mark.slow
SECRET = "s3cr3t-never-written-5f2a"
STATIC = {"embedder.backend": "static", "embedder.model": "wordllama-l2-supercat"}


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from moto import settings
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    httpx.post(f"http://{host}:{port}/moto-api/reset")  # moto keeps its buckets per process
    client = boto3.client("s3")
    client.create_bucket(Bucket="docs")
    try:
        yield client
    finally:
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
        server.stop()


def put(client: Any, key: str, text: str) -> None:
    client.put_object(Bucket="docs", Key=key, Body=text.encode())


def test_a_bucket_is_ingested_incrementally_and_its_deletions_pruned(bucket: Any, tmp_path: Path) -> None:
    put(bucket, "policies/leave.md", "# Leave\n\nEvery employee receives 27 days of paid leave.\n")
    put(bucket, "policies/travel.md", "# Travel\n\nTrain travel is booked in second class.\n")
    put(bucket, "other/notes.md", "# Notes\n\nNot under the prefix.\n")
    with Workspace.init(tmp_path / "ws", STATIC) as ws:
        first = ws.ingest(["s3://docs/policies/"], collection="hr")
        assert sorted(first.added) == ["s3://docs/policies/leave.md", "s3://docs/policies/travel.md"]
        [hit] = ws.search("paid leave days", k=1)
        assert hit.source == "s3://docs/policies/leave.md" and hit.collection == "hr"
        keys = {d.key for d in ws.sources()}
        assert keys == {"s3://docs/policies/leave.md", "s3://docs/policies/travel.md"}
        again = ws.ingest(["s3://docs/policies/"], collection="hr")
        assert (again.added, again.updated, len(again.unchanged), again.removed) == ([], [], 2, [])
        # changed, deleted and added in the bucket
        put(bucket, "policies/leave.md", "# Leave\n\nEvery employee receives 30 days of paid leave.\n")
        bucket.delete_object(Bucket="docs", Key="policies/travel.md")
        put(bucket, "policies/remote.md", "# Remote work\n\nTwo days a week may be worked from home.\n")
        third = ws.ingest(["s3://docs/policies/"], collection="hr")
        assert third.updated == ["s3://docs/policies/leave.md"]
        assert third.added == ["s3://docs/policies/remote.md"]
        assert third.removed == ["s3://docs/policies/travel.md"]
        assert "30 days" in ws.search("paid leave days", k=1)[0].text
    # the credentials are the environment's: nothing of them is in the workspace
    for path in (tmp_path / "ws").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def run(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXPERT_WORKSPACE": str(ws)}
    command = [sys.executable, "-m", "industry_expert.cli", "ingest", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_a_bucket_that_refuses_the_credentials_changes_nothing(bucket: Any, tmp_path: Path) -> None:
    from moto import settings

    put(bucket, "policies/leave.md", "# Leave\n\nEvery employee receives 27 days of paid leave.\n")
    ws = tmp_path / "ws"
    Workspace.init(ws, STATIC).close()
    assert run(ws, "s3://docs/policies/", "--collection", "hr").returncode == 0
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on the server checks keys: ours is unknown
    refused = run(ws, "s3://docs/policies/", "--collection", "hr")
    assert refused.returncode == 2 and "refused the credentials (InvalidAccessKeyId)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and SECRET not in refused.stderr + refused.stdout
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    missing = run(ws, "s3://nobucket/", "--collection", "hr")
    assert missing.returncode == 2 and "there is no bucket nobucket" in missing.stderr
    with Workspace.open(ws) as opened:
        assert [d.source for d in opened.sources()] == ["s3://docs/policies/leave.md"]  # nothing lost


def test_an_unknown_scheme_is_one_line(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    Workspace.init(ws, STATIC).close()
    result = run(ws, "gopher://example/x")
    assert result.returncode == 2 and "no source for gopher://" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A web site on loopback: Python's own file server (Last-Modified, 304 on If-Modified-Since),
    plus a page that redirects to another host."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path / "site"
    root.mkdir()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            failing = root / "status.json"  # {"/path": status} for pages that fail on purpose
            if failing.exists() and self.path in json.loads(failing.read_text()):
                self.send_error(json.loads(failing.read_text())[self.path])
                return
            if self.path == "/away":
                self.send_response(302)
                self.send_header("Location", "http://elsewhere.invalid/")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()


def page(title: str, body: str, links: tuple[str, ...] = ()) -> str:
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{body}</p><ul>{anchors}</ul></body></html>"


def test_a_web_site_is_read_within_its_host_as_robots_txt_allows(
    site: tuple[str, Path], tmp_path: Path
) -> None:
    import time

    from fpdf import FPDF

    base, root = site
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (root / "handbook").mkdir()
    (root / "private").mkdir()
    links = (
        "leave.html",
        "travel.html",
        "../private/salaries.html",
        "report.pdf",
        "http://elsewhere.invalid/x",
        "logo.png",
    )
    (root / "handbook" / "index.html").write_text(page("Handbook", "The staff handbook.", links))
    (root / "handbook" / "leave.html").write_text(
        page("Leave", "Every employee receives 27 days of paid leave.")
    )
    (root / "handbook" / "travel.html").write_text(page("Travel", "Train travel is booked in second class."))
    (root / "private" / "salaries.html").write_text(page("Salaries", "Confidential pay bands."))
    (root / "handbook" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, "Safety report: 3 lost-time incidents in 2023.")
    pdf.output(str(root / "handbook" / "report.pdf"))
    start = f"{base}/handbook/"
    with Workspace.init(tmp_path / "ws", STATIC) as ws:
        first = ws.ingest([start], collection="intranet")
        assert sorted(first.added) == sorted(
            [
                start,
                f"{base}/handbook/leave.html",
                f"{base}/handbook/travel.html",
                f"{base}/handbook/report.pdf",
            ]
        )  # not the page robots.txt disallows, not another host, not the image
        hit = ws.search("paid leave days", k=1)[0]
        assert hit.source == f"{base}/handbook/leave.html"
        assert ws.search("lost-time incidents", k=1)[0].source == f"{base}/handbook/report.pdf"
        again = ws.ingest([start], collection="intranet")
        assert (again.added, again.updated, again.removed, len(again.unchanged)) == ([], [], [], 4)
        # a page changed, one unlinked and deleted
        time.sleep(1.1)  # Last-Modified has whole seconds
        (root / "handbook" / "leave.html").write_text(
            page("Leave", "Every employee receives 30 days of paid leave.")
        )
        (root / "handbook" / "travel.html").unlink()
        third = ws.ingest([start], collection="intranet")
        assert third.updated == [f"{base}/handbook/leave.html"]
        assert third.removed == [f"{base}/handbook/travel.html"]
        assert "30 days" in ws.search("paid leave days", k=1)[0].text
        assert all("salaries" not in d.source for d in ws.sources())


def test_a_start_page_that_is_not_html_or_leaves_the_host_is_one_line(
    site: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = site
    (root / "data.bin").write_bytes(b"\x00\x01")
    ws = tmp_path / "ws"
    Workspace.init(ws, STATIC).close()
    for url, words in (
        (f"{base}/data.bin", "is not an HTML page"),
        (f"{base}/away", "outside http://127.0.0.1"),
        (f"{base}/missing.html", "answered 404"),
    ):
        result = run(ws, url)
        assert result.returncode == 2 and words in result.stderr, (url, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    with Workspace.open(ws) as opened:
        assert opened.sources() == []


def test_a_site_that_fails_for_a_moment_keeps_what_it_had(site: tuple[str, Path], tmp_path: Path) -> None:
    """Links no path can hold do not stop a run; a page failing (503, 429) keeps itself and what it
    links; a start page failing changes nothing; a file over ingest.max_file_mb is not fetched whole."""
    base, root = site
    (root / "hub").mkdir()
    odd = (
        "/nul%00byte",
        "/dir.html",
        "/dir.html/",
        "/" + "/".join(["d" * 199] * 25),
        "/index.html",
        "/big.txt",
    )
    (root / "index.html").write_text(page("Start", "The start page.", ("hub/", *odd)))
    (root / "hub" / "index.html").write_text(page("Hub", "The hub.", ("child.html",)))
    (root / "hub" / "child.html").write_text(page("Child", "The pump line ran 40 hours."))
    (root / "dir.html").write_text(page("Dir", "A page named like a folder."))
    (root / "big.txt").write_bytes(b"x" * 3_000_000)
    with Workspace.init(tmp_path / "ws", {**STATIC, "ingest.max_file_mb": 1}) as ws:
        first = ws.ingest([f"{base}/"], collection="web")
        names = {s.removeprefix(base) for s in first.added}
        assert {
            "/",
            "/hub/",
            "/hub/child.html",
            "/dir.html",
            "/index.html",
        } <= names and "/big.txt" not in names
        mirror = next((tmp_path / "ws" / "sources").iterdir()) / "files"
        assert all(p.stat().st_size < 1_000_000 for p in mirror.iterdir())  # the big file was not kept
        before = {d.source for d in ws.sources()}
        for status in (503, 429):  # the hub fails for a moment: it and the page it links stay
            (root / "status.json").write_text(json.dumps({"/hub/": status}))
            again = ws.ingest([f"{base}/"], collection="web")
            assert again.removed == [] and {d.source for d in ws.sources()} == before
        (root / "status.json").write_text(json.dumps({"/": 503}))  # the start page fails: nothing changes
        with pytest.raises(Exception, match="answered 503; nothing was changed"):
            ws.ingest([f"{base}/"], collection="web")
        assert {d.source for d in ws.sources()} == before
