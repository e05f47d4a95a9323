"""What an evaluation sums up to, typed: each mode's means with 95% intervals and its cost, the
paired test of each two modes, retrieval, and peak memory.

``Summary`` is what the report, the page, the advisor and the server read; ``to_dict`` is its
``summary.json`` (the same JSON as ever), ``from_dict`` reads one back (a key an older or a
hand-written summary lacks reads as "not measured"), and ``load`` reads a finished run's folder
with a one-line error for one that is not.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from itertools import combinations
from pathlib import Path
from typing import Any

from ..errors import InputError
from .metrics import mean_ci, paired_p

ANSWER_METRICS = ("score", "exact", "f1", "rouge_l", "numeric", "citation_precision", "faithfulness", "judge")
COST_METRICS = ("first_token_ms", "total_ms", "prompt_tokens", "completion_tokens")
RETRIEVAL_METRICS = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")


@dataclass(frozen=True)
class Estimate:
    """A mean over the questions a metric applies to, with its 95% bootstrap interval; ``mean``
    is None where it applies to none (``n`` 0)."""

    mean: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Estimate:
        ci = mean_ci(values)
        return cls(ci.mean, ci.low, ci.high, ci.n) if ci.n else cls()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Estimate:
        data = data or {}
        return cls(data.get("mean"), data.get("low"), data.get("high"), int(data.get("n") or 0))

    @property
    def measured(self) -> bool:
        return self.mean is not None

    def errors(self) -> tuple[float, float]:
        """How far the interval reaches below and above the mean (an error bar; 0 unmeasured)."""
        if self.mean is None or self.low is None or self.high is None:
            return 0.0, 0.0
        return max(0.0, self.mean - self.low), max(0.0, self.high - self.mean)

    def text(self, interval: bool = False) -> str:
        """``0.62 [0.55, 0.70]`` (``interval``) or ``0.62``; a dash when not measured."""
        if self.mean is None:
            return "–"
        if interval and self.low is not None and self.high is not None:
            return f"{self.mean:.2f} [{self.low:.2f}, {self.high:.2f}]"
        return f"{self.mean:.2f}"


@dataclass(frozen=True)
class KindScore:
    mean: float
    n: int


@dataclass(frozen=True)
class ModeSummary:
    """One mode: the answer metrics (``ANSWER_METRICS``), the median cost of an answer
    (``COST_METRICS``), how many answers were replaced by quoted evidence, and the score by
    question kind."""

    answered: int = 0
    score: Estimate = Estimate()
    exact: Estimate = Estimate()
    f1: Estimate = Estimate()
    rouge_l: Estimate = Estimate()
    numeric: Estimate = Estimate()
    citation_precision: Estimate = Estimate()
    faithfulness: Estimate = Estimate()
    judge: Estimate = Estimate()
    first_token_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens: float | None = None
    completion_tokens: float | None = None
    quoted: int = 0
    by_kind: dict[str, KindScore] = field(default_factory=dict)

    def metric(self, name: str) -> Estimate:
        """The answer metric ``name`` (one of ``ANSWER_METRICS``)."""
        value = getattr(self, name)
        assert isinstance(value, Estimate), name
        return value

    def cost(self, name: str) -> float | None:
        """The median cost ``name`` (one of ``COST_METRICS``)."""
        value = getattr(self, name)
        return None if value is None else float(value)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModeSummary:
        metrics: dict[str, Any] = {m: Estimate.from_dict(data.get(m)) for m in ANSWER_METRICS}
        costs: dict[str, Any] = {c: data.get(c) for c in COST_METRICS}
        return cls(
            answered=int(data.get("answered") or 0),
            **metrics,
            **costs,
            quoted=int(data.get("quoted") or 0),
            by_kind={
                k: KindScore(float(v["mean"]), int(v["n"])) for k, v in (data.get("by_kind") or {}).items()
            },
        )


@dataclass(frozen=True)
class Pair:
    """Two modes on the questions both answered: ``difference`` is a's mean score less b's, and
    ``p`` the paired permutation test's."""

    a: str
    b: str
    n: int
    difference: float
    p: float
    significant: bool

    @property
    def better(self) -> str | None:
        """The mode that is significantly better, or None within the noise."""
        if not self.significant:
            return None
        return self.a if self.difference > 0 else self.b


