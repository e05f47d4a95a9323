"""Grounding an answer in its sources: pick the line that answers, check what the model wrote.

A small model reads six passages and too often writes ``The answer is: [1]`` or a figure from the
wrong year. Three steps keep what a user sees tied to the documents:

1. ``select_evidence`` scores every sentence and table row of the passages against the question
   (its rarer words count more, its year must match, a figure question needs a figure) and picks
   the one that answers. In a table whose columns name periods, the question's period picks the
   cell. The model is shown that line, so the figure is copied rather than recalled.
2. ``check_answer`` looks every figure the answer states up in the passages it cites
   (``figures.same_figure``: currency, thousands separators, scale words, parentheses); figures
   it cannot find are ``unsupported``, and a figure found only in a table column headed by
   another year than the question's is the ``wrong_period``. An answer to a figure question that states no figure, and
   output that repeats itself (``degenerate``), are not answers.
3. The policy (``answer.unsupported``) then shows the answer with a warning, or replaces it with
   the quoted evidence and its citation.

Step 1 is this module; step 2's checks are ``verify.py``, and what a small model echoes around
its answer is taken off by ``tidy.py``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..figures import Figure, figures, is_table_row, supported
from ..question import Question, years_in
from ..types import Hit
from .injection import addresses_the_model

_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
# a sentence ends at a stop followed by anything but a lower-case letter: scripts without case
# (Persian, Arabic, Hebrew ...) end their sentences as often as Latin ones do
_SENTENCE = re.compile(
    r"(?<!\bInc\.)(?<!\bCorp\.)(?<!\bCo\.)(?<!\bLtd\.)(?<!\bNo\.)(?<!\bU\.S\.)(?<!\bvs\.)"
    r"(?<=[.!?;؟。])\s+(?=[^\sa-zà-ÿα-ωа-я0-9,;:)\]])"
)
_RECORD = re.compile(r"^(?:[^:;]{1,40}: [^;]+; )+[^:;]{1,40}: ")  # a table row written as fields


@dataclass(frozen=True)
class Evidence:
    """The line of a source that answers: ``source`` is its 1-based number in the prompt."""

    source: int
    text: str  # the sentence or table row, as written
    score: float
    cell: str = ""  # for a table row: the cell in the question's period column
    column: str = ""  # that column's heading

    def quote(self) -> str:
        """The evidence as an answer: the sentence, or the row's cell with its column."""
        if self.cell:
            label = _row_label(self.text)
            return f"{label}, {self.column}: {self.cell} [{self.source}]"
        text = self.text.strip()
        body, stop = (text[:-1], text[-1]) if text.endswith((".", "!", "?")) else (text, "")
        return f"{body} [{self.source}]{stop or ('' if text.endswith(':') else '.')}"


def _fields(unit: str) -> list[tuple[str, str]]:
    """A table row written as fields (``Item: Capex; FY2023: 38.4``) as ``(column, value)``
    pairs; [] for any other text."""
    if not _RECORD.match(unit):
        return []
    pairs = [part.split(": ", 1) for part in unit.split("; ")]
    return [(key.strip(), value.strip()) for key, value in (p for p in pairs if len(p) == 2)]


def _row_label(row: str) -> str:
    fields = _fields(row)
    if fields:
        return fields[0][1]  # the first column names the row
    label = re.split(r"\s[\(\$€£¥\d—–-]", " " + row.strip(), maxsplit=1)[0].strip()
    return label or row.strip()


def _units(text: str, header: str = "") -> list[tuple[str, bool, str]]:
    """Sentences of prose (lines re-joined) and table rows, each ``(text, is_row, lead)``;
    headings are left out. A line the chunk's ``header`` names is a heading whatever it ends with
    ("First quarter financial performance:"), and is the ``lead`` of the sentence under it: the
    caller reads the two together only when the sentence itself is about the question, so that a
    heading on the question cannot carry any sentence under it (an order planted in a memo)."""
    units: list[tuple[str, bool, str]] = []
    prose: list[str] = []
    lead = ""
    headings = {" ".join(p.split()) for p in re.split(r" — | > ", header)} if header else set()

    def flush() -> None:
        nonlocal lead
        if prose:
            joined = " ".join(prose)
            for i, sentence in enumerate(s.strip() for s in _SENTENCE.split(joined) if s.strip()):
                units.append((sentence, False, lead if i == 0 else ""))
            prose.clear()
        lead = ""

    for line in text.splitlines():
        line = " ".join(line.split())
        if not line:
            continue
        short_heading = (
            len(line.split()) <= 6
            and line[0].isupper()
            and not line.endswith((".", ",", ";", ":", "!", "?"))
            and (not prose or prose[-1].endswith((".", "!", "?", ":")))
        )
        if line in headings:
            flush()
            lead = "" if short_heading else line  # "Employees" stands alone, as it always did
        elif is_table_row(line):
            flush()
            units.append((line, True, ""))
        elif _RECORD.match(line):
            flush()  # "Code: E17; Meaning: Actuator stalled; Action: ...": one row, not three sentences
            units.append((line, True, ""))
        elif short_heading:
            flush()  # a heading ("Employees") is not the first words of the next sentence
        else:
            prose.append(line)
    flush()
    return units


