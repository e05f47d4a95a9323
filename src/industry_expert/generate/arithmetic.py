"""One step of arithmetic on figures the passages state, shown with each operand cited.

A small model cannot compute "the year-over-year change in revenue from FY2016 to FY2017 in
percent"; the documents state both figures. When ``Question.operation`` names an operation and its
operands are found, the answer is the computation itself::

    Revenue, FY2016 to FY2017: (81,797 - 82,959) / 82,959 = -1.4% [1]

Operands are found two ways, both by the evidence scorer (``grounding``), never by a trade's
vocabulary:

- **over periods**: the question names two years ("from FY2016 to FY2017"; "year-over-year in
  FY22" is that year and the one before), and one line states the measure for both (a table row
  with a cell under each year's column), or two lines state it for one year each;
- **between two measures**: the question writes them in one of its language's patterns
  (``reference/questions.json``, "operands": "ratio of {a} to {b}", "{a} as a percentage of
  {b}" ...); both are read from the line that answers the whole question when it states a figure
  in each one's clause, else each is the evidence for a question about it alone.

A question that names its subject by a code (N2699G, NCT06152900) takes its operands only from
the documents about that thing (a passage naming it, and every other passage of its document).

Operations: ``change`` (b - a, the later minus the earlier), ``percent_change`` ((b - a) / a),
``ratio`` (a / b), ``share`` (a / b as a percentage), ``sum`` and ``average``. A figure the
passages do not state means no computation (``compute`` returns None); the caller says so when
the question's wording left no doubt that it asked for one (``Computation.needed``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

from ..figures import Figure, figures
from ..question import Question, years_in
from ..types import Hit
from .grounding import (
    Candidate,
    EvidenceModel,
    _column_cell,
    candidates,
    figure_spans,
    figures_without_years,
    select_evidence,
)


@dataclass(frozen=True)
class Operand:
    label: str  # what it is: "Revenue, FY2016"
    figure: Figure
    source: int  # 1-based source number


@dataclass(frozen=True)
class Computation:
    operation: str
    operands: tuple[Operand, ...]
    value: float
    percent: bool

    def text(self) -> str:
        """The computation as an answer, each operand's source cited."""
        a = self.operands[0].figure.text
        rest = [o.figure.text for o in self.operands[1:]]
        shown = {
            "change": f"{rest[0] if rest else ''} - {a}" if rest else a,
            "percent_change": f"({rest[0]} - {a}) / {a}" if rest else a,
            "ratio": f"{a} / {rest[0]}" if rest else a,
            "share": f"{a} / {rest[0]}" if rest else a,
            "sum": " + ".join([a, *rest]),
            "average": f"({' + '.join([a, *rest])}) / {len(self.operands)}",
        }[self.operation]
        result = f"{self.value:,.1f}%" if self.percent else _number(self.value)
        cites = "".join(f"[{n}]" for n in dict.fromkeys(o.source for o in self.operands))
        return f"{_labels([o.label for o in self.operands])}: {shown} = {result} {cites}"


def _labels(labels: list[str]) -> str:
    """The operands' labels, a measure they share written once: "Revenue, FY2016 to FY2017"."""
    if len(set(labels)) == 1:
        return labels[0]
    parts = [label.rpartition(", ") for label in labels]
    if all(sep for _, sep, _ in parts) and len({base for base, _, _ in parts}) == 1:
        return f"{parts[0][0]}, {' to '.join(period for _, _, period in parts)}"
    return "; ".join(labels)


def _number(value: float) -> str:
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return f"{value:,.2f}"


@cache
def _patterns() -> dict:  # type: ignore[type-arg]
    data = json.loads(
        resources.files("industry_expert").joinpath("reference/questions.json").read_text("utf-8")
    )
    return dict(data.get("operands", {}))


