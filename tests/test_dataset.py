"""Training-data formats and line-numbered validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from industry_expert.cli import main
from industry_expert.finetune import DatasetError, check_dataset, load_examples

GOOD = [
    {
        "messages": [
            {"role": "system", "content": "Be exact."},
            {"role": "user", "content": "Capex?"},
            {"role": "assistant", "content": "$38.4m."},
        ]
    },
    {"instruction": "Summarize the note.", "input": "Revenue grew 12%.", "output": "Revenue rose 12%."},
    {"instruction": "Name the CEO.", "output": "Jane Doe."},
    {"prompt": "Gross margin in 2023?", "completion": "34.1%."},
]


def write(path: Path, rows: list) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8"
    )
    return path


def test_three_formats_become_chat_messages(tmp_path: Path) -> None:
    examples = load_examples(write(tmp_path / "d.jsonl", GOOD))
    assert [e.format for e in examples] == ["messages", "alpaca", "alpaca", "prompt-completion"]
    assert all(e.messages[-1]["role"] == "assistant" for e in examples)
    assert examples[1].messages[0]["content"] == "Summarize the note.\n\nRevenue grew 12%."
    assert examples[2].messages[0]["content"] == "Name the CEO."
    assert [e.line for e in examples] == [1, 2, 3, 4]


def test_problems_are_listed_with_line_numbers(tmp_path: Path) -> None:
    rows = [
        GOOD[0],
        "{not json",
        {"messages": [{"role": "user", "content": "q"}]},
        {"messages": [{"role": "bot", "content": "q"}, {"role": "assistant", "content": "a"}]},
        {"instruction": "", "output": "a"},
        {"question": "q", "answer": "a"},
        [1, 2],
        GOOD[0],
    ]
    report = check_dataset(write(tmp_path / "d.jsonl", rows))
    assert not report.ok and report.examples == 2 and report.duplicates == 1
    problems = dict(report.problems)
    assert "not valid JSON" in problems[2]
    assert "last message must be the assistant's" in problems[3]
    assert "'bot'" in problems[4]
    assert "instruction is empty" in problems[5]
    assert "unknown format (keys: answer, question)" in problems[6]
    assert "expected a JSON object" in problems[7]
    with pytest.raises(DatasetError, match="line 2: not valid JSON"):
        load_examples(tmp_path / "d.jsonl")


def test_missing_empty_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_examples(tmp_path / "none.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no examples"):
        load_examples(tmp_path / "empty.jsonl")
    (tmp_path / "latin.jsonl").write_bytes('{"prompt": "caf\xe9", "completion": "x"}'.encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_examples(tmp_path / "latin.jsonl")


def test_cli_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path / "good.jsonl", GOOD)
    assert main(["dataset", "check", str(good)]) == 0
    assert capsys.readouterr().out.strip() == (
        "ok: 4 valid example(s) (2 alpaca, 1 messages, 1 prompt-completion), 0 problem(s), 0 duplicate(s)"
    )
    assert main(["dataset", "check", "--json", str(good)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["formats"] == {"messages": 1, "alpaca": 2, "prompt-completion": 1}
    bad = write(tmp_path / "bad.jsonl", [GOOD[1], "{oops"])
    assert main(["dataset", "check", str(bad)]) == 2
    out = capsys.readouterr().out
    assert f"{bad}:2: not valid JSON" in out and out.strip().endswith("1 problem(s), 0 duplicate(s)")
    assert main(["dataset", "check", str(tmp_path / "missing.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err
