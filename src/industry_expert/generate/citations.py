"""Citations checked against the sources the model was given.

The model cites ``[n]``, ``[n, m]`` or ``[n][m]``. Every number that names a source becomes a
``Citation`` (ordered by first use, each once); a number that names nothing is removed from the
text and reported, so no answer points at a passage that does not exist. ``CitationFilter`` does
the same to a stream, holding back an unfinished ``[..`` until its bracket closes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ..language import Words, detect
from ..types import Citation, Hit

CITATION = re.compile(r"\s?\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_HOLD = 24  # an open bracket longer than this is not a citation


def _check(text: str, wanted: Callable[[int], bool], dropped: list[int], kept: list[int]) -> str:
    """``text`` with the citation numbers ``wanted`` refuses removed (recorded in ``dropped``; the
    rest in ``kept``); a marker left empty goes with the space before it."""

    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
        valid = [n for n in numbers if wanted(n)]
        dropped.extend(n for n in numbers if n not in valid)
        kept.extend(valid)
        if not valid:
            return ""
        prefix = " " if match.group(0).startswith((" ", "\t", "\n")) else ""
        return prefix + "".join(f"[{n}]" for n in dict.fromkeys(valid))

    return CITATION.sub(keep, text)


def cited_numbers(text: str) -> list[int]:
    """The source numbers ``text`` cites, in order, repeats kept: ``"a [1] b [2, 3]"`` -> 1, 2, 3."""
    return [int(n) for m in CITATION.finditer(text) for n in re.split(r"\s*[,;]\s*", m.group(1))]


def resolve_citations(text: str, sources: Sequence[Hit]) -> tuple[str, tuple[Citation, ...], list[int]]:
    """Return the answer with invalid markers removed, its citations, and the invalid numbers."""
    invalid: list[int] = []
    cited: list[int] = []
    cleaned = _check(text, lambda n: 1 <= n <= len(sources), invalid, cited)
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

    def _valid(self, n: int) -> bool:
        return 1 <= n <= self.sources

    def feed(self, piece: str) -> str:
        self.pending += piece
        cut = len(self.pending)
        start = self.pending.rfind("[")
        if start != -1 and "]" not in self.pending[start:] and cut - start <= _HOLD:
            cut = start
        while cut > 0 and self.pending[cut - 1] in " \t\n":
            cut -= 1  # a following invalid citation takes its leading space with it
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return _check(out, self._valid, self.invalid, self._cited)

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return _check(out, self._valid, self.invalid, self._cited)


def uncite(text: str, numbers: Sequence[int]) -> str:
    """``text`` without its citations of ``numbers`` (``[2]`` goes, ``[1, 2]`` becomes ``[1]``).

    >>> uncite("It was 42 [2]. It rose [1, 2].", [2])
    'It was 42. It rose [1].'
    """
    return _check(text, lambda n: n not in numbers, [], [])


_SENTENCE = re.compile(r"(?<=[.!?])(\s+)")
_ABBREVIATION = re.compile(r"(?:^|[\s(])(?:[^\W\d_]\.){1,3}$")  # U.S., e.g., J. (an initial)


def split_sentences(text: str) -> list[str]:
    """``text`` cut after ``.``, ``!`` or ``?`` and the space that follows, the spaces kept as
    every other item (``"".join`` gives ``text`` back), except where the stop ends an
    abbreviation of single letters (``U.S.``, ``e.g.``) or the next word starts in lower case.

    >>> split_sentences("It is in U.S. dollars. Next one.")
    ['It is in U.S. dollars.', ' ', 'Next one.']
    """
    parts = _SENTENCE.split(text)
    out = [parts[0]]
    for i in range(1, len(parts), 2):
        space, following = parts[i], parts[i + 1]
        if _ABBREVIATION.search(out[-1]) or following[:1].islower():
            out[-1] += space + following
        else:
            out += [space, following]
    return out


_TERM = re.compile(r"\d[\d,]*(?:\.\d+)?|[^\W\d_]{4,}")


def content_terms(text: str, words: Words | None = None) -> set[str]:
    """Figures (commas dropped) and words of four or more letters, lower-cased, minus the function
    words of ``words``' language (by default, the language ``text`` is written in).

    >>> sorted(content_terms("Which plants were audited in 2023, and where?"))
    ['2023', 'audited', 'plants']
    """
    stop = (words or Words.of(detect(text))).stop
    out = set()
    for term in _TERM.findall(text.lower()):
        term = term.rstrip(".,").replace(",", "") if term[0].isdigit() else term
        if term and term not in stop:
            out.add(term)
    return out


def attribute_citations(
    text: str, sources: Sequence[Hit], min_share: float = 0.5, words: Words | None = None
) -> tuple[str, list[int]]:
    """Cite the best-matching source after each sentence the model left uncited.

    Small models often answer from the sources without writing ``[n]``. A sentence is matched to
    the source sharing most of its figures (weight 3) and content words (weight 1); it gets that
    source's number when the shared weight is at least ``min_share`` of the sentence's and
    includes a figure or three words. Returns the text and the numbers added (each once).
    ``words`` is the question's language (by default, the answer's).

    >>> from industry_expert.types import Hit
    >>> hits = [Hit(1, "a.pdf", 2, None, 1.0, "Capital expenditure was $38.4 million in 2023.")]
    >>> attribute_citations("Capex was 38.4 million dollars in 2023.", hits)
    ('Capex was 38.4 million dollars in 2023 [1].', [1])
    """
    if not sources:
        return text, []
    words = words or Words.of(detect(text))
    passages = [content_terms(f"{h.header} {h.text}", words) for h in sources]
    added: list[int] = []
    out: list[str] = []
    for i, sentence in enumerate(split_sentences(text)):
        terms = content_terms(sentence, words) if i % 2 == 0 else set()
        if not terms or CITATION.search(sentence):
            out.append(sentence)
            continue
        weight = {t: 3 if t[0].isdigit() else 1 for t in terms}
        total = sum(weight.values())
        scores = [sum(weight[t] for t in terms & p) for p in passages]
        best = max(range(len(sources)), key=lambda i: scores[i])
        shared = terms & passages[best]
        strong = any(t[0].isdigit() for t in shared) or len(shared) >= 3
        if scores[best] >= min_share * total and strong:
            n = best + 1
            stripped = sentence.rstrip()
            end = len(stripped) - len(stripped.rstrip(".!?"))
            sentence = f"{stripped[: len(stripped) - end]} [{n}]{stripped[len(stripped) - end :]}"
            if n not in added:
                added.append(n)
        out.append(sentence)
    return "".join(out), added