def _apply(operation: str, values: list[float]) -> tuple[float, bool] | None:
    if len(values) < 2:
        return None
    a, b = values[0], values[1]
    if operation == "change":
        return b - a, False
    if operation == "percent_change":
        return None if a == 0 else (100 * (b - a) / abs(a), True)  # type: ignore[return-value]
    if operation == "ratio":
        return None if b == 0 else (a / b, False)  # type: ignore[return-value]
    if operation == "share":
        return None if b == 0 else (100 * a / b, True)  # type: ignore[return-value]
    if operation == "sum":
        return sum(values), False
    if operation == "average":
        return sum(values) / len(values), False
    return None


def _periods(question: Question) -> list[str]:
    """The two years the operation runs over, earlier first: two the question names, or the year
    it names and the one before for a change without a second year ("year-over-year in FY22")."""
    years = sorted(question.years)
    if len(years) >= 2:
        return years[-2:]
    if len(years) == 1 and question.operation in ("change", "percent_change"):
        return [str(int(years[0]) - 1), years[0]]
    return []


Where = Callable[[Candidate], bool] | None
# a date written in figures (12/01/2005, 2023-10-05, 05.10.2023): its parts are no operands
_DATE = re.compile(r"(?<![\d.,/-])\d{1,4}([/.-])\d{1,2}\1\d{2,4}(?![\d/-])")


def _over_periods(
    question: Question, sources: Sequence[Hit], model: EvidenceModel, where: Where = None
) -> list[Operand]:
    periods = _periods(question)
    if len(periods) != 2 or question.operation in ("ratio", "share"):  # a share is of one period
        return []
    # one line with a cell under each year's column: the best-scored row that has both
    lines = sorted(
        (c for c in candidates(question, sources) if where is None or where(c)),
        key=lambda c: -model.score(c.features),
    )
    for line in lines[:5]:
        if not line.row and len(figures_without_years(line.text)) < 2:
            continue  # a row a PDF wrote as prose still states its cells
        passage = sources[line.source - 1].text
        found = []
        for year in periods:
            cell, column = _column_cell(line.text, passage, {year})
            stated = figures(cell)
            if not stated:
                break
            found.append(Operand(f"{_label(line.text)}, {column}", stated[0], line.source))
        if len(found) == 2:
            return found
    # two lines, each stating the measure for one year
    out = []
    for year in periods:
        evidence = select_evidence(_with_years(question, {year}), sources, model, where)
        if evidence is None:
            return []
        if evidence.cell:
            stated = figures(evidence.cell)
            label = f"{_label(evidence.text)}, {evidence.column}"
        else:
            stated = figures_without_years(evidence.text)[:1] if year in years_in(evidence.text) else []
            label = f"{year}"
        if not stated:
            return []
        out.append(Operand(label, stated[0], evidence.source))
    return out


def _with_years(question: Question, years: set[str]) -> Question:
    return replace(question, years=frozenset(years), operation=None)


def _label(row: str) -> str:
    return (
        re.split(r"\s(?:n/a\b|[\(\$€£¥\d—–-])", " " + row.strip(), maxsplit=1, flags=re.I)[0].strip()
        or row.strip()
    )


def _nearest(line: str, words: set[str], question: Question) -> tuple[float, Figure] | None:
    """The figure of ``line`` nearest ``words``, with its score: in "3861 hours (Total, all
    aircraft), 2313 hours (Total, this make and model)" the figure of "make and model" is 2313.
    A figure's words are those of its clause on either side,
    up to the next figure or a comma or semicolon outside brackets ("2411 hours (Total, all
    aircraft)"; "Flight Time: 2411"); each of ``words`` among them counts ``1 / (1 + d)``, ``d`` the
    words between it and the figure. Parts of dates and names are no figures (``_quantities``)."""
    spans = _quantities(line)
    best: tuple[float, Figure] | None = None
    for i, (start, end, figure) in enumerate(spans):
        before = _clause(line[spans[i - 1][1] if i else 0 : start][::-1], opening=")", closing="(")[::-1]
        after = _clause(line[end : spans[i + 1][0] if i + 1 < len(spans) else len(line)])
        sides = (question.words.all_terms(before)[::-1], question.words.all_terms(after))
        score = sum(1 / (1 + d) for side in sides for d, w in enumerate(side) if w in words)
        if best is None or score > best[0]:
            best = (score, figure)
    return best


