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
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..figures import Figure, figures, is_table_row, same_figure, supported
from ..types import Hit
from .citations import CITATION, cited_numbers
from .injection import addresses_the_model, withhold

_WORD = re.compile(r"[^\W\d_][\w'’&-]*|\d[\d,.]*\d|\d", re.U)
_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
_FY_SHORT = re.compile(r"\bF[Yy]\s?'?(\d{2})\b")
_SENTENCE = re.compile(
    r"(?<!\bInc\.)(?<!\bCorp\.)(?<!\bCo\.)(?<!\bLtd\.)(?<!\bNo\.)(?<!\bU\.S\.)(?<!\bvs\.)"
    r"(?<=[.!?;])\s+(?=[A-Z(\"“$•])"
)
_STOP = frozenset(
    """a an the of in on at to for from by with and or as is was were be been are what which who whom
    whose how much many did does do its it their this that these those than then there any all
    per into over under about according s company company's fiscal year years quarter ended total
    tell me please give report reported i we you my our your should can could would when where""".split()
)
_FIGURE_QUESTION = re.compile(
    r"^\s*(how (much|many|large|big|high|low)|what\b(.*\b)?("
    r"revenue|revenues|sales|income|loss|earnings|eps|margin|expenditure|capex|cost|costs|expense|"
    r"expenses|cash|debt|assets|liabilities|equity|dividend|dividends|price|rate|ratio|growth|share|"
    r"shares|employees|headcount|number|amount|total|value|guidance|spend|spending|profit|ebitda|"
    r"percentage|percent|size|count|volume|capacity|tax|payment|purchase|backlog)s?\b)",
    re.I,
)
_RECORD = re.compile(r"^(?:[^:;]{1,40}: [^;]+; )+[^:;]{1,40}: ")  # a table row written as fields
_REPEAT_NGRAM = 4
_REPEAT_TIMES = 4


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


def _terms(text: str) -> list[str]:
    out = []
    for word in _WORD.findall(text.lower().replace("’", "'")):
        word = word.removesuffix("'s").strip("'")
        if not word or word in _STOP:
            continue
        if word[0].isalpha() and len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]  # plural: "expenditures" finds "expenditure"
        out.append(word)
    return out


def question_years(question: str) -> set[str]:
    """Years a question names: ``2023``, ``FY2023``, ``FY23``."""
    years = set(_YEAR.findall(question))
    years.update("20" + y for y in _FY_SHORT.findall(question))
    return years


def is_figure_question(question: str) -> bool:
    """Whether the question asks for an amount, a count or a rate."""
    return bool(_FIGURE_QUESTION.search(question))


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


def _period_heads(passage: str, columns: int) -> list[str] | None:
    """The years heading a table's ``columns`` figure columns (``FY2023 FY2022``), from the first
    line of ``passage`` that names that many years and states no other figure; None if none."""
    for line in passage.splitlines():
        heads = list(re.finditer(r"(?:FY\s?)?((?:19|20)\d{2})(?!\d)", line))
        if len(heads) == columns and not figures_without_years(line):
            return [h.group(0) for h in heads]
    return None


def _period_columns(row: str, passage: str) -> list[tuple[Figure, str]]:
    """The row's figures paired with the years heading their columns; [] when no heading line
    fits. Percentages between the amounts ("394,328 8 % 365,817 33 % 274,515", a change column)
    are left out when the amounts alone fit the headings."""
    cells = figures_without_years(row)
    if len(cells) < 2:
        return []
    heads = _period_heads(passage, len(cells))
    if heads is None:
        amounts = [c for c in cells if not c.percent]
        if len(amounts) == len(cells) or len(amounts) < 2:
            return []
        cells, heads = amounts, _period_heads(passage, len(amounts))
    return list(zip(cells, heads, strict=True)) if heads else []


def _column_cell(row: str, passage: str, years: set[str]) -> tuple[str, str]:
    """In a table whose heading line names periods, the row's cell under the question's year
    (in a row written as fields, the field named by that year)."""
    for key, value in _fields(row):
        if question_years(key) & years and figures_without_years(value):
            return value, key
    if years:
        for cell, head in _period_columns(row, passage):
            if head[-4:] in years:
                return cell.text, head
    return "", ""


def figures_without_years(line: str) -> list[Figure]:
    return [f for f in figures(line) if not f.year_like]


