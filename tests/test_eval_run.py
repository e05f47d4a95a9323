"""The evaluation run: four modes over one question set, scored, resumable, summarised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeGenerator

from industry_expert import Workspace
from industry_expert.config import AnswerSettings
from industry_expert.errors import DatasetError, InputError
from industry_expert.evaluate.questions import EvalQuestion, Evidence
from industry_expert.evaluate.run import parse_modes, run_eval
from industry_expert.evaluate.summary import ANSWER_METRICS, COST_METRICS, Summary

QUESTIONS = [
    EvalQuestion(1, "capex", "What was Northwind's capital expenditure in fiscal 2023?", "$38.4 million", "figure",
                 (Evidence("capex.md"),)),
    EvalQuestion(2, "ceo", "Who leads Northwind's valve business?", "Dana Reyes", "explanation",
                 (Evidence("people.md"),)),
]  # fmt: skip


@pytest.fixture
def northwind(workspace: Workspace, tmp_path: Path) -> Workspace:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "capex.md").write_text(
        "# Capital expenditure\n\nNorthwind capital expenditure in fiscal 2023 was $38.4 million.\n",
        encoding="utf-8",
    )
    (docs / "people.md").write_text(
        "# People\n\nDana Reyes leads Northwind's valve business since 2021.\n", encoding="utf-8"
    )
    workspace.ingest([docs])
    return workspace


def generators(base: FakeGenerator, tuned: FakeGenerator) -> dict[str, FakeGenerator]:
    return {"base": base, "rag": base, "ft": tuned, "rag+ft": tuned}


def test_each_mode_answers_each_question_and_is_scored(northwind: Workspace, tmp_path: Path) -> None:
    base = FakeGenerator(["I do not know."])
    tuned = FakeGenerator(["It was $38.4 million [1]."])
    out = tmp_path / "r1"
    run = run_eval(
        QUESTIONS, generators(base, tuned), northwind.retriever, AnswerSettings(unsupported="warn"), out
    )
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and run.answered == 8 and run.resumed == 0
    by = {(r["id"], r["mode"]): r for r in rows}
    assert by["capex", "base"]["metrics"]["score"] == 0.0 and by["capex", "ft"]["metrics"]["score"] == 1.0
    assert by["capex", "base"]["citations"] == [] and by["capex", "base"]["metrics"]["faithfulness"] is None
    rag_ft = by["capex", "rag+ft"]
    assert rag_ft["metrics"]["score"] == 1.0 and rag_ft["citations"][0]["source"].endswith("capex.md")
    assert rag_ft["metrics"]["citation_precision"] == 1.0 and rag_ft["metrics"]["faithfulness"] == 1.0
    assert rag_ft["cost"]["prompt_tokens"] > 0 and rag_ft["cost"]["total_ms"] > 0
    assert len(base.calls) == 4 and len(tuned.calls) == 4  # each model once per question and mode
    assert "Sources:" not in base.calls[0][-1]["content"] and "Sources:" in base.calls[2][-1]["content"]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["modes"]["ft"]["score"]["n"] == 2 and summary["modes"]["base"]["answered"] == 2
    assert summary["retrieval"]["recall@10"]["mean"] == 1.0 and summary["retrieval"]["mrr"]["n"] == 2
    assert {(p["a"], p["b"]) for p in summary["pairs"]} >= {("base", "ft"), ("rag", "rag+ft")}
    assert not any(p["significant"] for p in summary["pairs"])  # two questions prove nothing
    assert summary["modes"]["ft"]["by_kind"]["figure"] == {"mean": 1.0, "n": 1}
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    # The typed summary is the file, read back whole; the file keeps the keys it always had.
    assert Summary.load(out).to_dict() == summary == run.summary.to_dict()
    assert set(summary["modes"]["ft"]) == {"answered", *ANSWER_METRICS, *COST_METRICS, "quoted", "by_kind"}


def test_a_summary_missing_keys_reads_as_not_measured_and_a_broken_one_is_one_line(tmp_path: Path) -> None:
    older = Summary.from_dict(
        {"questions": 3, "modes": {"rag": {"score": {"mean": 0.5, "low": 0.2, "high": 0.8, "n": 3}}}}
    )
    rag = older.modes["rag"]
    assert rag.score.text(interval=True) == "0.50 [0.20, 0.80]" and rag.judge.text() == "–"
    assert rag.total_ms is None and older.pairs == [] and older.scored == ["rag"] and not older.judged
    (tmp_path / "summary.json").write_text('{"questions": 3, "modes": {"rag": 7}}')
    with pytest.raises(InputError, match="is not a readable summary") as caught:
        Summary.load(tmp_path)
    assert "\n" not in str(caught.value)


def test_an_interrupted_run_resumes_where_it_stopped(northwind: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "r1"

    class Crashes(FakeGenerator):
        def stream(self, messages, max_tokens: int = 512, temperature: float = 0.0):  # type: ignore[no-untyped-def]
            if len(self.calls) == 3:
                raise KeyboardInterrupt
            yield from super().stream(messages, max_tokens, temperature)

    crashes = Crashes(["$38.4 million [1]."])
    with pytest.raises(KeyboardInterrupt):
        run_eval(QUESTIONS, {"base": crashes, "rag": crashes}, northwind.retriever, AnswerSettings(), out)
    assert len((out / "answers.jsonl").read_text().splitlines()) == 3
    assert json.loads((out / "manifest.json").read_text())["complete"] is False

    again = FakeGenerator(["$38.4 million [1]."])
    run = run_eval(QUESTIONS, {"base": again, "rag": again}, northwind.retriever, AnswerSettings(), out)
    assert run.resumed == 3 and run.answered == 1 and len(again.calls) == 1
    assert len((out / "answers.jsonl").read_text().splitlines()) == 4
    assert len((out / "retrieval.jsonl").read_text().splitlines()) == 2  # scored once


def test_an_output_folder_of_another_run_is_refused(northwind: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "r1"
    gen = FakeGenerator()
    run_eval(QUESTIONS[:1], {"base": gen}, None, AnswerSettings(), out, identity={"model": "a"})
    with pytest.raises(InputError, match="holds a run of other questions, models or settings"):
        run_eval(QUESTIONS[:1], {"base": gen}, None, AnswerSettings(), out, identity={"model": "b"})
    with pytest.raises(InputError, match="holds a run of other"):
        run_eval(QUESTIONS, {"base": gen}, None, AnswerSettings(), out, identity={"model": "a"})


def test_bad_modes_and_inputs_are_one_clear_error(tmp_path: Path) -> None:
    assert parse_modes("rag, base,rag") == ("rag", "base")
    with pytest.raises(InputError, match="unknown mode rg; choose from base, rag, ft, rag\\+ft"):
        parse_modes("base,rg")
    with pytest.raises(DatasetError, match="empty"):
        run_eval([], {"base": FakeGenerator()}, None, AnswerSettings(), tmp_path / "x")
    with pytest.raises(InputError, match="need a workspace"):
        run_eval(QUESTIONS, {"rag": FakeGenerator()}, None, AnswerSettings(), tmp_path / "x")
