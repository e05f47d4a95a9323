"""Progress of long work on the terminal, from the typed events of ``events.py``.

``progress(json_mode)`` is the one callback every command passes to the library: a bar on a
terminal, plain log lines when not on one, nothing with ``--json`` (the result is printed at the
end), or with ``json_lines`` each event as a JSON line on stderr (``train --json``, ``tune retriever
--json``: a script follows a long run). Text from documents and file names goes through ``safe``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..events import (
    Answered,
    Downloaded,
    Downloading,
    DownloadStarted,
    EvalDone,
    EvalStarted,
    Event,
    ExamplesStarted,
    ExampleWritten,
    FileDone,
    Finished,
    FusionDone,
    FusionStarted,
    IngestStarted,
    Loading,
    Migrated,
    MigrationStarted,
    OcrPage,
    PairsWritten,
    QuestionsStarted,
    QuestionWritten,
    ReindexDone,
    Reindexed,
    ReindexStarted,
    RetrieverStep,
    Searched,
    StageStarted,
    SummariesStarted,
    Summarized,
    TrainLog,
    TrainStarted,
    Waiting,
)
from .output import safe


class Reporter:
    """A bar on a terminal, plain log lines otherwise, silent with --json."""

    def __init__(self, json_mode: bool):
        self.quiet = json_mode
        self.bar: Any = None

    def begin(self, total: int | None, unit: str, desc: str, initial: int = 0, scale: bool = False) -> None:
        self.end()
        if not self.quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=initial, unit=unit, unit_scale=scale, desc=desc, file=sys.stderr
            )

    def log(self, line: str) -> None:
        """A line that is printed on a terminal too (above the bar)."""
        if not self.quiet:
            (self.bar.write if self.bar is not None else print)(line, file=sys.stderr)

    def advance(self, line: str, postfix: str = "", to: int | None = None, step: int = 1) -> None:
        """Move the bar (by ``step``, or to ``to``) with ``postfix``; without a bar, print ``line``."""
        if self.quiet:
            return
        if self.bar is None:
            print(line, file=sys.stderr, flush=True)
            return
        if to is not None:
            self.bar.n = to
        else:
            self.bar.update(step)
        if postfix:
            self.bar.set_postfix_str(postfix)
        self.bar.refresh()

    def end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Renderer:
    """The callback for the library's ``progress``: each event drawn on the terminal."""

    def __init__(self, json_mode: bool, json_lines: bool = False):
        self.out = Reporter(json_mode)
        self.json_lines = json_mode and json_lines
        self.tenth = -1  # downloads without a bar: a line per tenth

    def __call__(self, event: Event) -> None:
        if self.json_lines:
            print(json.dumps(event.to_dict()), file=sys.stderr, flush=True)
            return
        out = self.out
        match event:
            case Waiting(reason=reason):
                out.log(f"waiting: {reason}")
            case IngestStarted(files=files, skipped=skipped):
                out.begin(files + skipped, "file", "ingest")
            case FileDone(path=path, status=status, reason=reason, chunks=chunks):
                detail = f" ({chunks} chunks)" if chunks else ""
                why = f": {reason}" if reason else ""
                out.advance(
                    f"{status:9} {safe(path)}{detail}{safe(why)}",
                    safe(f"{status} {Path(path).name}")[:40],
                    step=0 if status == "removed" else 1,
                )
            case OcrPage(path=path, page=page, pages=pages):  # seconds a page: say which is being read
                out.advance(
                    f"ocr       {safe(path)} page {page}/{pages}",
                    safe(f"OCR {Path(path).name} {page}/{pages}")[:40],
                    step=0,
                )
            case ReindexStarted(chunks=chunks, resumed=resumed):
                if resumed:
                    out.log(f"resuming: {resumed} of {chunks} chunks were re-embedded by an earlier run")
                out.begin(chunks, "chunk", "reindex", initial=resumed)
            case Reindexed(done=done):
                out.advance(f"re-embedded {done} of the chunks", to=done)
            case MigrationStarted(documents=documents):
                out.begin(documents, "doc", "migrate")
            case Migrated(done=done, source=source):
                out.advance(f"copied {done} documents: {safe(source)}", to=done)
            case SummariesStarted(documents=documents) if documents:
                out.begin(documents, "doc", "summarize")
                if out.bar is None:
                    out.log(f"summarizing {documents} document(s)")
            case Summarized(path=path, seconds=seconds):
                out.advance(f"summary   {safe(path)} ({seconds}s)")
            case QuestionsStarted(questions=questions, resumed=resumed):
                if resumed:
                    out.log(f"resuming with {resumed} question(s) already made")
                out.begin(questions, "question", "eval build", initial=min(resumed, questions))
            case QuestionWritten(done=done, total=total, kind=kind, question=question):
                out.advance(f"{done}/{total} {kind}: {question}")
            case EvalStarted(answers=answers, resumed=resumed):
                if resumed:
                    out.log(f"resuming: {resumed} answer(s) already scored")
                out.begin(answers, "answer", "eval", initial=resumed)
            case Answered(mode=mode, done=done, total=total, score=score):
                shown = "unscored" if score is None else f"score {score:.2f}"
                out.advance(f"{done}/{total} {mode}: {shown}", mode)
            case ExamplesStarted(examples=examples, resumed=resumed):
                if resumed:
                    out.log(f"resuming with {resumed} example(s) already made")
                out.begin(examples, "example", "dataset", initial=resumed)
            case ExampleWritten(done=done, total=total, question=question):
                out.advance(f"{done}/{total} {question}")
            case Loading(base=base):
                out.log(f"loading {base}")
            case TrainStarted():
                self._train_started(event)
            case TrainLog():
                self._train_log(event)
            case StageStarted(stage=stage, total=total):
                out.end()
                questions = stage == "questions"
                out.log(
                    "writing questions about the workspace's passages"
                    if questions
                    else "training the embedder"
                )
                out.begin(total, "question" if questions else "step", stage)
            case PairsWritten(done=done, total=total):
                out.advance(f"question {done}/{total}", to=done)
            case RetrieverStep(step=step, total=total, loss=loss):
                out.advance(f"step {step}/{total} loss {loss}", f"loss {loss}", to=step)
            case FusionStarted(total=total):
                out.begin(total, "question", "searching")
            case Searched(done=done, total=total):
                out.advance(f"searched {done}/{total} questions", to=done)
            case FusionDone(left_out=left_out):
                out.end()
                if left_out:
                    out.log(
                        f"{left_out} question(s) left out: no evidence, or evidence in files the workspace does not hold"
                    )
            case DownloadStarted(file=file, bytes=total, done=done):
                again = f", resuming at {done / 1e6:.1f} MB" if done else ""
                size = f"{total / 1e6:.1f} MB" if total else "size unknown"
                out.log(f"downloading {safe(file)} ({size}{again})")
                out.begin(total, "B", "download", initial=done, scale=True)
            case Downloading(bytes=total, done=done):
                tenth = int(10 * done / total) if total else -1
                if out.bar is not None or tenth > self.tenth:
                    self.tenth = tenth
                    out.advance(
                        f"downloaded {done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done} bytes",
                        to=done,
                    )
            case Downloaded(path=path, record=record):
                out.end()
                out.log(f"saved {safe(path)} ({record.get('checksum') or 'size'} checked)")
            case Finished() | ReindexDone() | EvalDone():
                out.end()

    def _train_started(self, event: TrainStarted) -> None:
        share = 100 * event.trainable / max(1, event.total)
        self.out.log(
            f"training {event.steps} steps on {event.train} examples ({event.validation} held out, "
            f"{event.dropped} dropped as too long); LoRA on {', '.join(event.targets)}: "
            f"{event.trainable:,} trainable parameters of {event.total:,} ({share:.2f}%)"
        )
        self.out.begin(event.steps, "step", "train")

    def _train_log(self, event: TrainLog) -> None:
        parts = [f"step {event.step}/{event.total}"]
        if event.loss is not None:
            parts.append(f"loss {event.loss:.4f}")
        if event.eval_loss is not None:
            parts.append(f"val_loss {event.eval_loss:.4f}")
        if event.learning_rate is not None:
            parts.append(f"lr {event.learning_rate:.2e}")
        if event.tokens_per_s is not None:
            parts.append(f"{event.tokens_per_s:.0f} tok/s")
        self.out.advance(" ".join(parts), " ".join(parts[1:]), to=event.step)


def progress(json_mode: bool, json_lines: bool = False) -> Renderer:
    """The progress callback of one command run (see the module doc)."""
    return Renderer(json_mode, json_lines)