def select_evidence(question: str, sources: Sequence[Hit]) -> Evidence | None:
    """The sentence or table row among ``sources`` that best answers ``question``, or None.

    >>> hits = [Hit(1, "r.pdf", 2, None, 1.0, "(in millions) FY2023 FY2022\\nRevenue $482.6 $430.9\\n"
    ...     "Capital expenditure $38.4 $29.9")]
    >>> e = select_evidence("What was capital expenditure in fiscal 2023?", hits)
    >>> e.quote()
    'Capital expenditure, FY2023: $38.4 [1]'
    """
    q_terms = set(_terms(question))
    years = question_years(question)
    q_terms -= years
    wants_figure = is_figure_question(question)
    if not q_terms:
        return None
    candidates = []
    for n, hit in enumerate(sources, start=1):
        for text, row, lead in _units(hit.text, hit.header):
            if lead and q_terms & set(_terms(text)):
                text = f"{lead} {text}"  # the heading over a sentence about the question reads with it
            if not addresses_the_model(text):  # an order to the model is never the line that answers
                candidates.append((n, text, row, hit, _terms(text)))
    if not candidates:
        return None
    # rarer question words weigh more: a word in every line ("Apple") says little
    df = {t: sum(1 for *_, unit in candidates if t in unit) for t in q_terms}
    weight = {t: math.log(1 + len(candidates) / (1 + df[t])) for t in q_terms}
    total = sum(weight.values()) or 1.0
    headers = [set(_terms(hit.header)) for hit in sources]
    scored: list[tuple[Evidence, bool]] = []
    q_list = [t for t in _terms(question) if t in q_terms]
    pairs = set(zip(q_list, q_list[1:], strict=False))
    best: tuple[Evidence, bool] | None = None
    for n, text, row, hit, unit in candidates:
        passage = hit.text
        terms = set(unit)
        header_terms = headers[n - 1]
        score = sum(weight[t] for t in q_terms & terms) / total
        score += 0.6 * sum(weight[t] for t in (q_terms & header_terms) - terms) / total
        score += 0.15 * len(pairs & set(zip(unit, unit[1:], strict=False)))  # "net income", not "income, net"
        if row:  # a row's label should be what was asked: "Other income, net" is not "net income"
            label = set(_terms(_row_label(text)))
            extra = label - q_terms
            score -= min(0.1 * len(extra), 0.3)
            if label and not extra:
                score += 0.15  # the row is named by the question's own words
        found = figures_without_years(text)
        cell, column = ("", "")
        if years:
            text_years = set(_YEAR.findall(text))
            if row:
                cell, column = _column_cell(text, passage, years)
                if cell:
                    score += 0.3
                elif years & set(_YEAR.findall(f"{hit.header} {passage}")):
                    score += 0.2  # the table is about the asked year; its column heading is elsewhere
            elif text_years & years:
                score += 0.3
            elif text_years:
                score -= 0.2  # another year's sentence
        if wants_figure:
            score += 0.2 if found else -0.5
        score -= 0.03 * (n - 1)  # the retriever's order breaks ties
        score -= 0.01 * max(0, len(terms - q_terms) - 12)  # a long sentence about much else
        scored.append((Evidence(n, text, score, cell, column), row))
        if best is None or score > best[0].score:
            best = scored[-1]
    if best is None or best[0].score < 0.3:
        return None
    chosen, is_row = best
    if is_row:
        # a sentence stating the row's figure says it with its unit and period: prefer it
        figure = figures(chosen.cell) if chosen.cell else figures_without_years(chosen.text)[:1]
        if figure:
            for other, other_row in sorted(scored, key=lambda pair: -pair[0].score):
                if other.score < chosen.score - 0.5:
                    break
                if not other_row and supported(figure[0], figures_without_years(other.text)):
                    return other
    return chosen


def unsupported_figures(answer: str, sources: Sequence[Hit], question: str = "") -> list[str]:
    """Figures ``answer`` states that none of the passages it cites holds.

    Years the question names are not checked; an answer that cites nothing is checked against
    every source.
    """
    cited = [n for n in dict.fromkeys(cited_numbers(answer)) if 1 <= n <= len(sources)]
    passages = [sources[n - 1] for n in cited] or list(sources)
    found = [f for hit in passages for f in figures(f"{hit.header}\n{hit.text}")]
    asked = {f.number for f in figures(question)}
    out = []
    for figure in figures(answer):
        if figure.number in asked and (figure.year_like or not figure.money):
            continue
        if not supported(figure, found):
            out.append(figure.text)
    return out


def wrong_period(answer: str, sources: Sequence[Hit], question: str) -> list[str]:
    """Figures ``answer`` takes from a table column of another period than the question's.

    A figure counts only when every place it appears in the cited passages is a table row under
    a year heading the question did not ask for (a sentence carries its own context, and a
    table without year headings cannot be judged).

    >>> table = Hit(1, "r.pdf", 2, None, 1.0, "(in millions) FY2023 FY2022\\nCapital expenditure $38.4 $29.9")
    >>> wrong_period("It was $29.9 million [1].", [table], "What was capital expenditure in 2023?")
    ['$29.9 million']
    """
    years = question_years(question)
    if not years:
        return []
    cited = [n for n in dict.fromkeys(cited_numbers(answer)) if 1 <= n <= len(sources)]
    passages = [sources[n - 1] for n in cited] or list(sources)
    asked = {f.number for f in figures(question)}
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
                            periods = question_years(key)
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


_META = frozenset(
    "document documents source sources passage passages cite cites cited citation number numbers "
    "answer answers question questions information provided text line lines".split()
)


