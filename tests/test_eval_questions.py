"""Question sets for evaluation: the format, its validation, and the shipped benchmark set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from industry_expert.errors import DatasetError
from industry_expert.evaluate.questions import (
    Evidence,
    check_questions,
    hit_key,
    infer_kind,
    load_questions,
)

BENCH_SET = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "filings_questions.jsonl"


def write(tmp_path: Path, lines: list[object]) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8"
    )
    return path


def test_a_question_with_evidence_kind_and_id(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {
                "question": "What was capex in fiscal 2023?",
                "answer": "$38.4 million",
                "evidence": {"source": "docs/report.pdf", "pages": [2, 3]},
                "kind": "figure",
                "id": "capex",
            },
            {
                "question": "What does E42 mean?",
                "answer": "Low sensor voltage",
                "evidence": {"passage": "E42 ..."},
            },
            {"question": "Is the plant in Ohio?", "answer": "No, it is in Texas."},
        ],
    )
    first, second, third = load_questions(path)
    assert (
        first.id == "capex" and first.kind == "figure" and first.relevant == {"report.pdf#2", "report.pdf#3"}
    )
    assert hit_key("/abs/docs/report.pdf", 2) in first.relevant and first.by_page
    assert (
        second.kind == "definition" and second.relevant == set() and second.evidence[0].passage == "E42 ..."
    )
    assert third.kind == "yes-no" and third.id == "3" and third.evidence == ()


def test_the_benchmark_shorthand_is_read_as_evidence() -> None:
    questions = load_questions(BENCH_SET)
    assert len(questions) == 50 and all(q.relevant for q in questions)
    assert questions[0].evidence == (Evidence("APPLE_2019_10K.pdf", (26, 27, 53)),)


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"question": "Fine?", "answer": "Yes."},
            "{not json",
            {"question": "", "answer": "x"},
            {"question": "No answer?"},
            {"question": "Bad kind?", "answer": "x", "kind": "trivia"},
            {"question": "Bad page?", "answer": "x", "evidence": {"source": "a.pdf", "page": 0}},
            {"question": "Bad evidence?", "answer": "x", "evidence": {"pages": [1]}},
            ["a list"],
            {"question": "Fine again?", "answer": "No.", "id": 1},
        ],
    )
    report = check_questions(path)
    assert not report.ok and report.questions == 1
    assert [n for n, _ in report.problems] == [2, 3, 4, 5, 6, 7, 8, 9]
    problems = dict(report.problems)
    assert "not valid JSON" in problems[2] and problems[3] == "question is empty"
    assert problems[4] == "answer is missing" and "expected one of figure" in problems[5]
    assert "page number" in problems[6] and "needs a source file name or a passage" in problems[7]
    assert "expected a JSON object" in problems[8] and "id '1' is used by an earlier line" in problems[9]
    with pytest.raises(
        DatasetError, match=r"line 2: not valid JSON .*; line 3: question is empty; .*and 5 more"
    ):
        load_questions(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "holds no questions"), (b"\xff\xfe\x00bad", "is not UTF-8 text")],
)
def test_an_empty_or_unreadable_file_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message):
        load_questions(path)
    with pytest.raises(DatasetError, match="not found"):
        load_questions(tmp_path / "missing.jsonl")


def test_duplicates_are_counted_and_kinds_tallied(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"question": "What was revenue?", "answer": "$482.6 million"},
            {"question": "what was  revenue?", "answer": "$482.6 million", "id": "again"},
            {"question": "Why did margin rise?", "answer": "Better pricing and a richer product mix."},
        ],
    )
    report = check_questions(path)
    assert report.ok and report.duplicates == 1
    assert report.kinds == {"figure": 2, "explanation": 1} and report.with_evidence == 0


@pytest.mark.parametrize(
    ("question", "answer", "kind"),
    [
        ("What was Apple's capex in FY2019?", "7.6 billion", "figure"),
        ("When did the fiscal year end?", "December 31, 2023", "figure"),
        ("Does the company pay a dividend?", "Yes, quarterly.", "yes-no"),
        ("What is a FlowSense FS-400?", "A smart valve for utility sites.", "definition"),
        ("Why did gross margin improve?", "Pricing and mix improved across segments.", "explanation"),
    ],
)
def test_kind_is_inferred_from_the_reference(question: str, answer: str, kind: str) -> None:
    assert infer_kind(question, answer) == kind
