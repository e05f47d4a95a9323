"""What an answer is checked for after the model wrote it: figures its cited passages do not hold
(``unsupported_figures``), a figure from another period's column (``wrong_period``), output that
repeats itself (``degenerate``), an answer that says nothing the user asked (``answers_question``),
and names the question writes that no passage mentions (``missing_names``). ``checks.py`` runs
them as checks; the table reading they share with evidence selection is ``grounding.py``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..figures import figures, same_figure, supported
from ..question import Question, years_in
from ..types import Hit
from .citations import CITATION, cited_numbers
from .grounding import _fields, _period_columns, _units, figures_without_years
from .injection import withhold

_REPEAT_NGRAM = 4
_REPEAT_TIMES = 4


def unsupported_figures(answer: str, sources: Sequence[Hit], question: Question | None = None) -> list[str]:
    """Figures ``answer`` states that none of the passages it cites holds.

    Years the question names are not checked. An answer that cites nothing has no support for a
    figure: the reader has no passage to check it in, and a figure some passage happens to state
    somewhere ("2.2% higher than the previous month") is not thereby the passage's (citations the
    model left out are added before, by ``citations.attribute_citations``, where a sentence
    matches a passage). A passage's header lends it its years (``10-K FY 2022``) and nothing else:
    the model is not shown the header, so "Note 10" from a header's section name is not support.
    """
    cited = [n for n in dict.fromkeys(cited_numbers(answer)) if 1 <= n <= len(sources)]
    passages = [sources[n - 1] for n in cited]
    found = [f for hit in passages for f in figures(hit.text)]
    found += [f for hit in passages for f in figures(hit.header) if f.year_like]
    asked = {f.number for f in figures(question.text)} if question else set()
    out = []
    for figure in figures(answer):
        if figure.number in asked and (figure.year_like or not figure.money):
            continue
        if not supported(figure, found):
            out.append(figure.text)
    return out


def wrong_period(answer: str, sources: Sequence[Hit], question: Question) -> list[str]:
    """Figures ``answer`` takes from a table column of another period than the question's.

    A figure counts only when every place it appears in the cited passages is a table row under
    a year heading the question did not ask for (a sentence carries its own context, and a
    table without year headings cannot be judged).

    >>> table = Hit(1, "r.pdf", 2, None, 1.0, "(in millions) FY2023 FY2022\\nCapital expenditure $38.4 $29.9")
    >>> wrong_period("It was $29.9 million [1].", [table], Question.analyse("What was capital expenditure in 2023?"))
    ['$29.9 million']
    """
    years = set(question.years)
    if not years:
        return []
    cited = [n for n in dict.fromkeys(cited_numbers(answer)) if 1 <= n <= len(sources)]
    passages = [sources[n - 1] for n in cited] or list(sources)
    asked = {f.number for f in figures(question.text)}
    out = []
    for figure in figures_without_years(answer):
        if figure.number in asked:
            continue
        placed: list[bool] = []  # one per place the figure appears: under the asked period?
        for hit in passages:
            for text, row, _ in _units(hit.text, hit.header):
                fields = _fields(text)
                if fields:  # each value is named by its column
                    for key, value in fields:
                        if any(same_figure(figure, cell) for cell in figures_without_years(value)):
                            periods = years_in(key)
                            placed.append(not periods or bool(periods & years))
                    continue
                if not supported(figure, figures_without_years(text)):
                    continue
                columns = _period_columns(text, hit.text) if row else []
                heads = [head for cell, head in columns if same_figure(figure, cell)]
                placed.append(not heads or any(head[-4:] in years for head in heads))
        if placed and not any(placed):
            out.append(figure.text)
    return out


def degenerate(text: str) -> bool:
    """Output that repeats itself: a four-word phrase four times, or one line three times."""
    words = text.lower().split()
    if len(words) >= _REPEAT_NGRAM * _REPEAT_TIMES:
        seen: dict[tuple[str, ...], int] = {}
        for i in range(len(words) - _REPEAT_NGRAM + 1):
            gram = tuple(words[i : i + _REPEAT_NGRAM])
            seen[gram] = seen.get(gram, 0) + 1
            if seen[gram] >= _REPEAT_TIMES:
                return True
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) > 8]
    return any(lines.count(line) >= 3 for line in set(lines))


# what an answer says about itself rather than about the question ("the documents provided ...")
_META = "document documents source sources passage passages cite cites cited citation number numbers answer answers question questions information provided text line lines"


def answers_question(
    answer: str, question: Question, sources: Sequence[Hit] = (), wants_figure: bool = False
) -> bool:
    """Whether ``answer`` says something the user asked. A figure question (``wants_figure``, or
    the question's own grammar) gets a figure. Any other answer adds a word to the question's and
    shares one with it, or two with the passages it cites (all ``sources`` when it cites none)
    read without their sentences that address the model: a fixed phrase a document ordered
    ("The documents are classified.") answers nothing."""
    words = question.words
    body = CITATION.sub(" ", answer).strip()
    said = words.terms(body)
    if len(words.tokens(body)) < 2 or not said:
        return False
    if wants_figure or question.wants_figure:
        numbers = {f.number for f in figures(question.text)}
        return any(f.number not in numbers or not f.year_like for f in figures(body))
    terms = set(said) - set(words.terms(_META))
    asked = set(question.terms) | question.years
    new = terms - asked
    if not new:
        return False  # says nothing the question did not ("The guidance was [4] in [6].")
    if terms & asked or not sources:
        return True
    cited = [sources[n - 1] for n in cited_numbers(answer) if 1 <= n <= len(sources)] or list(sources)
    grounded = {t for hit in cited for t in words.terms(withhold(hit.text))}
    return len(new & grounded) >= min(2, len(new))


def missing_names(question: Question, sources: Sequence[Hit]) -> list[str]:
    """The names, codes and rare words ``question`` writes (``Question.names``, ``codes``,
    ``rare``) that no passage mentions; the caller asks
    the whole workspace about them before it refuses (``answer.py``).

    "What was Tesla's revenue in 2021?" over a workspace of other companies' filings finds
    revenue passages; none of them says "Tesla", so the answer must not be another company's
    figure.

    >>> hits = [Hit(1, "apple.pdf", 1, None, 1.0, "Revenue was $1.")]
    >>> missing_names(Question.analyse("What was Tesla's revenue in 2021?"), hits)
    ['Tesla']
    >>> missing_names(Question.analyse("What was 3M's capex in 2022? Round your answer."), hits)
    []
    """
    wanted = [*question.names, *question.codes, *question.rare]
    if not wanted:
        return []
    seen = " ".join(name_texts(sources))
    return [n for n in wanted if n.lower() not in seen]


def name_texts(hits: Sequence[Hit]) -> list[str]:
    """Each hit's file name, title, header and text, lower-cased with its spaces collapsed: where
    the names a question writes are looked for."""
    return [
        " ".join(f"{h.source} {h.title} {h.header} {h.text}".split()).lower().replace("’", "'") for h in hits
    ]