def _quantities(line: str) -> list[tuple[int, int, Figure]]:
    """``figure_spans`` less the figures that are parts of a date (12/01/2005) or of a name joined
    by a hyphen (RV-8, PA-28-140, COVID-19)."""
    dates = [m.span() for m in _DATE.finditer(line)]
    return [
        (start, end, figure)
        for start, end, figure in figure_spans(line)
        if not any(a <= start < b for a, b in dates)
        and not (start >= 2 and line[start - 1] == "-" and line[start - 2].isalnum())
    ]


def _clause(text: str, opening: str = "(", closing: str = ")") -> str:
    """``text`` up to its first comma or semicolon outside brackets."""
    depth = 0
    for i, c in enumerate(text):
        if c == opening:
            depth += 1
        elif c == closing:
            depth = max(0, depth - 1)
        elif c in ",;" and depth == 0:
            return text[:i]
    return text


def _both_in_one_line(
    question: Question, parts: Sequence[str], sources: Sequence[Hit], model: EvidenceModel, where: Where
) -> list[Operand]:
    """Both operands from the line that best answers the whole question, when it states a figure
    beside each one's own words ("2411 hours (Total, all aircraft), 789 hours (Total, this make
    and model)"): one line read once, not two lines chosen apart."""
    evidence = select_evidence(_with_years(question, set(question.years)), sources, model, where)
    if evidence is None or evidence.cell or len(figures_without_years(evidence.text)) < 2:
        return []
    out = []
    for part in parts:
        words = set(Question.analyse(part, question.language).terms) - set(question.entities)
        found = _nearest(evidence.text, words, question)
        if found is None or found[0] <= 0:
            return []
        out.append(Operand(part.strip(), found[1], evidence.source))
    return out if out[0].figure.text != out[1].figure.text else []


def _between_measures(
    question: Question, sources: Sequence[Hit], model: EvidenceModel, where: Where = None
) -> list[Operand] | None:
    """Operands of "ratio of {a} to {b}" and the like; None when no pattern of the language fits.
    Each operand is the evidence for a question about it alone; two operands in one line are
    that line's figures nearest each one's words."""
    for pattern in _patterns().get(question.language, {}).get(question.operation or "", []):
        regex = re.escape(pattern).replace(r"\{a\}", r"(?P<a>.+?)").replace(r"\{b\}", r"(?P<b>.+?)")
        m = re.search(regex + r"(?=[,.?;]|\s+(?:in|for|during|at|as of|from)\b|$)", question.text, re.I)
        if not m:
            continue
        if both := _both_in_one_line(question, [m.group("a"), m.group("b")], sources, model, where):
            return both
        out: list[Operand] = []
        for part in (m.group("a"), m.group("b")):
            years = " ".join(sorted(question.years))
            sub = Question.analyse(f"{part} {years}".strip(), question.language)
            evidence = select_evidence(_with_years(sub, set(question.years)), sources, model, where)
            if evidence is None:
                return []
            stated: Figure | None
            if evidence.cell:
                cells = figures(evidence.cell)
                stated = cells[0] if cells else None
            else:
                near = _nearest(evidence.text, set(sub.terms) - set(question.entities), question)
                stated = near[1] if near else None
            if stated is None:
                return []
            out.append(Operand(part.strip(), stated, evidence.source))
        if len(out) == 2 and out[0].figure.text == out[1].figure.text and out[0].source == out[1].source:
            return []  # one figure for both: the two measures were not told apart
        return out
    return None


