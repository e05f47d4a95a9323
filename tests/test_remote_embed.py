"""The embedding APIs against a local HTTP server that speaks their wire format."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from industry_expert.config import EmbedderSettings
from industry_expert.embed import create_embedder, embed_query
from industry_expert.errors import EmbedderError, UnreachableError


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict]] = []
        self.fail_first = 0
        self.status = 200


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            rec.requests.append((self.path, dict(self.headers), body))
            if rec.fail_first:
                rec.fail_first -= 1
                self.send_response(503)
                self.end_headers()
                return
            if rec.status != 200:
                self.send_response(rec.status)
                self.end_headers()
                self.wfile.write(b'{"error": {"message": "bad key"}}')
                return
            dims = body.get("dimensions", 8)
            data = [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": [float(len(t) % 7 + 1)] + [float(i + 1)] * (dims - 1),
                }
                for i, t in enumerate(body["input"])
            ]
            data.reverse()  # servers may answer out of order; index says where each belongs
            payload = json.dumps({"object": "list", "data": data, "model": body["model"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", rec
    httpd.shutdown()


def test_openai_wire_format(server, monkeypatch) -> None:
    url, rec = server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    emb = create_embedder(
        EmbedderSettings(
            backend="openai",
            model="text-embedding-3-small",
            base_url=url + "/v1",
            dimensions=4,
            batch_size=2,
            api_key_env="OPENAI_API_KEY",
        )
    )
    vectors = emb.embed_batch(["a", "bb", "ccc"])
    assert vectors.shape == (3, 4)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vectors[0][1] == pytest.approx(vectors[0][2])  # rows put back in input order
    path, headers, body = rec.requests[0]
    assert path == "/v1/embeddings" and headers["Authorization"] == "Bearer sk-test"
    assert body == {"input": ["a", "bb"], "model": "text-embedding-3-small", "dimensions": 4}
    assert emb.name == "openai/text-embedding-3-small@4"


def test_azure_url_and_key_header(server, monkeypatch) -> None:
    url, rec = server
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-key")
    emb = create_embedder(EmbedderSettings(backend="azure", model="my-embed-deploy", base_url=url))
    assert emb.dim == 8
    path, headers, _ = rec.requests[0]
    assert path == "/openai/deployments/my-embed-deploy/embeddings?api-version=2024-10-21"
    assert headers["api-key"] == "az-key"


def test_jina_tasks_differ_for_passages_and_queries(server, monkeypatch) -> None:
    url, rec = server
    monkeypatch.setenv("JINA_API_KEY", "jina-key")
    emb = create_embedder(
        EmbedderSettings(backend="jina", model="jina-embeddings-v3", base_url=url, dimensions=8)
    )
    emb.embed_batch(["passage"])
    embed_query(emb, "query")
    assert [r[2]["task"] for r in rec.requests] == ["retrieval.passage", "retrieval.query"]


def test_retries_server_errors_then_reports_a_bad_key(server, monkeypatch) -> None:
    url, rec = server
    rec.fail_first = 2
    emb = create_embedder(EmbedderSettings(backend="openai", model="m", base_url=url, dimensions=8))
    assert emb.embed_batch(["x"]).shape == (1, 8)
    rec.status = 401
    with pytest.raises(EmbedderError, match="refused the key.*OPENAI_API_KEY"):
        emb.embed_batch(["x"])


def test_unreachable_endpoint_is_one_line() -> None:
    emb = create_embedder(
        EmbedderSettings(backend="openai", model="m", base_url="http://127.0.0.1:9", dimensions=8)
    )
    emb.retries = 0
    with pytest.raises(UnreachableError, match="cannot reach"):
        emb.embed_batch(["x"])
