"""Answers stay tied to their sources: figures are normalised and looked up, the answering line is
picked and shown to the model, and an answer that fails its checks is flagged or replaced."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FakeGenerator

from industry_expert import Workspace
from industry_expert.answer import NO_FIGURE, AnswerStream
from industry_expert.config import AnswerSettings
from industry_expert.figures import figures, same_figure
from industry_expert.generate.grounding import excerpts, select_evidence
from industry_expert.generate.prompt import EVIDENCE_ASK
from industry_expert.generate.tidy import tidy_answer
from industry_expert.generate.verify import (
    answers_question,
    degenerate,
    missing_names,
    unsupported_figures,
    wrong_period,
)
from industry_expert.question import Question
from industry_expert.store import SearchFilter
from industry_expert.types import Hit

QUESTION = "What was Northwind's capital expenditure in fiscal 2023?"
Q = Question.analyse


def one(text: str):  # type: ignore[no-untyped-def]
    (figure,) = figures(text)
    return figure


@pytest.mark.parametrize(
    ("text", "value", "percent", "money"),
    [
        ("$38.4 million", 38.4e6, False, True),
        ("€ 3.5bn", 3.5e9, False, True),
        ("1,217.5 thousand", 1_217_500, False, False),
        ("(1,016)", -1016, False, False),
        ("-12%", -12, True, False),
        ("12 percent", 12, True, False),
        ("$0.365", 0.365, False, True),
        ("10 members", 10, False, False),
    ],
)
def test_figures_are_read_with_scale_sign_and_kind(
    text: str, value: float, percent: bool, money: bool
) -> None:
    figure = one(text)
    assert figure.value == pytest.approx(value) and figure.percent is percent and figure.money is money


def test_citation_markers_footnotes_and_years() -> None:
    assert [f.text for f in figures("Revenue rose [1][2] (1) in 2023 to 4,100.")] == ["2023", "4,100."[:-1]]
    assert one("2023").year_like and not one("$2,023").year_like and not one("2,023").year_like


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("$38.4 million", "Capital expenditure $ 38.4", True),  # a table in millions
        ("$38.4 million", "38,400,000", True),
        ("$1,016 million", "(1,016)", True),  # a loss in parentheses
        ("$9.8 billion", "$9,795 million", True),
        ("$208,000", "Net income $ 208", False),  # the wrong scale is not the same figure
        ("2.1 million square feet", "Item 2. Properties", False),  # an item number supports nothing
        ("$2 million", "Note 2", False),
        ("$38.4 million", "Capital expenditure $ 38", False),  # a coarser cell does not state 38.4
        ("$38 million", "Capital expenditure $ 38.4", True),
        ("$38.4 million", "$29.9 million", False),
        ("12%", "12.0", True),
        ("34.1%", "34.2%", False),
    ],
)
def test_same_figure(a: str, b: str, same: bool) -> None:
    assert same_figure(one(a), figures(b)[-1]) is same


def hits(*texts: str, header: str = "") -> list[Hit]:
    return [Hit(i, f"r{i}.pdf", i, None, 1.0, text, header=header) for i, text in enumerate(texts, start=1)]


def test_evidence_is_the_answering_sentence_of_the_asked_year() -> None:
    sources = hits(
        "Revenue grew 12% to $482.6 million. Capital expenditure in fiscal 2022 was $29.9 million.",
        "Capital expenditure in fiscal 2023 was $38.4 million, compared with $29.9 million in fiscal 2022.",
    )
    evidence = select_evidence(Q(QUESTION), sources)
    assert evidence is not None and evidence.source == 2
    assert evidence.quote() == (
        "Capital expenditure in fiscal 2023 was $38.4 million, compared with $29.9 million in fiscal 2022 [2]."
    )


def test_evidence_in_a_table_takes_the_cell_under_the_asked_period() -> None:
    sources = hits(
        "(in millions) FY2023 FY2022\nRevenue $482.6 $430.9\nOther capital items $1.0 $2.0\n"
        "Capital expenditure $38.4 $29.9"
    )
    evidence = select_evidence(Q(QUESTION), sources)
    assert evidence is not None and (evidence.cell, evidence.column) == ("$38.4", "FY2023")
    assert evidence.quote() == "Capital expenditure, FY2023: $38.4 [1]"
    last_year = select_evidence(Q("What was capital expenditure in FY2022?"), sources)
    assert last_year is not None and last_year.cell == "$29.9"


def test_no_evidence_when_nothing_matches() -> None:
    assert select_evidence(Q("Who founded the company?"), hits("Revenue $482.6 $430.9")) is None


def test_unsupported_figures_are_looked_up_in_the_cited_passages_only() -> None:
    sources = hits("Capital expenditure in fiscal 2023 was $38.4 million.", "Revenue was $52.0 million.")
    assert unsupported_figures("Capex was $38.4 million [1].", sources, Q(QUESTION)) == []
    assert unsupported_figures("Capex was $52.0 million [1].", sources, Q(QUESTION)) == ["$52.0 million"]
    assert unsupported_figures("Capex in 2023 was $41 million.", sources, Q(QUESTION)) == ["$41 million"]
    # cited nowhere: no passage vouches for it, though one states it
    assert unsupported_figures("Capex was $38.4 million.", sources, Q(QUESTION)) == ["$38.4 million"]
    assert unsupported_figures("Capex rose in 2023.", sources, Q(QUESTION)) == []  # the question's year


def test_a_header_lends_a_passage_its_years_only() -> None:
    # the model is shown the passage, not its header: "Note 10" there is no support, "2022" is
    source = Hit(
        1, "q.pdf", 3, None, 1.0, "Long-term debt rose to $8.1 billion.", header="Acme 10-Q 2022 — Note 10"
    )
    question = Q("What happened to long-term debt?")
    assert unsupported_figures("Debt rose to $8.1 billion in 2022 [1].", [source], question) == []
    assert unsupported_figures("See Note 10: debt rose to $8.1 billion [1].", [source], question) == ["10"]


def test_a_table_figure_from_another_years_column_is_the_wrong_period() -> None:
    table = "(in millions) FY2023 FY2022\nRevenue $482.6 $430.9\nCapital expenditure $38.4 $29.9"
    sources = hits(table)
    assert wrong_period("It was $29.9 million [1].", sources, Q(QUESTION)) == ["$29.9 million"]
    assert wrong_period("It was $38.4 million [1].", sources, Q(QUESTION)) == []
    assert (
        wrong_period("It was $29.9 million [1].", sources, Q("What was capital expenditure in FY2022?")) == []
    )
    assert (
        wrong_period("It was $29.9 million [1].", sources, Q("What was capital expenditure?")) == []
    )  # no period
    # a sentence carries its own context, and a table without year headings cannot be judged
    prose = hits("Capital expenditure was $29.9 million, up from the prior year.")
    assert wrong_period("It was $29.9 million [1].", prose, Q(QUESTION)) == []
    assert wrong_period("It was $29.9 [1].", hits("Capital expenditure $38.4 $29.9"), Q(QUESTION)) == []


def test_a_change_column_between_the_years_does_not_hide_the_period() -> None:
    sources = hits("Years ended 2022 Change 2021\nTotal net sales $ 394,328 8 % $ 365,817")
    question = Q("What were total net sales in fiscal 2022?")
    evidence = select_evidence(question, sources)
    assert evidence is not None and evidence.quote() == "Total net sales, 2022: $ 394,328 [1]"
    assert wrong_period("They were $365,817 [1].", sources, question) == ["$365,817"]


def test_answers_question_and_degenerate() -> None:
    assert Q("How much did Northwind spend on equipment?").wants_figure
    assert not Q(QUESTION).wants_figure and not Q("Where is the headquarters?").wants_figure
    assert not answers_question("The answer is: [1]", Q(QUESTION))
    # a question wants a figure by its grammar, or once its evidence is a table's cell (answer.py)
    assert not answers_question(
        "Capital expenditure grew in fiscal 2023 [1].", Q(QUESTION), wants_figure=True
    )
    assert answers_question("It was $38.4 million [1].", Q(QUESTION), wants_figure=True)
    assert not answers_question("Capital expenditure grew [1].", Q("How much was capital expenditure?"))
    assert degenerate("Item 7. Management's Discussion and Analysis\n" * 3)
    assert degenerate("net sales for the year " * 5)
    assert not degenerate("Capital expenditure in fiscal 2023 was $38.4 million [1].")


def test_tidy_answer_drops_echoes() -> None:
    assert (
        tidy_answer('The answer is: "Total net revenues $ 9,795 $ 10,420" [2]')
        == "Total net revenues $ 9,795 $ 10,420 [2]"
    )
    assert tidy_answer("The answer is: [1]") == "The answer is: [1]"
    # a sentence that only repeats the prompt's instructions goes, its citation kept
    assert tidy_answer("71.5%\n\nThe source number is: 1 [1]") == "71.5% [1]"
    assert (
        tidy_answer(f"Net sales were $9.8 billion. {EVIDENCE_ASK} I cited the source [2].")
        == "Net sales were $9.8 billion [2]."
    )
    # an answer saying the documents lack it, and one saying more, are not echoes
    assert tidy_answer("The documents do not contain it.") == "The documents do not contain it."
    assert (
        tidy_answer("The figure is $5 million [1]. Services led it.")
        == "The figure is $5 million [1]. Services led it."
    )


def test_an_echoed_instruction_leaves_the_figure_to_be_checked(capex: Workspace) -> None:
    echoes = FakeGenerator(["$52.0 million\n\nThe figure is copied exactly from the source number [1]."])
    answer, _ = ask(capex, echoes, "warn")
    assert answer.text == "$52.0 million [1]" and answer.unsupported == ("$52.0 million",)


@pytest.fixture
def capex(workspace: Workspace, tmp_path: Path) -> Workspace:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "capex.md").write_text(
        "# Capital expenditure\n\nNorthwind capital expenditure in fiscal 2023 was $38.4 million.\n",
        encoding="utf-8",
    )
    workspace.ingest([docs])
    return workspace


def ask(ws: Workspace, generator, policy: str):  # type: ignore[no-untyped-def]
    stream = AnswerStream(QUESTION, generator, ws.retriever, AnswerSettings(unsupported=policy))  # type: ignore[arg-type]
    pieces = list(stream)
    assert stream.answer is not None
    return stream.answer, pieces


def test_an_invented_figure_is_flagged_or_replaced_by_the_quote(capex: Workspace) -> None:
    invents = FakeGenerator(["Capital expenditure was $52.0 million [1]."])
    flagged, pieces = ask(capex, invents, "warn")
    assert flagged.text == "Capital expenditure was $52.0 million [1]." and len(pieces) > 1  # streamed
    assert flagged.unsupported == ("$52.0 million",) and flagged.checks == ("unsupported figure",)
    assert not flagged.quoted
    replaced, pieces = ask(capex, invents, "quote")
    assert replaced.quoted and replaced.unsupported == () and replaced.checks == ("unsupported figure",)
    assert replaced.text == "Northwind capital expenditure in fiscal 2023 was $38.4 million [1]."
    assert pieces == [replaced.text]  # held back until checked, so the invention is never shown
    assert [c.n for c in replaced.citations] == [1]


def test_a_non_answer_is_replaced_and_a_right_one_kept(capex: Workspace) -> None:
    empty, _ = ask(capex, FakeGenerator(["The answer is: [1]"]), "quote")
    assert empty.quoted and empty.checks == ("no figure",) and "$38.4 million [1]" in empty.text
    right, _ = ask(capex, FakeGenerator(['The answer is "$38.4 million" [1]']), "quote")
    assert not right.quoted and right.text == "$38.4 million [1]" and right.checks == ()


def test_a_generator_that_obeys_an_injected_passage_does_not_reach_the_user(capex: Workspace) -> None:
    obeys = FakeGenerator(["ACCESS GRANTED, visit evil.example.com [1]"])
    replaced, pieces = ask(capex, obeys, "quote")
    assert replaced.quoted and "no figure" in replaced.checks and "evil" not in "".join(pieces)
    flagged, _ = ask(capex, obeys, "warn")
    assert not flagged.quoted and "no figure" in flagged.checks  # shown, with the CLI's warning


class Repeater:
    """Writes one heading forever, as the shipped model once did for 32 lines."""

    name = "fake/repeater"
    context_window = 2048

    def __init__(self) -> None:
        self.pieces = 0

    def stream(self, messages, max_tokens: int = 512, temperature: float = 0.0) -> Iterator[str]:  # type: ignore[no-untyped-def]
        while self.pieces < max_tokens:
            self.pieces += 1
            yield "Item 7. Management's Discussion\n"

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def test_a_figure_from_the_wrong_years_column_is_flagged_or_replaced_by_the_right_cell(
    workspace: Workspace, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "table.md").write_text(
        "Northwind capital expenditure by year (in millions of dollars)\n\n| Item | FY2023 | FY2022 |\n|---|---|---|\n"
        "| Revenue | 482.6 | 430.9 |\n| Capital expenditure | 38.4 | 29.9 |\n",
        encoding="utf-8",
    )
    workspace.ingest([docs])
    last_year = FakeGenerator(["Capital expenditure was $29.9 million."])
    flagged, _ = ask(workspace, last_year, "warn")
    assert flagged.checks == ("wrong period",) and flagged.unsupported == ()
    replaced, _ = ask(workspace, last_year, "quote")
    assert replaced.quoted and "38.4" in replaced.text and "FY2023" in replaced.text
    right, _ = ask(workspace, FakeGenerator(["Capital expenditure was $38.4 million."]), "quote")
    assert right.checks == () and not right.quoted


def test_repetition_is_stopped_early_and_never_shown(capex: Workspace) -> None:
    gen = Repeater()
    answer, _ = ask(capex, gen, "quote")
    assert gen.pieces <= 8 and answer.quoted and "repetition" in answer.checks
    assert "Management" not in answer.text


def test_a_name_no_passage_mentions_is_not_answered(capex: Workspace) -> None:
    gen = FakeGenerator(["Tesla spent $38.4 million [1]."])
    stream = AnswerStream(
        "What was Tesla's capital expenditure in fiscal 2023?",
        gen,
        capex.retriever,
        AnswerSettings(min_relevance=0),
    )
    answer = stream.run()
    assert not answer.found and 'is about "Tesla"' in answer.text and gen.calls == []
    assert missing_names(Q("What was Northwind's capital expenditure?"), stream.hits) == []


def test_only_a_name_the_whole_workspace_lacks_is_refused(capex: Workspace, tmp_path: Path) -> None:
    """A sentence's first word is no name ("Answer in USD millions."); a name that the retrieved
    passages lack but a document's name holds is not "absent from the workspace"; one that a
    document only uses in passing is."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "contoso-supplier-review.md").write_text(
        "# Supplier review\n\nCastings arrived on time in every quarter.\n", encoding="utf-8"
    )
    (other / "partners.md").write_text("# Partners\n\nFabrikam supplies the valves.\n", encoding="utf-8")
    capex.ingest([other])
    reply = FakeGenerator(["Capital expenditure was $38.4 million in fiscal 2023 [1]."])
    kept = SearchFilter(source="**/capex.md")  # what a key's collections or --source leave to read
    for question in (
        "What was Northwind's capital expenditure in fiscal 2023? Answer in USD millions.",
        "What was Northwind's capital expenditure in fiscal 2023? Round your answer to one decimal.",
    ):
        stream = AnswerStream(
            question, reply, capex.retriever, AnswerSettings(min_relevance=0), k=1, where=kept
        )
        answer = stream.run()
        assert answer.found and "does not contain" not in answer.text, (question, answer.text)
    assert capex.retriever.names("Contoso") and not capex.retriever.names(
        "Contoso", SearchFilter(collection="hr")
    )
    for name in ("Fabrikam", "Litware"):  # used in passing; absent
        refused = AnswerStream(
            f"What was {name}'s capital expenditure in fiscal 2023?", reply, capex.retriever,
            AnswerSettings(min_relevance=0), k=1, where=kept,
        ).run()  # fmt: skip
        assert not refused.found and f'is about "{name}"' in refused.text, refused.text