@dataclass(frozen=True)
class Summary:
    questions: int
    modes: dict[str, ModeSummary]
    pairs: list[Pair] = field(default_factory=list)
    retrieval: dict[str, Estimate] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    time: str = ""

    @property
    def scored(self) -> list[str]:
        """The modes with a mean score, in run order."""
        return [m for m, entry in self.modes.items() if entry.score.measured]

    @property
    def judged(self) -> bool:
        """Whether a judge graded any answer of this run."""
        return any(entry.judge.n for entry in self.modes.values())

    def pair(self, a: str, b: str) -> Pair | None:
        """The paired test of ``a`` and ``b`` (in either order), if the run made one."""
        for pair in self.pairs:
            if {pair.a, pair.b} == {a, b}:
                return pair
        return None

    def to_dict(self) -> dict[str, Any]:
        """``summary.json``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        return cls(
            questions=int(data.get("questions") or 0),
            modes={m: ModeSummary.from_dict(entry) for m, entry in (data.get("modes") or {}).items()},
            pairs=[Pair(**{f.name: p[f.name] for f in fields(Pair)}) for p in data.get("pairs") or []],
            retrieval={k: Estimate.from_dict(v) for k, v in (data.get("retrieval") or {}).items()},
            peak_rss_mb={k: float(v) for k, v in (data.get("peak_rss_mb") or {}).items()},
            time=str(data.get("time") or ""),
        )

    @classmethod
    def load(cls, folder: str | Path) -> Summary:
        """The ``summary.json`` of an evaluation folder, or a one-line error naming what is missing."""
        path = Path(folder) / "summary.json"
        if not path.is_file():
            manifest = Path(folder) / "manifest.json"
            why = (
                "its run has not finished; run `expert eval run` again to resume it"
                if manifest.is_file()
                else "it is not an evaluation folder (written by `expert eval run --out`)"
            )
            raise InputError(f"{folder} has no summary.json: {why}")
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InputError(
                f"{path} is not a readable summary ({exc}); run `expert eval run` again"
            ) from None


def summarize(
    answers: Sequence[Mapping[str, Any]],
    retrieval: Sequence[Mapping[str, Any]],
    memory: Sequence[Mapping[str, Any]],
    ids: Sequence[str],
    modes: Sequence[str],
) -> Summary:
    """Means with 95% intervals per mode and metric, retrieval means, paired tests between modes
    on the headline score, and peak memory; from the rows a run wrote (``answers.jsonl``,
    ``retrieval.jsonl``, ``memory.jsonl``), over the questions ``ids``."""
    wanted = set(ids)
    by_mode: dict[str, dict[str, Mapping[str, Any]]] = {m: {} for m in modes}
    for r in answers:
        if r["id"] in wanted and r["mode"] in by_mode:
            by_mode[r["mode"]][r["id"]] = r
    entries = {}
    for mode, answered in by_mode.items():
        kinds: dict[str, list[float]] = {}
        for r in answered.values():
            kinds.setdefault(r["kind"], []).append(r["metrics"]["score"])
        costs: dict[str, Any] = {}
        for name in COST_METRICS:
            values = sorted(r["cost"][name] for r in answered.values())
            costs[name] = values[len(values) // 2] if values else None  # median
        metrics: dict[str, Any] = {
            name: Estimate.of(r["metrics"].get(name) for r in answered.values()) for name in ANSWER_METRICS
        }
        entries[mode] = ModeSummary(
            answered=len(answered),
            **metrics,
            **costs,
            quoted=sum(r["quoted"] for r in answered.values()),
            by_kind={k: KindScore(sum(v) / len(v), len(v)) for k, v in sorted(kinds.items())},
        )
    pairs = []
    for a, b in combinations(modes, 2):
        shared = [i for i in ids if i in by_mode[a] and i in by_mode[b]]
        xs = [by_mode[a][i]["metrics"]["score"] for i in shared]
        ys = [by_mode[b][i]["metrics"]["score"] for i in shared]
        p = paired_p(xs, ys)
        diff = (sum(xs) - sum(ys)) / len(shared) if shared else 0.0
        pairs.append(Pair(a, b, len(shared), diff, p, p < 0.05))
    scored = [r for r in retrieval if r["id"] in wanted]
    return Summary(
        questions=len(ids),
        modes=entries,
        pairs=pairs,
        retrieval={name: Estimate.of(r[name] for r in scored) for name in RETRIEVAL_METRICS},
        peak_rss_mb={m["mode"]: m["peak_rss_mb"] for m in memory},
        time=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
