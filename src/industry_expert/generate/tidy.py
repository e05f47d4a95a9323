"""What a small model echoes around its answer, taken off: ``The answer is: "…" [1]`` becomes
``… [1]``, and sentences that only repeat the prompt's instructions go (their citations kept)."""

from __future__ import annotations

import re
from functools import cache

from ..figures import figures
from ..language import Words
from .citations import CITATION
from .grounding import _SENTENCE
from .prompt import EVIDENCE_ASK, EVIDENCE_LEAD, INSTRUCTION
from .verify import _META

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
    >>> tidy_answer(". The company's capital expenditure was $7.6 billion [1].")
    "The company's capital expenditure was $7.6 billion [1]."
    >>> tidy_answer("71.5%\\n\\nThe source number is: 1 [1]")
    '71.5% [1]'
    """
    body = re.sub(r"^[.,;:]+\s+", "", text.strip())  # the end of a sentence the model did not write
    body = drop_echoes(body)
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


def drop_echoes(text: str) -> str:
    """``text`` without its sentences that only repeat what the model was told ("The figure is
    copied exactly from the source number [2]."), their citations moved to the sentence before;
    ``text`` itself when every sentence does.

    >>> drop_echoes("Revenue was $9.8 billion. The figure is copied exactly from the source number [2].")
    'Revenue was $9.8 billion [2].'
    """
    kept: list[list[str]] = []  # paragraphs of sentences
    moved: list[str] = []
    dropped = False
    for paragraph in text.split("\n"):
        sentences = []
        for sentence in _SENTENCE.split(paragraph):
            if _echoes_instruction(sentence):
                moved += re.findall(r"\[\d+\]", sentence)
                dropped = True
            else:
                sentences.append(sentence)
        kept.append(sentences)
    if not dropped or not any(s.strip() for p in kept for s in p):
        return text
    last = max(i for i, p in enumerate(kept) if any(s.strip() for s in p))
    sentence = kept[last][-1].rstrip()
    cites = "".join(c for c in dict.fromkeys(moved) if c not in sentence)
    stop = sentence[-1] if sentence.endswith((".", "!", "?")) else ""
    kept[last][-1] = f"{sentence[: len(sentence) - len(stop)].rstrip()}{' ' + cites if cites else ''}{stop}"
    return "\n".join(" ".join(p) for p in kept[: last + 1]).strip()


@cache
def _instruction_terms() -> frozenset[str]:
    """The words the model is told (the prompt is English), and words about its sources."""
    return frozenset(Words.of("en").terms(f"{INSTRUCTION} {EVIDENCE_LEAD} {EVIDENCE_ASK} {_META}"))


def _echoes_instruction(sentence: str) -> bool:
    """A sentence with words of its own, all of them words of the prompt's instructions, and no
    figure but a source number."""
    body = CITATION.sub(" ", sentence)
    if any(not (f.text.isdigit() and len(f.text) <= 2) for f in figures(body)):
        return False  # "The figure is $5 million." answers
    terms = [t for t in Words.of("en").terms(body) if not t.isdigit()]
    return bool(terms) and set(terms) <= _instruction_terms()