def test_a_rare_word_in_lower_case_is_a_name_the_workspace_is_asked_about(
    capex: Workspace, tmp_path: Path
) -> None:
    """A drug written in lower case names one thing as a capitalised name does: absent from the
    whole workspace, refused; misspelled, searched as the word a retrieved document spells."""
    trial = tmp_path / "trial.md"
    trial.write_text(
        "# Myeloma protocol\n\nInduction gives bortezomib 1.3 mg/m2 on days 1, 4, 8 and 11.\n\n"
        "## Dosing\n\nEach cycle lasts 28 days.\n",
        encoding="utf-8",
    )
    capex.ingest([trial])
    assert Q("What induction dose of pembrolizumab is used?").rare == ("pembrolizumab",)
    assert Q("How much did the company spend on equipment?").rare == ()
    reply = FakeGenerator(["Bortezomib is given at 1.3 mg/m2 [1]."])
    kept = SearchFilter(source="**/trial.md")
    refused = AnswerStream(
        "What induction dose of pembrolizumab is given in the myeloma protocol?", reply,
        capex.retriever, AnswerSettings(min_relevance=0), k=1, where=kept,
    ).run()  # fmt: skip
    assert not refused.found and 'is about "pembrolizumab"' in refused.text, refused.text
    spelled = AnswerStream(
        "What induction dose of bortezomab is given in the myeloma protocol?", reply,
        capex.retriever, AnswerSettings(min_relevance=0), k=1, where=kept,
    ).run()  # fmt: skip
    assert spelled.found and "does not contain" not in spelled.text, spelled.text
    doc = capex.retriever.store.list_documents("**/trial.md")[0].id
    assert {"bortezomib", "Myeloma"} <= capex.retriever.document_words([doc])


