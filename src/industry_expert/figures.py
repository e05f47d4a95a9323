"""Figures in text: one normalisation of numbers, shared by answer checking and evaluation.

A figure is a number as written in a filing, a manual or an answer: ``$38.4 million``,
``(1,217)``, ``12%``, ``€ 3.5bn``, ``2,105``. ``figures`` reads them with their value (scale
words applied, parentheses as negatives), whether they are a percentage or an amount of money,
and the digits as written. ``same_figure`` decides whether two figures state the same quantity,
allowing for the units a table leaves to its caption ("(in millions)": ``38.4`` in the table is
``$38.4 million`` in an answer) and for rounding (``$38 million``).

    >>> [f"{f.value:g}" for f in figures("Capex was $38.4 million, down (12)% from $1,217.5 thousand.")]
    ['3.84e+07', '-12', '1.2175e+06']
    >>> same_figure(figures("$38.4 million")[0], figures("Capital expenditure $ 38.4 $ 29.9")[0])
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SCALES = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "mm": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
}
_FIGURE = re.compile(
    r"(?<![\w.,])(?P<open>\()?\s?(?P<minus>[-−–](?=[$€£¥\d]))?\s?(?P<cur>[$€£¥])?\s?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\d,]*\.\d)"
    r"\s?(?P<pct>%|\s?percent\b)?\s?(?P<close>\))?"
    r"(?:\s?(?P<scale>thousand|millions?|billions?|trillion|mn|bn|tn|mm|[kmb])\b)?",
    re.I,
)
_CELL = re.compile(r"^\(?[$€£¥]?\(?-?\d[\d,.]*\)?%?\)?$|^[$€£¥%—–-]$")
# A bracketed citation marker ``[3]`` or a footnote ``(1)`` is not a figure.
_CITATION = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
# A web address's digits ("/03454-fy2022-...-508pdf.pdf") are part of a name, not figures.
_ADDRESS = re.compile(r"(?:https?://|www\.)\S+", re.I)


@dataclass(frozen=True)
class Figure:
    text: str  # as written
    value: float  # scale words applied, negative when bracketed or signed
    number: float  # the digits as written, sign applied, no scale
    percent: bool
    money: bool
    decimals: int = 0  # digits after the decimal point, as written

    @property
    def scale(self) -> float:
        return self.value / self.number if self.number else 1.0

    @property
    def year_like(self) -> bool:
        """A bare four-digit number from 1900 to 2100: a year, not an amount."""
        return (
            not self.percent
            and not self.money
            and self.number == int(self.number)
            and 1900 <= self.number <= 2100
            and "," not in self.text
            and "." not in self.text
        )


def is_table_row(line: str) -> bool:
    """A table row: two or more numeric cells, a numeric last cell, numbers a quarter of it.

    >>> is_table_row("Total net sales $ 394,328 $ 365,817"), is_table_row("Sales rose 8% in 2022 on demand.")
    (True, False)
    """
    cells = line.split()
    numeric = sum(1 for c in cells if _CELL.match(c))
    return numeric >= 2 and bool(_CELL.match(cells[-1])) and numeric * 4 >= len(cells)


def figures(text: str) -> list[Figure]:
    """Every figure in ``text``, in order; citation markers, footnote numbers and web addresses are
    skipped.

    >>> [f.text for f in figures("See https://opm.gov/plan/03454-fy2022-508pdf.pdf: 89 percent – 68 percent")]
    ['89 percent', '68 percent']
    """
    text = _ADDRESS.sub(" ", _CITATION.sub(" ", text))
    out: list[Figure] = []
    for m in _FIGURE.finditer(text):
        raw = m.group("num")
        number = float(raw.replace(",", ""))
        negative = bool(m.group("minus")) or (bool(m.group("open")) and bool(m.group("close")))
        if m.group("open") and m.group("close") and "." not in raw and len(raw) == 1 and not m.group("cur"):
            continue  # "(1)": a footnote marker
        if negative:
            number = -number
        scale = _SCALES.get((m.group("scale") or "").lower(), 1.0)
        out.append(
            Figure(
                text=m.group(0).strip(),
                value=number * scale,
                number=number,
                percent=bool(m.group("pct")),
                money=bool(m.group("cur")),
                decimals=len(raw.split(".")[1]) if "." in raw else 0,
            )
        )
    return out


def _rounds_to(a: float, a_unit: float, b: float, b_unit: float, tolerance: float) -> bool:
    """Whether ``a`` and ``b`` agree to the coarser of the precisions they were written with."""
    a, b = abs(a), abs(b)
    half = max(a_unit, b_unit) / 2
    return abs(a - b) <= half * (1 + 1e-9) + tolerance * max(a, b)


def same_figure(a: Figure, b: Figure, tolerance: float = 0.0) -> bool:
    """Whether ``a`` and ``b`` state the same quantity.

    Figures agree to the precision the coarser one was written with (``$9.8 billion`` is the
    ``$9,795 million`` of a table; ``34.1%`` is not ``34.2%``), plus a relative ``tolerance``
    for callers that want one. The digits as written are compared as well as the scaled values,
    since a table's caption carries its unit: ``38.4`` under "(in millions)" is ``$38.4
    million``, while ``$208,000`` is not the ``208`` of that table, nor ``2.1 million`` the
    ``2`` of "Item 2". Signs are compared by
    magnitude: ``(1,016)`` in a table is "a net loss of $1,016 million" in prose.
    """
    if a.percent != b.percent and (a.percent or b.percent) and (a.year_like or b.year_like):
        return False
    unit_a, unit_b = 10.0**-a.decimals, 10.0**-b.decimals
    if _rounds_to(a.value, unit_a * a.scale, b.value, unit_b * b.scale, tolerance):
        return True
    scaled_a, scaled_b = a.scale != 1.0, b.scale != 1.0
    if scaled_a and scaled_b:
        return False
    if scaled_a != scaled_b:
        stated, bare = (a, b) if scaled_a else (b, a)
        # A table cell under "(in millions)" repeats the stated digits. A bare number written
        # coarser than the stated figure, or a single digit (an item, note or page number), does
        # not: "Item 2" is not "2.1 million square feet".
        if bare.decimals < stated.decimals or (abs(bare.number) < 10 and not bare.decimals):
            return False
    return _rounds_to(a.number, unit_a, b.number, unit_b, tolerance)


def supported(figure: Figure, found: Iterable[Figure], tolerance: float = 0.0) -> bool:
    """Whether ``figure`` is among ``found`` (the figures of the passages an answer cites)."""
    return any(same_figure(figure, other, tolerance) for other in found)
