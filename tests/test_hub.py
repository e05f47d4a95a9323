"""GGUF files from the Hugging Face hub, against a local server that speaks the hub's protocol.

The server answers ``HEAD``/``GET /OWNER/REPO/resolve/REV/FILE`` as huggingface.co does (the
commit, the LFS SHA-256 as ``X-Linked-Etag``, the size, ``Range`` requests) and can cut a
download short, fail after the cut, or send altered bytes. Nothing here reaches the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_cli import SAMPLES, expert

from industry_expert import hub
from industry_expert.errors import ModelError
from industry_expert.hub import HubFile, fetch, parse_hub_file
from industry_expert.models import resolve_model

COMMIT = "a" * 40


@dataclass
class HubState:
    files: dict[str, bytes] = field(default_factory=dict)  # "OWNER/REPO/FILE" -> content
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Range)
    cut_after: int | None = None  # the next GET sends this many bytes, then closes the connection
    fail_after_cut: bool = False  # and every GET after it answers 500
    corrupt: bool = False  # GET sends the bytes with one flipped (the etag stays the original's)
    cut_done: bool = False


def _handler(state: HubState) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _file(self) -> tuple[str, bytes] | None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return None
            key = "/".join([parts[0], parts[1], *parts[4:]])
            repo_known = any(k.startswith(f"{parts[0]}/{parts[1]}/") for k in state.files)
            if key in state.files:
                return key, state.files[key]
            return ("", b"") if repo_known else None

        def _refuse(self, code: int, error_code: str) -> None:
            self.send_response(code)
            self.send_header("X-Error-Code", error_code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _headers(self, body: bytes, status: int = 200, start: int = 0) -> None:
            self.send_response(status)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("X-Linked-Etag", f'"{hashlib.sha256(body).hexdigest()}"')
            self.send_header("X-Linked-Size", str(len(body)))
            self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()

        def do_HEAD(self) -> None:
            state.requests.append(("HEAD", self.path, ""))
            found = self._file()
            if found is None:
                return self._refuse(404, "RepoNotFound")
            if not found[0]:
                return self._refuse(404, "EntryNotFound")
            self._headers(found[1])

        def do_GET(self) -> None:
            rng = self.headers.get("Range", "")
            state.requests.append(("GET", self.path, rng))
            found = self._file()
            if not found or not found[0]:
                return self._refuse(404, "EntryNotFound")
            body = found[1]
            if state.cut_done and state.fail_after_cut:
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(rng.split("=")[1].split("-")[0]) if rng.startswith("bytes=") else 0
            sent = bytearray(body)
            if state.corrupt:
                sent[len(sent) // 2] ^= 0xFF
            self._headers(body, 206 if start else 200, start)
            payload = bytes(sent[start:])
            if state.cut_after is not None and not state.cut_done:
                state.cut_done = True
                self.wfile.write(payload[: state.cut_after])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(payload)

    return Handler


@dataclass
class LocalHub:
    url: str
    state: HubState
    server: http.server.ThreadingHTTPServer

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalHub]:
    state = HubState()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # an empty Hugging Face cache: a real one on this machine must not answer for the server
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read once, at import
    # huggingface_hub writes what it received in chunks of 10 MiB; small ones fit a small file
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 1 << 16)
    served = LocalHub(url, state, server)
    yield served
    served.stop()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


BLOB = b"GGUF" + bytes(range(256)) * 4000  # about 1 MB


# -- references ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ref, expected",
    [
        ("hf://org/model-GGUF/model-q4.gguf", HubFile("org/model-GGUF", "model-q4.gguf")),
        ("hf://org/model@v1.0/sub/m.gguf", HubFile("org/model", "sub/m.gguf", "v1.0")),
        (
            "https://huggingface.co/org/model/blob/main/m.gguf",
            HubFile("org/model", "m.gguf"),
        ),
        (
            "https://huggingface.co/org/model/resolve/abc123/m.gguf?download=true",
            HubFile("org/model", "m.gguf", "abc123"),
        ),
    ],
)
def test_a_hub_reference_names_repository_file_and_revision(ref: str, expected: HubFile) -> None:
    assert parse_hub_file(ref) == expected


@pytest.mark.parametrize(
    "ref", ["org/model/m.gguf", "smollm2", "hf://org/model", "hf://org/model/../x.gguf", "./m.gguf"]
)
def test_a_local_path_an_alias_or_a_half_reference_is_not_a_hub_file(ref: str) -> None:
    """A bare OWNER/REPO/FILE.gguf may be a mistyped local path: it never starts a download."""
    assert parse_hub_file(ref) is None


def test_an_incomplete_hf_reference_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match=r"hf://OWNER/REPO/FILE\.gguf"):
        resolve_model("hf://org/model")


# -- download -------------------------------------------------------------------------------------
def test_a_file_is_downloaded_once_checked_and_then_used_offline(local_hub: LocalHub, tmp_path: Path) -> None:
    local_hub.state.files["org/m/m.gguf"] = BLOB
    events: list[dict[str, Any]] = []
    path = fetch(HubFile("org/m", "m.gguf"), tmp_path / "cache", lambda e: events.append(e.to_dict()))
    assert path.read_bytes() == BLOB
    record = json.loads(path.with_name("m.gguf.json").read_text())
    assert record["checksum"] == "sha256" and record["commit"] == COMMIT and record["bytes"] == len(BLOB)
    assert events[0]["event"] == "download-start" and events[0]["bytes"] == len(BLOB)
    assert events[-1]["event"] == "download-done" and events[-2]["done"] == len(BLOB)
    assert not list(path.parent.glob("*.partial"))

    local_hub.stop()  # no network from here on
    seen = len(local_hub.state.requests)
    assert fetch(HubFile("org/m", "m.gguf"), tmp_path / "cache") == path
    assert len(local_hub.state.requests) == seen


def test_an_interrupted_download_resumes_on_the_next_run(local_hub: LocalHub, tmp_path: Path) -> None:
    local_hub.state.files["org/m/m.gguf"] = BLOB
    local_hub.state.cut_after, local_hub.state.fail_after_cut = 5 << 16, True
    with pytest.raises(ModelError, match=r"stopped at 327680 of \d+ bytes .*run the same command again"):
        fetch(HubFile("org/m", "m.gguf"), tmp_path / "cache")
    assert [p.stat().st_size for p in (tmp_path / "cache").rglob("*.partial")] == [5 << 16]

    local_hub.state.fail_after_cut = False  # the network is back
    path = fetch(HubFile("org/m", "m.gguf"), tmp_path / "cache")
    assert path.read_bytes() == BLOB
    assert local_hub.state.requests[-1][2] == "bytes=327680-"  # only the rest was asked for


def test_a_connection_dropped_mid_download_is_resumed_in_the_same_run(
    local_hub: LocalHub, tmp_path: Path
) -> None:
    local_hub.state.files["org/m/m.gguf"] = BLOB
    local_hub.state.cut_after = 8 << 16
    path = fetch(HubFile("org/m", "m.gguf"), tmp_path / "cache")
    assert path.read_bytes() == BLOB
    assert [r[2] for r in local_hub.state.requests if r[0] == "GET"] == ["", "bytes=524288-"]


def test_a_download_that_does_not_match_the_checksum_is_deleted(local_hub: LocalHub, tmp_path: Path) -> None:
    local_hub.state.files["org/m/m.gguf"] = BLOB
    local_hub.state.corrupt = True
    with pytest.raises(ModelError, match="does not match the hub's sha256 checksum"):
        fetch(HubFile("org/m", "m.gguf"), tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    local_hub.state.corrupt = False
    assert fetch(HubFile("org/m", "m.gguf"), tmp_path / "cache").read_bytes() == BLOB


def test_no_network_says_so_in_one_line_and_how_to_pass_a_local_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", _closed_port())
    with pytest.raises(ModelError) as info:
        fetch(HubFile("org/m", "m.gguf"), tmp_path / "cache")
    message = str(info.value)
    assert "cannot download hf://org/m/m.gguf" in message and "--model /path/to/m.gguf" in message
    assert "\n" not in message

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE is set"):
        fetch(HubFile("org/m", "m.gguf"), tmp_path / "cache")


def test_a_missing_repository_or_file_is_named(local_hub: LocalHub, tmp_path: Path) -> None:
    local_hub.state.files["org/m/m.gguf"] = BLOB
    with pytest.raises(ModelError, match="no repository org/other"):
        fetch(HubFile("org/other", "m.gguf"), tmp_path / "cache")
    with pytest.raises(ModelError, match="org/m has no file q8.gguf"):
        fetch(HubFile("org/m", "q8.gguf"), tmp_path / "cache")


def test_a_hub_file_that_is_not_gguf_is_refused(
    local_hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPERT_CACHE", str(tmp_path / "cache"))
    local_hub.state.files["org/m/README.md"] = b"# not a model\n"
    with pytest.raises(ModelError, match="is not a GGUF file"):
        resolve_model("hf://org/m/README.md")


def test_a_copy_in_the_hugging_face_cache_is_used_without_the_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A file `huggingface-cli download` already fetched is not fetched again."""
    import huggingface_hub.constants

    snapshot = tmp_path / "hf-cache" / "models--org--m" / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / "m.gguf").write_bytes(BLOB)
    refs = tmp_path / "hf-cache" / "models--org--m" / "refs"
    refs.mkdir()
    (refs / "main").write_text(COMMIT)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_ENDPOINT", _closed_port())
    assert fetch(HubFile("org/m", "m.gguf"), tmp_path / "cache") == snapshot / "m.gguf"


