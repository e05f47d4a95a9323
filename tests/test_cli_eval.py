"""`expert eval` as a user runs it: check a question file, run modes with the shipped model,
report, and one clear line for each bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_cli import SAMPLES, expert

QUESTIONS = [
    {
        "question": "What was Northwind's capital expenditure in fiscal 2023?",
        "answer": "$38.4 million",
        "evidence": {"source": "northwind_annual_report_2023.pdf", "page": 2},
    },
    {
        "question": "Which error code means the actuator stalled?",
        "answer": "E17",
        "evidence": {"source": "flowsense_manual.md"},
    },
]


@pytest.fixture
def question_file(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    return path


def test_eval_check_reports_lines_and_exit_code(tmp_path: Path, question_file: Path) -> None:
    ok = expert("eval", "check", str(question_file), ws=tmp_path / "ws")
    assert ok.returncode == 0 and ok.stdout.startswith("ok: 2 question(s)") and "2 with evidence" in ok.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q?"}\nnot json\n', encoding="utf-8")
    result = expert("eval", "check", str(bad), ws=tmp_path / "ws")
    assert result.returncode == 2
    assert f"{bad}:1: answer is missing" in result.stdout and f"{bad}:2: not valid JSON" in result.stdout


@pytest.mark.long
def test_bad_inputs_are_one_line_each(tmp_path: Path, question_file: Path) -> None:
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    cases = [
        (["--modes", "base,ft"], "modes ft and rag+ft need an adapter"),
        (["--modes", "rag"], "holds no documents"),
        (["--modes", "base,rg"], "unknown mode rg"),
    ]
    for flags, message in cases:
        result = expert("eval", "run", str(question_file), "--out", str(tmp_path / "o"), *flags, ws=ws)
        assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, (
            result.stderr
        )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    result = expert("eval", "run", str(empty), "--out", str(tmp_path / "o"), ws=ws)
    assert result.returncode == 2 and "holds no questions" in result.stderr
    result = expert("eval", "report", str(tmp_path / "nothing"), ws=ws)
    assert result.returncode == 2 and "not an evaluation folder" in result.stderr


@pytest.mark.long
@pytest.mark.slow
def test_eval_run_base_and_rag_with_the_shipped_model_then_report(
    tmp_path: Path, question_file: Path
) -> None:
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    expert("ingest", str(SAMPLES), ws=ws, check=True)
    out = tmp_path / "r1"
    result = expert("eval", "run", str(question_file), "--out", str(out), "--modes", "base,rag", ws=ws)
    assert result.returncode == 0, result.stderr
    assert "| rag |" in result.stdout and "base vs rag" in result.stdout
    assert "4/4 rag" in result.stderr  # progress lines when not on a terminal
    summary = json.loads((out / "summary.json").read_text())
    assert summary["modes"]["rag"]["numeric"]["mean"] == 1.0  # $38.4 million, from page 2
    assert summary["retrieval"]["recall@10"]["mean"] == 1.0
    assert (out / "summary.md").read_text().startswith("# Evaluation")
    again = expert(
        "eval", "run", str(question_file), "--out", str(out), "--modes", "base,rag", "--json", ws=ws
    )
    assert json.loads(again.stdout)["resumed"] == 4 and json.loads(again.stdout)["answered"] == 0
    report = expert("eval", "report", str(out), ws=ws, check=True)
    assert "| base |" in report.stdout
    compared = expert("eval", "compare", str(out), str(out), ws=ws, check=True)
    assert "| rag | " in compared.stdout and "no significant difference" in compared.stdout
    advice = expert("advise", "--no-novelty", ws=ws, cwd=tmp_path)  # finds r1 on its own
    assert advice.returncode == 0 and f"using the latest evaluation, {out}" in advice.stderr
    # Two questions cannot tell rag from the model alone: the verdict is the cheaper one, said so.
    assert (
        advice.stdout.startswith("Recommendation: neither") and "evaluate on more questions" in advice.stdout
    )
    assert "no significant difference" in advice.stdout and "measure fine-tuning too" in advice.stdout
    missing = expert("advise", "--eval", str(tmp_path / "nothing"), ws=ws)
    assert missing.returncode == 2 and "not an evaluation folder" in missing.stderr
    assert missing.stderr.count("\n") == 1


@pytest.mark.long
@pytest.mark.slow
def test_eval_build_with_the_shipped_model_writes_a_valid_held_out_set(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    expert("ingest", str(SAMPLES), ws=ws, check=True)
    out = tmp_path / "eval" / "q.jsonl"
    result = expert("eval", "build", "--out", str(out), "-n", "3", ws=ws)
    assert result.returncode == 0, result.stderr
    assert f"in {out}" in result.stdout and "dropped:" in result.stdout
    check = expert("eval", "check", str(out), ws=ws)
    assert check.returncode == 0 and check.stdout.startswith("ok: ")
    for line in out.read_text().splitlines():
        record = json.loads(line)  # every answer's figures are in its passage
        passage = record["evidence"]["passage"]
        assert all(f in passage for f in re.findall(r"\d+(?:\.\d+)?", record["answer"]) if len(f) > 1)
    assert json.loads(out.with_suffix(".chunks.json").read_text())["made_by"] == "eval build"
    # A training set built next keeps these passages out.
    result = expert(
        "dataset", "build", "--out", str(tmp_path / "train.jsonl"), "-n", "1", ws=ws, cwd=tmp_path
    )
    assert f"holding out the passages listed in {out.with_suffix('.chunks.json')}" in result.stderr


@pytest.mark.long
def test_a_missing_adapter_or_one_for_another_base_is_one_line(tmp_path: Path, question_file: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from tiny_models import make_llama
    from transformers import AutoModelForCausalLM

    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    base = make_llama(tmp_path / "base")
    other = make_llama(tmp_path / "other", hidden=48)
    adapter = get_peft_model(
        AutoModelForCausalLM.from_pretrained(other), LoraConfig(r=2, target_modules="all-linear")
    )
    adapter.save_pretrained(tmp_path / "adapter")
    cases = [
        (str(tmp_path / "missing"), "not found"),
        (str(tmp_path / "adapter"), "does not fit this model"),
    ]
    for path, message in cases:
        out = tmp_path / "o"
        result = expert("eval", "run", str(question_file), "--out", str(out), "--modes", "base,ft",
                        "--model", str(base), "--adapter", path, ws=ws)  # fmt: skip
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and not (out / "summary.json").exists()
