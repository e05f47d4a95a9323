"""Training data: chat ``messages``, Alpaca and prompt/completion JSONL, validated line by line.

Every format becomes a list of chat messages ending with the assistant's turn, the only tokens
the loss is computed on:

- ``{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}``
- ``{"instruction": "...", "input": "...", "output": "..."}`` (Alpaca; ``input`` optional)
- ``{"prompt": "...", "completion": "..."}``

Problems are reported with their line number, all of them (up to a limit) in one pass, so a
user fixes a file once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DatasetError

ROLES = ("system", "user", "assistant")
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Example:
    line: int
    format: str
    messages: tuple[dict[str, str], ...]
    meta: Mapping[str, Any] = field(default_factory=dict)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, found {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} is empty")
    return value


def to_messages(record: Any) -> tuple[str, tuple[dict[str, str], ...]]:
    """``(format, messages)`` of one JSON record; ``ValueError`` says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, found {type(record).__name__}")
    if "messages" in record:
        raw = record["messages"]
        if not isinstance(raw, list) or not raw:
            raise ValueError("messages must be a non-empty list")
        messages = []
        for i, m in enumerate(raw):
            if not isinstance(m, dict) or "role" not in m or "content" not in m:
                raise ValueError(f"messages[{i}] must be an object with role and content")
            if m["role"] not in ROLES:
                raise ValueError(f"messages[{i}].role is {m['role']!r}; expected one of {', '.join(ROLES)}")
            messages.append({"role": m["role"], "content": _text(m["content"], f"messages[{i}].content")})
        if messages[-1]["role"] != "assistant":
            raise ValueError("the last message must be the assistant's (the answer to learn)")
        if not any(m["role"] == "user" for m in messages):
            raise ValueError("messages need a user turn before the assistant's")
        if any(m["role"] == "system" for m in messages[1:]):
            raise ValueError("a system message may only come first")
        return "messages", tuple(messages)
    if "instruction" in record or "output" in record:
        instruction = _text(record.get("instruction"), "instruction")
        extra = record.get("input") or ""
        if not isinstance(extra, str):
            raise ValueError("input must be a string")
        user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        output = _text(record.get("output"), "output")
        return "alpaca", ({"role": "user", "content": user}, {"role": "assistant", "content": output})
    if "prompt" in record or "completion" in record:
        prompt = _text(record.get("prompt"), "prompt")
        completion = _text(record.get("completion"), "completion")
        return "prompt-completion", (
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": completion},
        )
    keys = ", ".join(sorted(record)) or "none"
    raise ValueError(
        f"unknown format (keys: {keys}); use messages, instruction/input/output, or prompt/completion"
    )


def jsonl_lines(path: Path, what: str = "dataset") -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 text file (a byte-order mark is skipped); a missing,
    unreadable or non-UTF-8 file is one ``DatasetError`` naming ``what`` it was meant to be."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            yield from enumerate(fh, 1)
    except FileNotFoundError:
        raise DatasetError(f"{what} {path} not found") from None
    except IsADirectoryError:
        raise DatasetError(f"{path} is a folder; give a .jsonl file") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror}") from None


@dataclass
class DatasetReport:
    path: str
    examples: int = 0
    formats: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)
    more_problems: int = 0
    duplicates: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    too_long: int = 0

    @property
    def ok(self) -> bool:
        return self.examples > 0 and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "examples": self.examples,
            "formats": self.formats,
            "problems": [{"line": n, "problem": p} for n, p in self.problems],
            "more_problems": self.more_problems,
            "duplicates": self.duplicates,
            "tokens": self.tokens,
            "too_long": self.too_long,
        }


def load_examples(path: str | Path, report: DatasetReport | None = None) -> list[Example]:
    """Every valid example in ``path``; problems go to ``report`` (or raise if there is none)."""
    path = Path(path)
    own = report is None
    report = report or DatasetReport(str(path))
    examples: list[Example] = []
    for number, line in jsonl_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            fmt, messages = to_messages(record)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON ({exc.msg} at column {exc.colno})"
        except ValueError as exc:
            problem = str(exc)
        else:
            meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
            examples.append(Example(number, fmt, messages, meta))
            continue
        if len(report.problems) < MAX_PROBLEMS:
            report.problems.append((number, problem))
        else:
            report.more_problems += 1
    report.examples = len(examples)
    report.formats = dict(Counter(e.format for e in examples))
    if own and report.problems:
        first = "; ".join(f"line {n}: {p}" for n, p in report.problems[:3])
        more = len(report.problems) + report.more_problems - 3
        raise DatasetError(f"{path}: {first}" + (f"; and {more} more" if more > 0 else ""))
    if own and not examples:
        raise DatasetError(f"{path} holds no examples; one JSON object per line is expected")
    return examples


def check_dataset(
    path: str | Path,
    count_tokens: Callable[[tuple[dict[str, str], ...]], int] | None = None,
    max_length: int = 0,
) -> DatasetReport:
    """Validate ``path``: formats, line-numbered problems, duplicates, and token lengths if a
    counter is given (``too_long`` counts examples over ``max_length``)."""
    report = DatasetReport(str(path))
    examples = load_examples(path, report)
    seen: set[str] = set()
    for e in examples:
        key = json.dumps(e.messages, sort_keys=True)
        report.duplicates += key in seen
        seen.add(key)
    if count_tokens and examples:
        lengths = sorted(count_tokens(e.messages) for e in examples)
        report.tokens = {
            "total": sum(lengths),
            "median": lengths[len(lengths) // 2],
            "max": lengths[-1],
        }
        if max_length:
            report.too_long = sum(n > max_length for n in lengths)
    return report
