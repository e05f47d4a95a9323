"""The optional judge: an OpenAI-compatible endpoint grading each answer against its reference,
tested against a local server that speaks the wire format."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import FakeGenerator
from test_cli import expert

from industry_expert.config import AnswerSettings
from industry_expert.errors import ExpertError
from industry_expert.evaluate.judge import openai_judge, parse_verdict
from industry_expert.evaluate.questions import EvalQuestion
from industry_expert.evaluate.report import format_summary
from industry_expert.evaluate.run import run_eval


@pytest.fixture
def judge_url() -> Iterator[tuple[str, list[dict]]]:
    """A judge that calls an answer correct when it contains the reference's first figure or word."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            prompt = body["messages"][-1]["content"]
            found = re.search(r"Reference answer: (.*)\nAnswer to grade: (.*)\n", prompt)
            if found:
                key = found.group(1).split()[0].strip("$").lower()
                reply = json.dumps({"correct": key in found.group(2).lower(), "reason": "compared"})
            else:
                reply = "OK"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for piece in (reply[:10], reply[10:]):
                event = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/v1", seen
    httpd.shutdown()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


QUESTIONS = [
    EvalQuestion(1, "capex", "What was capex in fiscal 2023?", "$38.4 million", "figure"),
    EvalQuestion(2, "code", "Which code means the actuator stalled?", "E17", "explanation"),
]


def test_parse_verdict_reads_json_and_plain_words() -> None:
    assert parse_verdict('{"correct": false, "reason": "other year"}') == 0.0
    assert parse_verdict('Sure! {"correct": true}') == 1.0
    assert parse_verdict('"correct": "yes"') == 1.0 and parse_verdict("INCORRECT.") == 0.0
    assert parse_verdict("I cannot tell.") is None


def test_each_answer_is_graded_and_summarised(judge_url: tuple[str, list[dict]], tmp_path: Path) -> None:
    url, seen = judge_url
    judge = openai_judge(url, "judge-model")
    gen = FakeGenerator(["Capex was 38.4 million dollars.", "The code for a stalled actuator is E17."])
    run = run_eval(QUESTIONS, {"base": gen}, None, AnswerSettings(), tmp_path / "r", judge=judge)
    rows = [json.loads(line) for line in (tmp_path / "r" / "answers.jsonl").read_text().splitlines()]
    assert [r["metrics"]["judge"] for r in rows] == [1.0, 1.0]
    assert rows[1]["metrics"]["f1"] < 0.5  # what the judge is for: a right answer in other words
    assert seen[0]["messages"][-1]["content"] == "Reply with the word OK."  # the check before the run
    assert seen[1]["model"] == "judge-model" and seen[1]["temperature"] == 0.0
    assert run.summary.modes["base"].judge.mean == 1.0
    header = format_summary(run.summary).splitlines()[2]
    assert header.endswith("| faithful | judge | median ms | prompt tok | quoted |")
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["identity"]["judge"] == "openai/judge-model"


def test_no_judge_no_judge_column(tmp_path: Path) -> None:
    run = run_eval(QUESTIONS, {"base": FakeGenerator()}, None, AnswerSettings(), tmp_path / "r")
    assert "judge" not in format_summary(run.summary) and run.summary.modes["base"].judge.n == 0


def test_an_unreachable_judge_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    judge = openai_judge(f"http://127.0.0.1:{closed_port()}/v1", "judge-model", timeout=5)
    with pytest.raises(ExpertError) as caught:
        run_eval(QUESTIONS, {"base": FakeGenerator()}, None, AnswerSettings(), tmp_path / "r", judge=judge)
    assert "\n" not in str(caught.value) and not (tmp_path / "r").exists()


@pytest.mark.long
@pytest.mark.slow
def test_eval_run_with_a_judge_from_the_command_line(
    judge_url: tuple[str, list[dict]], tmp_path: Path
) -> None:
    url, _ = judge_url
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "What is 2 + 2?", "answer": "4"}) + "\n", encoding="utf-8")
    out = tmp_path / "r1"
    result = expert("eval", "run", str(questions), "--out", str(out), "--modes", "base",
                    "--judge-url", url, "--judge-model", "judge", ws=ws)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "summary.json").read_text())["modes"]["base"]["judge"]["n"] == 1
    bad = expert("eval", "run", str(questions), "--out", str(tmp_path / "r2"), "--modes", "base",
                 "--judge-url", f"http://127.0.0.1:{closed_port()}/v1", "--judge-model", "judge", ws=ws)  # fmt: skip
    assert (
        bad.returncode == 3
        and "cannot reach" in bad.stderr
        and bad.stderr.count("\n") == 1
        and not (tmp_path / "r2").exists()
    ), bad.stderr
    alone = expert("eval", "run", str(questions), "--out", str(tmp_path / "r3"), "--judge-model", "j", ws=ws)
    assert alone.returncode == 2 and "--judge-model needs --judge-url" in alone.stderr