_YEAR_HEAD = re.compile(r"(?:FY\s?)?((?:19|20)\d{2})(?!\d)")


def _period_line(line: str) -> list[str]:
    """The years ``line`` names when it heads table columns (``(in millions) FY2023 FY2022``):
    two or more years and no other figure; [] otherwise."""
    heads = [h.group(0) for h in _YEAR_HEAD.finditer(line)]
    return heads if len(heads) >= 2 and not figures_without_years(line) else []


def _period_heads(passage: str, columns: int) -> list[str] | None:
    """The years heading a table's ``columns`` figure columns (``FY2023 FY2022``), from the first
    line of ``passage`` that names that many years and states no other figure; None if none."""
    for line in passage.splitlines():
        heads = _period_line(line)
        if heads and len(heads) == columns:
            return heads
    return None


def _period_columns(row: str, passage: str) -> list[tuple[Figure, str]]:
    """The row's figures paired with the years heading their columns; [] when no heading fits.
    Percentages between the amounts ("394,328 8 % 365,817 33 % 274,515", a change column) are
    left out when the amounts alone fit the headings. A heading a PDF broke over several lines
    (``FY 2012`` / ``Results`` / ``FY 2013`` ...) is the years above the row, and a row's empty
    cells (``n/a``, ``—``) keep their columns."""
    cells = figures_without_years(row)
    if len(cells) < 2:
        return []
    heads = _period_heads(passage, len(cells))
    if heads is None:
        amounts = [c for c in cells if not c.percent]
        if len(amounts) != len(cells) and len(amounts) >= 2:
            cells, heads = amounts, _period_heads(passage, len(amounts))
    if heads:
        return list(zip(cells, heads, strict=True))
    above = _heads_above(row, passage)
    if not above:
        return []
    for row_cells in (cells, _cells_with_empty(row)):
        if len(row_cells) == len(above):
            return [(cell, head) for cell, head in zip(row_cells, above, strict=True) if cell is not None]
    return []


_EMPTY_CELL = re.compile(r"(?<!\S)(?:n/a|—|–|-)(?!\S)", re.I)


def _heads_above(row: str, passage: str) -> list[str]:
    """The years written between the last line above ``row`` that states a figure and the row:
    a heading a PDF laid out one word group per line."""
    lines = passage.splitlines()
    start = row.strip()[:40]
    at = next((i for i, line in enumerate(lines) if start and start in line), None)
    if at is None:
        return []
    heads: list[str] = []
    for line in reversed(lines[:at]):
        if figures_without_years(line):
            break
        heads[:0] = [h.group(0) for h in _YEAR_HEAD.finditer(line)]
    return heads if len(heads) >= 2 else []


def _cells_with_empty(row: str) -> list[Figure | None]:
    """The row's cells in order: its figures, and None for each empty cell it writes."""
    found: list[tuple[int, Figure | None]] = [(m.start(), None) for m in _EMPTY_CELL.finditer(row)]
    found += [(start, figure) for start, _, figure in figure_spans(row)]
    return [cell for _, cell in sorted(found, key=lambda pair: pair[0])]


def _column_cell(row: str, passage: str, years: set[str]) -> tuple[str, str]:
    """In a table whose heading line names periods, the row's cell under the question's year
    (in a row written as fields, the field named by that year)."""
    for key, value in _fields(row):
        if years_in(key) & years and figures_without_years(value):
            return value, key
    if years:
        for cell, head in _period_columns(row, passage):
            if head[-4:] in years:
                return cell.text, head
    return "", ""


def figures_without_years(line: str) -> list[Figure]:
    return [f for f in figures(line) if not f.year_like]


def figure_spans(line: str) -> list[tuple[int, int, Figure]]:
    """``(start, end, figure)`` of each figure of ``line`` that is no year, in order."""
    spans, position = [], 0
    for figure in figures_without_years(line):
        at = line.find(figure.text, position)
        if at < 0:  # written otherwise than found (a citation or a web address between its parts)
            continue
        spans.append((at, at + len(figure.text), figure))
        position = at + len(figure.text)
    return spans


