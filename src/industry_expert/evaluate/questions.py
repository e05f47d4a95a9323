"""Question sets: the user's own questions with reference answers, validated line by line.

One JSON object per line::

    {"question": "What was capex in fiscal 2023?", "answer": "$38.4 million",
     "evidence": {"source": "report.pdf", "pages": [2]}, "kind": "figure", "id": "q1"}

- ``question`` and ``answer`` (the reference) are required strings.
- ``evidence`` is optional: an object, or a list of them, each naming a ``source`` (a file
  name; the path's last part is what is compared) with ``page`` or ``pages``, or a ``passage``
  (text the answer comes from). Without evidence, retrieval is not scored for that question.
  The benchmarks' shorthand, ``file`` and ``pages`` at the top level, is read the same way.
- ``kind`` is optional: ``figure`` (a lookup of an amount, date or rate), ``definition``
  (a term), ``yes-no``, or ``explanation``; when absent it is inferred from the reference.
- ``id`` is optional; the line number stands in for it.

Every problem is reported with its line number, all of them (up to a limit) in one pass, like
``expert dataset check``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DatasetError, InputError
from ..figures import figures
from ..finetune.build import UsedChunks
from ..finetune.dataset import jsonl_lines

KINDS = ("figure", "definition", "yes-no", "explanation")
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Evidence:
    """Where the answer is: a source file with pages, or a passage of text."""

    source: str = ""
    pages: tuple[int, ...] = ()
    passage: str = ""

    def places(self) -> set[str]:
        """``name#page`` for each page (``name`` alone without pages): what a retrieved hit is
        compared with (``hit_key``)."""
        if not self.source:
            return set()
        name = Path(self.source).name
        return {f"{name}#{p}" for p in self.pages} if self.pages else {name}


def hit_key(source: str, page: int | None, by_page: bool = True) -> str:
    """The key a retrieved passage is scored under (see ``Evidence.places``)."""
    name = Path(source).name
    return f"{name}#{page}" if by_page and page is not None else name


@dataclass(frozen=True)
class EvalQuestion:
    line: int
    id: str
    question: str
    answer: str
    kind: str
    evidence: tuple[Evidence, ...] = ()

    @property
    def relevant(self) -> set[str]:
        """Keys of every place the answer is (empty: retrieval is not scored)."""
        return {key for e in self.evidence for key in e.places()}

    @property
    def by_page(self) -> bool:
        return any(e.pages for e in self.evidence)


def infer_kind(question: str, answer: str) -> str:
    """``figure`` when the reference states a figure, ``yes-no`` when it starts so, else
    ``definition`` for a "what is/does X mean" question, ``explanation`` otherwise.

    >>> infer_kind("What was capex?", "$38.4 million"), infer_kind("Is it audited?", "Yes, by EY.")
    ('figure', 'yes-no')
    """
    first = answer.strip().split(maxsplit=1)[0].strip(".,!").lower() if answer.strip() else ""
    if first in ("yes", "no"):
        return "yes-no"
    if any(not f.year_like for f in figures(answer)):
        return "figure"
    q = question.strip().lower()
    if q.startswith(("what is ", "what are ", "what does ", "define ", "what do ")) and (
        " mean" in q or len(answer.split()) <= 30
    ):
        return "definition"
    return "explanation"


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        raise ValueError(f"{name} is missing")
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, found {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} is empty")
    return value.strip()


def _pages(value: Any, where: str) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 1 for p in items):
        raise ValueError(f"{where} must be a page number (1 or more) or a list of them")
    return tuple(items)


def _evidence(value: Any) -> tuple[Evidence, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        where = f"evidence[{i}]" if isinstance(value, list) else "evidence"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be an object with source (and page or pages) or passage")
        source, passage = item.get("source", ""), item.get("passage", "")
        if not isinstance(source, str) or not isinstance(passage, str) or not (source or passage).strip():
            raise ValueError(f"{where} needs a source file name or a passage")
        pages: tuple[int, ...] = ()
        for name in ("page", "pages"):
            if name in item:
                pages = _pages(item[name], f"{where}.{name}")
        out.append(Evidence(source.strip(), pages, passage.strip()))
    return tuple(out)


def to_question(record: Any, line: int) -> EvalQuestion:
    """One JSON record as a question; ``ValueError`` says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, found {type(record).__name__}")
    question, answer = _text(record, "question"), _text(record, "answer")
    if "evidence" in record:
        evidence = _evidence(record["evidence"])
    elif "file" in record or "source" in record:  # the benchmarks' shorthand
        shorthand = {"source": record.get("file", record.get("source"))}
        shorthand.update({k: record[k] for k in ("page", "pages") if k in record})
        evidence = _evidence(shorthand)
    else:
        evidence = ()
    kind = record.get("kind") or infer_kind(question, answer)
    if kind not in KINDS:
        raise ValueError(f"kind is {kind!r}; expected one of {', '.join(KINDS)}")
    qid = record.get("id", line)
    if not isinstance(qid, str | int) or isinstance(qid, bool):
        raise ValueError("id must be a string or a number")
    return EvalQuestion(line, str(qid), question, answer, kind, evidence)


