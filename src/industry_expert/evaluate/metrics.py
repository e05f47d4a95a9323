"""Scores for one question, and the uncertainty of a mean over many.

Each metric is a small function of plain values, with known-answer tests:

- retrieval (ranked item keys against the relevant ones): ``recall_at_k``, ``reciprocal_rank``
  (averaged, MRR), ``ndcg_at_k``; an item seen twice (two chunks of the evidence page) counts once;
- answers against a reference: ``exact_match`` and ``token_f1`` (SQuAD's normalisation:
  lower case, no punctuation, no articles, no citation markers), ``rouge_l`` (longest common
  subsequence, F-measure), and ``numeric_match``, which reads figures with ``figures.py`` (the
  one normalisation the answer checks use: currency, separators, million/billion, parentheses as
  negatives, percentages) and compares them with a relative tolerance;
- grounding: ``citation_precision`` (the share of cited passages that hold support for the
  answer) and ``faithfulness`` (the share of the answer's claims found in what it cites: its
  figures when it states any, else its sentences' content words);
- uncertainty: ``mean_ci`` (a bootstrap confidence interval over questions, scipy's) and
  ``paired_p`` (a paired permutation test of two modes on the same questions).

A metric that does not apply (no figure in the reference, no citation in the answer) is
``None``, and means are taken over the questions where it applies.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..extras import require
from ..figures import Figure, figures, same_figure
from ..language import Words, detect

_CITATION = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation + "“”‘’«»–—…")
_WORDS = re.compile(r"\w+", re.U)


# -- retrieval ------------------------------------------------------------------------------------
def _distinct(ranked: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ranked))


def recall_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Share of the relevant items among the first ``k`` distinct ranked items.

    >>> recall_at_k(["p3", "p3", "p7", "p9"], {"p7", "p1"}, k=2)
    0.5
    """
    wanted = set(relevant)
    if not wanted:
        raise ValueError("recall needs at least one relevant item")
    return len(set(_distinct(ranked)[:k]) & wanted) / len(wanted)


def reciprocal_rank(ranked: Sequence[str], relevant: Iterable[str]) -> float:
    """1 / the rank of the first relevant item (0 when none is ranked); its mean is MRR.

    >>> reciprocal_rank(["p3", "p3", "p7"], {"p7"})
    0.5
    """
    wanted = set(relevant)
    for rank, item in enumerate(_distinct(ranked), start=1):
        if item in wanted:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """Normalised discounted cumulative gain with binary relevance over the first ``k``.

    >>> round(ndcg_at_k(["x", "a", "y", "b"], {"a", "b"}, k=10), 4)
    0.6509
    """
    wanted = set(relevant)
    if not wanted:
        raise ValueError("nDCG needs at least one relevant item")
    dcg = sum(1 / math.log2(i + 2) for i, item in enumerate(_distinct(ranked)[:k]) if item in wanted)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(wanted), k)))
    return dcg / ideal