FEATURES = (
    "overlap",  # the question's key terms of what it asks the line holds, each weighed by its rarity among the lines
    "entity_overlap",  # ... of the names and codes it asks about
    "stop_overlap",  # ... of its words on the stop list (some lists hold "length" or "net"), by rarity too
    "header_overlap",  # ... that only the passage's header holds
    "no_terms",  # the line holds none of the question's key terms
    "pairs",  # the share of the question's word pairs the line holds in order ("net income", not "income, net")
    "row_extra",  # a table row's label words the question did not use (at most 3)
    "row_named",  # a table row named by the question's own words
    "period_cell",  # a row with a cell under the asked year's column
    "period_table",  # a row of a table about the asked year (its column heading elsewhere)
    "period_sentence",  # a sentence naming the asked year
    "other_year",  # a sentence naming only other years
    "figure_wanted",  # the line states a figure and the question asks for one
    "figure_open",  # ... and the question asks for a reason, a manner, a person or a place
    "figure_other",  # ... and the question asks for neither
    "no_figure_wanted",  # the question asks for a figure and the line has none
    "rank",  # the passage's place in the retriever's order (0 first)
    "length",  # the line's words beyond twelve that the question did not use
)


@dataclass(frozen=True)
class EvidenceModel:
    """A linear scorer of a line's ``FEATURES`` and the score under which no line answers, fitted
    on question sets with evidence (``benchmarks/evidence.py fit``) and kept in
    ``reference/evidence.json``."""

    weights: dict[str, float]
    threshold: float

    def score(self, features: dict[str, float]) -> float:
        return sum(self.weights.get(name, 0.0) * value for name, value in features.items())

    @staticmethod
    @cache
    def shipped() -> EvidenceModel:
        data = json.loads(
            resources.files("industry_expert").joinpath("reference/evidence.json").read_text("utf-8")
        )
        return EvidenceModel(dict(data["weights"]), float(data["threshold"]))


@dataclass(frozen=True)
class Candidate:
    """A line of a passage that may answer, with what the scorer reads of it."""

    source: int
    text: str
    row: bool
    features: dict[str, float]
    cell: str = ""
    column: str = ""


def candidates(question: Question, sources: Sequence[Hit]) -> list[Candidate]:
    """Every sentence and table row of ``sources`` with its features against ``question``."""
    words = question.words
    q_terms = set(question.terms)
    years = set(question.years)
    if not q_terms:
        return []
    units = []
    for n, hit in enumerate(sources, start=1):
        for text, row, lead in _units(hit.text, hit.header):
            terms, every = words.read(text)
            if lead and q_terms & set(terms):
                text = f"{lead} {text}"  # the heading over a sentence about the question reads with it
                terms, every = words.read(text)
            if not addresses_the_model(text):  # an order to the model is never the line that answers
                units.append((n, text, row, hit, terms, every))
    if not units:
        return []
    # rarer question words weigh more: a word in every line ("Apple") says little
    stops = set(question.stop_terms) - q_terms
    every_unit = [set(every) for *_, every in units]
    stop_df = {t: sum(1 for unit in every_unit if t in unit) for t in stops}
    stop_weight = {t: math.log(1 + len(units) / (1 + stop_df[t])) for t in stops}
    stop_total = sum(stop_weight.values()) or 1.0
    df = {t: sum(1 for *_, unit, _ in units if t in unit) for t in q_terms}
    weight = {t: math.log(1 + len(units) / (1 + df[t])) for t in q_terms}
    total = sum(weight.values()) or 1.0
    entities = q_terms & question.entities
    asked = q_terms - entities
    asked_total = sum(weight[t] for t in asked) or 1.0
    entity_total = sum(weight[t] for t in entities) or 1.0
    headers = [set(words.terms(hit.header)) for hit in sources]
    phrase = [t for t in question.phrase if t not in years]
    asked_words = set(phrase)
    pairs = set(zip(phrase, phrase[1:], strict=False))
    out = []
    for i, (n, text, row, hit, unit, every) in enumerate(units):
        held = set(unit)
        f = dict.fromkeys(FEATURES, 0.0)
        f["overlap"] = sum(weight[t] for t in asked & held) / asked_total
        f["entity_overlap"] = sum(weight[t] for t in entities & held) / entity_total
        if stops:
            f["stop_overlap"] = sum(stop_weight[t] for t in stops & every_unit[i]) / stop_total
        f["header_overlap"] = sum(weight[t] for t in (q_terms & headers[n - 1]) - held) / total
        f["no_terms"] = float(not q_terms & held)
        f["pairs"] = len(pairs & set(zip(every, every[1:], strict=False))) / (len(pairs) or 1)
        if row:  # a row's label should be what was asked: "Other income, net" is not "net income"
            label = set(words.all_terms(_row_label(text))) - years
            f["row_extra"] = float(min(len(label - asked_words), 3))
            f["row_named"] = float(bool(label & q_terms) and not label - asked_words)
        cell, column = ("", "")
        if years:
            text_years = set(_YEAR.findall(text))
            if row:
                cell, column = _column_cell(text, hit.text, years)
                if cell:
                    f["period_cell"] = 1.0
                elif years & set(_YEAR.findall(f"{hit.header} {hit.text}")):
                    f["period_table"] = 1.0
            elif text_years & years:
                f["period_sentence"] = 1.0
            elif text_years:
                f["other_year"] = 1.0
        found = bool(figures_without_years(text))
        if question.wants_figure:
            f["figure_wanted" if found else "no_figure_wanted"] = 1.0
        elif found:
            f["figure_open" if question.open else "figure_other"] = 1.0
        f["rank"] = float(n - 1)
        f["length"] = float(max(0, len(held - q_terms) - 12))
        out.append(Candidate(n, text, row, f, cell, column))
    return out


