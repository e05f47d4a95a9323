"""expert eval compare: two runs of the same questions, what changed, and which differences are real."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FakeGenerator

from industry_expert.config import AnswerSettings
from industry_expert.errors import InputError
from industry_expert.evaluate.compare import compare_runs, format_comparison
from industry_expert.evaluate.questions import EvalQuestion
from industry_expert.evaluate.run import run_eval

QUESTIONS = [
    EvalQuestion(
        i,
        f"q{i}",
        f"What was plant {i}'s capital expenditure in fiscal 2023?",
        f"${10 + i}.5 million",
        "figure",
    )
    for i in range(12)
]


def run(out: Path, replies: list[str], name: str, questions: list[EvalQuestion] = QUESTIONS) -> Path:
    gen = FakeGenerator(replies)
    run_eval(questions, {"base": gen}, None, AnswerSettings(), out, identity={"base": name, "k": 6})
    return out


def test_a_real_improvement_is_called_better_and_what_changed_is_named(tmp_path: Path) -> None:
    before = run(tmp_path / "r1", ["I do not know."], "small.gguf")
    after = run(tmp_path / "r2", [f"It was ${10 + i}.5 million." for i in range(12)], "large.gguf")
    result = compare_runs(before, after)
    entry = result["modes"]["base"]
    assert result["questions"] == 12 and entry["n"] == 12
    assert entry["difference"] == 1.0 and entry["significant"] and entry["p"] < 0.01
    assert result["changed"] == [["base", "small.gguf", "large.gguf"]]
    text = format_comparison(result)
    assert "- base: 'small.gguf' → 'large.gguf'" in text and "| better |" in text
    same = compare_runs(before, before)
    assert not same["modes"]["base"]["significant"] and "no significant difference" in format_comparison(same)
    assert "same models and settings" in format_comparison(same)


def test_a_small_difference_is_noise(tmp_path: Path) -> None:
    before = run(tmp_path / "r1", [f"It was ${10 + i}.5 million." for i in range(12)], "m")
    replies = [f"It was ${10 + i}.5 million." for i in range(12)]
    replies[3] = "I do not know."
    after = run(tmp_path / "r2", replies, "m")
    entry = compare_runs(before, after)["modes"]["base"]
    assert entry["difference"] == pytest.approx(-1 / 12) and not entry["significant"]


def test_runs_of_other_questions_or_unfinished_runs_are_refused(tmp_path: Path) -> None:
    before = run(tmp_path / "r1", ["I do not know."], "m")
    other = [EvalQuestion(1, "x", "Who leads the valve business?", "Dana Reyes", "explanation")]
    after = run(tmp_path / "r2", ["Dana Reyes."], "m", other)
    with pytest.raises(InputError, match="share no questions"):
        compare_runs(before, after)
    (tmp_path / "r3").mkdir()
    with pytest.raises(InputError, match="not an evaluation folder"):
        compare_runs(before, tmp_path / "r3")
