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

import math
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Any

import numpy as np

from .config import RetrievalSettings, choices
from .embed import Embedder, embed_query
from .errors import InputError
from .language import spelled_words
from .question import Question
from .store import SearchFilter, Store, keyword_terms
from .store.base import store_text
from .store.sqlite import TOKENIZER
from .types import Hit

Ranked = list[tuple[int, float]]
CODE_CHUNKS = 200  # a code or name more chunks use is not looked up for routing (Router._holding)
NAME_SHARE = 0.1  # a name routes to a document a tenth of whose chunks use it (Router._holding)


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


def collapse_duplicates(hits: Sequence[Hit], threshold: float, limit: int | None = None) -> list[Hit]:
    """Drop each hit whose words overlap a higher-ranked hit's by ``threshold`` (Jaccard); stop
    once ``limit`` are kept."""
    kept: list[Hit] = []
    seen: list[frozenset[str]] = []
    for hit in hits:
        if limit is not None and len(kept) >= limit:
            break
        words = _words(hit.text)
        if not any(_near(words, other, threshold) for other in seen):
            kept.append(hit)
            seen.append(words)
    return kept


def _near(a: frozenset[str], b: frozenset[str], threshold: float) -> bool:
    """Whether the Jaccard overlap of ``a`` and ``b`` reaches ``threshold``, without building
    their union; sets whose sizes alone rule it out are not intersected."""
    if a == b:
        return True
    small, large = sorted((len(a), len(b)))
    if not small or small < threshold * large:  # |a & b| / |a | b| <= small / large
        return False
    common = len(a & b)
    return common >= threshold * (len(a) + len(b) - common)


def name_text(source: str, title: str) -> str:
    """What a document says about itself, for routing: its file name and title, with the file
    name's underscores as spaces and a number run into letters parted ("2023Q1" -> "2023 Q1")."""
    text = f"{PurePath(source).stem} {title}".replace("_", " ")
    return re.sub(r"(?<=\d)(?=[^\W\d_])", " ", text)


class Router:
    """Question-aware routing: which documents a query names, from what they say about themselves.

    A query term names documents when it is a word of their file name or title (``name_text``),
    when fewer than half the documents have it there, and when at least ``concentration`` of the
    chunks that use it belong to those documents: "Intel" or "2023" in a shelf of filings (Intel's
    filings use "Intel" far more than anyone else's), not "connection" in a database manual whose
    page "Connections and Authentication" holds a fraction of the chunks that speak of
    connections. A document's score is the sum of its naming terms' rarity among names
    (``log(documents / documents named)``); ``ranks`` gives each named document its rank, equal
    scores sharing one.

    Names and concentrations are cached until the store's generation moves. Working out a term's
    concentration reads its postings once (about 3 microseconds per chunk that uses it: 7 ms for
    "2022" over 10k chunks of filings), so a store being written pays it again per new term.
    """

    def __init__(self, store: Store, concentration: float):
        self.store = store
        self.concentration = concentration
        self._generation: int | None = None
        self._names = sqlite3.connect(":memory:", check_same_thread=False)
        self._documents = 0
        self._sizes: dict[int, int] = {}
        self._terms: dict[str, tuple[list[int], float] | None] = {}
        self._lock = threading.Lock()  # a server's request threads share one retriever

    def _refresh(self) -> None:
        generation = self.store.generation()
        if generation == self._generation:
            return
        documents = self.store.list_documents()
        # an in-memory FTS5 table, tokenized as the store's keyword index is, so "McDonald's"
        # names MCDONALDS_2022Q4_EARNINGS.pdf as a keyword search would match it
        self._names.execute("DROP TABLE IF EXISTS names")
        self._names.execute(f"CREATE VIRTUAL TABLE names USING fts5(name, tokenize = '{TOKENIZER}')")
        self._names.executemany(
            "INSERT INTO names(rowid, name) VALUES (?, ?)",
            [(doc.id, store_text(name_text(doc.source, doc.title))) for doc in documents],
        )
        self._sizes = {doc.id: doc.chunks for doc in documents}
        self._documents, self._terms, self._generation = len(documents), {}, generation

    def _naming(self, term: str) -> tuple[list[int], float] | None:
        """The documents ``term`` names and its weight, or None when it names none."""
        if term not in self._terms:
            found: tuple[list[int], float] | None = None
            if len(term) > 1:
                docs = self._named_by(term)
                if docs and 2 * len(docs) < self._documents:
                    inside, total = self.store.term_counts(term, docs)
                    if not total or inside / total >= self.concentration:
                        found = (docs, math.log(self._documents / len(docs)))
            self._terms[term] = found
        return self._terms[term]

    def _named_by(self, term: str) -> list[int]:
        """The documents whose file name or title holds ``term`` (call under the lock, refreshed)."""
        match = '"' + term.replace('"', '""') + '"'
        return [
            int(r[0]) for r in self._names.execute("SELECT rowid FROM names WHERE names MATCH ?", (match,))
        ]

    def named(self, words: str, every: bool = False) -> set[int]:
        """The documents whose file name or title holds a term of ``words``, however many (with
        ``every``, all of its terms: "Federal Election Commission" is not every "Federal" document)."""
        with self._lock:
            self._refresh()
            found = [set(self._named_by(term)) for term in keyword_terms(words) if len(term) > 1]
        if not found:
            return set()
        return set.intersection(*found) if every else set.union(*found)

    def _holding(self, word: str, share: float = 0.0) -> tuple[list[int], float] | None:
        """The documents whose chunks hold ``word`` when no file name or title does, and its
        weight: for a code that names one thing (N2699G, NCT06152900: ``Question.codes``), every
        such document; for a name (Venice), those where at least ``share`` of the chunks use it,
        not a shelf of filings that names a competitor in passing. None when it is not one keyword
        term, when more than ``CODE_CHUNKS`` chunks use it, or when half the documents or more
        hold it. An aviation report names its aircraft and its place on its first page, not on the
        page of the pilot's hours that a question about N2699G's pilot wants."""
        term = word.lower()
        if term not in keyword_terms(word) or self._named_by(term):
            return None  # a word the index splits ("PA-22"), or one a file name already routes
        key = f"held:{term}:{share}"
        if key not in self._terms:
            found: tuple[list[int], float] | None = None
            total = self.store.term_counts(term, [])[1]
            if 0 < total <= CODE_CHUNKS:
                ids = [i for i, _ in self.store.keyword_search(term, total, SearchFilter())]
                used = Counter(h.document_id for h in self.store.get_chunks(ids) if h.document_id is not None)
                if 2 * len(used) < self._documents:
                    docs = sorted(d for d, n in used.items() if n >= share * self._sizes.get(d, 0))
                    if docs:
                        found = (docs, math.log(self._documents / len(docs)))
            self._terms[key] = found
        return self._terms[key]

    def held_by(self, word: str) -> set[int]:
        """The documents a one-word name routes to by their chunks (``_holding`` with
        ``NAME_SHARE``): those it is about, not those that use it in passing."""
        with self._lock:
            self._refresh()
            found = self._holding(word, NAME_SHARE)
        return set(found[0]) if found else set()

    def ranks(self, query: str) -> dict[int, int]:
        """``{document id: rank}`` of the documents ``query`` names, best first from 1: by a word
        of their file name or title, or by a code only their chunks hold."""
        scores: dict[int, float] = {}
        with self._lock:
            self._refresh()
            namings = [self._naming(term) for term in keyword_terms(query)]
            asked = Question.analyse(query)
            namings += [self._holding(code) for code in asked.codes]
            namings += [self._holding(name, NAME_SHARE) for name in asked.names if " " not in name]
            for naming in namings:
                if naming is not None:
                    for doc in naming[0]:
                        scores[doc] = scores.get(doc, 0.0) + naming[1]
        ranks: dict[int, int] = {}
        previous, rank = None, 0
        for position, (doc, score) in enumerate(sorted(scores.items(), key=lambda item: -item[1]), start=1):
            if score != previous:
                rank, previous = position, score
            ranks[doc] = rank
        return ranks


