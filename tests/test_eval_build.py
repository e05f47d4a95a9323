"""expert eval build: held-out questions from passages no training example used, a mix of kinds,
each checked against its passage; and dataset build keeping an evaluation's passages out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import FakeGenerator

from industry_expert import Workspace
from industry_expert.errors import BuildError
from industry_expert.evaluate.build import build_questions, consistent, draw, quotas
from industry_expert.evaluate.questions import load_questions
from industry_expert.events import Event
from industry_expert.finetune.build import (
    UsedChunks,
    build_dataset,
    fingerprint,
    held_out_chunks,
    read_used_chunks,
)


class KindGenerator(FakeGenerator):
    """Writes the kind of question each prompt asks for, about the passage's plant, and answers
    it from the passage. ``drift`` makes the second answer to a question differ."""

    def __init__(self, drift: bool = False) -> None:
        super().__init__()
        self.drift = drift
        self.asked: dict[str, int] = {}

    def stream(self, messages, max_tokens: int = 512, temperature: float = 0.0):  # type: ignore[no-untyped-def]
        self.calls.append([dict(m) for m in messages])
        prompt = messages[-1]["content"]
        plant = re.search(r"plant (\d+)", prompt)
        shipped = re.search(r"shipped (\d+) pumps", prompt)
        p, s = (plant.group(1) if plant else "0"), (shipped.group(1) if shipped else "0")
        if prompt.startswith("Text:"):
            if "a number given" in prompt:
                reply = f"Question: How many pumps did Northwind plant {p} ship to region 0?"
            elif "what a term means" in prompt:
                reply = f"Question: What is Northwind plant {p}?"
            elif "yes or no" in prompt:
                reply = f"Question: Did Northwind plant {p} ship pumps to utilities?"
            elif "Why or How" in prompt:
                reply = f"Question: Why does Northwind plant {p} ship pumps?"
            else:
                reply = f"Question: What does Northwind plant {p} ship?"
        else:
            question = prompt.rsplit("Question:", 1)[-1]
            self.asked[question] = self.asked.get(question, 0) + 1
            again = self.asked[question] > 1
            if "How many" in question:
                reply = f"It shipped {int(s) * 2 if again and self.drift else s} pumps."
            elif question.strip().startswith("Did"):
                reply = "Yes, it shipped pumps to utilities in each region."
            elif "What is" in question:
                reply = "A Northwind plant that ships pumps to utilities."
            else:
                reply = "It ships pumps to utilities in several regions."
        yield reply


@pytest.fixture
def ws(workspace: Workspace, tmp_path: Path) -> Workspace:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(30):
        body = " ".join(
            f"In fiscal {2010 + j} Northwind plant {i} shipped {100 + i * 7 + j} pumps to utilities in region {j}."
            for j in range(4)
        )
        (docs / f"report_{i}.md").write_text(f"# Report {i}\n\n{body}\n", encoding="utf-8")
    workspace.ingest([docs])
    workspace.use_generator(KindGenerator())
    return workspace


def test_questions_come_in_a_mix_of_kinds_with_their_passage_as_evidence(
    ws: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "eval" / "questions.jsonl"
    report = build_questions(ws.store, ws.generator, out, n=10)
    assert report.questions == 10 and report.kinds == quotas(10) and not report.short
    questions = load_questions(out)  # the file passes `eval check`
    assert [q.kind for q in questions].count("figure") == 4
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for q, r in zip(questions, records, strict=True):
        (evidence,) = q.evidence
        assert evidence.source.startswith("report_") and evidence.source.endswith(".md")
        assert r["answer"] and all(f in evidence.passage for f in re.findall(r"\d{3}", r["answer"]))
    figure = next(r for r in records if r["kind"] == "figure")
    assert re.search(r"shipped (\d+) pumps", figure["answer"]).group(1) in figure["evidence"]["passage"]  # type: ignore[union-attr]
    manifest = read_used_chunks(out)
    assert manifest.made_by == "eval build" and manifest.ids == {r["meta"]["chunk_id"] for r in records}
    with pytest.raises(BuildError, match="already exists"):
        build_questions(ws.store, ws.generator, out, n=2)


def test_passages_a_training_set_used_are_never_asked_about(ws: Workspace, tmp_path: Path) -> None:
    from test_build_dataset import QAGenerator

    train = tmp_path / "data" / "train.jsonl"
    build_dataset(ws.store, QAGenerator(), train, n=12, distractors=1)
    used, manifests = held_out_chunks([], [tmp_path], "dataset build")
    assert manifests == [train.with_suffix(".chunks.json").resolve()] and len(used) >= 12
    out = tmp_path / "questions.jsonl"
    report = build_questions(ws.store, ws.generator, out, n=8, exclude=used)
    asked = {json.loads(line)["meta"]["chunk_id"] for line in out.read_text().splitlines()}
    assert report.questions == 8 and report.held_out >= 1 and not asked & used.ids
    # Fingerprints still match when the ids do not (a re-ingest gives chunks new ids).
    by_text = UsedChunks(fingerprints=used.fingerprints)
    hits = ws.store.get_chunks(sorted(used.ids))
    assert all(h in by_text for h in hits) and fingerprint(hits[0].text) in used.fingerprints


def test_dataset_build_keeps_an_evaluations_passages_out(ws: Workspace, tmp_path: Path) -> None:
    from test_build_dataset import QAGenerator

    questions = tmp_path / "eval" / "questions.jsonl"
    build_questions(ws.store, ws.generator, questions, n=6)
    held, manifests = held_out_chunks([questions], [tmp_path], "eval build")
    assert manifests == [questions.with_suffix(".chunks.json").resolve()]  # named and found: read once
    train = tmp_path / "train.jsonl"
    build_dataset(ws.store, QAGenerator(), train, n=10, distractors=2, exclude=held)
    seen = read_used_chunks(train)
    assert not seen.ids & held.ids  # neither asked about nor shown as a distractor


def test_an_interrupted_build_resumes(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "q.jsonl"
    calls = {"n": 0}

    def stop_after_three(happened: Event) -> None:
        event = happened.to_dict()
        if event["event"] == "question":
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_questions(ws.store, ws.generator, out, n=6, progress=stop_after_three)
    assert len(out.with_suffix(".partial.jsonl").read_text().splitlines()) == 3
    report = build_questions(ws.store, ws.generator, out, n=6)
    assert report.resumed == 3 and report.questions == 6
    assert not out.with_suffix(".partial.jsonl").exists()
    assert len({q.question for q in load_questions(out)}) == 6


def test_answers_that_change_when_asked_again_are_dropped(ws: Workspace, tmp_path: Path) -> None:
    ws.use_generator(KindGenerator(drift=True))
    report = build_questions(ws.store, ws.generator, tmp_path / "q.jsonl", n=10)
    assert report.inconsistent >= 4 and report.kinds.get("figure", 0) == 0
    assert report.short == {"figure": 4} and report.questions == 10  # the others fill the places


def test_useless_generator_or_empty_workspace_is_one_clear_line(ws: Workspace, tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "empty") as empty, pytest.raises(BuildError, match="has no chunks"):
        build_questions(empty.store, KindGenerator(), tmp_path / "a.jsonl")
    ws.use_generator(FakeGenerator(["I cannot help with that."]))
    with pytest.raises(BuildError, match="no usable question from") as caught:
        build_questions(ws.store, ws.generator, tmp_path / "b.jsonl", n=2)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "b.jsonl").exists() and not (tmp_path / "b.partial.jsonl").exists()
    bad = tmp_path / "broken.chunks.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(BuildError, match="is not a chunk list"):
        held_out_chunks([bad])
    with pytest.raises(BuildError, match="not found"):
        held_out_chunks([tmp_path / "missing.jsonl"])


def test_consistency_quotas_and_draw() -> None:
    assert consistent("Revenue was $4.2 billion.", "It was 4,200 million dollars.", "figure")
    assert not consistent("Revenue was $4.2 billion.", "It was $3.9 billion.", "figure")
    assert consistent("Yes, it did.", "Yes.", "yes-no") and not consistent("Yes, it did.", "No.", "yes-no")
    assert not consistent("Pumps for utilities.", "A bank in Ohio.", "definition")
    assert quotas(1) == {"figure": 1, "definition": 0, "yes-no": 0, "explanation": 0}
    assert sum(quotas(7).values()) == 7
    import random

    made = [{"kind": "figure", "i": i} for i in range(6)] + [{"kind": "definition", "i": 9}]
    chosen = draw(made, quotas(5), 5, random.Random(1))
    assert len(chosen) == 5 and {"kind": "definition", "i": 9} in chosen


def test_dataset_build_keeps_out_the_pages_a_question_file_cites(ws: Workspace, tmp_path: Path) -> None:
    from test_build_dataset import QAGenerator
    from test_cli import expert

    places = UsedChunks(places=frozenset({f"report_{i}.md" for i in range(20)}))
    train = tmp_path / "train.jsonl"
    build_dataset(ws.store, QAGenerator(), train, n=8, distractors=2, exclude=places)
    seen = ws.store.get_chunks(sorted(read_used_chunks(train).ids))
    assert seen and all(int(Path(h.source).stem.split("_")[1]) >= 20 for h in seen)
    # From the command line: a question file of one's own, by its evidence.
    questions = tmp_path / "mine.jsonl"
    questions.write_text(json.dumps({"question": "q?", "answer": "a", "file": "r.pdf", "pages": [3]}) + "\n")
    expert("init", ws=tmp_path / "empty", check=True)
    result = expert("dataset", "build", "--out", str(tmp_path / "t2.jsonl"), "--exclude", str(questions),
                    "-n", "1", ws=tmp_path / "empty")  # fmt: skip
    assert f"holding out the 1 page(s) {questions} cites as evidence" in result.stderr
    assert "has no chunks" in result.stderr and result.returncode == 2
