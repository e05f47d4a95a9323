"""Evaluation metrics against answers worked out by hand."""

from __future__ import annotations

import math

import pytest

from industry_expert.evaluate.metrics import (
    citation_precision,
    exact_match,
    faithfulness,
    mean_ci,
    ndcg_at_k,
    normalize,
    numeric_match,
    paired_p,
    recall_at_k,
    reciprocal_rank,
    rouge_l,
    token_f1,
)


# -- retrieval -----------------------------------------------------------------------------------
def test_recall_counts_distinct_relevant_items_in_the_first_k() -> None:
    ranked = ["a.pdf#3", "a.pdf#3", "b.pdf#1", "a.pdf#7"]  # two chunks of page 3
    assert recall_at_k(ranked, {"a.pdf#7"}, k=2) == 0.0  # distinct: a#3, b#1
    assert recall_at_k(ranked, {"a.pdf#7"}, k=3) == 1.0
    assert recall_at_k(ranked, {"a.pdf#7", "c.pdf#1"}, k=10) == 0.5
    with pytest.raises(ValueError):
        recall_at_k(ranked, set(), k=3)


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(["x", "y", "z"], {"x"}) == 1.0
    assert reciprocal_rank(["x", "x", "z"], {"z"}) == 0.5
    assert reciprocal_rank(["x"], {"q"}) == 0.0


def test_ndcg_with_binary_relevance() -> None:
    # relevant at ranks 2 and 4: (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3))
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["x", "a", "y", "b"], {"a", "b"}) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b"], {"a", "b"}) == pytest.approx(1.0)
    assert ndcg_at_k([f"x{i}" for i in range(10)] + ["a"], {"a"}, k=10) == 0.0
    assert ndcg_at_k(["x", "x", "a"], {"a"}) == pytest.approx(1 / math.log2(3))  # a repeat is one item


# -- answers -------------------------------------------------------------------------------------
def test_exact_match_and_f1_normalise_like_squad() -> None:
    assert normalize("The Answer, is: [2] 'Plano, Texas'.") == "answer is plano texas"
    assert exact_match("Plano, Texas [1].", "plano texas") == 1.0
    assert exact_match("Plano", "Plano, Texas") == 0.0
    # prediction 4 tokens, reference 2, 2 shared: P 0.5, R 1.0, F1 2/3
    assert token_f1("headquartered in Plano Texas", "Plano, Texas") == pytest.approx(2 / 3)
    assert token_f1("Memphis", "Plano, Texas") == 0.0
    assert token_f1("", "") == 1.0


def test_rouge_l_is_the_lcs_f_measure() -> None:
    # LCS "police the gunman" = 3 of 4 tokens each way
    assert rouge_l("police killed the gunman", "police kill the gunman") == pytest.approx(0.75)
    # LCS "the gunman" (2); P = 2/4, R = 2/5: F = 2PR/(P+R) = 4/9
    assert rouge_l("the gunman police killed", "police killed the gunman today") == pytest.approx(
        2 * (2 / 4) * (2 / 5) / (2 / 4 + 2 / 5)
    )
    assert rouge_l("收入 增长", "收入 增长") == 1.0  # any script
    assert rouge_l("a b", "c d") == 0.0


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("Capital expenditure was $38.4 million [1].", "$38.4 million", 1.0),
        ("It was 38,400,000 dollars.", "$38.4 million", 1.0),
        ("Revenue was $9.8 billion.", "$9,795 million", 1.0),  # to the coarser precision
        ("Net loss of $1,016 million.", "(1,016)", 1.0),  # a loss written as a positive amount
        ("Net income was $1,016 million.", "1,015", 1.0),  # within 1% relative
        ("Net income was $1,016 million.", "1,100", 0.0),
        ("Gross margin was 34.1%.", "34.1 percent", 1.0),
        ("Gross margin was 34.2%.", "34.1%", 1.0),  # within 1%
        ("Gross margin was 36%.", "34.1%", 0.0),
        (
            "Revenue was $482.6 million in 2023.",
            "$482.6 million in fiscal 2023",
            1.0,
        ),  # the year is not the figure
        ("137,000 employees", "approximately 137,000", 1.0),
        ("147,000 and 137,000", "(7,309) (10,495)", 0.0),  # every reference figure must be there
        ("It moved ahead.", "ahead of plan", None),
    ],
)
def test_numeric_match(prediction: str, reference: str, expected: float | None) -> None:
    assert numeric_match(prediction, reference) == expected


def test_numeric_match_tolerance_is_relative_and_adjustable() -> None:
    assert numeric_match("$105 million", "$100 million") == 0.0
    assert numeric_match("$105 million", "$100 million", tolerance=0.05) == 1.0


# -- grounding -----------------------------------------------------------------------------------
def test_citation_precision_is_the_share_of_cited_passages_that_support_the_answer() -> None:
    answer = "Capital expenditure was $38.4 million [1][2]."
    assert citation_precision(answer, ["Capex in fiscal 2023 was $38.4 million.", "Revenue grew 12%."]) == 0.5
    assert citation_precision(answer, []) is None
    words = "The plant in Plano makes valve actuators [1]."
    assert citation_precision(words, ["Our Plano plant makes valve actuators and pumps."]) == 1.0
    assert citation_precision(words, ["Revenue grew 12% on pump orders."]) == 0.0


def test_faithfulness_is_the_share_of_claims_found_in_the_context() -> None:
    context = "Capex was $38.4 million in fiscal 2023, up from $29.9 million."
    assert faithfulness("Capex was $38.4 million, up from $29.9 million [1].", context) == 1.0
    assert faithfulness("Capex was $38.4 million, up from $31 million [1].", context) == 0.5
    assert faithfulness("Capex rose. The board is pleased.", "Capex rose sharply.") == 0.5
    assert faithfulness("[1]", context) is None


# -- uncertainty ---------------------------------------------------------------------------------
def test_mean_ci_holds_the_mean_narrows_with_more_questions_and_skips_none() -> None:
    few = mean_ci([1, 0, 1, 1, 0, 1, None, 1, 0, 1])
    many = mean_ci([1, 0, 1, 1, 0, 1, 1, 0, 1] * 20)
    assert few.n == 9 and few.low < few.mean < few.high
    assert many.high - many.low < few.high - few.low
    assert mean_ci([0.5] * 4) == mean_ci([0.5] * 4)  # seeded: the same report twice
    assert mean_ci([None, None]).n == 0 and math.isnan(mean_ci([]).mean)


def test_paired_p_tells_a_real_difference_from_noise() -> None:
    assert paired_p([1, 0, 1], [1, 0, 1]) == 1.0
    better = [1] * 18 + [0] * 2
    worse = [0] * 16 + [1] * 4
    assert paired_p(better, worse) < 0.01
    noisy_a = [1, 0, 1, 0, 1, 1, 0, 1, 0, 0]
    noisy_b = [0, 1, 1, 0, 1, 0, 1, 1, 0, 0]  # same mean, different questions
    assert paired_p(noisy_a, noisy_b) > 0.5
    assert paired_p([1, None, 0], [0, 1, None]) == pytest.approx(1.0)  # only question 1 pairs
