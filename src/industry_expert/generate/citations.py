"""Citations checked against the sources the model was given.

The model cites ``[n]``, ``[n, m]`` or ``[n][m]``. Every number that names a source becomes a
``Citation`` (ordered by first use, each once); a number that names nothing is removed from the
text and reported, so no answer points at a passage that does not exist. ``CitationFilter`` does
the same to a stream, holding back an unfinished ``[..`` until its bracket closes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..types import Citation, Hit

_CITE = re.compile(r"\s?\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_HOLD = 24  # an open bracket longer than this is not a citation


def _check(text: str, count: int, invalid: list[int], cited: list[int]) -> str:
    """``text`` with citation numbers outside 1..count removed (recorded in ``invalid``)."""

    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= count]
        invalid.extend(n for n in numbers if n not in valid)
        cited.extend(valid)
        if not valid:
            return ""
        prefix = " " if match.group(0).startswith((" ", "\t", "\n")) else ""
        return prefix + "".join(f"[{n}]" for n in dict.fromkeys(valid))

    return _CITE.sub(keep, text)


def resolve_citations(text: str, sources: Sequence[Hit]) -> tuple[str, tuple[Citation, ...], list[int]]:
    """Return the answer with invalid markers removed, its citations, and the invalid numbers."""
    invalid: list[int] = []
    cited: list[int] = []
    cleaned = _check(text, len(sources), invalid, cited)
    citations = tuple(Citation.from_hit(n, sources[n - 1]) for n in dict.fromkeys(cited))
    return cleaned, citations, invalid


class CitationFilter:
    """Feed streamed pieces, get text with invalid citations removed; ``invalid`` lists them.

    >>> f = CitationFilter(2)
    >>> "".join([f.feed("Sales rose [1"), f.feed("] and fell [7]."), f.flush()])
    'Sales rose [1] and fell.'
    >>> f.invalid
    [7]
    """

    def __init__(self, sources: int):
        self.sources = sources
        self.pending = ""
        self.invalid: list[int] = []
        self._cited: list[int] = []

    def feed(self, piece: str) -> str:
        self.pending += piece
        cut = len(self.pending)
        start = self.pending.rfind("[")
        if start != -1 and "]" not in self.pending[start:] and cut - start <= _HOLD:
            cut = start
        while cut > 0 and self.pending[cut - 1] in " \t\n":
            cut -= 1  # a following invalid citation takes its leading space with it
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return _check(out, self.sources, self.invalid, self._cited)

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return _check(out, self.sources, self.invalid, self._cited)