def _table_head(row: str, passage: str) -> str:
    """The last line above ``row`` that heads table columns with periods (``_period_line``);
    "" when none."""
    start = row.strip()[:40]
    head = ""
    for line in passage.splitlines():
        if start and start in line:
            return head
        if _period_line(line):
            head = " ".join(line.split())
    return ""


def excerpts(
    question: Question, sources: Sequence[Hit], lines: int, model: EvidenceModel | None = None
) -> list[str | None]:
    """For each of ``sources``, its ``lines`` sentences or table rows that best answer ``question``
    (the evidence scorer's order), written in the passage's order, a row under the line heading its
    columns; None for a passage with no such line (it is shown whole).

    >>> hits = [Hit(1, "r.pdf", 2, None, 1.0, "Northwind makes pumps. It has 900 staff.\\n"
    ...     "(in millions) FY2023 FY2022\\nRevenue $482.6 $430.9\\nCapital expenditure $38.4 $29.9")]
    >>> print(excerpts(Question.analyse("What was capital expenditure in fiscal 2023?"), hits, 1)[0])
    (in millions) FY2023 FY2022
    Capital expenditure $38.4 $29.9
    """
    model = model or EvidenceModel.shipped()
    found: dict[int, list[tuple[float, int, Candidate]]] = {}
    for order, c in enumerate(candidates(question, sources)):
        found.setdefault(c.source, []).append((model.score(c.features), order, c))
    shown: list[str | None] = []
    for n, hit in enumerate(sources, start=1):
        best = sorted(found.get(n, []), key=lambda s: -s[0])[:lines]
        if not best:
            shown.append(None)
            continue
        out: list[str] = []
        for _, _, c in sorted(best, key=lambda s: s[1]):
            head = _table_head(c.text, hit.text) if c.row else ""
            if head and head not in out:
                out.append(head)
            out.append(c.text)
        shown.append("\n".join(out))
    return shown


def select_evidence(
    question: Question,
    sources: Sequence[Hit],
    model: EvidenceModel | None = None,
    where: Callable[[Candidate], bool] | None = None,
) -> Evidence | None:
    """The sentence or table row among ``sources`` that best answers ``question``, or None;
    ``where`` keeps only the lines it accepts.

    >>> hits = [Hit(1, "r.pdf", 2, None, 1.0, "(in millions) FY2023 FY2022\\nRevenue $482.6 $430.9\\n"
    ...     "Capital expenditure $38.4 $29.9")]
    >>> e = select_evidence(Question.analyse("What was capital expenditure in fiscal 2023?"), hits)
    >>> e.quote()
    'Capital expenditure, FY2023: $38.4 [1]'
    """
    model = model or EvidenceModel.shipped()
    scored = sorted(
        ((model.score(c.features), c) for c in candidates(question, sources) if where is None or where(c)),
        key=lambda pair: -pair[0],
    )
    if not scored or scored[0][0] < model.threshold:
        return None
    best_score, best = scored[0]
    chosen = Evidence(best.source, best.text, best_score, best.cell, best.column)
    if best.row:
        # a sentence stating the row's figure says it with its unit and period: prefer it when it
        # scores within half of what a line holding every asked word gains over one holding none
        margin = 0.5 * model.weights.get("overlap", 1.0)
        figure = figures(best.cell) if best.cell else figures_without_years(best.text)[:1]
        if figure:
            for score, other in scored:
                if score < best_score - margin:
                    break
                if not other.row and supported(figure[0], figures_without_years(other.text)):
                    return Evidence(other.source, other.text, score)
    return chosen
