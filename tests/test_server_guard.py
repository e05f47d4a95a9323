"""No way in through the server: documents are served inert, the page runs only its own scripts,
request bodies are bounded before they are read, and a busy model answers fast with 503 and
Retry-After instead of leaving a client to time out. The real server (uvicorn on loopback) over a
workspace with the real embedder and scripted generators."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import pytest
from serving import serving
from test_server import SlowGenerator

from industry_expert.server.guard import Guard, document_headers

CAPEX = "What was Northwind's capital expenditure in fiscal 2023?"
SCRIPT = "<html><body><script>document.title='pwned'</script><img src=x onerror=alert(1)>hi</body></html>"


@pytest.mark.parametrize(
    ("name", "media", "disposition"),
    [
        ("q3.html", "text/html", "attachment"),
        ("q3.htm", "text/html", "attachment"),
        ("logo.svg", "image/svg+xml", "attachment"),
        ("feed.xml", "application/xml", "attachment"),
        ("page.xhtml", "application/xhtml+xml", "attachment"),
        ("report.pdf", "application/pdf", "inline"),
        ("notes.md", "text/plain; charset=utf-8", "inline"),
        ("plants.csv", "text/plain; charset=utf-8", "inline"),
        ("notes.txt", "text/plain; charset=utf-8", "inline"),
        ("scan.png", "image/png", "inline"),
        ("deck.pptx", None, "attachment"),
        ("book.xlsx", None, "attachment"),
        ("memo.docx", None, "attachment"),
        ("data.json", "application/json", "attachment"),
        ("unknown.zzz", "application/octet-stream", "attachment"),
    ],
)
def test_every_type_is_served_inert(name: str, media: str | None, disposition: str) -> None:
    got_media, got_disposition, headers = document_headers(Path(name))
    if media is not None:
        assert got_media == media
    assert got_disposition == disposition
    assert headers["X-Content-Type-Options"] == "nosniff"
    policy = headers["Content-Security-Policy"]
    assert policy.startswith("sandbox") and "script-src" not in policy and "default-src 'none'" in policy


def test_every_loaders_type_is_inline_only_when_a_browser_runs_nothing_in_it() -> None:
    from industry_expert.ingest import LOADERS

    runs = {"text/html", "image/svg+xml", "application/xml", "text/xml", "application/xhtml+xml"}
    for extension in LOADERS:
        media, disposition, headers = document_headers(Path(f"doc{extension}"))
        if media.split(";")[0] in runs:
            assert disposition == "attachment", extension
        if disposition == "inline":
            assert media.split(";")[0] in {"application/pdf", "text/plain", "image/png", "image/jpeg",
                                           "image/gif", "image/webp"}, extension  # fmt: skip
        assert headers["Content-Security-Policy"].startswith("sandbox"), extension


def test_documents_and_the_page_carry_their_policies(served_ws: Path, tmp_path: Path) -> None:
    with serving(served_ws) as live, live.client() as http:
        page = http.get("/")
        policy = page.headers["content-security-policy"]
        assert (
            "script-src 'self'" in policy
            and "unsafe-inline" not in policy
            and "frame-ancestors 'none'" in policy
        )
        assert page.headers["x-content-type-options"] == "nosniff"
        assert http.get("/static/app.js").headers["content-security-policy"] == policy
        doc = http.get("/api/documents").json()["data"][0]
        original = http.get(f"/documents/{doc['id']}")
        assert original.status_code == 200
        assert original.headers["content-security-policy"].startswith("sandbox")
        assert original.headers["x-content-type-options"] == "nosniff"
        assert original.headers["content-type"].startswith("text/plain")  # Markdown is text, never markup
        listing = http.get("/api/documents")
        assert listing.headers["content-security-policy"].startswith("sandbox")  # JSON never runs either


def test_an_uploaded_html_document_is_an_attachment_that_cannot_run(served_ws: Path, tmp_path: Path) -> None:
    with serving(served_ws) as live, live.client() as http:
        files = [("files", ("report_q3.html", SCRIPT.encode(), "text/html")),
                 ("files", ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
                            "image/svg+xml"))]  # fmt: skip
        job = http.post("/api/collections/finance/files?wait=true", files=files).json()
        assert job["status"] == "done", job
        docs = {d["source"].split("/")[-1]: d for d in http.get("/api/documents").json()["data"]}
        for name in ("report_q3.html", "logo.svg"):
            if name not in docs:
                continue  # a type no loader reads is not stored (and so not served)
            served = http.get(f"/documents/{docs[name]['id']}")
            assert served.headers["content-disposition"].startswith("attachment"), name
            assert served.headers["content-security-policy"].startswith("sandbox"), name
        assert "report_q3.html" in docs


def test_a_json_body_over_the_limit_is_refused_before_it_is_read(served_ws: Path) -> None:
    with serving(served_ws, overrides={"serve.max_body_kb": 200}) as live, live.client() as http:
        huge = b'{"model": "rag", "messages": [{"role": "user", "content": "' + b"a" * 5_000_000 + b'"}]}'
        started = time.monotonic()
        reply = http.post("/v1/chat/completions", content=huge, headers={"Content-Type": "application/json"})
        assert reply.status_code == 413 and time.monotonic() - started < 5
        error = reply.json()["error"]
        assert error["type"] == "request_too_large" and "serve.max_body_kb" in error["message"]

        def chunks():  # no Content-Length: cut off once it passes the limit
            yield b'{"model": "rag", "messages": [{"role": "user", "content": "'
            for _ in range(100):
                yield b"b" * 10_000
            yield b'"}]}'

        streamed = http.post(
            "/v1/chat/completions", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413 and streamed.json()["error"]["type"] == "request_too_large"
        assert http.get("/healthz").status_code == 200


def test_a_declared_length_over_the_limit_is_answered_without_reading_a_byte(served_ws: Path) -> None:
    with serving(served_ws, overrides={"serve.max_body_kb": 200}) as live:
        with socket.create_connection(("127.0.0.1", live.port), timeout=5) as raw:
            raw.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 200000000\r\n\r\n"
            )
            head = raw.recv(4096).decode()
        assert head.startswith("HTTP/1.1 413"), head


def test_the_guard_stops_reading_a_body_without_a_length() -> None:
    seen: list[bytes] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            seen.append(message["body"])
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    pieces = [{"type": "http.request", "body": b"x" * 400, "more_body": True} for _ in range(10)]
    sent: list[dict] = []

    async def receive():  # type: ignore[no-untyped-def]
        return pieces.pop(0)

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    scope = {"type": "http", "path": "/v1/chat/completions", "headers": []}
    asyncio.run(Guard(app, lambda scope: (1000, "serve.max_body_kb"))(scope, receive, send))
    assert sent[0]["status"] == 413 and len(sent) == 2
    assert len(seen) == 2  # the third piece passed the limit and never reached the app


def test_a_long_wait_for_the_model_ends_in_503_with_retry_after(served_ws: Path) -> None:
    gen = SlowGenerator(pieces=100, delay=0.03)  # 3 s an answer
    body = {"model": "base", "messages": [{"role": "user", "content": "Tell me about pumps"}]}
    with serving(served_ws, gen, overrides={"serve.max_wait_s": 1.0, "serve.queue": 8}) as live:
        results: list[tuple[int, float, str | None]] = []

        def call() -> None:
            started = time.monotonic()
            with live.client() as http:
                reply = http.post("/v1/chat/completions", json=body)
            results.append((reply.status_code, time.monotonic() - started, reply.headers.get("retry-after")))

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    statuses = sorted(s for s, _, _ in results)
    assert statuses.count(200) >= 1 and statuses.count(503) >= 2, results
    for status, seconds, retry in results:
        if status == 503:
            assert seconds < 3 and retry is not None and int(retry) >= 1, results


def test_requests_waiting_for_the_model_are_served_in_order() -> None:
    from industry_expert.server.queue import ModelQueue

    async def run() -> list[int]:
        queue = ModelQueue(parallel=1, limit=8, max_wait=30)
        served: list[int] = []

        async def never_gone() -> bool:
            return False

        async def request(i: int) -> None:
            await queue.acquire(never_gone, poll=0.01)
            served.append(i)
            await asyncio.sleep(0.03)  # longer than a poll: an unordered queue would let a later one in
            queue.release(0.03)

        tasks = []
        for i in range(6):
            tasks.append(asyncio.ensure_future(request(i)))
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
        return served

    assert asyncio.run(run()) == [0, 1, 2, 3, 4, 5]
