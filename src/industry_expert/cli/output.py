"""What the CLI prints: JSON, hits, answers with their sources, and progress of long work (a bar
on a terminal, plain log lines otherwise, nothing with --json).

Text that comes from documents or file names goes through ``safe`` before it reaches a terminal:
an escape sequence in a PDF or a newline in a file name is shown, never obeyed. ``--json`` output
is exact (JSON escapes control characters itself).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def safe(text: Any, lines: bool = False) -> str:
    """``text`` with control characters written as escapes (``\\x1b``, ``\\n``) and bytes that
    were not UTF-8 in a file name written as ``\\udcXX``: shown, never obeyed by the terminal.
    With ``lines``, newlines and tabs stay (a model's multi-line answer)."""

    def escape(m: re.Match[str]) -> str:
        c = m.group()
        if lines and c in "\n\t":
            return c
        return _NAMED.get(c, f"\\x{ord(c):02x}")

    out = _CONTROL.sub(escape, str(text))
    return out.encode("utf-8", "backslashreplace").decode("utf-8")


def print_json(value: Any) -> None:
    """One line of JSON, UTF-8, exact: a file-name byte that was not UTF-8 (a lone surrogate) is
    written as its ``\\udcXX`` escape, which ``json.loads`` reads back to the same path."""
    text = json.dumps(value, ensure_ascii=False)
    print(re.sub("[\udc80-\udcff]", lambda m: f"\\u{ord(m.group()):04x}", text))


class Reporter:
    """Progress of long work: a bar on a terminal, plain log lines otherwise, silent with --json."""

    def __init__(self, json_mode: bool):
        self.quiet = json_mode
        self.bar: Any = None

    def begin(self, total: int | None, unit: str, desc: str, initial: int = 0, scale: bool = False) -> None:
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


def ingest_progress(json_mode: bool) -> Any:
    out = Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "waiting":
            out.log(f"waiting: {event['reason']}")
        elif kind == "start":
            out.begin(event["files"] + event["skipped"], "file", "ingest")
        elif kind == "file":
            status = event["status"]
            detail = f" ({event['chunks']} chunks)" if event["chunks"] else ""
            reason = f": {event['reason']}" if event.get("reason") else ""
            out.advance(
                f"{status:9} {safe(event['path'])}{detail}{safe(reason)}",
                safe(f"{status} {Path(event['path']).name}")[:40],
                step=0 if status == "removed" else 1,
            )
        elif kind == "ocr":  # seconds a page: say which page of which file is being read
            out.advance(
                f"ocr       {safe(event['path'])} page {event['page']}/{event['pages']}",
                safe(f"OCR {Path(event['path']).name} {event['page']}/{event['pages']}")[:40],
                step=0,
            )
        elif kind == "done":
            out.end()

    return on


def reindex_progress(json_mode: bool) -> Any:
    out = Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            if event.get("resumed"):
                out.log(
                    f"resuming: {event['resumed']} of {event['chunks']} chunks were re-embedded by an earlier run"
                )
            out.begin(event["chunks"], "chunk", "reindex", initial=event.get("resumed", 0))
        elif kind == "progress":
            out.advance(f"re-embedded {event['done']} of the chunks", to=event["done"])
        elif kind == "done":
            out.end()

    return on


def migrate_progress(json_mode: bool) -> Any:
    out = Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            out.begin(event["documents"], "doc", "migrate")
        elif kind == "progress":
            out.advance(f"copied {event['done']} documents: {safe(event['source'])}", to=event["done"])
        elif kind == "done":
            out.end()

    return on


def summary_progress(json_mode: bool) -> Any:
    out = Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start" and event["documents"]:
            out.begin(event["documents"], "doc", "summarize")
            if out.bar is None:
                out.log(f"summarizing {event['documents']} document(s)")
        elif kind == "document":
            out.advance(f"summary   {safe(event['path'])} ({event['seconds']}s)")
        elif kind == "done":
            out.end()

    return on


def format_hit(rank: int, hit: Any) -> str:
    where = hit.source + (f" p.{hit.page}" if hit.page else "") + (f" [{hit.locator}]" if hit.locator else "")
    where, text = safe(where), safe(" ".join(hit.text.split()))
    return f"{rank}. {where}  (score {hit.score:.4f})\n   {text[:300]}{'…' if len(text) > 300 else ''}"


def where(citation: Any) -> str:
    return safe(
        citation.source
        + (f", page {citation.page}" if citation.page else "")
        + (f", {citation.locator}" if citation.locator else "")
    )


def print_sources(answer: Any) -> None:
    for asked, searched in getattr(answer, "spelled", ()):
        print(
            f'note: no document has "{safe(asked)}"; searched for "{safe(searched)}" instead', file=sys.stderr
        )
    language = [c for c in answer.checks if c.startswith("the model does not write")]
    if language:
        print(
            f"note: {language[0]}: the line that answers is quoted in the document's words", file=sys.stderr
        )
    elif answer.quoted:
        why = ", ".join(answer.checks)
        print(
            f"note: the model's answer failed its checks ({why}); the line that answers is quoted instead",
            file=sys.stderr,
        )
    elif answer.unsupported:
        figures = ", ".join(safe(f) for f in answer.unsupported)
        print(
            f"warning: not in the cited sources: {figures}; check this answer against the documents",
            file=sys.stderr,
        )
    elif answer.checks:
        print(
            f"warning: this answer failed a check ({', '.join(answer.checks)}); read the sources",
            file=sys.stderr,
        )
    if answer.removed_citations:
        numbers = ", ".join(f"[{n}]" for n in answer.removed_citations)
        print(f"note: removed citation(s) {numbers}: no such source", file=sys.stderr)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            passage = safe(" ".join(c.passage.split()))
            how = "  (matched to the answer's figures and words)" if c.n in answer.attributed else ""
            print(f"  [{c.n}] {where(c)}{how}\n      {passage[:200]}{'…' if len(passage) > 200 else ''}")
    elif not answer.found and answer.hits:
        print("\nClosest passages (not close enough to answer from):")
        for h in answer.hits[:3]:
            print(f"  - {where(h)}")
    elif answer.hits:
        print("\n(no sources cited; the passages given to the model are in --json output)")


def train_progress(json_mode: bool) -> Any:
    """Loss, validation loss, learning rate and tokens/s; with --json, each event as a JSON line."""
    out = Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "loading":
            out.log(f"loading {event['base']}")
        elif kind == "start":
            share = 100 * event["trainable"] / max(1, event["total"])
            out.log(
                f"training {event['steps']} steps on {event['train']} examples ({event['validation']} held out, "
                f"{event['dropped']} dropped as too long); LoRA on {', '.join(event['targets'])}: "
                f"{event['trainable']:,} trainable parameters of {event['total']:,} ({share:.2f}%)"
            )
            out.begin(event["steps"], "step", "train")
        elif kind == "log":
            if json_mode:
                print(json.dumps(event), file=sys.stderr, flush=True)
                return
            parts = [f"step {event['step']}/{event['total']}"]
            if "loss" in event:
                parts.append(f"loss {event['loss']:.4f}")
            if "eval_loss" in event:
                parts.append(f"val_loss {event['eval_loss']:.4f}")
            if "learning_rate" in event:
                parts.append(f"lr {event['learning_rate']:.2e}")
            if "tokens_per_s" in event:
                parts.append(f"{event['tokens_per_s']:.0f} tok/s")
            out.advance(" ".join(parts), " ".join(parts[1:]), to=event["step"])
        elif kind == "done":
            out.end()

    return on


def dataset_progress(json_mode: bool) -> Any:
    out = Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            if event["resumed"]:
                out.log(f"resuming with {event['resumed']} example(s) already made")
            out.begin(event["examples"], "example", "dataset", initial=event["resumed"])
        elif kind == "example":
            out.advance(f"{event['done']}/{event['total']} {event['question']}")
        elif kind == "done":
            out.end()

    return on


def tune_progress(json_mode: bool) -> Any:
    """Questions written, then training steps with their loss; with --json, JSON lines on stderr."""
    out = Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        if json_mode:
            print(json.dumps(event), file=sys.stderr, flush=True)
            return
        kind, stage = event["event"], event.get("stage")
        if kind == "start":
            out.end()
            out.log(
                "writing questions about the workspace's passages"
                if stage == "questions"
                else "training the embedder"
            )
            out.begin(event["total"], "question" if stage == "questions" else "step", stage or "")
        elif kind == "progress" and stage == "questions":
            out.advance(f"question {event['done']}/{event['total']}", to=event["done"])
        elif kind == "progress":
            out.advance(
                f"step {event['step']}/{event['total']} loss {event['loss']}",
                f"loss {event['loss']}",
                to=event["step"],
            )

    return on


def fusion_progress(json_mode: bool) -> Any:
    """Questions searched for a fusion fit; with --json, silent (the fit is printed at the end)."""
    out = Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            out.begin(event["total"], "question", "searching")
        elif kind == "progress":
            out.advance(f"searched {event['done']}/{event['total']} questions", to=event["done"])
        elif kind == "done":
            out.end()
            if event["left_out"]:
                out.log(
                    f"{event['left_out']} question(s) left out: no evidence, or evidence in files the workspace does not hold"
                )

    return on


def download_progress(json_mode: bool) -> Any:
    """A model file's download: a bar in bytes on a terminal, a line per tenth otherwise."""
    out = Reporter(json_mode)
    shown = {"tenth": -1}

    def on(event: dict[str, Any]) -> None:
        kind, total, done = event["event"], event.get("bytes"), event.get("done") or 0
        if kind == "download-start":
            resumed = f", resuming at {done / 1e6:.1f} MB" if done else ""
            size = f"{total / 1e6:.1f} MB" if total else "size unknown"
            out.log(f"downloading {safe(event['file'])} ({size}{resumed})")
            out.begin(total, "B", "download", initial=done, scale=True)
        elif kind == "download":
            tenth = int(10 * done / total) if total else -1
            if out.bar is not None or tenth > shown["tenth"]:
                shown["tenth"] = tenth
                line = f"downloaded {done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done} bytes"
                out.advance(line, to=done)
        elif kind == "download-done":
            out.end()
            out.log(f"saved {safe(event['path'])} ({event['checksum'] or 'size'} checked)")

    return on


def print_problems(path: str, problems: list[tuple[int, str]], more: int) -> None:
    """A checked file's problems as ``PATH:LINE: problem`` lines, the way compilers write them."""
    for line, problem in problems:
        print(f"{path}:{line}: {problem}")
    if more:
        print(f"... and {more} more problem(s)")