# -- answers ---------------------------------------------------------------------------------------
def normalize(text: str) -> str:
    """SQuAD's answer normalisation, plus citation markers removed.

    >>> normalize("The answer is $38.4 million [1].")
    'answer is 384 million'
    """
    text = _CITATION.sub(" ", text).lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall after ``normalize`` (SQuAD's F1).

    >>> round(token_f1("Capex was $38.4 million", "$38.4 million"), 3)
    0.667
    """
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0
        for j, y in enumerate(b, start=1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def _tokens(text: str) -> list[str]:
    return _WORDS.findall(_CITATION.sub(" ", text).lower())


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure: the longest common subsequence of tokens, as precision and recall
    (tokens as rouge-score makes them, lower-cased words, but in any script).

    >>> round(rouge_l("police killed the gunman", "police kill the gunman"), 4)
    0.75
    """
    pred, ref = _tokens(prediction), _tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    lcs = _lcs(pred, ref)
    if not lcs:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _amounts(text: str) -> list[Figure]:
    """The figures of ``text``, years left out when it states anything else."""
    found = figures(text)
    amounts = [f for f in found if not f.year_like]
    return amounts or found


def _same(a: Figure, b: Figure, tolerance: float) -> bool:
    """The same figure, a loss written as a positive amount included ("a net loss of $1,016"
    for a reference of "(1,016)")."""
    if same_figure(a, b, tolerance):
        return True
    flipped = replace(b, value=-b.value, number=-b.number)
    return a.value < 0 <= b.value and same_figure(a, flipped, tolerance)


def numeric_match(prediction: str, reference: str, tolerance: float = 0.01) -> float | None:
    """1.0 when every figure of the reference is stated in the prediction, within ``tolerance``
    (relative) or to the precision the coarser one is written with; None when the reference
    states no figure.

    >>> numeric_match("Capex was $38.4 million [1].", "38,400,000")
    1.0
    >>> numeric_match("It was 12.6%.", "12.8%")
    0.0
    >>> numeric_match("It rose.", "ahead of plan") is None
    True
    """
    wanted = _amounts(reference)
    if not wanted:
        return None
    stated = figures(_CITATION.sub(" ", prediction))
    return float(all(any(_same(w, s, tolerance) for s in stated) for w in wanted))


# -- grounding -------------------------------------------------------------------------------------
def content_words(text: str) -> set[str]:
    """The words of ``text`` but its language's function words (``language.Words``).

    >>> sorted(content_words("The plant in Pune was audited in 2023 [1]."))
    ['2023', 'audited', 'plant', 'pune']
    """
    text = _CITATION.sub(" ", text)
    stop = Words.of(detect(text)).stop
    return {w for w in _WORDS.findall(text.lower()) if w not in stop and len(w) > 1}


def _supports(answer: str, passage: str) -> bool:
    """A passage supports an answer when it holds one of its figures or, for an answer without
    figures, half of its content words."""
    stated = _amounts(_CITATION.sub(" ", answer))
    if stated:
        held = figures(passage)
        return any(any(_same(f, h, 0.0) for h in held) for f in stated)
    words = content_words(answer)
    return bool(words) and len(words & content_words(passage)) >= max(1, len(words) // 2)


def citation_precision(answer: str, cited: Sequence[str]) -> float | None:
    """Share of the passages an answer cites that support it; None when it cites none.

    >>> citation_precision("Capex was $38.4 million.", ["Capex was $38.4 million.", "Revenue grew."])
    0.5
    """
    if not cited:
        return None
    return sum(_supports(answer, passage) for passage in cited) / len(cited)


def faithfulness(answer: str, context: str) -> float | None:
    """Share of the answer's claims found in ``context`` (the passages it cites): each figure it
    states, or, when it states none, each sentence with most of its content words there. None for
    an answer that claims nothing.

    >>> faithfulness("Capex was $38.4 million, up from $31 million.", "Capex was $38.4 million.")
    0.5
    """
    body = _CITATION.sub(" ", answer)
    stated = [f for f in figures(body) if not f.year_like] or []
    if stated:
        held = figures(context)
        return sum(any(_same(f, h, 0.0) for h in held) for f in stated) / len(stated)
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", body) if content_words(s)]
    if not sentences:
        return None
    words = content_words(context)
    supported = sum(len(content_words(s) & words) >= 0.6 * len(content_words(s)) for s in sentences)
    return supported / len(sentences)


# -- uncertainty -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def applicable(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None]


def mean_ci(values: Iterable[float | None], confidence: float = 0.95, resamples: int = 2000) -> Interval:
    """The mean of the applicable values with a percentile bootstrap interval (seeded, so a
    report is reproducible).

    >>> mean_ci([1.0, 1.0, 1.0])
    Interval(mean=1.0, low=1.0, high=1.0, n=3)
    """
    data = applicable(values)
    if not data:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = sum(data) / len(data)
    if len(data) < 2 or len(set(data)) == 1:
        return Interval(mean, mean, mean, len(data))
    import numpy as np

    require("eval", why="a confidence interval")
    from scipy.stats import bootstrap

    result = bootstrap(
        (np.asarray(data),),
        np.mean,
        confidence_level=confidence,
        n_resamples=resamples,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    ci = result.confidence_interval
    return Interval(mean, float(ci.low), float(ci.high), len(data))


def paired_p(a: Sequence[float | None], b: Sequence[float | None], resamples: int = 10000) -> float:
    """Two-sided p-value that modes ``a`` and ``b`` score the same on the same questions (a
    paired permutation test of the mean difference, over the questions where both apply).

    >>> paired_p([1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0]) < 0.01
    True
    """
    pairs = [(float(x), float(y)) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if len(pairs) < 2 or all(x == y for x, y in pairs):
        return 1.0  # nothing to tell apart
    import numpy as np

    require("eval", why="a paired test")
    from scipy.stats import permutation_test

    x = np.asarray([p[0] for p in pairs])
    y = np.asarray([p[1] for p in pairs])
    result = permutation_test(
        (x, y),
        lambda u, v: np.mean(u - v),
        permutation_type="samples",
        n_resamples=resamples,
        alternative="two-sided",
        rng=np.random.default_rng(0),
    )
    return float(result.pvalue)
