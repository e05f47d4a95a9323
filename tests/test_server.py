"""The HTTP server, run for real (uvicorn on loopback) over a workspace with the real embedder and
a scripted generator: OpenAI's wire format, the native API, uploads and ingest jobs, the queue,
and bad input."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
from conftest import FakeGenerator
from serving import finished, serving

from industry_expert import Workspace
from industry_expert.ingest.yielding import answering_flag

CAPEX = "What was Northwind's capital expenditure in fiscal 2023?"


def sse(response: httpx.Response) -> Iterator[dict]:
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line[6:]
            if data == "[DONE]":
                yield {"done": True}
            else:
                yield json.loads(data)


def test_models_and_a_cited_answer_in_openai_format(served_ws: Path) -> None:
    gen = FakeGenerator(["Capital expenditure was $38.4 million in fiscal 2023 [1]."])
    with serving(served_ws, gen, tuned={"fin": FakeGenerator(["Tuned."])}) as live, live.client() as http:
        models = http.get("/v1/models").json()
        ids = [m["id"] for m in models["data"]]
        assert ids[:6] == ["rag", "base", "rag+ft", "ft", "rag+ft:fin", "ft:fin"]
        assert "all-MiniLM-L6-v2" in ids and all(m["object"] == "model" for m in models["data"])
        body = {"model": "rag", "messages": [{"role": "user", "content": CAPEX}]}
        reply = http.post("/v1/chat/completions", json=body).json()
        message = reply["choices"][0]["message"]
        assert reply["object"] == "chat.completion" and reply["model"] == "rag"
        assert message["content"] == "Capital expenditure was $38.4 million in fiscal 2023 [1]."
        (note,) = message["annotations"]
        assert note["type"] == "url_citation"
        cite = note["url_citation"]
        assert message["content"][cite["start_index"] : cite["end_index"]] == "[1]"
        assert cite["url"].startswith(live.url + "/documents/") and cite["title"].endswith("capex.md")
        assert (
            reply["usage"]["total_tokens"]
            == reply["usage"]["prompt_tokens"] + reply["usage"]["completion_tokens"]
        )
        assert "sources" not in reply  # opt-in
        # the citation's URL opens the cited file
        assert "38.4 million" in http.get(cite["url"].split("#")[0]).text
        # with "sources": the passages and the answer's checks
        reply = http.post("/v1/chat/completions", json={**body, "sources": True}).json()
        (source,) = reply["sources"]
        assert source["source"].endswith("capex.md") and "$38.4 million" in source["passage"]
        assert source["score"] > 0 and source["url"] == cite["url"]
        assert reply["found"] is True and reply["unsupported"] == [] and reply["quoted"] is False
        # a tuned mode without retrieval answers with the tuned model and cites nothing
        reply = http.post("/v1/chat/completions", json={"model": "ft", "messages": body["messages"]}).json()
        assert (
            reply["choices"][0]["message"]["content"] == "Tuned."
            and reply["choices"][0]["message"]["annotations"] == []
        )


def test_streaming_sends_chunks_then_citations_usage_and_done(served_ws: Path) -> None:
    gen = FakeGenerator(["Capital expenditure was $38.4 million in fiscal 2023 [1]."])
    with serving(served_ws, gen) as live, live.client() as http:
        body = {
            "model": "rag",
            "stream": True,
            "stream_options": {"include_usage": True},
            "sources": True,
            "messages": [{"role": "user", "content": CAPEX}],
        }
        with http.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = list(sse(response))
    assert events[-1] == {"done": True}
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Capital expenditure was $38.4 million in fiscal 2023 [1]."
    last = [c for c in chunks if c["choices"]][-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    (note,) = last["choices"][0]["delta"]["annotations"]
    assert text[note["url_citation"]["start_index"] : note["url_citation"]["end_index"]] == "[1]"
    assert last["sources"][0]["source"].endswith("capex.md") and last["content"] == text
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_a_follow_up_is_rewritten_for_retrieval_as_in_chat(served_ws: Path) -> None:
    gen = FakeGenerator(["What was Northwind's revenue in fiscal 2023?", "It was $512.0 million [1]."])
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": CAPEX},
        {"role": "assistant", "content": "It was $38.4 million [1]."},
        {"role": "user", "content": "And the revenue?"},
    ]
    with serving(served_ws, gen) as live, live.client() as http:
        reply = http.post(
            "/v1/chat/completions", json={"model": "rag", "messages": messages, "sources": True}
        ).json()
    rewrite, answer = gen.calls
    assert "standalone question" in rewrite[0]["content"] and "And the revenue?" in rewrite[-1]["content"]
    assert any(m["role"] == "assistant" and "$38.4 million" in m["content"] for m in answer)  # the history
    assert not any("terse" in m["content"] for m in answer)  # a client's system message is not passed on
    assert reply["sources"][0]["source"].endswith("revenue.md")


def test_embeddings_in_float_and_base64(served_ws: Path) -> None:
    with serving(served_ws, FakeGenerator()) as live, live.client() as http:
        texts = ["capital expenditure", "paid leave"]
        plain = http.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": texts}).json()
        packed = http.post(
            "/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": texts, "encoding_format": "base64"}
        ).json()
        direct = live.state.ws.embedder.embed_batch(texts)
    assert [d["index"] for d in plain["data"]] == [0, 1] and plain["usage"]["prompt_tokens"] > 0
    assert np.allclose(np.array([d["embedding"] for d in plain["data"]]), direct, atol=1e-6)
    import base64

    decoded = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in packed["data"]]
    assert np.allclose(np.array(decoded), direct, atol=1e-6)


def test_native_search_collections_documents_and_status(served_ws: Path) -> None:
    with serving(served_ws, FakeGenerator()) as live, live.client() as http:
        found = http.get("/api/search", params={"q": "paid leave days", "k": 2}).json()
        assert found["query"] == "paid leave days" and found["hits"][0]["source"].endswith("leave.md")
        assert set(found["hits"][0]) >= {
            "chunk_id",
            "source",
            "page",
            "locator",
            "score",
            "text",
            "collection",
        }
        only = http.get("/api/search", params={"q": "paid leave days", "collection": "finance"}).json()
        assert all(h["collection"] == "finance" for h in only["hits"])
        names = {c["name"]: c["documents"] for c in http.get("/api/collections").json()["data"]}
        assert names == {"finance": 2, "hr": 1}
        docs = http.get("/api/documents").json()["data"]
        assert sorted(Path(d["source"]).name for d in docs) == ["capex.md", "leave.md", "revenue.md"]
        one = http.get(f"/api/documents/{docs[0]['id']}").json()
        assert one["passages"] and one["passages"][0]["text"]
        status = http.get("/api/status").json()
        assert (
            status["documents"] == 3
            and status["models"] == ["rag", "base"]
            and status["keys_required"] is False
        )
        assert status["queue"]["running"] == 0 and status["problems"] is None
        assert "/v1/chat/completions" in http.get("/openapi.json").json()["paths"]
        assert http.get("/healthz").json()["status"] == "ok"


def test_upload_ingests_in_a_job_then_forget_removes_it(served_ws: Path, tmp_path: Path) -> None:
    stale = served_ws / "uploads" / "ops" / ".1a2b3c4d.safety.md.partial"  # a crash cut this upload
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a fi")
    with serving(served_ws, FakeGenerator()) as live, live.client() as http:
        assert not stale.exists()
        files = [
            (
                "files",
                (
                    "safety.md",
                    b"# Safety\n\nThe Dayton plant had 3 lost-time incidents in 2023.\n",
                    "text/markdown",
                ),
            ),
            ("files", ("broken.pdf", b"%PDF-1.7 not really", "application/pdf")),
        ]
        job = http.post("/api/collections/ops/files", files=files).json()
        assert job["status"] in ("queued", "running", "done") and job["collection"] == "ops"
        job = finished(http, job)
        assert job["status"] == "done", job
        by_name = {Path(r["path"]).name: r for r in job["results"]}
        assert by_name["safety.md"]["status"] == "added" and by_name["safety.md"]["chunks"] == 1
        assert by_name["broken.pdf"]["status"] == "skipped" and by_name["broken.pdf"]["reason"]
        hits = http.get(
            "/api/search", params={"q": "lost-time incidents Dayton", "collection": "ops"}
        ).json()["hits"]
        assert hits[0]["source"] == "uploads/ops/safety.md"
        uploads = served_ws / "uploads" / "ops"
        assert sorted(p.name for p in uploads.iterdir()) == ["safety.md"]  # the unreadable file is not kept
        # the same name again is an update, answered when done with ?wait=true
        again = [
            (
                "files",
                (
                    "safety.md",
                    b"# Safety\n\nThe Dayton plant had 2 lost-time incidents in 2023.\n",
                    "text/markdown",
                ),
            )
        ]
        done = http.post("/api/collections/ops/files", params={"wait": True}, files=again)
        assert done.status_code == 200 and done.json()["results"][0]["status"] == "updated"
        doc = next(d for d in http.get("/api/documents", params={"collection": "ops"}).json()["data"])
        assert http.delete(f"/api/documents/{doc['id']}").json() == {"removed": ["uploads/ops/safety.md"]}
        assert not (uploads / "safety.md").exists()
        assert http.get("/api/collections").json()["data"] == [
            {"name": "finance", "documents": 2, "chunks": 2},
            {"name": "hr", "documents": 1, "chunks": 1},
        ]
    with Workspace.open(served_ws) as ws:
        assert ws.status()["problems"] == []


BAD = [
    # (method, path, keyword arguments, status, words in the message)
    ("post", "/v1/chat/completions", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ("post", "/v1/chat/completions", {"json": {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}}, 404, "'gpt-4' does not exist"),
    ("post", "/v1/chat/completions", {"json": {"model": "rag"}}, 400, "messages"),
    ("post", "/v1/chat/completions", {"json": {"model": "rag", "messages": []}}, 400, "at least one message"),
    ("post", "/v1/chat/completions", {"json": {"model": "rag", "messages": [{"role": "user", "content": "  "}]}}, 400, "empty"),
    ("post", "/v1/chat/completions", {"json": {"model": "rag", "messages": [{"role": "user", "content": "x" * 30_000}]}}, 413, "30,000 characters"),
    ("post", "/v1/chat/completions", {"json": {"model": "rag", "messages": [{"role": "assistant", "content": "hi"}]}}, 400, "last message"),
    ("post", "/v1/chat/completions", {"json": {"model": "rag", "collection": "nope", "messages": [{"role": "user", "content": "hi"}]}}, 404, "no collection 'nope'"),
    ("post", "/v1/chat/completions", {"json": {"model": "rag", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}}, 400, "only text"),
    ("post", "/v1/embeddings", {"json": {"model": "all-MiniLM-L6-v2", "input": [[1, 2, 3]]}}, 400, "token arrays"),
    ("post", "/v1/embeddings", {"json": {"model": "text-embedding-3-small", "input": "x"}}, 404, "does not exist"),
    ("get", "/api/search", {"params": {"q": "leave", "collection": "nope"}}, 404, "no collection"),
    ("get", "/api/search", {"params": {"q": "leave", "k": 0}}, 400, "k"),
    ("get", "/api/search", {}, 400, "q"),
    ("get", "/api/documents/999", {}, 404, "no document 999"),
    ("get", "/api/jobs/nope", {}, 404, "no ingest job"),
    ("get", "/nowhere", {}, 404, "openapi.json"),
    ("post", "/api/collections/hr/files", {"files": [("files", ("../../evil.md", b"x", "text/plain"))]}, 400, "not allowed"),
    ("post", "/api/collections/hr/files", {"files": [("files", (".hidden", b"x", "text/plain"))]}, 400, "not allowed"),
    ("post", "/api/collections/hr/files", {"files": [("files", ("big.txt", b"x" * 2_000_000, "text/plain"))]}, 413, "MB"),
    ("post", "/api/collections/bad%20name!/files", {"files": [("files", ("a.txt", b"x", "text/plain"))]}, 400, "not valid"),
    ("post", "/api/collections/..%2Fetc/files", {"files": [("files", ("a.txt", b"x", "text/plain"))]}, 404, "nothing at"),
    ("post", "/api/collections/hr/files", {"data": {"note": "no file"}}, 400, "multipart"),
    ("post", "/api/collections/hr/files", {"files": {"note": (None, "no file")}}, 400, "no file"),
]  # fmt: skip


def test_bad_requests_get_one_clear_4xx_and_nothing_is_written(served_ws: Path) -> None:
    gen = FakeGenerator()
    with serving(served_ws, gen, overrides={"serve.max_upload_mb": 1}) as live, live.client() as http:
        for method, path, kw, status, words in BAD:
            response = getattr(http, method)(path, **kw)
            assert response.status_code == status, (path, kw, response.text)
            error = response.json()["error"]
            assert words in error["message"] and error["type"], (path, error)
            assert "\n" not in error["message"] and "Traceback" not in error["message"]
        assert http.get("/healthz").status_code == 200  # still up
        assert gen.calls == [] and live.state.jobs.all() == []
    assert not (served_ws / "uploads").exists() or not any((served_ws / "uploads").rglob("*"))


class SlowGenerator(FakeGenerator):
    """Writes one piece every ``delay`` seconds and notes whether it was stopped early."""

    def __init__(self, pieces: int = 200, delay: float = 0.02) -> None:
        super().__init__(["x"])
        self.pieces, self.delay = pieces, delay
        self.stopped = threading.Event()
        self.finished = 0

    def stream(self, messages, max_tokens: int = 512, temperature: float = 0.0):  # type: ignore[no-untyped-def]
        self.calls.append([dict(m) for m in messages])
        try:
            for i in range(self.pieces):
                time.sleep(self.delay)
                yield f"w{i} "
            self.finished += 1
        except GeneratorExit:
            self.stopped.set()
            raise


def test_a_full_queue_answers_503_with_retry_after(served_ws: Path) -> None:
    gen = SlowGenerator(pieces=60, delay=0.02)
    body = {"model": "base", "messages": [{"role": "user", "content": "Tell me about pumps"}]}
    with serving(served_ws, gen, overrides={"serve.queue": 1}) as live:
        results: list[int] = []

        def call() -> None:
            with live.client() as http:
                results.append(http.post("/v1/chat/completions", json=body).status_code)

        threads = [threading.Thread(target=call) for _ in range(2)]  # one runs, one waits
        for t in threads:
            t.start()
        while live.state.queue.running < 1 or live.state.queue.waiting < 1:  # one answers, one waits
            time.sleep(0.01)
        flag = answering_flag(served_ws)
        assert flag.read_text() == str(os.getpid())  # ingest here waits while the model is wanted
        with live.client() as http:
            busy = http.post("/v1/chat/completions", json=body)
        for t in threads:
            t.join()
        assert not flag.exists()
    assert busy.status_code == 503 and int(busy.headers["Retry-After"]) >= 1
    assert "busy" in busy.json()["error"]["message"]
    assert sorted(results) == [200, 200] and gen.finished == 2


def test_a_client_that_leaves_mid_stream_frees_the_model(served_ws: Path) -> None:
    gen = SlowGenerator(pieces=500, delay=0.02)  # 10 s if nobody stops it
    body = {"model": "base", "stream": True, "messages": [{"role": "user", "content": "Tell me about pumps"}]}
    with serving(served_ws, gen) as live:
        with live.client() as http, http.stream("POST", "/v1/chat/completions", json=body) as response:
            for n, _ in enumerate(response.iter_lines()):
                if n > 5:
                    break  # leave after a few pieces
        assert gen.stopped.wait(5), "the model was not stopped"
        started = time.monotonic()
        while live.state.queue.running:
            assert time.monotonic() - started < 5
            time.sleep(0.01)
        gen.pieces = 3
        with live.client() as http:  # the next request is served at once
            reply = http.post("/v1/chat/completions", json={**body, "stream": False})
        assert reply.status_code == 200 and time.monotonic() - started < 3


def test_evaluation_reports_are_listed_and_served(served_ws: Path, tmp_path: Path) -> None:
    from industry_expert.config import AnswerSettings
    from industry_expert.evaluate.questions import EvalQuestion, Evidence
    from industry_expert.evaluate.run import run_eval

    runs = tmp_path / "evals"
    questions = [EvalQuestion(1, "q1", CAPEX, "$38.4 million", "figure", (Evidence("capex.md"),))]
    gen = FakeGenerator(["It was $38.4 million [1]."])
    with Workspace.open(served_ws) as ws:
        run_eval(
            questions,
            {"base": gen, "rag": gen},
            ws.retriever,
            AnswerSettings(unsupported="warn"),
            runs / "r1",
        )
    with serving(served_ws, FakeGenerator(), evaluations=runs) as live, live.client() as http:
        (listed,) = http.get("/api/evaluations").json()["data"]
        assert listed["name"] == "r1" and listed["questions"] == 1 and listed["modes"] == ["base", "rag"]
        assert http.get(listed["summary"]).json()["questions"] == 1
        page = http.get(listed["report"])
        assert page.headers["content-type"].startswith("text/html") and "$38.4 million" in page.text
        assert http.get("/api/evaluations/../r1").status_code == 404
        assert http.get("/api/evaluations/nope/report").status_code == 404
