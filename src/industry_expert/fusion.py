"""Fusion weights fitted to a workspace on its users' own questions (``expert tune fusion``).

Which mix of keyword and dense search is best depends on the shelf and on how its users ask: on
the team's filings questions keyword-heavy fusion does best, on analysts' questions over the same
filings dense-heavy, on clinical-trial protocols keyword alone, and on federal performance reports
routing by document name costs 9 points of R@5 (docs/benchmarks.md, "Fusion fitted to the
workspace"). Questions the documents generate about themselves (headings, table rows, defined
terms) copy the documents' words and pick keyword-heavy weights on every shelf, which loses up to
9 points where users paraphrase; so the fit reads questions users wrote, with their evidence (the
question files ``expert eval`` reads).

``fit`` ranks each question's candidates (``Retriever.candidates``, read once) under a grid of
weights: the dense share of the two weights (which keep their sum, 2 at 1:1) from 0 to 1, and the
routing weight. The best setting by R@5, then R@1, wins; ties keep the configured weights. It is
**used** only when it also wins on held-out questions: the questions are split in two by a hash,
each half is fitted on the other, and the fitted weights must find more evidence (R@5, then R@1)
than the configured ones on the halves they did not see. Otherwise the fit is stored, shown, and
not used, and the configured weights stay.

The result lives in the store's meta table (``fusion_fit``), so every process that opens the
workspace uses it, and ``retrieval.fitted = false`` in expert.toml sets it aside.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .config import RetrievalSettings
from .errors import InputError
from .evaluate.questions import EvalQuestion, hit_key
from .events import FusionStarted, Progress, Searched
from .retrieve import Candidates, Retriever
from .store import Store

META = "fusion_fit"
MIN_QUESTIONS = 20  # questions with evidence in the workspace a fit needs
SHARES = tuple(i / 10 for i in range(11))  # dense share of the two weights
ROUTES = (0.0, 0.5, 1.0, 2.0, 4.0)
K = 5
STALE = 1.5  # a fit is made again (from the same questions) once the chunks change by this factor


@dataclass(frozen=True)
class Weights:
    dense: float
    keyword: float
    route: float

    @classmethod
    def of(cls, settings: RetrievalSettings) -> Weights:
        return cls(settings.dense_weight, settings.keyword_weight, settings.route_weight)

    def apply(self, settings: RetrievalSettings) -> RetrievalSettings:
        """``settings`` with these weights."""
        return replace(
            settings, dense_weight=self.dense, keyword_weight=self.keyword, route_weight=self.route
        )

    def __str__(self) -> str:
        return f"dense {self.dense:g}, keyword {self.keyword:g}, routing {self.route:g}"


@dataclass(frozen=True)
class FusionFit:
    """One fit: the weights it chose, the configured ones it was measured against, and how often
    each put an evidence page in the top 5 (``r5``) and first (``r1``), on all the questions and
    on held-out halves. ``used``: whether searches take the fitted weights."""

    weights: Weights
    configured: Weights
    questions: int
    r1: dict[str, int]  # {"fitted": n, "configured": n} on every question
    r5: dict[str, int]
    held_out_r1: dict[str, int]  # each half scored with the weights fitted on the other
    held_out_r5: dict[str, int]
    used: bool
    source: str  # the question file
    chunks: int  # the workspace's chunks when it was fitted
    fitted_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FusionFit:
        return cls(
            **{
                **data,
                "weights": Weights(**data["weights"]),
                "configured": Weights(**data["configured"]),
            }
        )

    def summary(self) -> str:
        """One line for ``expert status`` and the fit's report."""
        n = self.questions
        found = (
            f"top 5 {self.r5['fitted']}/{n} against {self.r5['configured']}/{n} configured; "
            f"held out {self.held_out_r5['fitted']} against {self.held_out_r5['configured']}"
        )
        if self.used:
            return f"fitted on {n} questions ({Path(self.source).name}): {self.weights} ({found})"
        if self.weights == self.configured:
            return f"configured ({self.configured}); a fit on {n} questions found none better"
        return (
            f"configured ({self.configured}); a fit on {n} questions did not hold on held-out ones ({found})"
        )


@dataclass(frozen=True)
class Case:
    """One question with evidence, ready to rank under any weights."""

    question: str
    relevant: frozenset[str]
    by_page: bool
    found: Candidates


def stale(fit: FusionFit, chunks: int) -> bool:
    """Whether the workspace has grown or shrunk by half or more since ``fit`` was made."""
    return chunks >= STALE * fit.chunks or chunks * STALE <= fit.chunks


def load(store: Store) -> FusionFit | None:
    """The fit stored with the workspace, or None (none yet, or one an older version wrote)."""
    raw = store.get_meta(META)
    if not raw:
        return None
    try:
        return FusionFit.from_dict(json.loads(raw))
    except (ValueError, TypeError, KeyError):
        return None


