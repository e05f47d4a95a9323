"""A question is analysed once, in its own language, with word handling from maintained libraries;
the checks an answer passes are parts with one verdict type; the policy on a failed check is the
model's entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from industry_expert.generate.checks import CHECKS, Draft, run_checks
from industry_expert.generate.grounding import FEATURES, EvidenceModel, select_evidence
from industry_expert.language import Words, detect, near_spelling
from industry_expert.models import resolve_model
from industry_expert.question import Question
from industry_expert.types import Hit

SEEDS = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "seeds_questions.jsonl"


def hits(*texts: str) -> list[Hit]:
    return [Hit(i, f"doc{i}.pdf", 1, None, 1.0, t) for i, t in enumerate(texts, 1)]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("چه زمانی تنظیم دقیق بهتر از بازیابی است؟", "fa"),
        ("ما هي فوائد الضبط الدقيق للنموذج؟", "ar"),
        ("מתי עדיף כוונון עדין על פני אחזור?", "he"),
        ("Кога финото настройване е по-добро от извличането?", "bg"),
        ("فائن ٹیوننگ کب بازیافت سے بہتر ہے؟", "ur"),
        ("Wie hoch waren die Investitionen im Geschäftsjahr 2023?", "de"),
        ("What was capital expenditure in fiscal 2023?", "en"),
    ],
)
def test_the_language_comes_from_the_text_with_its_own_word_handling(text: str, language: str) -> None:
    q = Question.analyse(text)
    assert q.language == language and q.words.language == language
    assert q.terms, "every language keeps its content words"
    assert not set(q.terms) & q.words.stop, "the language's own stop words are left out"


def test_the_seed_questions_are_all_read_in_their_language() -> None:
    rows = [json.loads(line) for line in SEEDS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert {Question.analyse(r["question"]).language == r["lang"] for r in rows} == {True}


def test_a_short_or_mixed_question_takes_the_collections_language() -> None:
    assert detect("Capex FY2023?", fallback="de") == "de"
    assert Question.analyse("Capex FY2023?", "de").language == "de"


def test_stems_come_from_snowball_per_language() -> None:
    assert Words.of("en").terms("expenditures") == Words.of("en").terms("expenditure")
    assert Words.of("de").terms("Investitionen") == Words.of("de").terms("Investition")
    assert Words.of("he").stem("כוונון") == "כוונון"  # no Snowball stemmer: kept whole, as the index does


def test_names_are_capitalised_words_that_open_no_sentence_in_a_language_that_writes_names_so() -> None:
    assert Question.analyse("What was 3M's capex in FY2022? Answer in USD millions.").names == ()
    assert Question.analyse("What did the Federal Election Commission review in 2022?").names == (
        "Federal Election Commission",
    )
    assert Question.analyse("What happened near Venice on December 8, 2007?").names == ("Venice",)
    assert Question.analyse("How did Apple's Services revenue change?").names == ("Apple", "Services")
    # every German noun is capitalised: a capital letter is no sign of a name there
    assert Question.analyse("Wie hoch war der Umsatz von Siemens im Geschäftsjahr 2023?").names == ()


def test_codes_that_name_one_thing_are_not_periods_or_kinds_of_document() -> None:
    q = Question.analyse("What did the 10-Qs say in FY23 and Q3 about N74SR, PA-22-150 and NCT06152367?")
    assert q.codes == ("N74SR", "PA-22-150", "NCT06152367")


def test_figures_and_operations_come_from_the_grammar_not_a_trade() -> None:
    assert Question.analyse("How many employees did it have?").wants_figure
    assert Question.analyse("Wie viele Mitarbeiter hatte es?").wants_figure
    assert Question.analyse("Why did margins fall?").open
    q = Question.analyse("What was the year-over-year percentage change in revenue from FY2016 to FY2017?")
    assert q.operation == "percent_change" and q.years == {"2016", "2017"}
    assert Question.analyse("What is the ratio of debt to equity?").operation == "ratio"


def test_near_spelling() -> None:
    assert near_spelling("Zanamavir", {"zanamivir", "oseltamivir"}) == "zanamivir"
    assert near_spelling("Sewrad", {"Seward"}) == "Seward"  # two letters swapped: one edit
    assert near_spelling("Tesla", {"Texas", "Toyota"}) is None


def test_the_evidence_scorer_reads_its_weights_from_a_data_file() -> None:
    model = EvidenceModel.shipped()
    assert model.weights and set(model.weights) <= set(FEATURES)
    table = hits("(in millions) FY2023 FY2022\nRevenue $482.6 $430.9\nCapital expenditure $38.4 $29.9")
    evidence = select_evidence(Question.analyse("What was capital expenditure in fiscal 2023?"), table)
    # known answer: the row and column the question names, never the heading row
    assert evidence is not None and (evidence.cell, evidence.column) == ("$38.4", "FY2023")
    flat = EvidenceModel(dict.fromkeys(model.weights, 0.0), threshold=1.0)
    assert (
        select_evidence(Question.analyse("What was capital expenditure in fiscal 2023?"), table, flat) is None
    )


def test_checks_are_parts_with_one_verdict_type() -> None:
    assert len({c.name for c in CHECKS}) == len(CHECKS) == 5
    q = Question.analyse("What was capital expenditure in fiscal 2023?")
    sources = hits("Capital expenditure in fiscal 2023 was $38.4 million.")
    assert [v.failed for v in run_checks(Draft("It was $38.4 million [1].", q, sources, True))] == [""] * 5
    verdicts = run_checks(Draft("It was $52 million [1].", q, sources, True))
    failed = [v for v in verdicts if not v.passed]
    assert [(v.check, v.failed, v.details) for v in failed] == [
        ("figures supported", "unsupported figure", ("$52 million",))
    ]


def test_the_policy_on_a_failed_check_is_the_models_entry(tmp_path: Path) -> None:
    shipped = resolve_model("smollm2")
    assert shipped.on_failed_check == "quote"
    assert resolve_model(str(shipped.path)).on_failed_check == "quote"  # the same file, named by its path
    copy = tmp_path / "SmolLM2-renamed.gguf"  # a name is no entry: another file is flagged, not quoted
    copy.write_bytes(shipped.path.read_bytes()[:64] if shipped.path else b"")
    assert resolve_model(str(copy)).on_failed_check == "flag"


class EnglishOnly:
    """A generator whose entry says it writes English: it must not be asked in Persian."""

    name = "fake/english-only"
    context_window = 2048
    languages = ("en",)

    def __init__(self) -> None:
        self.calls = 0

    def stream(self, messages, max_tokens: int = 512, temperature: float = 0.0):  # type: ignore[no-untyped-def]
        self.calls += 1
        yield "Every employee gets 27 days [1]."

    def count_tokens(self, text: str) -> int:
        return len(text.split())


@pytest.mark.parametrize(
    ("document", "question", "line"),
    [
        (
            "# راهنمای مرخصی\n\nهر کارمند در هر سال ۲۷ روز مرخصی با حقوق دریافت می‌کند.\n\nپروازها با کلاس اقتصادی رزرو می‌شوند.\n",
            "هر کارمند در هر سال چند روز مرخصی با حقوق دریافت می‌کند؟",
            "۲۷ روز مرخصی با حقوق",
        ),
        (
            "# Отпуск\n\nВсеки служител получава 27 дни платен отпуск годишно.\n\nПолетите се резервират в икономична класа.\n",
            "Колко дни платен отпуск получава всеки служител годишно?",
            "27 дни платен отпуск",
        ),
    ],
)
def test_a_question_in_a_language_the_model_does_not_write_gets_its_line_quoted(
    workspace, tmp_path: Path, document: str, question: str, line: str
) -> None:  # type: ignore[no-untyped-def]
    from industry_expert.answer import AnswerStream
    from industry_expert.config import AnswerSettings

    doc = tmp_path / "leave.md"
    doc.write_text(document, encoding="utf-8")
    workspace.ingest([doc])
    generator = EnglishOnly()
    answer = AnswerStream(question, generator, workspace.retriever, AnswerSettings(min_relevance=0)).run()
    assert generator.calls == 0 and answer.quoted and line in answer.text and "[1]" in answer.text
    assert answer.checks[0].startswith("the model does not write")
    assert answer.citations and answer.citations[0].source.endswith("leave.md")


def test_an_operation_the_question_names_is_computed_with_each_operand_cited(
    workspace, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from conftest import FakeGenerator

    from industry_expert.answer import NO_OPERANDS, AnswerStream
    from industry_expert.config import AnswerSettings
    from industry_expert.generate.arithmetic import compute

    table = hits(
        "(in millions) FY2017 FY2016\nTotal net sales $ 81,797 $ 82,959\nOperating income $ 4,100 $ 3,900"
    )
    change = compute(
        Question.analyse("What was the percentage change in total net sales from FY2016 to FY2017?"), table
    )
    assert change is not None and change.text().endswith("= -1.4% [1]")
    ratio = compute(
        Question.analyse("What was the ratio of operating income to total net sales in FY2017?"), table
    )
    assert ratio is not None and [o.figure.text for o in ratio.operands] == ["$ 4,100", "$ 81,797"]
    assert ratio.text().endswith("= 0.05 [1]")
    # the answer path: computed from the passages, the model not asked; a missing operand said plainly
    doc = tmp_path / "sales.md"
    doc.write_text(
        "# Net sales\n\n| Item | FY2017 | FY2016 |\n|---|---|---|\n| Total net sales | 81,797 | 82,959 |\n",
        encoding="utf-8",
    )
    workspace.ingest([doc])
    model = FakeGenerator(["It grew a lot [1]."])
    asked = "What was the percentage change in total net sales from FY2016 to FY2017?"
    answer = AnswerStream(asked, model, workspace.retriever, AnswerSettings(min_relevance=0)).run()
    assert model.calls == [] and answer.computation == "percent_change"
    assert "= -1.4% [1]" in answer.text and answer.citations[0].source.endswith("sales.md")
    missing = AnswerStream(
        "What was the percentage change in total net sales from FY2012 to FY2013?",
        model, workspace.retriever, AnswerSettings(min_relevance=0),
    ).run()  # fmt: skip
    assert missing.text == NO_OPERANDS and model.calls == []


def test_a_comparison_takes_its_two_figures_from_one_line_and_a_broken_heading_keeps_its_columns() -> None:
    from industry_expert.generate.arithmetic import compute

    line = hits("Flight Time: 2319 hours (Total, all aircraft), 2313 hours (Total, this make and model)")
    other = compute(
        Question.analyse("How many of the pilot's hours were flown in aircraft other than this one?"), line
    )
    assert other is not None and other.text().endswith("2319 - 2313 = 6 [1]")
    # a question about a stated change is a lookup, not a comparison: no figures of the line subtracted
    assert compute(Question.analyse("How much did comparable sales increase in the quarter?"), line) is None
    # a dash between two figures is punctuation, not a minus sign
    split = hits("Users who provided their data – 89 percent in the new design, against 68 percent before.")
    gap = compute(
        Question.analyse("What is the difference between the designs? Answer in percentage points."), split
    )
    assert gap is not None and gap.value == 21
    # a heading a PDF broke over lines, above a row whose empty cells say n/a
    table = hits(
        "FY 2011 Results FY 2012\nResults\nFY 2013 Results FY 2013 Target\n"
        "Number of enrollees n/a 3,323 8,865 10,000 Not Met"
    )
    grew = compute(
        Question.analyse("By how many did the number of enrollees grow from FY 2012 to FY 2013?"), table
    )
    assert (
        grew is not None
        and grew.text() == "Number of enrollees, FY 2012 to FY 2013: 8,865 - 3,323 = 5,542 [1]"
    )


def test_a_share_reads_both_operands_from_the_line_of_the_report_the_code_names() -> None:
    from dataclasses import replace

    from industry_expert.generate.arithmetic import compute

    def page(doc: int, text: str) -> Hit:
        return Hit(doc * 10 + len(text) % 7, f"{doc}.pdf", 3, None, 1.0, text, document_id=doc)

    pilot = (
        "Medical Certification: Class 3 With Waivers Last FAA Medical Exam: 12/01/2005 Occupational "
        "Pilot: Last Flight Review or Equivalent: 10/01/2006 Flight Time: 2411 hours (Total, all aircraft), "
        "789 hours (Total, this make and model), 2314 hours (Pilot In Command, all aircraft)"
    )
    sources = [
        # another report's pilot page scores as well, and says nothing of N2699G
        page(1, "Flight Time: 475 hours (Total, all aircraft), 3 hours (Total, this make and model)"),
        page(2, "Registration: N2699G Model/Series: Aerostar 601 Aircraft Category: Airplane"),
        page(2, pilot),  # the same report's pilot page: about N2699G though it does not say so
    ]
    question = Question.analyse(
        "What percentage of the N2699G pilot's total flight time was in the Aerostar make and model?"
    )
    share = compute(question, sources)
    # the figure beside each one's words in its clause: not a date's parts (12, 01), not "Class 3",
    # not the hours in command that "make and model" precedes, not the model number 601
    assert share is not None and [o.figure.text for o in share.operands] == ["789", "2411"]
    assert share.text().endswith("789 / 2411 = 32.7% [3]")
    # no report about the code among the passages: no figures taken from another one
    assert compute(question, [sources[0]]) is None
    # a figure joined to a name by a hyphen is part of the name (RV-8), not a number of hours
    rv8 = [page(3, "Flight Time: 475 hours (Total, all aircraft), 3 hours (Total, this make and model) "
                   "Aircraft Make: Vans Registration: N103JT Model/Series: RV-8 Category: Airplane")]  # fmt: skip
    latrobe = compute(
        Question.analyse("What percentage of the N103JT pilot's total time was in the make and model?"), rv8
    )
    assert latrobe is not None and latrobe.text().endswith("3 / 475 = 0.6% [1]")
    # a passage without a document id (a store that keeps none) is its own document
    assert (
        compute(
            Question.analyse("What percentage of the N103JT pilot's total time was in the make and model?"),
            [replace(rv8[0], document_id=None)],
        )
        == latrobe
    )


def test_a_question_in_another_language_over_documents_the_model_writes_goes_to_the_model(
    workspace, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from industry_expert.answer import AnswerStream
    from industry_expert.config import AnswerSettings

    doc = tmp_path / "leave.md"
    doc.write_text("# Leave\n\nEvery employee receives 27 days of paid leave per year.\n", encoding="utf-8")
    workspace.ingest([doc])
    generator = EnglishOnly()
    question = "Wie viele Tage bezahlten Urlaub erhält jeder Mitarbeiter pro Jahr? (paid leave days)"
    answer = AnswerStream(question, generator, workspace.retriever, AnswerSettings(min_relevance=0)).run()
    assert answer.evidence, "a line was found: the rule, not a missing line, sends it to the model"
    assert generator.calls == 1 and not any(c.startswith("the model does not write") for c in answer.checks)
