"""dataset build: RAFT-style examples from the workspace, with a scripted generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeGenerator

from industry_expert import Workspace
from industry_expert.events import Event
from industry_expert.finetune import load_examples
from industry_expert.finetune.build import BuildError, build_dataset
from industry_expert.generate.prompt import INSTRUCTION


class QAGenerator(FakeGenerator):
    """Asks "What figure does passage bd report?" (no figure in the question, so none can match the
    passage by chance) and answers with the passage's first figure."""

    def stream(self, messages, max_tokens: int = 512, temperature: float = 0.0):  # type: ignore[no-untyped-def]
        self.calls.append([dict(m) for m in messages])
        prompt = messages[-1]["content"]
        if "Write a quiz question" in prompt:
            tag = "".join(chr(ord("a") + int(d)) for d in str(len(self.calls)))  # 13 -> "bd"
            reply = f"What figure does passage {tag} report for Northwind?"
        else:
            figure = next((w for w in prompt.split() if w[0].isdigit()), "none")
            reply = f"It reports {figure}."
        yield reply


@pytest.fixture
def ws(workspace: Workspace, tmp_path: Path) -> Workspace:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(14):
        body = " ".join(
            f"In fiscal {2010 + i} Northwind plant {i} shipped {100 + i * 7 + j} pumps to utilities in region {j}."
            for j in range(4)
        )
        (docs / f"report_{i}.md").write_text(f"# Report {i}\n\n{body}\n", encoding="utf-8")
    workspace.ingest([docs])
    workspace.use_generator(QAGenerator())
    return workspace


def test_examples_look_like_ask_prompts_cite_and_quote_the_source(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "data" / "train.jsonl"
    report = build_dataset(
        ws.store, ws.generator, out, n=12, distractors=2, oracle_share=0.75, val_fraction=0.2
    )
    assert report.train + report.validation == 12 and report.validation == 2
    examples = load_examples(out) + load_examples(out.with_suffix(".val.jsonl"))
    assert len(examples) == 12
    with_oracle = [e for e in examples if e.meta["oracle_in_context"]]
    assert 0 < len(with_oracle) < 12
    for e in examples:
        system, user, assistant = e.messages
        assert system["content"] == INSTRUCTION and user["content"].startswith("Sources:\n\n[1] ")
        n_sources = user["content"].count("\n\n[")
        assert n_sources == (3 if e.meta["oracle_in_context"] else 2)
        assert e.meta["chunk_id"] not in e.meta["distractors"]
    e = with_oracle[0]
    reply = e.messages[-1]["content"]
    n = int(reply.split("[")[1].split("]")[0])
    cited = e.messages[1]["content"].split(f"[{n}] ")[1].split("\n\n[")[0]
    quote = reply.split(f'Quote from [{n}]: "')[1].rstrip('"')
    assert quote in " ".join(cited.split())
    used = json.loads(out.with_suffix(".chunks.json").read_text())
    assert set(used["oracle"]) == {e.meta["chunk_id"] for e in examples}
    assert not out.with_suffix(".partial.jsonl").exists()
    with pytest.raises(BuildError, match="already exists"):
        build_dataset(ws.store, ws.generator, out, n=2)


def test_an_interrupted_build_resumes(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    calls = {"n": 0}

    def stop_after_three(happened: Event) -> None:
        event = happened.to_dict()
        if event["event"] == "example":
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_dataset(ws.store, ws.generator, out, n=8, progress=stop_after_three)
    assert len(out.with_suffix(".partial.jsonl").read_text().splitlines()) == 3
    report = build_dataset(ws.store, ws.generator, out, n=8)
    assert report.resumed == 3 and report.train + report.validation == 8
    assert len({e.meta["chunk_id"] for e in load_examples(out)}) == report.train


def test_an_empty_workspace_or_useless_generator_is_one_clear_line(ws: Workspace, tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "empty") as empty, pytest.raises(BuildError, match="has no chunks"):
        build_dataset(empty.store, QAGenerator(), tmp_path / "a.jsonl")
    ws.use_generator(FakeGenerator(["I cannot help with that."]))
    with pytest.raises(BuildError, match="no usable question/answer pair"):
        build_dataset(ws.store, ws.generator, tmp_path / "b.jsonl", n=3)
    assert not (tmp_path / "b.jsonl").exists() and not (tmp_path / "b.partial.jsonl").exists()


def test_vague_or_missing_questions_are_rejected() -> None:
    from industry_expert.finetune.build import parse_question as _question

    assert (
        _question("Question: What was Intel's revenue in 2020?\n\nAnswer: $77.9 billion")
        == "What was Intel's revenue in 2020?"
    )
    assert (
        _question('Question: "How many stores did McDonald\'s open?" It says')
        == "How many stores did McDonald's open?"
    )
    assert _question("Question: What is the text about?") == ""
    assert _question("The company is a global logistics provider.") == ""
    assert _question("Question: What is the answer to the question?") == ""


def test_answers_the_passage_does_not_support_are_dropped(ws: Workspace, tmp_path: Path) -> None:
    from industry_expert.finetune.build import clean_answer, grounded

    passage = "In fiscal 2022 Northwind shipped 1,204 pumps.\n2022 2021\nTotal net sales 394,328 365,817"
    question = "How many pumps did Northwind ship in fiscal 2022?"
    assert grounded("Northwind shipped 1,204 pumps [1].", passage, question)
    assert not grounded("Northwind shipped 1,900 pumps.", passage, question)  # an invented figure
    assert not grounded("Northwind did in fiscal 2022.", passage, question)  # nothing beyond the question
    assert clean_answer('It shipped 1,204 pumps [2].\n\nQuote from [2]: "x"') == "It shipped 1,204 pumps."

    class Inventor(QAGenerator):
        def stream(self, messages, max_tokens: int = 512, temperature: float = 0.0):  # type: ignore[no-untyped-def]
            reply = "".join(super().stream(messages, max_tokens, temperature))
            yield reply if "quiz" in messages[-1]["content"] else "It reports 99,999 pumps [3]."

    ws.use_generator(Inventor())
    # every passage gets an invented figure, so nothing is kept and the error says why
    with pytest.raises(BuildError, match="14 answers the passage does not support"):
        build_dataset(ws.store, ws.generator, tmp_path / "c.jsonl", n=3)


def test_the_quote_is_the_supporting_sentence_not_a_row_of_years() -> None:
    from industry_expert.finetune.build import best_sentence

    passage = "2022 2021 2020\nTotal net sales 394,328 365,817 274,515\nSee Note 2."
    assert best_sentence(passage, "Total net sales in 2022 were $394,328 million.").startswith(
        "Total net sales"
    )
