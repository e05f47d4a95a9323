"""Synthesize an evaluation question set from passages no training example used.

``build_questions`` walks the workspace's chunks in a seeded random order, skipping every chunk a
training set was made from or shown (the ``.chunks.json`` manifests ``expert dataset build``
writes, matched by id and by text, so a re-ingest does not let them back in). For each passage the
generator writes a question of the kind the set needs most (figure lookup, definition, yes/no,
explanation; ``MIX``), then answers it from the passage. A pair is kept only when:

- the reply is one real question, not about "the text" (``parse_question``);
- the question is about the passage (shares a content word or figure with it);
- the answer is supported by the passage: every figure in it is there, and it says something the
  question does not (``grounded``);
- asked again in other words, the generator gives the same answer (``consistent``): with
  ``grounded``, the check that the question is answerable from its passage;
- its kind, inferred from the question and answer as ``eval check`` does, matches the intent.

Pairs are appended to ``OUT.partial.jsonl`` as they are made, so an interrupted build resumes.
At the end the set is drawn to the mix (short kinds filled from the others, and said so), and
``OUT`` plus ``OUT.chunks.json`` (the passages used, so a later ``dataset build --exclude OUT``
keeps training away from them) are written.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BuildError
from ..events import Finished, Progress, QuestionsStarted, QuestionWritten, ignore
from ..figures import figures
from ..finetune.build import (
    ANSWER_PROMPT,
    QUESTION_PROMPT,
    UsedChunks,
    clean_answer,
    fingerprint,
    grounded,
    parse_question,
    passages,
    write_used_chunks,
)
from ..generate import Generator, complete
from ..generate.citations import content_terms
from ..store import Store
from ..types import Hit
from .metrics import numeric_match, token_f1
from .questions import KINDS, infer_kind

MIX = {"figure": 0.4, "definition": 0.2, "yes-no": 0.2, "explanation": 0.2}
TRIES_PER_QUESTION = 6  # passages tried per wanted question before the build settles for fewer
GIVE_UP = 4  # tries per place of a kind before its places go to the kinds the generator writes

# The same "quiz question" wording that makes even the shipped 135M model write a question
# (finetune.build), steered towards one kind.
QUESTION_PROMPTS = {
    "figure": "Text: {passage}\n\nWrite a quiz question whose answer is a number given in the text. "
    "Reply in the form:\nQuestion: What was ...?",
    "definition": "Text: {passage}\n\nWrite a quiz question asking what a term means. "
    "Reply in the form:\nQuestion: What is ...?",
    "yes-no": "Text: {passage}\n\nWrite a quiz question about a fact in the text that is answered "
    "with yes or no. Reply in the form:\nQuestion: ...?",
    "explanation": "Text: {passage}\n\nWrite a quiz question starting with Why or How about a fact "
    "in the text. Reply in the form:\nQuestion: ...?",
}
ANSWER_PROMPTS = {
    "figure": "Answer the question using only the passage, in one sentence, with the exact figure it "
    "gives.\n\nPassage:\n{passage}\n\nQuestion: {question}",
    "definition": "Answer the question using only the passage, in one sentence."
    "\n\nPassage:\n{passage}\n\nQuestion: {question}",
    "yes-no": "Answer the question using only the passage: start with Yes or No, then give the reason "
    "in one sentence.\n\nPassage:\n{passage}\n\nQuestion: {question}",
    "explanation": "Answer the question using only the passage, in one or two sentences."
    "\n\nPassage:\n{passage}\n\nQuestion: {question}",
}


@dataclass
class QuestionBuildReport:
    out: str
    questions: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    short: dict[str, int] = field(default_factory=dict)  # kinds the mix wanted more of
    tried: int = 0  # passages tried
    held_out: int = 0  # chunks skipped because a training set used them
    rejected: int = 0  # replies that were no usable question or answer
    off_passage: int = 0  # questions sharing nothing with their passage
    ungrounded: int = 0  # answers the passage does not support
    inconsistent: int = 0  # answers that change when the question is asked again in other words
    duplicates: int = 0
    resumed: int = 0
    exhausted: bool = False  # every usable passage was tried before the set was full

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def quotas(n: int, mix: dict[str, float] | None = None) -> dict[str, int]:
    """How many questions of each kind make ``n`` (largest remainders, so they sum to ``n``).

    >>> quotas(10)
    {'figure': 4, 'definition': 2, 'yes-no': 2, 'explanation': 2}
    """
    mix = mix or MIX
    total = sum(mix.values())
    exact = {k: n * mix.get(k, 0) / total for k in KINDS}
    out = {k: int(v) for k, v in exact.items()}
    for k in sorted(KINDS, key=lambda k: out[k] - exact[k])[: n - sum(out.values())]:
        out[k] += 1
    return out


def has_figure(text: str) -> bool:
    """Whether ``text`` states an amount beyond years and list numbers: a figure question needs one."""
    return any(
        not f.year_like and (abs(f.number) >= 10 or f.percent or f.money or f.decimals) for f in figures(text)
    )


def given_up(kind: str, have: Counter[str], quota: dict[str, int], tries: Counter[str]) -> bool:
    """Whether ``kind`` is still short after ``GIVE_UP`` tries per place: its places go to others."""
    return have[kind] < quota[kind] and tries[kind] >= GIVE_UP * quota[kind]


def wanted_kind(have: Counter[str], quota: dict[str, int], passage: str, tries: Counter[str]) -> str | None:
    """The kind still below its quota that ``passage`` can serve (a figure needs a figure) and
    that has had the fewest tries for its quota, so a kind the generator fails at does not take
    every passage. Once such a kind is given up, the kinds that work fill its places."""

    def fits(k: str) -> bool:
        return k != "figure" or has_figure(passage)

    working = [k for k in KINDS if quota[k] and not given_up(k, have, quota, tries)]
    choices = [k for k in working if have[k] < quota[k] and fits(k)]
    if not choices and sum(have.values()) < sum(quota.values()):
        choices = [k for k in working if fits(k)]
    if not choices:
        return None
    return min(choices, key=lambda k: (tries[k] / quota[k], -quota[k]))


# Words a question about any passage may use ("What does the term X mean?"): no sign it is about this one.
_GENERIC = frozenset({"term", "terms", "mean", "means", "meaning", "text", "context", "refer", "refers"})


def about(question: str, passage: str) -> bool:
    """Whether ``question`` is about ``passage``: it shares a figure, or two words, with it."""
    shared = (content_terms(question) - _GENERIC) & content_terms(passage)
    return any(t[0].isdigit() for t in shared) or len(shared) >= 2


def make_pair(generator: Generator, passage: str, kind: str) -> tuple[str, str, str]:
    """Ask ``generator`` for a question of ``kind`` on ``passage`` and its answer; returns
    ``(question, answer, problem)`` where ``problem`` is "" for a usable pair, else one of
    ``rejected``, ``off_passage``, ``ungrounded``, ``inconsistent``."""
    question = ""
    for prompt in (QUESTION_PROMPTS[kind], QUESTION_PROMPT):
        reply = complete(
            generator, [{"role": "user", "content": prompt.format(passage=passage)}], max_tokens=80
        )
        question = parse_question(reply)
        if question:
            break  # a small model often ignores the kind's wording; the plain quiz prompt is the fallback
    if not question:
        return "", "", "rejected"
    if not about(question, passage):
        return question, "", "off_passage"
    ask = ANSWER_PROMPTS[kind].format(passage=passage, question=question)
    answer = clean_answer(complete(generator, [{"role": "user", "content": ask}], max_tokens=120))
    if not answer:
        return question, "", "rejected"
    if not grounded(answer, passage, question):
        return question, answer, "ungrounded"
    again = clean_answer(
        complete(
            generator,
            [{"role": "user", "content": ANSWER_PROMPT.format(passage=passage, question=question)}],
            max_tokens=120,
        )
    )
    if not consistent(answer, again, kind):
        return question, answer, "inconsistent"
    return question, answer, ""


def consistent(answer: str, again: str, kind: str) -> bool:
    """Whether a second answer, asked in other words, agrees with the first: the same yes or no,
    the same figures, or (with no figure) a token F1 of 0.4 or more. A question whose answer
    changes with the wording is not answerable from its passage (round-trip consistency, Alberti
    et al. 2019).

    >>> consistent("Revenue was $4.2 billion.", "It reached 4.2 billion dollars.", "figure")
    True
    """
    if kind == "yes-no" or infer_kind("", answer) == "yes-no":
        first = [
            a.strip().split(maxsplit=1)[0].strip(".,!").lower() if a.strip() else "" for a in (answer, again)
        ]
        return first[0] == first[1]
    shared = numeric_match(again, answer)
    if shared is not None:
        return shared == 1.0
    return token_f1(again, answer) >= 0.4


def record(hit: Hit, question: str, answer: str, kind: str) -> dict[str, Any]:
    """One question-set line, with its passage as evidence (``evaluate.questions``)."""
    evidence: dict[str, Any] = {"source": Path(hit.source).name}
    if hit.page is not None:
        evidence["pages"] = [hit.page]
    evidence["passage"] = " ".join(hit.text.split())
    return {
        "question": question,
        "answer": answer,
        "kind": kind,
        "evidence": evidence,
        "meta": {"chunk_id": hit.chunk_id, "fingerprint": fingerprint(hit.text), "source": hit.source},
    }


def build_questions(
    store: Store,
    generator: Generator,
    out: str | Path,
    n: int = 100,
    exclude: UsedChunks | None = None,
    mix: dict[str, float] | None = None,
    seed: int = 7,
    source: str | None = None,
    progress: Progress | None = None,
) -> QuestionBuildReport:
    """Write ``n`` held-out questions with reference answers from ``store`` to ``out`` (see the
    module doc)."""
    emit = progress or ignore
    out = Path(out)
    manifest = out.with_suffix(".chunks.json")
    partial = out.with_suffix(".partial.jsonl")
    for path in (out, manifest):
        if path.exists():
            raise BuildError(f"{path} already exists; pick another --out or delete it")
    if n < 1:
        raise BuildError("need -n 1 or more questions")
    ids = [cid for cid, _ in store.all_chunks()]
    if not ids:
        raise BuildError("the workspace has no chunks; ingest documents first")
    held_out = exclude if exclude is not None else UsedChunks()
    quota = quotas(n, mix)
    random.Random(seed).shuffle(ids)

    made: list[dict[str, Any]] = []
    if partial.exists():
        for line in partial.read_text(encoding="utf-8").splitlines():
            try:
                made.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by an interruption; it is made again
    report = QuestionBuildReport(str(out), resumed=len(made))
    tried = {r["meta"]["chunk_id"] for r in made}
    seen_questions = {" ".join(r["question"].lower().split()) for r in made}
    have = Counter(r["kind"] for r in made)
    tries_by_kind: Counter[str] = Counter(have)
    max_tries = TRIES_PER_QUESTION * n

    def candidates() -> Iterator[Hit]:
        for hit in passages(store, ids, source):
            if hit.chunk_id in tried:
                continue
            if hit in held_out:
                report.held_out += 1
                continue
            yield hit

    emit(QuestionsStarted(n, len(made)))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "a", encoding="utf-8") as sink:
        report.exhausted = True
        for hit in candidates():
            settled = all(have[k] >= quota[k] or given_up(k, have, quota, tries_by_kind) for k in KINDS)
            if (settled and len(made) >= n) or report.tried >= max_tries:
                report.exhausted = False
                break
            passage = hit.text.strip()
            kind = wanted_kind(have, quota, passage, tries_by_kind)
            if kind is None:
                continue  # only figure questions are missing and this passage has none
            report.tried += 1
            tries_by_kind[kind] += 1
            tried.add(hit.chunk_id)
            question, answer, problem = make_pair(generator, passage, kind)
            if problem:
                setattr(report, problem, getattr(report, problem) + 1)
                continue
            key = " ".join(question.lower().split())
            if key in seen_questions:
                report.duplicates += 1
                continue
            seen_questions.add(key)
            got = infer_kind(question, answer)
            item = record(hit, question, answer, got)
            sink.write(json.dumps(item, ensure_ascii=False) + "\n")
            sink.flush()
            made.append(item)
            have[got] += 1
            emit(QuestionWritten(min(len(made), n), n, got, question))
    if not made:
        partial.unlink(missing_ok=True)
        raise BuildError(
            f"no usable question from {report.tried} passage(s) ({report.rejected} unusable replies, "
            f"{report.off_passage} off the passage, {report.ungrounded} answers the passage does not "
            f"support, {report.inconsistent} inconsistent, {report.held_out} passages held out for "
            "training); ingest more documents or use a stronger generator (--model, --base-url)"
        )
    chosen = draw(made, quota, n, random.Random(seed))
    report.questions = len(chosen)
    report.kinds = dict(Counter(r["kind"] for r in chosen))
    report.short = {k: quota[k] - report.kinds.get(k, 0) for k in KINDS if report.kinds.get(k, 0) < quota[k]}
    lines = [{"id": f"b{i}", **r} for i, r in enumerate(chosen, 1)]
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    write_used_chunks(manifest, store.get_chunks([r["meta"]["chunk_id"] for r in chosen]), [], "eval build")
    partial.unlink()
    emit(Finished(report.to_dict()))
    return report


def draw(
    made: Sequence[dict[str, Any]], quota: dict[str, int], n: int, rng: random.Random
) -> list[dict[str, Any]]:
    """Up to ``n`` of ``made``: each kind to its quota, then any kind for the places left."""
    by_kind = {k: [r for r in made if r["kind"] == k] for k in KINDS}
    chosen = [r for k in KINDS for r in by_kind[k][: quota[k]]]
    rest = [r for k in KINDS for r in by_kind[k][quota[k] :]]
    chosen += rest[: max(0, n - len(chosen))]
    rng.shuffle(chosen)
    return chosen
