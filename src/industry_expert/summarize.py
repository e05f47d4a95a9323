"""Document summaries by map-reduce with the configured generator.

Map: the document's chunks, in reading order, are packed into windows that fit the model with
room for the summary; each window is summarized. When a document needs more windows than
``summary.max_parts``, that many are taken spread evenly over it (the opening, which in reports
and filings names the company, form and period, is always one). Reduce: the partial summaries
are combined into one. A one-window document is summarized in one call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import SummarySettings
from .events import Finished, Progress, SummariesStarted, Summarized, ignore
from .generate import Generator, complete
from .store import Store

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


def windows(texts: Sequence[str], count: Callable[[str], int], budget: int) -> list[str]:
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


@dataclass
class SummaryReport:
    written: list[str] = field(default_factory=list)
    skipped: int = 0  # documents that already had a summary
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"written": self.written, "already": self.skipped, "seconds": round(self.seconds, 2)}


def summarize_documents(
    store: Store,
    generator: Callable[[], Generator],
    settings: SummarySettings,
    force: bool = False,
    progress: Progress | None = None,
) -> SummaryReport:
    """Write a summary for every document of ``store`` that has none (all of them with ``force``).

    Each summary is stored as soon as it is written, so an interrupted run loses at most the
    document in flight and the next run carries on. ``generator`` is called only when there is
    something to summarize (loading a model takes seconds).
    """
    emit = progress or ignore
    started = time.perf_counter()
    documents = store.list_documents()
    todo = [d for d in documents if force or not d.summary]
    report = SummaryReport(skipped=len(documents) - len(todo))
    emit(SummariesStarted(len(todo), report.skipped))
    model = generator() if todo else None
    for doc in todo:
        assert model is not None
        t = time.perf_counter()
        texts = [text for _, text in store.document_chunks(doc.key)]
        store.set_summary(doc.key, summarize_document(model, doc.title or doc.source, texts, settings))
        report.written.append(doc.source)
        emit(Summarized(doc.source, round(time.perf_counter() - t, 2)))
    report.seconds = time.perf_counter() - started
    emit(Finished(report.to_dict()))
    return report