def compute(
    question: Question, sources: Sequence[Hit], model: EvidenceModel | None = None
) -> Computation | None:
    """The operation ``question`` names, computed on the figures ``sources`` state; None when it
    names none, asks for a reason or a manner, or an operand is not found.

    >>> table = [Hit(1, "r.pdf", 2, None, 1.0, "(in millions) FY2017 FY2016\\nTotal net sales $ 81,797 $ 82,959")]
    >>> q = Question.analyse("What was the percentage change in total net sales from FY2016 to FY2017?")
    >>> compute(q, table).text()
    'Total net sales, FY2016 to FY2017: ($ 81,797 - $ 82,959) / $ 82,959 = -1.4% [1]'
    """
    if question.operation is None or question.open or not sources:
        return None
    model = model or EvidenceModel.shipped()
    # a question naming its subject by a code (N2699G) takes its operands from the passages about
    # that thing: a sub-question ("total flight time") no longer says which report it means
    # (a document that names it on one page is about it on every page)
    documents = [h.document_id if h.document_id is not None else -i for i, h in enumerate(sources, start=1)]
    named = {d for d, h in zip(documents, sources, strict=True) if _names_its_subject(h, question.codes)}
    about = {i for i, d in enumerate(documents, start=1) if d in named}
    where: Where = (lambda c: c.source in about) if question.codes and about else None
    operands = _between_measures(question, sources, model, where)
    if operands is None:
        operands = _over_periods(question, sources, model, where) or _in_one_line(
            question, sources, model, where
        )
    if len(operands) < 2 or len({(o.figure.text, o.source) for o in operands}) < len(operands):
        return None  # one figure twice is no computation
    if question.codes and not all(o.source in about for o in operands):
        return None  # an operand from a passage about another thing than the one the question names
    done = _apply(question.operation, [o.figure.value for o in operands])
    if done is None:
        return None
    value, percent = done
    if (
        not percent
        and all(o.figure.percent for o in operands)
        and question.operation in ("change", "sum", "average")
    ):
        percent = True  # points between two rates
    if not percent and operands[0].figure.scale != 1 and question.operation in ("change", "sum", "average"):
        value /= operands[0].figure.scale  # in the operands' own unit
    return Computation(question.operation, tuple(operands), value, percent)


def _in_one_line(
    question: Question, sources: Sequence[Hit], model: EvidenceModel, where: Where = None
) -> list[Operand]:
    """The two operands of a change the question words as a comparison without periods or a
    pattern ("how many more ... than", "the difference", "by what percent did the gusts exceed
    the wind"; ``Question.compares``): the line that
    answers a question about the measure states exactly two figures of one kind (two counts, two
    rates, two amounts), and nothing else of that kind. A change between them is their distance,
    the larger less the smaller, since the question does not say which comes first; a percent
    change runs from the one the line states first."""
    if (
        question.operation not in ("change", "percent_change")
        or not (question.wants_figure and question.compares)
        or len(question.years) > 1  # periods set the order, and a line's order is not theirs
    ):
        return []
    evidence = select_evidence(question, sources, model, where)
    if evidence is None or evidence.cell:
        return []
    kinds: dict[tuple[bool, bool], list[Figure]] = {}
    for figure in figures_without_years(evidence.text):
        kinds.setdefault((figure.percent, figure.money), []).append(figure)
    pairs = [found for found in kinds.values() if len(found) == 2]
    if len(pairs) != 1 or pairs[0][0].text == pairs[0][1].text:
        return []
    first, second = pairs[0]
    if question.operation == "change" and first.value > second.value:
        first, second = second, first
    words = _label(evidence.text).split()
    label = " ".join(words[:8]) + (" …" if len(words) > 8 else "")
    return [Operand(label, first, evidence.source), Operand(label, second, evidence.source)]


def _names_its_subject(hit: Hit, codes: Sequence[str]) -> bool:
    """Whether ``hit`` is about the thing a code of the question names (N8770M's report, not another's)."""
    seen = f"{hit.source} {hit.title} {hit.header} {hit.text}".lower()
    return any(code.lower() in seen for code in codes)


def needed(question: Question) -> bool:
    """Whether the question's wording leaves no doubt that it asks for a computation: an operation
    between two measures in one of its language's patterns, or a change between two years."""
    if question.operation is None or question.open:
        return False
    text = question.text
    for pattern in _patterns().get(question.language, {}).get(question.operation, []):
        regex = re.escape(pattern).replace(r"\{a\}", r".+?").replace(r"\{b\}", r".+?")
        if re.search(regex, text, re.I):
            return True
    return question.operation in ("change", "percent_change") and len(question.years) >= 2