@dataclass
class QuestionReport:
    path: str
    questions: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    with_evidence: int = 0
    duplicates: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and self.questions > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "questions": self.questions,
            "kinds": self.kinds,
            "with_evidence": self.with_evidence,
            "duplicates": self.duplicates,
            "problems": [{"line": n, "problem": p} for n, p in self.problems],
            "more_problems": self.more_problems,
        }


def load_questions(path: str | Path, report: QuestionReport | None = None) -> list[EvalQuestion]:
    """Every valid question in ``path``; problems go to ``report`` (or raise if there is none)."""
    path = Path(path)
    own = report is None
    report = report or QuestionReport(str(path))
    out: list[EvalQuestion] = []
    ids: set[str] = set()
    for number, line in jsonl_lines(path, "question file"):
        if not line.strip():
            continue
        try:
            q = to_question(json.loads(line), number)
            if q.id in ids:
                raise ValueError(f"id {q.id!r} is used by an earlier line")
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON ({exc.msg} at column {exc.colno})"
        except (ValueError, RecursionError) as exc:
            problem = str(exc) if not isinstance(exc, RecursionError) else "nested too deep to read"
        else:
            ids.add(q.id)
            out.append(q)
            continue
        if len(report.problems) < MAX_PROBLEMS:
            report.problems.append((number, problem))
        else:
            report.more_problems += 1
    report.questions = len(out)
    report.kinds = dict(Counter(q.kind for q in out))
    report.with_evidence = sum(bool(q.evidence) for q in out)
    seen: set[str] = set()
    for q in out:
        key = " ".join(q.question.lower().split())
        report.duplicates += key in seen
        seen.add(key)
    if own and report.problems:
        first = "; ".join(f"line {n}: {p}" for n, p in report.problems[:3])
        more = len(report.problems) + report.more_problems - 3
        raise DatasetError(f"{path}: {first}" + (f"; and {more} more" if more > 0 else ""))
    if own and not out:
        raise DatasetError(f"{path} holds no questions; one JSON object per line is expected")
    return out


def check_questions(path: str | Path) -> QuestionReport:
    """Validate ``path`` without raising for its problems (they are in the report)."""
    report = QuestionReport(str(path))
    load_questions(path, report)
    return report


def evidence_pages(path: str | Path) -> UsedChunks:
    """The pages (or whole files) the questions of ``path`` cite as evidence, as passages for a
    training set to keep out (``dataset build --exclude``)."""
    places = frozenset(key for q in load_questions(path) for key in q.relevant)
    if not places:
        raise InputError(f"{path} names no evidence (source and pages), so nothing can be held out")
    return UsedChunks(places=places)