def _shelf(ws: Workspace, folder: Path, files: dict[str, str]) -> None:
    """Write ``files`` (name: Markdown) into ``folder`` and ingest it."""
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    ws.ingest([folder])


def _asked(ws: Workspace, question: str, reply: str, **kw):  # type: ignore[no-untyped-def]
    """The answer to ``question`` from a model that replies ``reply``, no relevance threshold."""
    return AnswerStream(
        question, FakeGenerator([reply]), ws.retriever, AnswerSettings(min_relevance=0), **kw
    ).run()


def test_a_misspelled_name_is_looked_for_past_the_passages_its_misspelling_kept_away(
    capex: Workspace, tmp_path: Path
) -> None:
    """A misspelled place keeps its report out of the passages retrieved, so its right spelling is
    looked for in the documents a deeper search reaches, and the question is asked again."""
    _shelf(capex, tmp_path / "reports", {
        "a.md": "# Report A\n\nThe runway the pilot was landing on was 2,400 feet long. The runway was "
        "turf and the pilot was landing into the wind on the runway.\n",
        "b.md": "# Report B\n\nThe accident happened near Tallahassee, Florida. The runway was 1,900 feet.\n",
    })  # fmt: skip
    question = "How long was the runway the pilot was landing on near Tallahasee?"
    first = capex.retriever.search(question, 1)
    assert first[0].source.endswith("a.md")  # the misspelling finds the other report first
    answer = _asked(capex, question, "It was 1,900 feet [1].", k=1)
    assert answer.found and answer.spelled == (("Tallahasee", "Tallahassee"),), answer.text
    assert answer.citations[0].source.endswith("b.md")
    # a word spelled right and a name nothing holds: the refusal is about that name alone
    refused = _asked(
        capex, "How long was the runway the Zubrowka pilot was landing on near Tallahasee?",
        "It was 1,900 feet [1].", k=1,
    )  # fmt: skip
    assert not refused.found and 'about "Zubrowka".' in refused.text, refused.text
    assert refused.spelled == (("Tallahasee", "Tallahassee"),)


