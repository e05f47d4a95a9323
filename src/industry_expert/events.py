"""Progress of long work as typed events: one dataclass per thing that happens.

Every long job (ingest, reindex, summaries, a store migration, downloads, evaluation and question
building, dataset building, training, retriever tuning, fusion fits, the server's ingest jobs)
reports through one type, ``Progress``: a callable that receives ``Event`` objects. The CLI renders
them as a bar or log lines (``cli/progress.py`` matches on the classes), ``--json`` and the server's
ingest worker write ``event.to_dict()`` as JSON lines, and the server's job API reads those lines
back with ``parse``. An event's ``tag`` is its ``"event"`` key in JSON; a field marked ``flat``
(a report's own dict) is spread into the object, and one marked ``optional`` is left out when None::

    >>> FileDone("a.pdf", "added", None, 3).to_dict()
    {'event': 'file', 'path': 'a.pdf', 'status': 'added', 'reason': None, 'chunks': 3}
    >>> TrainLog(step=5, total=10, loss=1.25).to_dict()
    {'event': 'log', 'step': 5, 'total': 10, 'loss': 1.25}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar


@dataclass(frozen=True)
class Event:
    """Something a long job reports; ``tag`` names its kind in JSON."""

    tag: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.tag}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("flat"):
                out.update(value)
            elif not (f.metadata.get("optional") and value is None):
                out[f.name] = value
        return out


Progress = Callable[[Event], None]
E = TypeVar("E", bound=Event)


def flat() -> Any:
    """A mapping field spread into the event's JSON object (a report's ``to_dict()``)."""
    return field(default_factory=dict, metadata={"flat": True})


def optional() -> Any:
    """A field left out of the JSON object when it is None."""
    return field(default=None, metadata={"optional": True})


def ignore(event: Event) -> None:
    """The progress callback of a caller who does not listen."""


def parse(line: Mapping[str, Any], among: tuple[type[E], ...]) -> E | None:
    """The event of ``among`` that a JSON object (``to_dict()``'s output) is, or None."""
    if not isinstance(line, Mapping):
        return None
    for kind in among:
        if line.get("event") == kind.tag:
            names = {f.name for f in fields(kind) if not f.metadata.get("flat")}
            flat_names = [f.name for f in fields(kind) if f.metadata.get("flat")]
            known = {k: v for k, v in line.items() if k in names}
            if flat_names:
                known[flat_names[0]] = {k: v for k, v in line.items() if k != "event" and k not in names}
            return kind(**known)
    return None


@dataclass(frozen=True)
class Finished(Event):
    """A job finished; ``report`` is its report (what the command prints at the end)."""

    tag: ClassVar[str] = "done"
    report: Mapping[str, Any] = flat()


# -- ingest ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Waiting(Event):
    tag: ClassVar[str] = "waiting"
    reason: str


@dataclass(frozen=True)
class IngestStarted(Event):
    tag: ClassVar[str] = "start"
    files: int
    skipped: int


@dataclass(frozen=True)
class FileDone(Event):
    """One file's outcome: added, updated, unchanged, moved, removed or skipped (with a reason)."""

    tag: ClassVar[str] = "file"
    path: str
    status: str
    reason: str | None
    chunks: int


@dataclass(frozen=True)
class OcrPage(Event):
    tag: ClassVar[str] = "ocr"
    path: str
    page: int
    pages: int


@dataclass(frozen=True)
class ReindexStarted(Event):
    tag: ClassVar[str] = "start"
    chunks: int
    resumed: int


@dataclass(frozen=True)
class Reindexed(Event):
    tag: ClassVar[str] = "progress"
    done: int


@dataclass(frozen=True)
class ReindexDone(Event):
    tag: ClassVar[str] = "done"
    chunks: int


@dataclass(frozen=True)
class SummariesStarted(Event):
    tag: ClassVar[str] = "start"
    documents: int
    already: int


@dataclass(frozen=True)
class Summarized(Event):
    tag: ClassVar[str] = "document"
    path: str
    seconds: float


@dataclass(frozen=True)
class MigrationStarted(Event):
    tag: ClassVar[str] = "start"
    documents: int


@dataclass(frozen=True)
class Migrated(Event):
    tag: ClassVar[str] = "progress"
    done: int
    source: str


# -- the server's ingest jobs (JSON lines from the worker process) ---------------------------------
@dataclass(frozen=True)
class JobFailed(Event):
    tag: ClassVar[str] = "error"
    message: str
    status: int


@dataclass(frozen=True)
class JobReport(Event):
    tag: ClassVar[str] = "report"
    report: Mapping[str, Any] = flat()


# -- model downloads -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DownloadStarted(Event):
    tag: ClassVar[str] = "download-start"
    file: str
    bytes: int | None
    done: int


@dataclass(frozen=True)
class Downloading(Event):
    tag: ClassVar[str] = "download"
    file: str
    bytes: int | None
    done: int


@dataclass(frozen=True)
class Downloaded(Event):
    """The file is in place; ``record`` is what was checked (commit, etag, checksum, bytes)."""

    tag: ClassVar[str] = "download-done"
    file: str
    path: str
    record: Mapping[str, Any] = flat()


# -- evaluation ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalStarted(Event):
    tag: ClassVar[str] = "start"
    answers: int
    resumed: int
    modes: list[str]


@dataclass(frozen=True)
class Answered(Event):
    tag: ClassVar[str] = "answer"
    mode: str
    done: int
    total: int
    score: float | None


@dataclass(frozen=True)
class EvalDone(Event):
    tag: ClassVar[str] = "done"
    out: str


@dataclass(frozen=True)
class QuestionsStarted(Event):
    tag: ClassVar[str] = "start"
    questions: int
    resumed: int


@dataclass(frozen=True)
class QuestionWritten(Event):
    tag: ClassVar[str] = "question"
    done: int
    total: int
    kind: str
    question: str


@dataclass(frozen=True)
class FusionStarted(Event):
    tag: ClassVar[str] = "start"
    total: int


@dataclass(frozen=True)
class Searched(Event):
    tag: ClassVar[str] = "progress"
    done: int
    total: int


@dataclass(frozen=True)
class FusionDone(Event):
    tag: ClassVar[str] = "done"
    left_out: int


# -- fine-tuning -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExamplesStarted(Event):
    tag: ClassVar[str] = "start"
    examples: int
    resumed: int


@dataclass(frozen=True)
class ExampleWritten(Event):
    tag: ClassVar[str] = "example"
    done: int
    total: int
    question: str


@dataclass(frozen=True)
class Loading(Event):
    tag: ClassVar[str] = "loading"
    base: str


@dataclass(frozen=True)
class TrainStarted(Event):
    """What a training run is about to do: steps, examples kept and dropped, the LoRA's size."""

    tag: ClassVar[str] = "start"
    steps: int
    train: int
    validation: int
    dropped: int
    trainable: int
    total: int
    targets: list[str]
    resumed_from: str | None


@dataclass(frozen=True)
class TrainLog(Event):
    """One logging step of training; a value the trainer did not log this step is left out."""

    tag: ClassVar[str] = "log"
    step: int
    total: int
    loss: float | None = optional()
    eval_loss: float | None = optional()
    learning_rate: float | None = optional()
    grad_norm: float | None = optional()
    num_tokens: float | None = optional()
    tokens_per_s: float | None = optional()


@dataclass(frozen=True)
class StageStarted(Event):
    """Retriever tuning begins a stage: writing questions, then training."""

    tag: ClassVar[str] = "start"
    stage: str
    total: int


@dataclass(frozen=True)
class PairsWritten(Event):
    tag: ClassVar[str] = "progress"
    done: int
    total: int
    stage: str = "questions"


@dataclass(frozen=True)
class RetrieverStep(Event):
    tag: ClassVar[str] = "progress"
    step: int
    total: int
    loss: float
    stage: str = "train"
