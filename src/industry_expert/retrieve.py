"""Hybrid retrieval: dense and keyword candidates, fused, near-duplicates collapsed.

Fusion methods are short functions over ranked lists of ``(chunk_id, score)``:

- ``rrf``: reciprocal rank fusion, ``sum(w / (k + rank))``; needs no score calibration, so it is
  the default (Cormack et al. 2009).
- ``weighted``: min-max normalised scores, weighted and summed; useful when one retriever's
  scores are much more trustworthy than the other's.

Near-duplicates (boilerplate repeated across a company's filings, the same row exported twice)
are collapsed by word-set overlap: the lower-ranked of two hits sharing ``dedupe_threshold`` of
their words is dropped, so the ``k`` hits a user sees are ``k`` different passages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .config import RetrievalSettings, choices
from .embed import Embedder, embed_query
from .errors import InputError
from .store import SearchFilter, Store
from .types import Hit

Ranked = list[tuple[int, float]]


def rrf(runs: Sequence[Ranked], weights: Sequence[float], k: int = 60) -> Ranked:
    fused: dict[int, float] = {}
    for run, weight in zip(runs, weights, strict=True):
        for rank, (chunk_id, _) in enumerate(run, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: -item[1])


def weighted(runs: Sequence[Ranked], weights: Sequence[float], k: int = 60) -> Ranked:
    fused: dict[int, float] = {}
    for run, weight in zip(runs, weights, strict=True):
        if not run:
            continue
        scores = np.array([s for _, s in run])
        low, span = scores.min(), float(np.ptp(scores)) or 1.0
        for chunk_id, score in run:
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * (score - low) / span
    return sorted(fused.items(), key=lambda item: -item[1])


FUSION: dict[str, Callable[[Sequence[Ranked], Sequence[float], int], Ranked]] = {
    "rrf": rrf,
    "weighted": weighted,
}


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.lower()))


def collapse_duplicates(hits: Sequence[Hit], threshold: float) -> list[Hit]:
    """Drop each hit whose words overlap a higher-ranked hit's by ``threshold`` (Jaccard)."""
    kept: list[Hit] = []
    seen: list[frozenset[str]] = []
    for hit in hits:
        words = _words(hit.text)
        duplicate = any(
            words == other or (words and other and len(words & other) / len(words | other) >= threshold)
            for other in seen
        )
        if not duplicate:
            kept.append(hit)
            seen.append(words)
    return kept


class Retriever:
    """Hybrid search over one store: the ``k`` best passages for a query, fused and deduplicated.

    ``embedder`` is called for the embedder the first time a dense run needs it, so keyword
    search never loads a model. Any store that keeps the ``Store`` contract works::

        retriever = Retriever(store, RetrievalSettings(), lambda: embedder)
        hits = retriever.search("capital expenditure in FY2022", k=5)
    """

    def __init__(
        self, store: Store, settings: RetrievalSettings, embedder: Callable[[], Embedder] | None = None
    ):
        self.store = store
        self.settings = settings
        self._embedder = embedder

    def search(
        self, query: str, k: int = 5, mode: str | None = None, where: SearchFilter | None = None
    ) -> list[Hit]:
        """The ``k`` passages that best answer ``query`` inside ``where``."""
        return self.search_scored(query, k, mode, where)[0]

    def search_scored(
        self, query: str, k: int = 5, mode: str | None = None, where: SearchFilter | None = None
    ) -> tuple[list[Hit], float | None]:
        """``search``, plus the cosine similarity of the closest passage (None without a dense
        run), which answering compares with ``answer.min_relevance``.

        The dense run is sorted, so its first score is the best one in the filter; fused ranks say
        which passages are best, not whether any of them is about the question. A store without
        vectors yet (nothing ingested) is searched by keyword.
        """
        if not query.strip():
            raise InputError("empty query; ask a question or give search terms")
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        mode = mode or self.settings.mode
        if mode not in choices("retrieval.mode"):
            raise InputError(f"unknown mode {mode!r}; use {', '.join(choices('retrieval.mode'))}")
        if mode != "keyword" and (self._embedder is None or self.store.get_meta("embedder_dim") is None):
            mode = "keyword"
        where = where or SearchFilter()
        settings = self.settings
        depth = max(settings.candidates, 3 * k)
        runs: list[Ranked] = []
        weights: list[float] = []
        best: float | None = None
        if mode in ("dense", "hybrid"):
            assert self._embedder is not None  # checked above
            dense = self.store.dense_search(embed_query(self._embedder(), query), depth, where)
            best = dense[0][1] if dense else None
            runs.append(dense)
            weights.append(settings.dense_weight)
        if mode in ("keyword", "hybrid"):
            runs.append(self.store.keyword_search(query, depth, where))
            weights.append(settings.keyword_weight)
        ranked = runs[0] if len(runs) == 1 else FUSION[settings.fusion](runs, weights, settings.rrf_k)
        ranked = ranked[:depth]
        scores = dict(ranked)
        hits = [replace(h, score=scores[h.chunk_id]) for h in self.store.get_chunks([i for i, _ in ranked])]
        return collapse_duplicates(hits, settings.dedupe_threshold)[:k], best

    def summaries(self, sources: Iterable[str]) -> dict[str, str]:
        """The stored summary of each of ``sources`` that has one (added to answer prompts)."""
        found: dict[str, str] = {}
        for source in sources:
            for doc in self.store.list_documents(source):
                if doc.summary and doc.source == source:
                    found[source] = doc.summary
        return found

    def is_empty(self) -> bool:
        """Whether the store holds no document at all."""
        return self.store.stats().documents == 0

    def with_settings(self, **changes: Any) -> Retriever:
        """The same store and embedder with retrieval settings changed (benchmarks compare fusions)."""
        return Retriever(self.store, replace(self.settings, **changes), self._embedder)