def test_progress_set_by_reporting_reaches_a_deep_fetch(local_hub: LocalHub, tmp_path: Path) -> None:
    local_hub.state.files["org/m/m.gguf"] = BLOB
    events: list[dict[str, Any]] = []
    with hub.reporting(lambda e: events.append(e.to_dict())):
        fetch(HubFile("org/m", "m.gguf"), tmp_path / "cache")
    assert {"download-start", "download", "download-done"} <= {e["event"] for e in events}


# -- the CLI, with the shipped model served as if from the hub ----------------------------------
@pytest.mark.long
@pytest.mark.slow
def test_expert_ask_downloads_a_hub_gguf_once_and_answers_with_it_offline(
    local_hub: LocalHub, tmp_path: Path
) -> None:
    from industry_expert.models import shipped_gguf

    local_hub.state.files["org/smol-GGUF/smol.gguf"] = shipped_gguf().read_bytes()
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    expert("ingest", str(SAMPLES / "northwind_annual_report_2023.pdf"), ws=ws, check=True)
    env = {
        "HF_ENDPOINT": local_hub.url,
        "EXPERT_CACHE": str(tmp_path / "cache"),
        "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
    }
    question = "What was Northwind's capital expenditure in fiscal 2023?"
    first = expert("ask", "--model", "hf://org/smol-GGUF/smol.gguf", question, ws=ws, env_extra=env)
    assert first.returncode == 0, first.stderr
    assert "downloading hf://org/smol-GGUF/smol.gguf" in first.stderr and "sha256 checked" in first.stderr
    assert "$38.4 million" in first.stdout

    local_hub.stop()
    again = expert("ask", "--json", "--model", "hf://org/smol-GGUF/smol.gguf", question, ws=ws, env_extra=env)
    assert again.returncode == 0, again.stderr
    assert "downloading" not in again.stderr
    assert json.loads(again.stdout)["model"] == "llama.cpp/smol.gguf"


def test_expert_ask_without_network_fails_in_one_line(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    env = {
        "HF_ENDPOINT": _closed_port(),
        "EXPERT_CACHE": str(tmp_path / "cache"),
        "HF_HUB_CACHE": str(tmp_path),
    }
    expert("init", ws=ws, check=True)
    result = expert("ask", "--no-retrieval", "--model", "hf://org/m/m.gguf", "hello", ws=ws, env_extra=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot download hf://org/m/m.gguf" in result.stderr
    assert "--model /path/to/m.gguf" in result.stderr
