"""RAG, fine-tuning or both: a recommendation with each reason tied to a figure.

Three kinds of evidence, each optional:

- **The workspace** (``Facts``): documents, chunks, words, and how fast it changes (the share of
  documents added or changed per week, from when each was last ingested). Documents that change
  weekly argue for retrieval, which picks up a change at the next ingest; an adapter would have
  to be trained again.
- **Novelty** (``Novelty``): the base model's perplexity on the workspace's prose against its
  perplexity on plain English the package ships (``reference/general_english.txt``). A domain
  far more surprising than plain English has vocabulary the model has not learned, which is what
  fine-tuning teaches; a familiar one lacks only facts, which is what retrieval supplies.
- **An evaluation** (``eval run``'s summary): the verdict. The best mode by score, and every mode
  not significantly worse (paired test); among those, the cheapest (``COST_ORDER``: the model
  alone, then an index to keep, then an adapter to train and retrain, then both; measured
  latency breaks a tie within a step).

Without an evaluation the advice says which one to run; the verdict is never made up from the
workspace alone.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from ..store import Store, StoredDocument
from .summary import Estimate, Pair, Summary

COST_ORDER = ("base", "rag", "ft", "rag+ft")
RECOMMENDATION = {
    "base": "neither: the model alone answers as well, within the noise of this evaluation",
    "rag": "RAG: retrieve from the workspace and answer over the passages",
    "ft": "fine-tuning: the model with the adapter, without retrieval",
    "rag+ft": "both: the fine-tuned model over retrieved passages",
}
NOVEL = 2.0  # domain perplexity / plain-English perplexity above this: vocabulary the model lacks
FAMILIAR = 1.3  # below this the model reads the domain about as well as plain English
FAST_CHURN = 0.05  # share of documents changed per week above which an adapter goes stale fast
LOW_RECALL = 0.6  # recall@10 below this: retrieval misses the evidence too often to judge answers
MIN_HISTORY_DAYS = 14


@dataclass(frozen=True)
class Facts:
    documents: int
    chunks: int
    words: int
    history_days: float  # from the first document's ingest to now
    changed_per_week: float | None  # None when the history is shorter than MIN_HISTORY_DAYS


@dataclass(frozen=True)
class Novelty:
    domain: float  # perplexity on the workspace's prose
    general: float  # perplexity on plain English
    tokens: int
    model: str

    @property
    def ratio(self) -> float:
        return self.domain / self.general


@dataclass
class Advice:
    verdict: str | None  # a mode of COST_ORDER, or None without an evaluation
    recommendation: str
    reasons: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    tied: list[str] = field(default_factory=list)
    facts: Facts | None = None
    novelty: Novelty | None = None
    evaluation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.novelty is not None:
            data["novelty"]["ratio"] = self.novelty.ratio
        return data


def _when(doc: StoredDocument) -> datetime | None:
    try:
        moment = datetime.fromisoformat(doc.ingested_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def chunk_texts(store: Store) -> list[str]:
    return [text for _, text in store.all_chunks()]


def workspace_facts(store: Store, now: datetime | None = None, texts: Sequence[str] | None = None) -> Facts:
    """Size and churn of ``store``: the share of documents last ingested in the past four weeks,
    per week, once the history is two weeks long. (A document re-ingested unchanged keeps its
    time, so only additions and changes count.) ``texts`` are its chunks' texts, when the caller
    has read them already."""
    now = now or datetime.now(UTC)
    docs = store.list_documents()
    times = [t for t in (_when(d) for d in docs) if t is not None]
    first = min(times) if times else now
    history = (now - first).total_seconds() / 86400
    churn: float | None = None
    if docs and history >= MIN_HISTORY_DAYS:
        start = now - timedelta(days=min(28.0, history))
        # documents added or changed in the window, the first day's ingest not counted
        recent = sum(t >= start and t > first + timedelta(days=1) for t in times)
        churn = recent / len(docs) / ((now - start).total_seconds() / 86400 / 7)
    words = sum(len(text.split()) for text in (chunk_texts(store) if texts is None else texts))
    return Facts(len(docs), store.stats().chunks, words, round(history, 1), churn)


_DIGIT = re.compile(r"\d")


def prose_sample(texts: Sequence[str], max_words: int = 6_000, seed: int = 0) -> list[str]:
    """Chunk texts of running prose (under 10% digits: tables of figures would measure the
    model's surprise at numbers, not at the domain's words), seeded sample up to ``max_words``."""
    chunks = list(texts)
    random.Random(seed).shuffle(chunks)
    out, words = [], 0
    for text in chunks:
        if len(_DIGIT.findall(text)) > 0.1 * max(len(text), 1) or len(text.split()) < 30:
            continue
        out.append(" ".join(text.split()))
        words += len(text.split())
        if words >= max_words:
            break
    return out


def general_english() -> str:
    return (resources.files("industry_expert") / "reference" / "general_english.txt").read_text(
        encoding="utf-8"
    )


def _beaten_by(summary: Summary, mode: str, modes: Sequence[str]) -> tuple[str, Pair] | None:
    """A mode significantly better than ``mode`` on the same questions, with the test, if any."""
    for other in modes:
        pair = summary.pair(mode, other)
        if other != mode and pair and pair.better == other:
            return other, pair
    return None


def choose(summary: Summary) -> tuple[str, list[str], list[str]]:
    """The verdict on an evaluation: ``(mode, tied, reasons)``. The best mode by mean score and
    every mode no other mode beats in a paired test are tied (so a mode within the noise of the
    best but significantly below a third is out); the cheapest of those (``COST_ORDER``, then
    median latency) is the verdict."""
    modes = summary.scored
    if not modes:
        raise ValueError("the evaluation has no scored mode")

    def score(mode: str) -> str:
        return summary.modes[mode].score.text(interval=True)

    best = max(modes, key=lambda m: (float(summary.modes[m].score.mean or 0.0), -COST_ORDER.index(m)))
    tied = [best]
    reasons = []
    for mode in modes:
        if mode == best:
            continue
        beaten = _beaten_by(summary, mode, [best, *[m for m in modes if m != best]])
        if beaten is None:
            tied.append(mode)
            pair = summary.pair(best, mode)
            p = f"p = {pair.p:.2f}" if pair else "no paired test"
            reasons.append(
                f"{mode} scores {score(mode)} against {best}'s {score(best)}: no significant difference ({p})"
            )
        else:
            winner, pair = beaten
            reasons.append(
                f"{winner} scores {score(winner)}, above {mode}'s {score(mode)} "
                f"(paired difference {abs(pair.difference):.2f}, p = {pair.p:.3f})"
            )

    def cost(mode: str) -> tuple[int, float]:
        latency = summary.modes[mode].total_ms
        return COST_ORDER.index(mode), float(latency) if latency is not None else 0.0

    verdict = min(tied, key=cost)
    if verdict != best:
        reasons.append(
            f"{verdict} is tied with the best-scoring {best} and costs less to run and keep up "
            f"({' < '.join(m for m in COST_ORDER if m in tied)}), so it is the pick"
        )
    return verdict, sorted(tied, key=COST_ORDER.index), reasons


def advise(
    summary: Summary | None,
    facts: Facts | None = None,
    novelty: Novelty | None = None,
    evaluation: str | None = None,
    questions: str = "eval/questions.jsonl",
) -> Advice:
    """The advice from whatever evidence there is (see the module doc)."""
    reasons: list[str] = []
    steps: list[str] = []
    verdict: str | None = None
    tied: list[str] = []
    if summary is not None:
        verdict, tied, reasons = choose(summary)
        measured = set(summary.modes)
        if not measured & {"ft", "rag+ft"}:
            steps.append(
                "measure fine-tuning too: `expert dataset build --out data/train.jsonl`, `expert train "
                f"--data data/train.jsonl --out runs/lora`, then `expert eval run {questions} --modes "
                "base,rag,ft,rag+ft --adapter runs/lora`"
            )
        if not measured & {"rag", "rag+ft"}:
            steps.append(f"measure retrieval too: `expert eval run {questions} --modes base,rag`")
        recall = summary.retrieval.get("recall@10", Estimate())
        if recall.mean is not None and recall.mean < LOW_RECALL:
            reasons.append(
                f"retrieval finds the evidence in its top 10 for only {recall.mean:.0%} of questions "
                f"(recall@10, {recall.n} questions)"
            )
            steps.append(
                'improve retrieval before judging answers: `retrieval.mode = "hybrid"` in expert.toml if '
                "it is not, more passages (`expert eval run -k 10`), or a different chunk size (a new "
                "workspace: `expert init --chunk-tokens N`, then ingest again)"
            )
        for mode in ("rag", "rag+ft"):
            entry = summary.modes.get(mode)
            if entry and entry.answered and entry.quoted / entry.answered > 0.3:
                reasons.append(
                    f"in {mode}, {entry.quoted} of {entry.answered} answers failed the answer checks and "
                    "were replaced by the quoted evidence: the model is too small to state the answer"
                )
                steps.append(
                    "try a larger model: `--model hf://OWNER/REPO/FILE.gguf` (a 3B–4B instruct GGUF)"
                )
                break
        n = summary.questions
        if n < 50:
            steps.append(f"{n} questions give wide intervals; 100 or more tell smaller differences apart")
        if len(tied) > 1:
            steps.append(f"to separate {', '.join(tied)}, evaluate on more questions")
    else:
        steps.append(
            f"run an evaluation for a verdict: `expert eval build --out {questions} -n 100` (or write your "
            f"own questions), then `expert eval run {questions} --modes base,rag --out eval/r1` "
            "(add ft,rag+ft with --adapter after `expert train`), then `expert advise --eval eval/r1`"
        )
    if facts is not None:
        if facts.changed_per_week is None:
            reasons.append(
                f"the workspace holds {facts.documents} documents ({facts.words:,} words); its ingest history "
                f"spans {facts.history_days:.0f} days, too short to tell how fast it changes"
            )
        else:
            rate = facts.changed_per_week
            lean = (
                "an adapter would go stale within weeks, while retrieval picks up a change at the next ingest"
                if rate > FAST_CHURN
                else "stable enough that an adapter stays current for a while"
            )
            reasons.append(
                f"{rate:.0%} of the {facts.documents} documents are added or changed per week: {lean}"
            )
            if rate > FAST_CHURN and verdict in ("ft", "rag+ft"):
                steps.append(
                    "schedule retraining (`expert dataset build` + `expert train`) as documents change"
                )
        if facts.words < 20_000 and (verdict is None or verdict in ("ft", "rag+ft")):
            reasons.append(
                f"{facts.words:,} words is little to fine-tune on: the adapter learns the form of answers more "
                "than the facts"
            )
    if novelty is not None:
        ratio = novelty.ratio
        figures = (
            f"perplexity {novelty.domain:.1f} on the workspace's prose against {novelty.general:.1f} on plain "
            f"English ({ratio:.1f}x, {novelty.tokens:,} tokens, {novelty.model})"
        )
        if ratio >= NOVEL:
            reasons.append(
                f"the domain's language is new to the base model, {figures}: fine-tuning can teach its "
                "vocabulary and style"
            )
            if summary is not None and verdict in ("base", "rag"):
                steps.append(
                    "more or better training data may still make fine-tuning pay: build more examples "
                    "(`expert dataset build -n 1000`) with a stronger generator (--model, --base-url)"
                )
        elif ratio <= FAMILIAR:
            reasons.append(
                f"the base model reads the domain about as well as plain English, {figures}: what it lacks "
                "is the facts, which retrieval supplies"
            )
        else:
            reasons.append(f"the domain is somewhat unfamiliar to the base model, {figures}")
    recommendation = (
        RECOMMENDATION[verdict]
        if verdict
        else "no verdict yet: an evaluation on your questions decides, and the figures below only lean"
    )
    return Advice(verdict, recommendation, reasons, steps, tied, facts, novelty, evaluation)


def find_evaluations(roots: Sequence[Path], depth: int = 3) -> list[Path]:
    """Every finished evaluation folder (with ``summary.json`` and ``manifest.json``) under
    ``roots``, at most ``depth`` levels down, skipping hidden folders; newest first."""
    found: list[Path] = []

    def walk(folder: Path, level: int) -> None:
        try:
            entries = list(folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            if (entry / "summary.json").is_file() and (entry / "manifest.json").is_file():
                found.append(entry)
            elif level < depth:
                walk(entry, level + 1)

    for root in roots:
        walk(Path(root), 0)
    return sorted(found, key=lambda p: -(p / "summary.json").stat().st_mtime)


def latest_evaluation(roots: Sequence[Path], depth: int = 3) -> Path | None:
    """The most recently finished evaluation folder under ``roots``."""
    found = find_evaluations(roots, depth)
    return found[0] if found else None
