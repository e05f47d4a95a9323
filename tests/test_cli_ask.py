"""`expert ask`, `expert chat` and `ingest --summarize` with the shipped SmolLM2, as a user runs them.

SmolLM2-135M is tiny: these tests check the pipeline (sources, citations, JSON, exit codes,
errors), not the wording of its answers; answer quality is measured in benchmarks/answer.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from test_cli import SAMPLES, expert

pytestmark = pytest.mark.slow
QUESTION = "What was Northwind's capital expenditure in fiscal 2023?"


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ask") / "ws"
    expert("init", ws=path, check=True)
    expert("ingest", str(SAMPLES), ws=path, check=True)
    return path


@pytest.mark.long
def test_ask_json_has_answer_citations_hits_model_tokens_timings(ws: Path) -> None:
    result = expert("ask", "--json", QUESTION, ws=ws, check=True)
    data = json.loads(result.stdout)
    assert data["answer"].strip() and data["found"] is True
    assert data["model"] == "llama.cpp/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert any(h["page"] == 2 and "38.4" in h["text"] for h in data["hits"])
    assert data["prompt_tokens"] > 100 and data["completion_tokens"] > 0
    assert {"retrieve", "prompt", "first_token", "generate", "total"} <= set(data["timings"])
    for c in data["citations"]:
        assert set(c) == {"n", "source", "page", "locator", "passage", "chunk_id", "document_id"}
        assert any(
            h["chunk_id"] == c["chunk_id"] and h["document_id"] == c["document_id"] for h in data["hits"]
        )
        assert 1 <= c["n"] <= len(data["hits"])


def test_the_demo_question_is_answered_right_and_cited_to_its_page(ws: Path) -> None:
    data = json.loads(expert("ask", "--json", QUESTION, ws=ws, check=True).stdout)
    assert "$38.4 million" in data["answer"] and "[" in data["answer"]
    pages = {(Path(c["source"]).name, c["page"]) for c in data["citations"]}
    assert ("northwind_annual_report_2023.pdf", 2) in pages
    assert data["unsupported"] == [] and data["evidence"].startswith("[")


def test_a_company_not_in_the_workspace_is_not_answered_with_another(ws: Path) -> None:
    result = expert("ask", "What was Tesla's capital expenditure in fiscal 2023?", ws=ws)
    assert result.returncode == 1
    assert (
        'nothing found in it is about "Tesla"' in result.stdout and "38.4" not in result.stdout.split("\n")[0]
    )


@pytest.mark.long
def test_ask_streams_the_answer_then_sources(ws: Path) -> None:
    result = expert("ask", QUESTION, ws=ws, check=True)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines and "error" not in result.stderr
    assert "Sources:" in result.stdout or "no sources cited" in result.stdout


@pytest.mark.long
def test_off_topic_question_says_the_workspace_does_not_hold_it(ws: Path) -> None:
    result = expert("ask", "Who won the football world cup in 2018?", ws=ws)
    assert result.returncode == 1
    assert "does not contain an answer" in result.stdout and "Closest passages" in result.stdout
    off = expert("ask", "--json", "--min-relevance", "0", "Who won the football world cup in 2018?", ws=ws)
    assert json.loads(off.stdout)["found"] is True  # the check is configurable


@pytest.mark.long
def test_chat_keeps_history_and_rewrites_follow_ups(ws: Path) -> None:
    turns = f"{QUESTION}\nAnd how many employees work in Dayton?\n/exit\n"
    result = expert("chat", "--json", ws=ws, input=turns, check=True)
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 2
    assert answers[0]["query"] == QUESTION and "rewrite" not in answers[0]["timings"]
    assert "rewrite" in answers[1]["timings"] and answers[1]["query"].strip()


@pytest.mark.long
def test_summaries_are_written_once_and_shown_by_sources(tmp_path: Path) -> None:
    path = tmp_path / "ws"
    expert("init", ws=path, check=True)
    first = json.loads(expert("ingest", "--summarize", "--json", str(SAMPLES), ws=path, check=True).stdout)
    assert len(first["summaries"]["written"]) == 3
    again = json.loads(expert("ingest", "--summarize", "--json", str(SAMPLES), ws=path, check=True).stdout)
    assert again["summaries"]["written"] == [] and again["summaries"]["already"] == 3
    rows = json.loads(expert("sources", "--json", ws=path, check=True).stdout)
    assert all(r["summary"] and len(r["summary"].split()) <= 120 for r in rows)
    assert "summary: " in expert("sources", ws=path, check=True).stdout


def _digest(path: Path) -> str:
    return hashlib.sha256((path / "store.db").read_bytes()).hexdigest()


@pytest.mark.long
def test_bad_generator_input_is_one_line_and_writes_nothing(ws: Path, tmp_path: Path) -> None:
    before = _digest(ws)
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_text("not a model", encoding="utf-8")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\0" * 64)
    cases = [
        (["--model", str(tmp_path / "missing.gguf")], "not found"),
        (["--model", str(not_gguf)], "not a GGUF file"),
        (["--model", str(truncated)], "cannot load"),
        (["--model", str(tmp_path)], "no config.json"),
        (["--context-window", "256", "--max-tokens", "200"], "shorten the question"),
        (["--backend", "nonsense"], "invalid choice"),
    ]
    for flags, message in cases:
        result = expert("ask", *flags, QUESTION, ws=ws)
        assert result.returncode == 2, (flags, result.stderr)
        assert message in result.stderr, (flags, result.stderr)
        assert "Traceback" not in result.stderr
        if "invalid choice" not in message:
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    # a server that is down is upstream's failure, not the user's input: exit 3
    result = expert("ask", "--base-url", "http://127.0.0.1:9/v1", "--model", "phi3", QUESTION, ws=ws)
    assert result.returncode == 3 and "cannot reach" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    empty = tmp_path / "empty-ws"
    expert("init", ws=empty, check=True)
    result = expert("ask", QUESTION, ws=empty)
    assert result.returncode == 2 and "no documents" in result.stderr
    assert _digest(ws) == before