def answers_question(answer: str, question: str, sources: Sequence[Hit] = ()) -> bool:
    """Whether ``answer`` says something the user asked. A figure question gets a figure. Any
    other answer adds a word to the question's and shares one with it, or two with the passages
    it cites (all ``sources`` when it cites none) read without their sentences that address the
    model: a fixed phrase a document ordered ("The documents are classified.") answers nothing."""
    body = CITATION.sub(" ", answer).strip()
    words = _terms(body)
    if len(words) < 2:
        return False
    if is_figure_question(question):
        numbers = {f.number for f in figures(question)}
        return any(f.number not in numbers or not f.year_like for f in figures(body))
    terms = set(words) - _META
    asked = set(_terms(question))
    new = terms - asked
    if not new:
        return False  # says nothing the question did not ("The guidance was [4] in [6].")
    if terms & asked or not sources:
        return True
    cited = [sources[n - 1] for n in cited_numbers(answer) if 1 <= n <= len(sources)] or list(sources)
    grounded = {t for hit in cited for t in _terms(withhold(hit.text))}
    return len(new & grounded) >= min(2, len(new))


_ECHO = re.compile(
    r"(?:the\s+)?(?:answer(?:\s+to\s+(?:the|this|your)\s+question)?|line\s+that\s+answers(?:\s+it|\s+the\s+question)?)"
    r"\s+is(?:\s+probably)?(?:\s+(?:in|from))?\s*((?:\[\d+\]\s*)*)[:\-–]?\s*",
    re.I,
)
_LEADING_CITES = re.compile(r"^((?:\[\d+\]\s*)+)[:\-–]?\s*")
_TRAILING_CITES = re.compile(r"\s*((?:\[\d+\]\s*)+)([.!?]?)\s*$")
_QUOTES = "\"“”'‘’«»"


def tidy_answer(text: str) -> str:
    """Drop what a small model echoes around its answer: ``The answer is: "…" [1]`` -> ``… [1]``.

    >>> tidy_answer('The line that answers it is probably in [2]: "Revenue was $9.8 billion."')
    'Revenue was $9.8 billion [2].'
    >>> tidy_answer('Question: How large is it?  The answer is: 2.0 million square feet [1].')
    '2.0 million square feet [1].'
    >>> tidy_answer('Northwind spent $38.4 million [1].')
    'Northwind spent $38.4 million [1].'
    """
    body = text.strip()
    m = _ECHO.search(body)
    if m is None or (body[: m.start()].strip() and not body[: m.start()].rstrip().endswith("?")):
        return body
    cites = re.findall(r"\[\d+\]", m.group(1) or "")
    rest = body[m.end() :].strip()
    if lead := _LEADING_CITES.match(rest):
        cites += re.findall(r"\[\d+\]", lead.group(1))
        rest = rest[lead.end() :]
    stop = ""
    if trail := _TRAILING_CITES.search(rest):
        cites += re.findall(r"\[\d+\]", trail.group(1))
        stop = trail.group(2)
        rest = rest[: trail.start()]
    rest = rest.strip().strip(_QUOTES).strip()
    if not rest:
        return body
    if rest[-1] in ".!?":
        stop, rest = rest[-1], rest[:-1]
    citations = "".join(dict.fromkeys(cites))
    return f"{rest}{' ' + citations if citations else ''}{stop}"


_NAME = re.compile(r"(?<![\w'’])([A-Z][a-z]+(?:[A-Z][a-z]+)*)(?:['’]s)?(?![\w&])")
_NOT_NAMES = frozenset(
    """What Which Who Whom Whose When Where Why How Is Are Was Were Did Does Do Can Could Should
    Would Will Has Have Had The A An In On At For Of By To From And Or Please Tell Give List Show
    Name Describe Explain Compare Summarize January February March April May June July August
    September October November December Monday Tuesday Wednesday Thursday Friday Saturday Sunday
    Q1 Q2 Q3 Q4 Fiscal Year Quarter Total Net Gross Form Item Part Note""".split()
)


def missing_names(question: str, sources: Sequence[Hit]) -> list[str]:
    """Names in the question (capitalised words that do not open a sentence) that no passage
    mentions; the caller asks the whole workspace about them before it refuses (``answer.py``).

    "What was Tesla's revenue in 2021?" over a workspace of other companies' filings finds
    revenue passages; none of them says "Tesla", so the answer must not be another company's
    figure.

    >>> missing_names("What was Tesla's revenue in 2021?", [Hit(1, "apple.pdf", 1, None, 1.0, "Revenue was $1.")])
    ['Tesla']
    >>> missing_names("What was 3M's capex in 2022? Round your answer.", [Hit(1, "3m.pdf", 1, None, 1.0, "Capex.")])
    []
    """
    words = _NAME.findall(question)
    # a sentence's first word is capitalised whatever it is ("... for 3M? Answer in USD millions.")
    openers = set(re.findall(r"(?:^|[.!?:;]\s+)[\"“(]?([A-Z][a-z]+)", question.strip()))
    names = [w for w in dict.fromkeys(words) if w not in _NOT_NAMES and w not in openers]
    if not names:
        return []
    seen = " ".join(f"{h.source} {h.title} {h.header} {h.text}" for h in sources).lower().replace("’", "'")
    return [n for n in names if n.lower() not in seen]