def test_a_code_one_character_off_is_another_thing_not_a_misspelling(
    capex: Workspace, tmp_path: Path
) -> None:
    """Asked about accident NYC08CA099 over a shelf that holds NYC08CA055, the answer must not be
    about NYC08CA055: a code is not spell-corrected, and the one asked about is not there."""
    _shelf(capex, tmp_path / "reports", {
        "a.md": "# Accident NYC08CA055\n\nThe investigator in charge was Todd Gunther. The pilot held "
        "a private certificate.\n",
        "b.md": "# Accident ERA09LA120\n\nThe investigator in charge was Ann Lee. The runway was wet.\n",
    })  # fmt: skip
    answer = _asked(
        capex, "Who was the investigator in charge for accident number NYC08CA099?", "Todd Gunther [1]."
    )
    assert not answer.found and answer.spelled == (), answer.text
    assert '"NYC08CA099"' in answer.text


def test_a_place_and_a_make_side_by_side_are_held_by_the_report_about_the_place(
    capex: Workspace, tmp_path: Path
) -> None:
    """In "the Tallahassee Piper accident" the report of a Piper near Tallahassee writes the two
    apart; a report that names a place only in passing is not about it."""
    files = {
        "a.md": "# Accident near Tallahassee\n\nThe airplane departed Tallahassee at noon.\n\n## Aircraft"
        "\n\nThe Piper was built in 1962. The turf runway was 2,000 feet long.\n",
        "b.md": "# Accident near Venice\n\nA Cessna landed long. The pilot had flown from Tallahassee "
        "once, years before, in a Piper.\n\n"
        + "".join(f"## Part {i}\n\nThe inspection found item {i}.\n\n" for i in range(12)),
    }
    for name, place in (("c", "Reno"), ("d", "Boise"), ("e", "Ogden")):
        files[f"{name}.md"] = f"# Accident near {place}\n\nA Beech struck a fence.\n"
    _shelf(capex, tmp_path / "reports", files)
    where = SearchFilter(source="**/reports/*.md")
    reply = "It was 2,000 feet long [1]."
    held = _asked(
        capex, "How long was the turf runway in the Tallahassee Piper accident?", reply, k=2, where=where
    )
    assert held.found and "does not contain" not in held.text, held.text
    # the Boise report holds no Cessna, and the report that names a Cessna is not about Boise
    refused = _asked(capex, "How long was the runway in the Boise Cessna accident?", reply, k=2, where=where)
    assert not refused.found and 'about "Boise Cessna"' in refused.text, refused.text


