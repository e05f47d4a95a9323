"""Document summaries by map-reduce with the configured generator.

Map: the document's chunks, in reading order, are packed into windows that fit the model with
room for the summary; each window is summarized. When a document needs more windows than
``summary.max_parts``, that many are taken spread evenly over it (the opening, which in reports
and filings names the company, form and period, is always one). Reduce: the partial summaries
are combined into one. A one-window document is summarized in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import SummarySettings
from .generate import Generator, complete

SYSTEM = "You write short, factual summaries of business documents for a search index."


def _map_prompt(title: str, text: str, words: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f'Summarize this part of the document "{title}" in at most {words} words. '
            "Say what the document is, whom and which period it concerns, and its key facts and figures."
            f"\n\n{text}",
        },
    ]


def _reduce_prompt(title: str, partials: Sequence[str], words: int) -> list[dict[str, str]]:
    joined = "\n\n".join(f"Part {i}: {p}" for i, p in enumerate(partials, 1))
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f'These are summaries of the parts of the document "{title}". Combine them into '
            f"one summary of at most {words} words, keeping the most important facts and figures.\n\n{joined}",
        },
    ]


def _clean(text: str, words: int) -> str:
    tokens = " ".join(text.split()).split(" ")
    limit = int(words * 1.5)
    return " ".join(tokens[:limit]) + ("…" if len(tokens) > limit else "")


def windows(texts: Sequence[str], count, budget: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Pack ``texts`` in order into pieces of at most ``budget`` tokens (a longer text is cut)."""
    out: list[str] = []
    current: list[str] = []
    used = 0
    for text in texts:
        size = count(text) + 1
        if size > budget:
            text = text[: max(1, len(text) * budget // size)]
            size = budget
        if current and used + size > budget:
            out.append("\n".join(current))
            current, used = [], 0
        current.append(text)
        used += size
    if current:
        out.append("\n".join(current))
    return out


def summarize_document(
    generator: Generator, title: str, texts: Sequence[str], settings: SummarySettings
) -> str:
    """A summary of the document whose chunk texts, in order, are ``texts``."""
    if not texts:
        return ""
    answer_tokens = settings.words * 2 + 32
    overhead = generator.count_tokens(_map_prompt(title, "", settings.words)[1]["content"] + SYSTEM) + 48
    budget = max(64, generator.context_window - answer_tokens - overhead)
    parts = windows(texts, generator.count_tokens, budget)
    if len(parts) > settings.max_parts:
        step = (len(parts) - 1) / max(1, settings.max_parts - 1)
        parts = [parts[round(i * step)] for i in range(settings.max_parts)]
    partials = [
        _clean(
            complete(generator, _map_prompt(title, part, settings.words), max_tokens=answer_tokens),
            settings.words,
        )
        for part in parts
    ]
    partials = [p for p in partials if p]
    if len(partials) <= 1:
        return partials[0] if partials else ""
    combined = complete(generator, _reduce_prompt(title, partials, settings.words), max_tokens=answer_tokens)
    return _clean(combined, settings.words) or partials[0]