def route(hits: list[Hit], named: dict[int, int], settings: RetrievalSettings) -> list[Hit]:
    """Raise the fused passages of the documents a question names (``Router.ranks``: ``{document
    id: rank}``): the first named document's passages gain ``route_weight`` times what a first
    place in one list is worth (``1 / (rrf_k + 1)`` under RRF, 1 under weighted fusion), the
    second's two thirds of it, the r-th's ``2 / (r + 1)``. Candidates are reordered, never added."""
    unit = settings.route_weight * (1 / (settings.rrf_k + 1) if settings.fusion == "rrf" else 1.0)
    routed = [
        replace(h, score=h.score + unit * 2 / (1 + named[h.document_id])) if h.document_id in named else h
        for h in hits
    ]
    return sorted(routed, key=lambda h: -h.score)


@dataclass(frozen=True)
class Candidates:
    """What one query's search fuses: its dense and keyword runs (None when that stage did not
    run), ``depth`` deep; the documents it names (``Router.ranks``; empty unless both ran); and the
    passages of both runs by chunk id."""

    depth: int
    dense: Ranked | None
    keyword: Ranked | None
    named: dict[int, int]
    hits: dict[int, Hit]

    @property
    def best(self) -> float | None:
        """The cosine similarity of the closest passage (the dense run is sorted), or None."""
        return self.dense[0][1] if self.dense else None


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
        self.router = Router(store, settings.route_concentration)

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
        settings = self.settings
        depth = max(settings.candidates, 3 * k)
        found = self.candidates(query, depth, mode, where, named=settings.route_weight > 0)
        return self.rank(found, settings, k), found.best

    def candidates(
        self,
        query: str,
        depth: int,
        mode: str = "hybrid",
        where: SearchFilter | None = None,
        named: bool = True,
    ) -> Candidates:
        """The runs a search fuses, each ``depth`` deep, and (with ``named``) the documents ``query``
        names: what ``rank`` orders under any weights (a fit of the weights reads each question's
        once)."""
        if mode != "keyword" and (self._embedder is None or self.store.get_meta("embedder_dim") is None):
            mode = "keyword"
        where = where or SearchFilter()
        dense: Ranked | None = None
        keyword: Ranked | None = None
        if mode in ("dense", "hybrid"):
            assert self._embedder is not None  # checked above
            dense = self.store.dense_search(embed_query(self._embedder(), query), depth, where)
        if mode in ("keyword", "hybrid"):
            keyword = self.store.keyword_search(query, depth, where)
        ids = {i for run in (dense, keyword) if run for i, _ in run}
        both = dense is not None and keyword is not None
        names = self.router.ranks(query) if named and both else {}
        hits = {h.chunk_id: h for h in self.store.get_chunks(sorted(ids))}
        return Candidates(depth, dense, keyword, names, hits)

    def rank(self, found: Candidates, settings: RetrievalSettings, k: int) -> list[Hit]:
        """The ``k`` best of ``found`` under ``settings``' fusion, weights and routing, near-duplicates
        collapsed."""
        runs: list[Ranked] = []
        weights: list[float] = []
        if found.dense is not None:
            runs.append(found.dense)
            weights.append(settings.dense_weight)
        if found.keyword is not None:
            runs.append(found.keyword)
            weights.append(settings.keyword_weight)
        ranked = runs[0] if len(runs) == 1 else FUSION[settings.fusion](runs, weights, settings.rrf_k)
        hits = [replace(found.hits[i], score=s) for i, s in ranked[: found.depth] if i in found.hits]
        if settings.route_weight > 0 and len(runs) > 1 and found.named:
            hits = route(hits, found.named, settings)
        return collapse_duplicates(hits, settings.dedupe_threshold, k)

    def summaries(self, sources: Iterable[str]) -> dict[str, str]:
        """The stored summary of each of ``sources`` that has one (added to answer prompts)."""
        found: dict[str, str] = {}
        for source in sources:
            for doc in self.store.list_documents(source):
                if doc.summary and doc.source == source:
                    found[source] = doc.summary
        return found

    def names(self, word: str, where: SearchFilter | None = None) -> bool:
        """Whether a document a search under ``where`` may read has ``word`` in its file name or
        title: the workspace-wide evidence that "not in the workspace" needs beside the few
        passages retrieved. A word the documents only use in passing ("competitors include
        Samsung") does not count: asked about Samsung, a shelf of other companies' filings holds
        no answer. Never wider than ``where``: a key must not learn what another collection
        holds from whether its question is refused."""
        docs = self.router.named(word, every=True)
        if not docs or where is None or where.unrestricted:
            return bool(docs)
        return any(d in docs for d in self._readable(where))

    def _readable(self, where: SearchFilter) -> list[int]:
        """The ids of the documents a search under ``where`` may read."""
        return [
            d.id
            for d in self.store.list_documents(where.source)
            if where.collection in (None, d.collection)
            and (where.collections is None or d.collection in where.collections)
        ]

    def mentions(self, word: str, doc_ids: Sequence[int]) -> bool:
        """Whether a chunk of the documents ``doc_ids`` (those a search under the caller's filter
        retrieved) holds ``word`` as keyword search matches it: "Venice Municipal Airport" is the
        retrieved report's even when the passages retrieved from it do not say "Municipal". Words
        ("Federal Election Commission") are looked for as one phrase where the store's keyword
        index keeps positions (SQLite's), else each in the same chunk (PostgreSQL's)."""
        ids = [int(i) for i in doc_ids]
        words = re.findall(r"\w+", word.lower())
        return bool(ids and words) and self.store.term_counts(" ".join(words), ids)[0] > 0

    def document_words(self, doc_ids: Sequence[int]) -> set[str]:
        """The words of the documents ``doc_ids`` (those a search under the caller's filter
        retrieved), every chunk of them: where a misspelled name ("velpatisvir") is looked for
        when the passages retrieved do not spell it."""
        return spelled_words(" ".join(self.document_texts(doc_ids)))

    def document_texts(self, doc_ids: Sequence[int]) -> list[str]:
        """The text of every chunk of the documents ``doc_ids`` (those a search under the caller's
        filter retrieved), in reading order."""
        wanted = {int(i) for i in doc_ids}
        keys = [d.key for d in self.store.list_documents() if d.id in wanted]
        return [text for key in keys for _, text in self.store.document_chunks(key)]

    def mentions_anywhere(self, word: str, where: SearchFilter | None = None) -> bool:
        """Whether any chunk a search under ``where`` may read holds ``word``: for a code that names
        one thing (N74SR), which a workspace holds or does not, wherever retrieval looked."""
        if where is None or where.unrestricted:
            words = re.findall(r"\w+", word.lower())
            return bool(words) and self.store.term_counts(" ".join(words), [])[1] > 0
        return self.mentions(word, self._readable(where))

    def is_empty(self) -> bool:
        """Whether the store holds no document at all."""
        return self.store.stats().documents == 0

    def with_settings(self, **changes: Any) -> Retriever:
        """The same store and embedder with retrieval settings changed (benchmarks compare fusions)."""
        return Retriever(self.store, replace(self.settings, **changes), self._embedder)
