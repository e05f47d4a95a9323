"""Run a question set through the four modes and score every answer.

- ``base``: the model alone; ``rag``: the model over the retrieved passages (what ``expert
  ask`` does); ``ft``: the model with the LoRA adapter, alone; ``rag+ft``: both. The base and
  the tuned model run on the same runtime and quantization (``create_base_and_tuned``), so a
  difference is the adapter's or the retrieval's, not the engine's. The caller loads each model
  once; the retriever is the workspace's own.
- Retrieval is scored once per question on the top ``depth`` passages (recall@1/5/10, MRR,
  nDCG@10), since it is the same for ``rag`` and ``rag+ft``.
- Each answer is scored as it is written (``metrics``) and appended to ``answers.jsonl`` in the
  output folder, so an interrupted run resumes where it stopped: a second run with the same
  questions, modes and models skips what is there, and refuses an output folder that holds a
  run of something else.
- ``summary.json`` holds each mode's means with 95% bootstrap intervals and, for each pair of
  modes, a paired test on the questions both answered.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..answer import AnswerStream
from ..config import AnswerSettings
from ..errors import DatasetError, InputError
from ..events import Answered, EvalDone, EvalStarted, Progress
from ..extras import require
from ..generate import Generator
from ..retrieve import Retriever
from ..types import Answer
from .judge import Judge
from .metrics import (
    citation_precision,
    exact_match,
    faithfulness,
    ndcg_at_k,
    numeric_match,
    recall_at_k,
    reciprocal_rank,
    rouge_l,
    token_f1,
)
from .questions import EvalQuestion, hit_key
from .summary import Summary, summarize

MODES = ("base", "rag", "ft", "rag+ft")
RETRIEVAL_MODES = frozenset({"rag", "rag+ft"})
TUNED_MODES = frozenset({"ft", "rag+ft"})


def parse_modes(text: str) -> tuple[str, ...]:
    """``"base,rag"`` -> ``("base", "rag")``, in the order given, each known and once."""
    modes = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise InputError(f"unknown mode {', '.join(unknown) or '(none)'}; choose from {', '.join(MODES)}")
    return modes


def score(question: EvalQuestion, answer: Answer) -> dict[str, float | None]:
    """Every answer metric for one answer; ``score`` is the headline: numeric match when the
    reference states a figure, token F1 otherwise."""
    text = answer.text
    cited = [c.passage for c in answer.citations]
    numeric = numeric_match(text, question.answer)
    f1 = token_f1(text, question.answer)
    return {
        "score": numeric if numeric is not None else f1,
        "exact": exact_match(text, question.answer),
        "f1": f1,
        "rouge_l": rouge_l(text, question.answer),
        "numeric": numeric,
        "citation_precision": citation_precision(text, cited),
        "faithfulness": faithfulness(text, "\n".join(cited)) if cited else None,
    }


def score_retrieval(question: EvalQuestion, keys: Sequence[str]) -> dict[str, float]:
    relevant = question.relevant
    return {
        "recall@1": recall_at_k(keys, relevant, 1),
        "recall@5": recall_at_k(keys, relevant, 5),
        "recall@10": recall_at_k(keys, relevant, 10),
        "mrr": reciprocal_rank(keys, relevant),
        "ndcg@10": ndcg_at_k(keys, relevant, 10),
    }


@dataclass
class EvalRun:
    out: Path
    questions: int
    modes: tuple[str, ...]
    answered: int  # answers written by this call
    resumed: int  # answers found from an earlier call
    summary: Summary


def _fingerprint(questions: Sequence[EvalQuestion]) -> str:
    digest = hashlib.sha256()
    for q in questions:
        digest.update(json.dumps([q.id, q.question, q.answer], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The complete lines of ``path`` (a line cut short by a crash is dropped)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def _append(path: Path, row: Mapping[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20) if sys.platform == "darwin" else peak / 1024, 1)


def run_eval(
    questions: Sequence[EvalQuestion],
    generators: Mapping[str, Generator],
    retriever: Retriever | None,
    settings: AnswerSettings,
    out: Path,
    identity: Mapping[str, Any] | None = None,
    depth: int = 10,
    max_tokens: int = 384,
    temperature: float = 0.0,
    progress: Progress | None = None,
    judge: Judge | None = None,
) -> EvalRun:
    """Answer ``questions`` in each mode of ``generators`` (mode -> the model that answers in it)
    and write ``answers.jsonl``, ``retrieval.jsonl``, ``manifest.json`` and ``summary.json`` to
    ``out``. ``identity`` (models, adapter, settings) must match an earlier run's to resume it."""
    if not questions:
        raise DatasetError("the question set is empty")
    # its intervals and chart need it; checked before any question is answered
    require("eval", why="an evaluation")
    if judge is not None:
        judge.check()  # an unreachable judge stops the run before it writes anything
        identity = {**(identity or {}), "judge": judge.name}
    modes = tuple(generators)
    if RETRIEVAL_MODES & set(modes) and retriever is None:
        raise InputError("modes rag and rag+ft need a workspace to retrieve from")
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "questions": len(questions),
        "fingerprint": _fingerprint(questions),
        "modes": list(modes),
        "identity": dict(identity or {}),
        "k": settings.k,
    }
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        try:
            before = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError:
            before = {}
        same = all(before.get(key) == manifest[key] for key in ("fingerprint", "identity", "k"))
        if not same:
            raise InputError(
                f"{out} holds a run of other questions, models or settings; give another --out "
                "(or delete it to start over)"
            )
        manifest["modes"] = list(dict.fromkeys([*before.get("modes", []), *modes]))
    manifest_path.write_text(json.dumps({**manifest, "complete": False}, indent=1), encoding="utf-8")

    answers_path, retrieval_path = out / "answers.jsonl", out / "retrieval.jsonl"
    done = {(r["id"], r["mode"]) for r in read_rows(answers_path)}
    resumed = sum((q.id, m) in done for q in questions for m in modes)
    scored = {r["id"] for r in read_rows(retrieval_path)}
    if retriever is not None:
        for q in questions:
            if q.relevant and q.id not in scored:
                keys = [hit_key(h.source, h.page, q.by_page) for h in retriever.search(q.question, k=depth)]
                _append(retrieval_path, {"id": q.id, "keys": keys, **score_retrieval(q, keys)})

    written = 0
    total = len(questions) * len(modes)
    if progress:
        progress(EvalStarted(total, resumed, list(modes)))
    for mode in modes:
        generator = generators[mode]
        for q in questions:
            if (q.id, mode) in done:
                continue
            stream = AnswerStream(
                q.question,
                generator,
                retriever if mode in RETRIEVAL_MODES else None,
                settings,
                max_tokens=max_tokens,
                temperature=temperature,
            )
            answer = stream.run()
            metrics = score(q, answer)
            if judge is not None:
                metrics["judge"] = judge.grade(q.question, q.answer, answer.text)
            row = {
                "id": q.id,
                "mode": mode,
                "kind": q.kind,
                "question": q.question,
                "reference": q.answer,
                "answer": answer.text,
                "found": answer.found,
                "quoted": answer.quoted,
                "checks": list(answer.checks),
                "citations": [
                    {
                        "n": c.n,
                        "source": c.source,
                        "page": c.page,
                        "passage": c.passage,
                        "chunk_id": c.chunk_id,
                    }
                    for c in answer.citations
                ],
                "metrics": metrics,
                "cost": {
                    "first_token_ms": round(answer.timings.get("first_token", 0.0), 1),
                    "total_ms": round(answer.timings.get("total", 0.0), 1),
                    "prompt_tokens": answer.prompt_tokens,
                    "completion_tokens": answer.completion_tokens,
                },
            }
            _append(answers_path, row)
            written += 1
            if progress:
                progress(Answered(mode, resumed + written, total, metrics["score"]))
        _append(out / "memory.jsonl", {"mode": mode, "peak_rss_mb": _peak_rss_mb()})
    summary = summarize(
        read_rows(out / "answers.jsonl"),
        read_rows(out / "retrieval.jsonl"),
        read_rows(out / "memory.jsonl"),
        [q.id for q in questions],
        list(manifest["modes"]),
    )
    (out / "summary.json").write_text(json.dumps(summary.to_dict(), indent=1), encoding="utf-8")
    manifest_path.write_text(json.dumps({**manifest, "complete": True}, indent=1), encoding="utf-8")
    if progress:
        progress(EvalDone(str(out)))
    return EvalRun(out, len(questions), modes, written, resumed, summary)