def save(store: Store, fit: FusionFit | None) -> None:
    """Store ``fit`` (None: forget it) in one write: an interrupted fit leaves the last one."""
    store.set_meta(META, json.dumps(fit.to_dict()) if fit else "")


def applied(settings: RetrievalSettings, fit: FusionFit | None) -> RetrievalSettings:
    """``settings`` with the fitted weights, when there is a used fit and ``retrieval.fitted``."""
    if fit is None or not fit.used or not settings.fitted:
        return settings
    return fit.weights.apply(settings)


def prepare(
    retriever: Retriever,
    questions: Sequence[EvalQuestion],
    progress: Progress | None = None,
) -> tuple[list[Case], int]:
    """The cases of the questions whose evidence the workspace holds, and how many were left out
    (no evidence, or evidence in files the workspace does not hold)."""
    names = {Path(d.source).name for d in retriever.store.list_documents()}
    usable = [q for q in questions if q.relevant and any(key.split("#", 1)[0] in names for key in q.relevant)]
    depth = max(retriever.settings.candidates, 3 * K)
    cases = []
    if progress:
        progress(FusionStarted(len(usable)))
    every = max(1, len(usable) // 20)  # a log line each 5% when not on a terminal
    for done, q in enumerate(usable, start=1):
        found = retriever.candidates(q.question, depth, "hybrid")
        cases.append(Case(q.question, frozenset(q.relevant), q.by_page, found))
        if progress and (done % every == 0 or done == len(usable)):
            progress(Searched(done, len(usable)))
    return cases, len(questions) - len(usable)


def grid(configured: Weights) -> list[Weights]:
    """The settings a fit compares, the configured ones first (so ties keep them)."""
    total = configured.dense + configured.keyword or 2.0
    settings = [configured]
    for route in ROUTES:
        for share in SHARES:
            w = Weights(round(share * total, 3), round((1 - share) * total, 3), route)
            if w != configured:
                settings.append(w)
    return settings


def first_relevant(case: Case, hits: Sequence[Any]) -> int | None:
    for rank, hit in enumerate(hits):
        if hit_key(hit.source, hit.page, case.by_page) in case.relevant:
            return rank
    return None


def ranks(retriever: Retriever, cases: Sequence[Case], weights: Weights) -> list[int | None]:
    """Where each case's first evidence lands in the top ``K`` under ``weights`` (None: not there)."""
    settings = weights.apply(retriever.settings)
    return [first_relevant(case, retriever.rank(case.found, settings, K)) for case in cases]


def fit(
    retriever: Retriever,
    cases: Sequence[Case],
    source: str,
    chunks: int,
) -> FusionFit:
    """Choose the weights for ``cases`` (``prepare``); raises ``InputError`` for too few."""
    if len(cases) < MIN_QUESTIONS:
        raise InputError(
            f"{len(cases)} of the questions have evidence (the file and pages that answer them) in this "
            f"workspace; a fit needs at least {MIN_QUESTIONS}"
        )
    configured = Weights.of(retriever.settings)
    options = grid(configured)
    landed = [ranks(retriever, cases, w) for w in options]  # [setting][case]

    def score(s: int, members: Sequence[int]) -> tuple[int, int]:
        row = landed[s]
        return sum(row[c] is not None for c in members), sum(row[c] == 0 for c in members)

    def best(members: Sequence[int]) -> int:
        # max keeps the first of equals: the configured weights, then the grid's order
        return max(range(len(options)), key=lambda s: score(s, members))

    everyone = list(range(len(cases)))
    chosen = best(everyone)
    halves = ([], [])  # type: tuple[list[int], list[int]]
    for c, case in enumerate(cases):
        # salted, so that a question set already split by the same hash (a user's own tuning half)
        # still falls in two
        halves[hashlib.sha256(b"fusion fold " + case.question.encode("utf-8")).digest()[0] % 2].append(c)
    held = [0, 0, 0, 0]  # fitted r5, fitted r1, configured r5, configured r1
    for seen, unseen in (halves, halves[::-1]):
        if not seen or not unseen:
            continue
        f5, f1 = score(best(seen), unseen)
        c5, c1 = score(0, unseen)
        held = [held[0] + f5, held[1] + f1, held[2] + c5, held[3] + c1]
    used = chosen != 0 and (held[0], held[1]) > (held[2], held[3])
    fitted5, fitted1 = score(chosen, everyone)
    base5, base1 = score(0, everyone)
    return FusionFit(
        weights=options[chosen],
        configured=configured,
        questions=len(cases),
        r1={"fitted": fitted1, "configured": base1},
        r5={"fitted": fitted5, "configured": base5},
        held_out_r1={"fitted": held[1], "configured": held[3]},
        held_out_r5={"fitted": held[0], "configured": held[2]},
        used=used,
        source=source,
        chunks=chunks,
        fitted_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
