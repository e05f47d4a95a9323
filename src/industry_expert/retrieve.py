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
from collections.abc import Callable, Sequence

import numpy as np

from .config import RetrievalSettings
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


def search_scored(
    store: Store,
    query: str,
    k: int,
    settings: RetrievalSettings,
    embed: Callable[[str], np.ndarray] | None,
    mode: str | None = None,
    where: SearchFilter | None = None,
) -> tuple[list[Hit], float | None]:
    """The ``k`` best passages for ``query`` and the cosine similarity of the closest one (None
    without a dense run); ``embed`` is only called for dense and hybrid.

    The dense run is sorted, so its first score is the best one in the filter; fused ranks say
    which passages are best, not whether any of them is about the question.
    """
    mode = mode or settings.mode
    where = where or SearchFilter()
    depth = max(settings.candidates, 3 * k)
    runs: list[Ranked] = []
    weights: list[float] = []
    best: float | None = None
    if mode in ("dense", "hybrid"):
        assert embed is not None, "dense search needs an embedder"
        dense = store.dense_search(embed(query), depth, where)
        best = dense[0][1] if dense else None
        runs.append(dense)
        weights.append(settings.dense_weight)
    if mode in ("keyword", "hybrid"):
        runs.append(store.keyword_search(query, depth, where))
        weights.append(settings.keyword_weight)
    ranked = runs[0] if len(runs) == 1 else FUSION[settings.fusion](runs, weights, settings.rrf_k)
    hits = store.hits(ranked[:depth])
    return collapse_duplicates(hits, settings.dedupe_threshold)[:k], best