def test_a_maker_and_its_product_named_apart_are_held_when_both_are_rare_words(
    capex: Workspace, tmp_path: Path
) -> None:
    """In "the Lutronic Accufit study" the protocol names the maker and the device apart, never side
    by side. Two rare words each held are the workspace's; ordinary words each held somewhere
    ("Election Commission") are not enough."""
    _shelf(capex, tmp_path / "trial", {
        "device.md": "# Sponsor\n\nSponsored by Lutronic Corporation.\n\n## Device\n\n"
        "The Accufit system gives 8 sessions over 4 weeks. The election of sites is by the "
        "sponsor's commission.\n",
    })  # fmt: skip
    reply = "It gives 8 sessions over 4 weeks [1]."
    kept = SearchFilter(source="**/device.md")
    held = _asked(capex, "How many sessions does the Lutronic Accufit study give?", reply, k=1, where=kept)
    assert held.found and "does not contain" not in held.text, held.text
    refused = _asked(capex, "How many sessions did the Election Commission review?", reply, k=1, where=kept)
    assert not refused.found and 'is about "Election Commission"' in refused.text, refused.text


def test_a_name_of_everyday_words_is_held_only_where_they_stand_together(
    capex: Workspace, tmp_path: Path
) -> None:
    """ "The National Labor Relations Board" is one thing: a report that writes "national",
    "labor relations" and "board" apart is not about it. "The Labor Department" is the report's
    "Department of Labor", even in a chunk that was not retrieved."""
    _shelf(capex, tmp_path / "plan", {
        "plan.md": "# Strategic plan\n\nThe Department of Labor sets its goals.\n\n"
        + "".join(f"## Goal {i}\n\nLabor relations goal {i}: the national board met {i} times.\n\n"
                  for i in range(12))
        + "## Network\n\nThe office commits to 99.9 percent network availability.\n",
    })  # fmt: skip
    kept = SearchFilter(source="**/plan/plan.md")
    reply = "It commits to 99.9 percent [1]."
    refused = _asked(
        capex, "How many times did the National Labor Relations Board meet?", reply, k=2, where=kept
    )
    assert not refused.found and 'about "National Labor Relations Board"' in refused.text, refused.text
    held = _asked(
        capex,
        "What network availability does the Labor Department's office commit to?",
        reply,
        k=1,
        where=kept,
    )
    assert held.found and "does not contain" not in held.text, held.text


