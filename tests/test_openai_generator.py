"""The OpenAI-compatible chat generator against a local server speaking the wire format."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from industry_expert.errors import UnreachableError
from industry_expert.generate import Generator, GeneratorError, OpenAIChatGenerator, complete


@pytest.fixture
def server() -> Iterator[tuple[str, list]]:
    seen: list = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, dict(self.headers), body))
            if self.headers.get("Authorization") == "Bearer wrong":
                self.send_response(401)
                self.end_headers()
                self.wfile.write(b'{"error": "invalid key"}')
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for piece in ["Capex was ", "$38.4 million ", "[1]."]:
                event = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n')
            self.wfile.write(b"data: [DONE]\n\n")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", seen
    httpd.shutdown()


@pytest.fixture
def server_factory() -> Iterator[object]:
    """Start a local chat server that streams the given pieces for every request."""
    servers: list[ThreadingHTTPServer] = []

    def start(pieces: list[str]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in pieces:
                    event = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_port}"

    yield start
    for httpd in servers:
        httpd.shutdown()


MESSAGES = [{"role": "system", "content": "Cite sources."}, {"role": "user", "content": "What was capex?"}]


def test_streams_the_answer(server, monkeypatch) -> None:
    url, seen = server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    gen = OpenAIChatGenerator("phi3", base_url=url + "/v1", api_key_env="OPENAI_API_KEY")
    assert isinstance(gen, Generator)
    assert list(gen.stream(MESSAGES, max_tokens=64)) == ["Capex was ", "$38.4 million ", "[1]."]
    path, headers, body = seen[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer sk-local"
    assert body == {
        "model": "phi3",
        "messages": MESSAGES,
        "max_tokens": 64,
        "temperature": 0.0,
        "stream": True,
    }
    assert complete(gen, MESSAGES) == "Capex was $38.4 million [1]."


def test_azure_deployment_url(server, monkeypatch) -> None:
    url, seen = server
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az")
    gen = OpenAIChatGenerator("phi3-deploy", backend="azure", base_url=url)
    complete(gen, MESSAGES)
    assert seen[0][0] == "/openai/deployments/phi3-deploy/chat/completions?api-version=2024-10-21"
    assert seen[0][1]["api-key"] == "az"


def test_wrong_key_and_unreachable_server_are_one_line(server, monkeypatch) -> None:
    url, _ = server
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with pytest.raises(GeneratorError, match="refused the key.*OPENAI_API_KEY"):
        complete(OpenAIChatGenerator("m", base_url=url, api_key_env="OPENAI_API_KEY"), MESSAGES)
    with pytest.raises(UnreachableError, match="cannot reach http://127.0.0.1:9"):
        complete(OpenAIChatGenerator("m", base_url="http://127.0.0.1:9", retries=0), MESSAGES)


def test_workspace_answers_through_the_server_and_a_wrong_key_stops_it(
    server, monkeypatch, workspace, tmp_path
) -> None:
    url, seen = server
    (tmp_path / "capex.md").write_text(
        "Capital expenditure in fiscal 2023 was $38.4 million.", encoding="utf-8"
    )
    workspace.ingest([tmp_path / "capex.md"])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    workspace.use_generator(OpenAIChatGenerator("phi3", base_url=url + "/v1", api_key_env="OPENAI_API_KEY"))
    answer = workspace.ask("What was capital expenditure in fiscal 2023?")
    assert answer.text == "Capex was $38.4 million [1]." and answer.model == "openai/phi3"
    assert answer.citations[0].source.endswith("capex.md") and not answer.attributed
    assert "[1] " in seen[-1][2]["messages"][-1]["content"]
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    workspace.use_generator(OpenAIChatGenerator("phi3", base_url=url + "/v1", api_key_env="OPENAI_API_KEY"))
    with pytest.raises(GeneratorError, match="refused the key"):
        workspace.ask("What was capital expenditure in fiscal 2023?")


def test_a_key_goes_only_where_it_is_meant_to(server, monkeypatch) -> None:
    from industry_expert.api import ApiClient

    url, seen = server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    # OpenAI's default key is not sent to another server unless the user names it for that server
    gen = OpenAIChatGenerator("phi3", base_url=url + "/v1")
    complete(gen, MESSAGES)
    assert "Authorization" not in seen[-1][1]
    assert "is sent only to api.openai.com; name the variable" in gen.api.withheld  # said on a 401
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    # never over plain http to another machine, even when named (checked without sending anything)
    far = ApiClient("openai", "http://192.0.2.10/v1", "OPENAI_API_KEY")
    assert far.headers() == {} and "not sent over plain http" in far.withheld
    assert ApiClient("openai", "https://192.0.2.10/v1", "OPENAI_API_KEY").headers() == {
        "Authorization": "Bearer wrong"
    }
    assert ApiClient("openai").headers() == {"Authorization": "Bearer wrong"}  # its own host


def test_a_server_that_never_answers_times_out() -> None:
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        gen = OpenAIChatGenerator("m", base_url=url, timeout=0.5, retries=1)
        started = time.perf_counter()
        with pytest.raises(UnreachableError, match="cannot reach"):
            complete(gen, MESSAGES)
        assert time.perf_counter() - started < 5
    finally:
        listener.close()


@pytest.mark.long
def test_the_cli_flags_a_figure_no_source_holds_from_a_larger_model(server_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`expert ask` against a server whose model invents a figure: shown (it is not the shipped
    model), flagged on stderr and in --json; with answer.unsupported = quote it is replaced."""
    from test_cli import SAMPLES, expert

    url = server_factory(["Northwind's capital expenditure was ", "$52.0 million ", "[1]."])
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    expert("ingest", str(SAMPLES), ws=ws, check=True)
    question = "What was Northwind's capital expenditure in fiscal 2023?"
    remote = ["--base-url", url + "/v1", "--model", "phi3", "--api-key-env", "TEST_KEY"]
    shown = expert("ask", *remote, question, ws=ws, check=True, env_extra={"TEST_KEY": "sk-local"})
    assert "$52.0 million [1]" in shown.stdout
    assert "warning: not in the cited sources: $52.0 million" in shown.stderr
    data = json.loads(
        expert("ask", "--json", *remote, question, ws=ws, check=True, env_extra={"TEST_KEY": "k"}).stdout
    )
    assert data["unsupported"] == ["$52.0 million"] and data["checks"] == ["unsupported figure"]
    toml = ws / "expert.toml"
    toml.write_text(toml.read_text().replace('unsupported = "auto"', 'unsupported = "quote"'))
    quoted = expert("ask", *remote, question, ws=ws, check=True, env_extra={"TEST_KEY": "k"})
    assert "$52.0" not in quoted.stdout and "$38.4 million" in quoted.stdout
    assert "the line that answers is quoted instead" in quoted.stderr
