"""Find which company and period a document is about, for the context header of its chunks.

Questions such as "What was Apple's capital expenditure in FY2019?" are asked against workspaces
that hold many companies' filings for many years; a passage deep in a 10-K rarely names either,
so each chunk's header does. The rules read the cover of SEC filings (10-K, 10-Q, 8-K, 20-F) and
the first lines of earnings releases; anything else gets no company or period, only its title.
"""

from __future__ import annotations

import re

from ..types import Block

_FORM = re.compile(r"\bFORM\s+(10-K|10-Q|8-K|20-F|40-F|6-K|S-1)\b", re.I)
_REGISTRANT = re.compile(r"\(\s*exact name of (the )?registrant", re.I)
_COMPANY = re.compile(
    r"^[A-Z][\w&.,'’ -]{1,60}\b(Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.|Ltd\.?|plc|LLC|N\.V\.|S\.A\.|AG|SE)$"
)
_DATE = r"([A-Z][a-z]+\.? \d{1,2}, ?\d{4})"
_FISCAL = re.compile(r"for the (fiscal year|quarterly period) ended\s+" + _DATE, re.I)
_EVENT = re.compile(r"Date of Report[^:]*:\s*" + _DATE, re.I)
_QUARTER = re.compile(
    r"\b(first|second|third|fourth)[- ]quarter(?:\s+and\s+(?:full|fiscal)[- ]year)?(?:\s+(?:of\s+)?fiscal(?:\s+year)?)?\s+(\d{4})",
    re.I,
)
_RELEASE = re.compile(r"\b(news release|press release|(reports?|announces?)\b.{0,60}\bresults)", re.I)


def _company(lines: list[str]) -> str:
    for i, line in enumerate(lines):
        if _REGISTRANT.search(line) and i > 0:
            name = lines[i - 1].strip()
            if 1 < len(name) < 80:
                return name.title() if name.isupper() else name
    for line in lines[:25]:
        line = line.strip()
        if _COMPANY.match(line):
            return line.title() if line.isupper() else line
    return ""


def detect_filing(blocks: list[Block] | tuple[Block, ...]) -> dict[str, str]:
    """Return ``company``, ``form`` and ``period`` where the document's first pages state them."""
    first = [b.text for b in blocks if b.page is None or b.page <= 2]
    text = "\n".join(first)[:12000]
    lines = [line for line in text.split("\n") if line.strip()]
    found: dict[str, str] = {}
    head = text[:3000]
    if m := _FORM.search(head):
        found["form"] = "Form " + m.group(1).upper()
    elif _RELEASE.search(head):
        found["form"] = "earnings release"
    if not found:
        return found
    if company := _company(lines):
        found["company"] = company
    if m := _FISCAL.search(text):
        kind, date = m.group(1).lower(), m.group(2)
        year = date[-4:]
        found["period"] = (
            f"fiscal year ended {date} (FY{year})" if kind == "fiscal year" else f"quarter ended {date}"
        )
    elif m := _EVENT.search(text):
        found["period"] = f"report dated {m.group(1)}"
    elif m := _QUARTER.search(text):
        found["period"] = " ".join(m.group(0).split()).lower().replace("-", " ")
    return found


def describe(metadata: dict[str, str], short: bool = False) -> str:
    """One line naming the company, form and period.

    ``short`` gives the form chunk headers use, since every header token is embedded once per
    chunk: ``Apple Inc. 10-K FY 2022`` rather than ``Apple Inc. Form 10-K, fiscal year ended
    September 24, 2022 (FY2022)``. The year stands apart from ``FY`` so that a keyword search for
    "2022" or "fiscal 2022" finds it as well as one for "FY2022".
    """
    form, period = metadata.get("form", ""), metadata.get("period", "")
    if short:
        form = form.removeprefix("Form ")
        if m := re.search(r"\(FY(\d{4})\)", period):
            period = f"FY {m.group(1)}"
    label = " ".join(p for p in (metadata.get("company", ""), form) if p)
    if period:
        label = f"{label}{' ' if short else ', '}{period}" if label else period
    return label