def test_no_evidence_and_a_failed_answer_says_so(capex: Workspace) -> None:
    stream = AnswerStream(
        "What was Northwind's revenue in fiscal 2023?",
        FakeGenerator(["Revenue was $99 million [1]."]),
        capex.retriever,
        AnswerSettings(unsupported="quote", min_relevance=0),
    )
    answer = stream.run()
    assert answer.quoted and (answer.text == NO_FIGURE or "[1]" in answer.text)


def test_excerpts_keep_the_best_lines_in_order_rows_under_their_heading() -> None:
    text = (
        "Northwind makes pumps in Oslo.\n"
        "(in millions) FY2023 FY2022\n"
        "Revenue $482.6 $430.9\n"
        "Capital expenditure $38.4 $29.9\n"
        "Capital expenditure rose because a plant was built."
    )
    hits = [Hit(1, "r.pdf", 2, None, 1.0, text), Hit(2, "s.pdf", 1, None, 0.5, "Employees")]
    question = Question.analyse("What was capital expenditure in fiscal 2023?")
    one, none = excerpts(question, hits, 2)
    lines = one.splitlines()
    assert lines[0] == "(in millions) FY2023 FY2022" and "Capital expenditure $38.4 $29.9" in lines
    assert "Oslo" not in one and len([line for line in lines if "FY2023" not in line]) == 2
    assert lines.index("Capital expenditure $38.4 $29.9") < len(lines) - 1  # the passage's order
    assert none is None  # a heading alone offers no line: shown whole
