"""Grounded answers: retrieve, decide whether the store holds an answer, prompt, stream, cite.

``AnswerStream`` is the one code path. It takes any generator over any retriever, or no
retriever at all (the model alone), so the same question can be put to a base and a fine-tuned
model, with and without retrieval::

    answer = AnswerStream("What was capex in 2023?", generator, retriever, AnswerSettings()).run()

``Workspace.ask`` drains one; ``Workspace.ask_stream`` hands it to a caller that prints as it
goes. Nothing runs until the stream is iterated or its ``hits``, ``query`` or ``prompt`` are read.
The steps, each timed (``Answer.timings``, ms):

1. ``rewrite``: in a chat, the follow-up is rewritten into a standalone question by the generator
   (``"and in 2023?"`` → ``"What was the operating margin in 2023?"``) so retrieval sees the whole
   question; the original question still goes to the model, after the earlier turns.
2. ``retrieve``: the configured hybrid search, plus the cosine similarity of the best passage. Under
   ``answer.min_relevance``, or when a name the question asks about (``Tesla``) is in no
   passage, the answer is "not in the workspace" and no model is asked.
3. ``prompt``: numbered sources fitted to the window with the generator's own token counts, with
   the summaries of the documents they come from.
4. ``first_token`` and ``generate``: the model's answer, streamed through ``CitationFilter`` so a
   citation to nothing never reaches the reader. Sentences the model left uncited are then matched
   to a source by their figures and words (``answer.attribute``); those citations are marked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .config import AnswerSettings
from .coverage import Coverage
from .errors import InputError, WorkspaceError
from .generate import CitationFilter, Generator, arithmetic, build_prompt, complete, resolve_citations
from .generate.checks import Draft, run_checks
from .generate.citations import attribute_citations, uncite
from .generate.grounding import Evidence, excerpts, figures_without_years, select_evidence
from .generate.prompt import EVIDENCE_ASK, EVIDENCE_LEAD, Prompt
from .generate.tidy import tidy_answer
from .generate.verify import degenerate
from .language import DEFAULT, code, detect
from .question import Question
from .retrieve import Retriever
from .store import SearchFilter
from .types import Answer, Hit

NOT_FOUND = (
    "The workspace does not contain an answer to this question: no passage is close enough to it. "
    "Try other words, or add the documents that hold the answer."
)
REWRITE_INSTRUCTION = (
    "Rewrite the user's last question as one standalone question that can be understood without "
    "the conversation. Keep every name, year and figure it refers to. Reply with the question only."
)


SPELLING_DEPTH = 5  # a misspelled rare word is looked for in the documents of 5x the passages


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def rewrite_question(generator: Generator, history: Sequence[tuple[str, str]], question: str) -> str:
    """A standalone version of ``question`` given the earlier ``(question, answer)`` turns.

    Small models sometimes answer instead of rewriting; an empty or runaway reply falls back to
    the previous question followed by this one, which keyword and dense search both handle well.
    """
    if not history:
        return question
    lines = []
    for before, answer in history[-2:]:
        lines.append(f"User: {before}")
        lines.append(f"Assistant: {' '.join(answer.split())[:300]}")
    messages = [
        {"role": "system", "content": REWRITE_INSTRUCTION},
        {
            "role": "user",
            "content": "Conversation:\n" + "\n".join(lines) + f"\n\nLast question: {question}\n\n"
            "Standalone question:",
        },
    ]
    reply = complete(generator, messages, max_tokens=64).strip()
    first = reply.splitlines()[0].strip().strip('"').strip() if reply else ""
    if first.lower().startswith("standalone question:"):
        first = first.split(":", 1)[1].strip()
    if not first or len(first) > 3 * len(question) + 200:
        return f"{history[-1][0]} {question}"
    return first


NO_FIGURE = (
    "The passages found do not state this figure clearly; read the sources below, or ask with the "
    "words the documents use."
)
NO_ANSWER = (
    "The passages found do not answer this clearly; read the sources below, or ask with the words "
    "the documents use."
)
NO_OPERANDS = (
    "The passages found do not state every figure this computation needs; read the sources below, "
    "or ask for each figure on its own."
)
_CHECK_EVERY = 8  # streamed pieces between checks for repetition


@dataclass
class _Plan:
    question: str
    query: str
    hits: list[Hit]
    relevance: float | None
    prompt: Prompt | None
    timings: dict[str, float] = field(default_factory=dict)
    evidence: Evidence | None = None
    refusal: str = NOT_FOUND  # what to say when prompt is None
    analysis: Question | None = None  # the question, analysed once (question.py)
    spelled: list[tuple[str, str]] = field(default_factory=list)  # (asked, searched) near spellings
    computation: arithmetic.Computation | None = None  # the operation the question names, computed


def evidence_line(evidence: Evidence) -> str:
    """What the model is told after the question, where a small model heeds it most."""
    return f'{EVIDENCE_LEAD} [{evidence.source}]: "{evidence.text}"\n{EVIDENCE_ASK}'


class AnswerStream:
    """Iterate for the answer's text as it is generated; ``answer`` is set once it is done.

    ``hits``, ``query`` and ``prompt`` are known before the first piece (reading one runs the
    retrieval), so a caller can show what is being read while the model writes. ``retriever``
    None asks the model alone; ``history`` holds a chat's earlier ``(question, answer)`` turns.
    """

    def __init__(
        self,
        question: str,
        generator: Generator,
        retriever: Retriever | None,
        settings: AnswerSettings,
        *,
        k: int | None = None,
        where: SearchFilter | None = None,
        history: Sequence[tuple[str, str]] = (),
        max_tokens: int = 384,
        temperature: float = 0.0,
    ):
        if not question.strip():
            raise InputError("empty question; ask something")
        self.question = question.strip()
        self.generator = generator
        self.retriever = retriever
        self.settings = settings
        self.k = k
        self.where = where or SearchFilter()
        self.history = list(history)[-settings.history_turns :] if settings.history_turns else []
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.answer: Answer | None = None
        self._started = time.perf_counter()
        self._planned: _Plan | None = None

    def _analyse(self) -> Question:
        """The question analysed once; its language is the text's, else the collection's."""
        fallback = DEFAULT
        if self.retriever is not None:
            recorded = self.retriever.store.languages()
            configs = {
                recorded.get(c, "") for c in ([self.where.collection] if self.where.collection else recorded)
            }
            if len(configs) == 1:
                fallback = code(configs.pop()) or DEFAULT
        return Question.analyse(self.question, fallback)

    @property
    def _plan(self) -> _Plan:
        if self._planned is None:
            self._planned = self._prepare()
        return self._planned

    @property
    def hits(self) -> tuple[Hit, ...]:
        return tuple(self._plan.hits)

    @property
    def query(self) -> str:
        return self._plan.query

    @property
    def prompt(self) -> Prompt | None:
        """The messages the model gets; None when the store holds nothing relevant."""
        return self._plan.prompt

    def _prepare(self) -> _Plan:
        question, history, settings = self.question, self.history, self.settings
        timings: dict[str, float] = {}
        if self.retriever is None:
            messages = [
                m
                for q, a in history
                for m in ({"role": "user", "content": q}, {"role": "assistant", "content": a})
            ]
            messages.append({"role": "user", "content": question})
            prompt = Prompt(
                tuple(messages), (), 0, sum(self.generator.count_tokens(m["content"]) for m in messages)
            )
            return _Plan(question, question, [], None, prompt, timings)
        t = time.perf_counter()
        query = rewrite_question(self.generator, history, question)
        if history:
            timings["rewrite"] = _ms(t)
        t = time.perf_counter()
        hits, relevance = self.retriever.search_scored(query, self.k or settings.k, where=self.where)
        timings["retrieve"] = _ms(t)
        if not hits and self.retriever.is_empty():  # counted only when nothing was found
            raise WorkspaceError("the workspace has no documents; add some with `expert ingest PATH`")
        threshold = settings.min_relevance
        if not hits or (threshold > 0 and relevance is not None and relevance < threshold):
            return _Plan(question, query, hits, relevance, None, timings)
        analysis = self._analyse()
        spelled: list[tuple[str, str]] = []
        coverage = Coverage(self.retriever, self.where, SPELLING_DEPTH * (self.k or settings.k))
        if missing := coverage.missing(analysis, hits):
            # a near spelling of a word the passages found hold ("Tallahasee") is searched as that word
            fixes = coverage.spellings(missing, analysis, hits, query)
            if any(fixes.values()):  # those found: the rest may be held where the right spelling leads
                corrected = question
                for asked, found in fixes.items():
                    if found:
                        corrected = re.sub(rf"\b{re.escape(asked)}\b", found, corrected)
                        spelled.append((asked, found))
                t = time.perf_counter()
                for asked, found in spelled:
                    query = re.sub(rf"\b{re.escape(asked)}\b", found, query)
                hits, relevance = self.retriever.search_scored(query, self.k or settings.k, where=self.where)
                timings["retrieve"] += _ms(t)
                analysis = Question.analyse(corrected, analysis.language)
                question = corrected
                missing = coverage.missing(analysis, hits)
        if missing:
            names = " or ".join(f'"{name}"' for name in missing)
            refusal = (
                f"The workspace does not contain an answer to this question: nothing found in it is about {names}. "
                "Add the documents about it, or check the spelling."
            )
            return _Plan(
                self.question,
                query,
                hits,
                relevance,
                None,
                timings,
                refusal=refusal,
                analysis=analysis,
                spelled=spelled,
            )
        t = time.perf_counter()
        summaries: Mapping[str, str] = (
            self.retriever.summaries({h.source for h in hits}) if settings.summaries else {}
        )

        shown = excerpts(analysis, hits, settings.excerpt_lines) if settings.excerpt_lines > 0 else ()

        def build(after_question: str = "") -> Prompt:
            return build_prompt(
                question,
                hits,
                self.generator.count_tokens,
                self.generator.context_window,
                reserve=self.max_tokens,
                summaries=summaries,
                history=history,
                reminder=settings.reminder,
                after_question=after_question,
                shown=shown,
            )

        prompt = build()
        evidence = select_evidence(analysis, prompt.sources) if settings.evidence else None
        if evidence is not None:
            with_line = build(evidence_line(evidence))
            # the line takes room from the passages: keep it only if its source keeps its number
            if with_line.sources[: evidence.source] == prompt.sources[: evidence.source]:
                prompt = with_line
            else:
                evidence = None
        computation = arithmetic.compute(analysis, prompt.sources) if settings.evidence else None
        timings["prompt"] = _ms(t)
        return _Plan(
            self.question,
            query,
            hits,
            relevance,
            prompt,
            timings,
            evidence,
            analysis=analysis,
            spelled=spelled,
            computation=computation,
        )

    @property
    def quotes(self) -> bool:
        """Whether an answer that fails its checks is replaced (True) or flagged (False)."""
        policy = self.settings.unsupported
        if policy == "auto":  # the model's entry decides (models.py)
            return getattr(self.generator, "on_failed_check", "flag") == "quote"
        return policy == "quote"

    def writes(self, language: str) -> bool:
        """Whether the generator writes ``language`` (its model's entry says; unsaid: any)."""
        languages = getattr(self.generator, "languages", ())
        return not languages or language in languages

    def __iter__(self) -> Iterator[str]:
        plan = self._plan
        if plan.prompt is None:
            yield plan.refusal
            self.answer = self._finish(plan.refusal, found=False)
            return
        if plan.computation is not None or (plan.analysis is not None and arithmetic.needed(plan.analysis)):
            # the operation the question names, on figures the passages state, each cited; or
            # plainly no figure when one is missing (a small model cannot compute either)
            text = plan.computation.text() if plan.computation else NO_OPERANDS
            yield text
            self.answer = self._finish(text, computed=True)
            return
        if (
            plan.evidence is not None
            and plan.analysis is not None
            and not self.writes(plan.analysis.language)
            and not self.writes(detect(plan.evidence.text, plan.analysis.language))
        ):
            # the model writes neither the question's language nor its documents': the line that
            # answers, in its own words (a German question over English documents is answered by
            # the model, in English, from the English passages)
            text = plan.evidence.quote()
            yield text
            self.answer = self._finish(text, language=plan.analysis.language)
            return
        sources = plan.prompt.sources
        check = CitationFilter(len(sources)) if sources else None
        hold = self.quotes and bool(sources)  # the answer may be replaced: show it once checked
        parts: list[str] = []
        raw: list[str] = []
        repeated = False
        t = time.perf_counter()
        for piece in self.generator.stream(
            plan.prompt.messages, max_tokens=self.max_tokens, temperature=self.temperature
        ):
            if not raw:
                plan.timings["first_token"] = _ms(t)
            raw.append(piece)
            if len(raw) % _CHECK_EVERY == 0 and degenerate("".join(raw)):
                repeated = True
                break
            out = check.feed(piece) if check else piece
            if out:
                parts.append(out)
                if not hold:
                    yield out
        if check:
            tail = check.flush()
            if tail:
                parts.append(tail)
                if not hold:
                    yield tail
        plan.timings["generate"] = _ms(t)
        answer = self._finish(
            "".join(parts).strip(),
            removed=tuple(check.invalid) if check else (),
            completion_tokens=self.generator.count_tokens("".join(raw)) if raw else 0,
            repeated=repeated,
        )
        if hold:
            yield answer.text
        self.answer = answer

    def _finish(
        self,
        text: str,
        found: bool = True,
        removed: tuple[int, ...] = (),
        completion_tokens: int = 0,
        repeated: bool = False,
        language: str = "",
        computed: bool = False,
    ) -> Answer:
        plan = self._plan
        sources = plan.prompt.sources if plan.prompt else ()
        attributed: list[int] = []
        unsupported: list[str] = []
        checks: list[str] = []
        quoted = False
        if language:  # quoted, as the model does not write the question's language
            checks, quoted = [f"the model does not write {language}"], True
        elif computed:
            pass  # written here from the passages' figures, not by the model: nothing to check
        elif found and sources:
            text = tidy_answer(text)
            analysis = plan.analysis
            assert analysis is not None  # analysed whenever there are sources
            if self.settings.attribute:
                text, attributed = attribute_citations(text, sources, words=analysis.words)
            # a question that names a measure in any words ("What was net income?") wants a figure
            # when the line that answers it states one
            wants_figure = not analysis.open and bool(
                plan.evidence and (plan.evidence.cell or figures_without_years(plan.evidence.text))
            )
            verdicts = run_checks(Draft(text, analysis, sources, wants_figure, repeated))
            failed = [v for v in verdicts if not v.passed]
            checks = [v.failed for v in failed]
            unsupported = [d for v in failed if v.failed == "unsupported figure" for d in v.details]
            # text copied from a passage that has nothing to do with the question: an order obeyed
            obeyed = [
                int(d) for v in failed if v.failed == "copies a passage off the question" for d in v.details
            ]
            if obeyed:
                text = uncite(text, obeyed)  # that passage is never cited as support
                attributed = [n for n in attributed if n not in obeyed]
            if checks and self.quotes:
                fallback = NO_FIGURE if "no figure" in checks or analysis.wants_figure else NO_ANSWER
                evidence = plan.evidence if plan.evidence and plan.evidence.source not in obeyed else None
                text = evidence.quote() if evidence else fallback
                attributed, unsupported, quoted = [], [], True
        text, citations, _ = resolve_citations(text, sources)
        plan.timings["total"] = _ms(self._started)
        return Answer(
            text=text,
            citations=citations,
            hits=tuple(plan.hits),
            question=plan.question,
            query=plan.query,
            found=found,
            model=self.generator.name,
            relevance=plan.relevance,
            removed_citations=removed,
            attributed=tuple(attributed),
            unsupported=tuple(unsupported),
            checks=tuple(checks),
            quoted=quoted,
            evidence=f"[{plan.evidence.source}] {plan.evidence.text}" if plan.evidence else "",
            spelled=tuple(plan.spelled),
            computation=plan.computation.operation if plan.computation else "",
            dropped=plan.prompt.dropped if plan.prompt else 0,
            prompt_tokens=plan.prompt.tokens if plan.prompt else 0,
            completion_tokens=completion_tokens,
            timings=dict(plan.timings),
        )

    def run(self) -> Answer:
        """Generate the whole answer and return it."""
        for _ in self:
            pass
        assert self.answer is not None
        return self.answer
