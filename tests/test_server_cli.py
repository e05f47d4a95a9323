"""`expert serve` as a user runs it: the command, the shipped model and embedder, a real client;
a port in use and a stop by signal."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from serving import free_port

from industry_expert import Workspace
from industry_expert.ingest.yielding import answering_flag

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "industry_expert" / "samples"


def test_expert_serve_answers_the_demo_question_with_its_citation(tmp_path: Path) -> None:
    import openai

    ws = tmp_path / "ws"
    with Workspace.init(ws) as w:
        w.ingest([SAMPLES])
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "industry_expert.cli", "-w", str(ws), "serve", "--port", str(port), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert server.poll() is None, server.communicate()
                time.sleep(0.1)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model="rag",
            messages=[
                {"role": "user", "content": "What was Northwind's capital expenditure in fiscal 2023?"}
            ],
        )
        message = reply.choices[0].message
        assert "$38.4 million" in (message.content or "")
        (note,) = [a for a in message.annotations or [] if a.url_citation.title.endswith("page 2")]
        pdf = httpx.get(note.url_citation.url.split("#")[0])
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        # the same port again: one line, before any model is loaded
        again = subprocess.run(
            [sys.executable, "-m", "industry_expert.cli", "-w", str(ws), "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert again.returncode == 2 and "cannot listen on 127.0.0.1" in again.stderr
        assert again.stderr.strip().count("\n") == 0
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert "serving" in err and "keys off" in err and "Traceback" not in err
    assert not answering_flag(ws).exists()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))  # the port is free again (as a new server would bind it)
