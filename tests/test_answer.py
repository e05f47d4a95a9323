"""Workspace.ask with a fake embedder and a scripted generator: the pipeline around the model."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FakeGenerator

from industry_expert import Workspace
from industry_expert.answer import NOT_FOUND, rewrite_question
from industry_expert.errors import WorkspaceError
from industry_expert.generate import CitationFilter


@pytest.fixture
def filled(workspace: Workspace, tmp_path: Path) -> Workspace:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "capex.md").write_text(
        "# Capital expenditure\n\nNorthwind capital expenditure in fiscal 2023 was 41.2 million dollars.\n",
        encoding="utf-8",
    )
    (docs / "staff.md").write_text(
        "# Employees\n\nNorthwind had 1,250 employees at the end of fiscal 2023.\n", encoding="utf-8"
    )
    workspace.ingest([docs])
    return workspace


def test_answer_cites_passages_and_reports_what_it_did(filled: Workspace) -> None:
    gen = FakeGenerator(["Capital expenditure was 41.2 million dollars [1], says [9] the report."])
    filled.use_generator(gen)
    answer = filled.ask("What was Northwind's capital expenditure in fiscal 2023?")
    assert answer.found and answer.model == "fake/scripted"
    assert answer.text == "Capital expenditure was 41.2 million dollars [1], says the report."
    assert answer.removed_citations == (9,)
    assert [c.n for c in answer.citations] == [1]
    assert answer.citations[0].source.endswith("capex.md")
    assert "41.2 million" in answer.citations[0].passage
    assert answer.relevance is not None and answer.relevance > 0.3
    assert {"retrieve", "prompt", "first_token", "generate", "total"} <= set(answer.timings)
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0
    user = gen.calls[0][-1]["content"]
    assert "[1] " in user and "Question: What was Northwind's capital expenditure in fiscal 2023?\n" in user
    # the line that answers is shown after the question, so the figure is copied
    assert answer.evidence == "[1] Northwind capital expenditure in fiscal 2023 was 41.2 million dollars."
    assert (
        user.endswith("cite the source number.")
        and answer.evidence.split("] ", 1)[1] in user.splitlines()[-2]
    )
    assert answer.unsupported == () and answer.checks == () and not answer.quoted
    data = answer.to_dict()
    assert data["answer"] == answer.text
    assert set(data["citations"][0]) == {
        "n",
        "source",
        "page",
        "locator",
        "passage",
        "chunk_id",
        "document_id",
    }
    cited = answer.citations[0]
    assert answer.cited_hits()[cited.n].chunk_id == cited.chunk_id and cited.document_id is not None
    assert data["hits"] and data["model"] == "fake/scripted"


def test_streaming_yields_the_same_text_as_the_answer(filled: Workspace) -> None:
    filled.use_generator(FakeGenerator(["It was 41.2 million [1][5]. Staff [2]."]))
    stream = filled.ask_stream("capital expenditure 2023")
    assert stream.hits and stream.query == "capital expenditure 2023"
    pieces = list(stream)
    assert len(pieces) > 1
    assert stream.answer is not None
    assert "".join(pieces).strip() == stream.answer.text == "It was 41.2 million [1]. Staff [2]."


def test_nothing_relevant_means_not_in_the_workspace_and_no_model_call(filled: Workspace) -> None:
    gen = FakeGenerator()
    filled.use_generator(gen)
    answer = filled.ask("zebra migration patterns across savannah rivers")
    assert not answer.found and answer.text == NOT_FOUND and not answer.citations
    assert gen.calls == []


def test_threshold_zero_always_asks_the_model(tmp_path: Path, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace.init(tmp_path / "ws", {"answer.min_relevance": 0.0})
    ws.use_embedder(fake_embedder)
    (tmp_path / "a.md").write_text("Northwind sells pumps.", encoding="utf-8")
    ws.ingest([tmp_path / "a.md"])
    gen = FakeGenerator(["The documents do not say."])
    ws.use_generator(gen)
    answer = ws.ask("zebra migration patterns")
    assert answer.found and answer.text == "The documents do not say." and len(gen.calls) == 1


def test_empty_workspace_is_an_error(workspace: Workspace) -> None:
    workspace.use_generator(FakeGenerator())
    with pytest.raises(WorkspaceError, match="no documents"):
        workspace.ask("anything?")


def test_without_retrieval_the_model_gets_the_bare_question(workspace: Workspace) -> None:
    gen = FakeGenerator(["Forty-one million."])
    workspace.use_generator(gen)
    answer = workspace.ask("What was capex?", retrieval=False)
    assert answer.text == "Forty-one million." and not answer.hits
    assert gen.calls[0] == [{"role": "user", "content": "What was capex?"}]


def test_chat_follow_up_is_rewritten_before_retrieval(filled: Workspace) -> None:
    gen = FakeGenerator(["How many employees did Northwind have in fiscal 2023?", "1,250 people [1]."])
    filled.use_generator(gen)
    history = [("What was Northwind's capex in fiscal 2023?", "41.2 million dollars [1].")]
    answer = filled.ask("and how many employees?", history=history)
    assert answer.query == "How many employees did Northwind have in fiscal 2023?"
    assert answer.hits == tuple(filled.search(answer.query, k=filled.settings.answer.k))
    final = gen.calls[1]
    assert [m["role"] for m in final] == ["system", "user", "assistant", "user"]
    assert final[1]["content"] == history[0][0]
    assert "rewrite" in answer.timings


def test_a_runaway_rewrite_falls_back_to_both_questions() -> None:
    gen = FakeGenerator(["x" * 1000])
    query = rewrite_question(gen, [("What was capex?", "41m")], "and in 2022?")
    assert query == "What was capex? and in 2022?"


def test_summaries_go_into_the_prompt(filled: Workspace) -> None:
    doc = next(d for d in filled.sources() if d.source.endswith("capex.md"))
    filled.store.set_summary(doc.key, "Northwind's capital spending note.")
    gen = FakeGenerator(["41.2 million [1]."])
    filled.use_generator(gen)
    filled.ask("capital expenditure fiscal 2023")
    assert f"Summary of {doc.source}: Northwind's capital spending note." in gen.calls[0][-1]["content"]


def test_citation_filter_holds_an_open_bracket_until_it_closes() -> None:
    f = CitationFilter(3)
    out = [f.feed(p) for p in ["Rose", " [", "2", "]", " and", " [4", "]", "."]]
    assert "".join(out) + f.flush() == "Rose [2] and."
    assert f.invalid == [4]
    g = CitationFilter(1)
    assert (
        g.feed("an [unclosed bracket that is long prose") + g.flush()
        == "an [unclosed bracket that is long prose"
    )


def test_uncited_sentences_get_the_matching_source_marked_as_attributed(filled: Workspace) -> None:
    filled.use_generator(FakeGenerator(["Capex was 41.2 million dollars in fiscal 2023. I hope that helps!"]))
    answer = filled.ask("What was Northwind's capital expenditure in fiscal 2023?")
    n = answer.attributed[0]
    assert answer.text == f"Capex was 41.2 million dollars in fiscal 2023 [{n}]. I hope that helps!"
    assert answer.citations[0].source.endswith("capex.md") and answer.citations[0].n == n


def test_attribution_can_be_turned_off(tmp_path: Path, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace.init(tmp_path / "ws", {"answer.attribute": False})
    ws.use_embedder(fake_embedder)
    (tmp_path / "a.md").write_text("Capital expenditure was 41.2 million dollars.", encoding="utf-8")
    ws.ingest([tmp_path / "a.md"])
    ws.use_generator(FakeGenerator(["Capex was 41.2 million dollars."]))
    answer = ws.ask("capital expenditure")
    assert answer.text == "Capex was 41.2 million dollars." and not answer.citations and not answer.attributed


def test_excerpts_show_the_model_the_lines_that_answer(tmp_path: Path, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace.init(tmp_path / "ws", {"answer.excerpt_lines": 1, "answer.min_relevance": 0})
    ws.use_embedder(fake_embedder)
    (tmp_path / "a.md").write_text(
        "Northwind was founded in Oslo and makes industrial pumps for ships and plants.\n\n"
        "Northwind capital expenditure in fiscal 2023 was 41.2 million dollars.\n",
        encoding="utf-8",
    )
    ws.ingest([tmp_path / "a.md"])
    gen = FakeGenerator(["It was 41.2 million dollars [1]."])
    ws.use_generator(gen)
    answer = ws.ask("What was Northwind's capital expenditure in fiscal 2023?")
    user = gen.calls[0][-1]["content"]
    assert (
        "<source>\nNorthwind capital expenditure in fiscal 2023 was 41.2 million dollars.\n</source>" in user
    )
    assert "Oslo" not in user
    assert "Oslo" in answer.citations[0].passage  # the citation shows the whole passage
    assert answer.text == "It was 41.2 million dollars [1]." and not answer.quoted
