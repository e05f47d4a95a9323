"""The evaluation and advice services: held-out questions, scored runs in every mode, and the
advice between RAG and fine-tuning, over one ``context.Context``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..context import Context
from ..embed import embedder_id
from ..errors import InputError, MissingExtraError
from ..events import Progress
from ..finetune.build import UsedChunks, held_out_chunks, manifest_path
from ..generate import Generator, create_base_and_tuned, create_generator
from ..retrieve import Retriever
from .advise import (
    Advice,
    Novelty,
    advise,
    chunk_texts,
    find_evaluations,
    general_english,
    latest_evaluation,
    prose_sample,
    workspace_facts,
)
from .build import QuestionBuildReport, build_questions
from .compare import compare_runs
from .html import write_html
from .judge import Judge, openai_judge
from .questions import EvalQuestion, QuestionReport, check_questions, evidence_pages, load_questions
from .report import write_markdown
from .run import RETRIEVAL_MODES, TUNED_MODES, EvalRun, run_eval
from .summary import Summary

__all__ = ["Evaluation", "HeldOut", "Report", "build_questions"]


@dataclass(frozen=True)
class Report:
    """A finished run's summary with the two pages written from it."""

    summary: Summary
    markdown: Path
    page: Path


@dataclass(frozen=True)
class HeldOut:
    """The passages a new training or question set must not use, and where each part came from
    (one line each, for the user)."""

    chunks: UsedChunks = UsedChunks()
    notes: list[str] = field(default_factory=list)


class Evaluation:
    """Questions written from the store, and runs that answer and score them; ``retriever``
    gives the retriever the rag modes search with (the answering service's)."""

    def __init__(self, ctx: Context, retriever: Callable[[], Retriever]):
        self.ctx = ctx
        self.retriever = retriever

    def build_questions(self, out: str | Path, **options: Any) -> QuestionBuildReport:
        """Held-out questions with reference answers from the store's passages, written by the
        context's generator (``evaluate.build.build_questions``: ``n``, ``exclude``, ``seed``,
        ``source``, ``progress``)."""
        return build_questions(self.ctx.store, self.ctx.generator, out, **options)

    def evaluate(
        self,
        questions: Sequence[EvalQuestion],
        modes: Sequence[str],
        out: str | Path,
        progress: Progress | None = None,
        judge: Judge | None = None,
    ) -> EvalRun:
        """Answer ``questions`` in each of ``modes`` (``base``, ``rag``, ``ft``, ``rag+ft``) and
        score them into ``out`` (``evaluate.run``). The fine-tuned modes take
        ``generator.adapter``; the base and the tuned model share one runtime."""
        ctx = self.ctx
        wanted = set(modes)
        gen = ctx.settings.generator
        if TUNED_MODES & wanted and not gen.adapter:
            raise InputError(
                "modes ft and rag+ft need an adapter: --adapter RUN (an `expert train` run, a PEFT "
                "folder or a GGUF LoRA)"
            )
        if RETRIEVAL_MODES & wanted and not ctx.store.stats().chunks:
            raise InputError(
                f"modes rag and rag+ft retrieve from the workspace, and {ctx.path} holds no documents; "
                "`expert ingest` some, or evaluate --modes base,ft"
            )
        tuned: Generator | None = None
        if TUNED_MODES & wanted:
            base, tuned = create_base_and_tuned(gen)
        else:
            base = ctx.generator if not gen.adapter else create_generator(replace(gen, adapter=""))
        generators = {m: tuned if m in TUNED_MODES and tuned is not None else base for m in modes}
        identity = {
            "base": base.name,
            "tuned": tuned.name if tuned is not None else None,
            "embedder": embedder_id(ctx.settings.embedder),
            "retrieval": asdict(ctx.settings.retrieval),
            "answer": asdict(ctx.settings.answer),
            "max_tokens": gen.max_tokens,
            "temperature": gen.temperature,
        }
        run = run_eval(
            questions,
            generators,
            self.retriever(),
            ctx.settings.answer,
            Path(out),
            identity,
            max_tokens=gen.max_tokens,
            temperature=gen.temperature,
            progress=progress,
            judge=judge,
        )
        write_markdown(run.out, run.summary)
        write_html(run.out, run.summary)
        return run

    # -- question sets ---------------------------------------------------------------------------
    @staticmethod
    def questions(path: str | Path) -> list[EvalQuestion]:
        """The questions of ``path``, or a one-line error for a file that is not usable."""
        return load_questions(path)

    @staticmethod
    def check(path: str | Path) -> QuestionReport:
        """What is wrong with the question file ``path``, without raising for it."""
        return check_questions(path)

    @staticmethod
    def judge(url: str, model: str, key_env: str = "") -> Judge:
        """A judge model served at ``url`` (an OpenAI-compatible ``/v1``) as ``model``."""
        return openai_judge(url, model, key_env)

    @staticmethod
    def held_out(named: Sequence[str | Path], roots: Sequence[Path], building: str) -> HeldOut:
        """What a set being built (``building``: "dataset build" or "eval build") must not draw
        from: the chunk lists of the sets ``named``, the pages a question file of one's own cites
        as evidence (it has no chunk list), and every set of the other kind under ``roots``."""
        other = "eval build" if building == "dataset build" else "dataset build"
        own = [
            p
            for p in named
            if building == "dataset build"
            and not manifest_path(p).is_file()
            and not str(p).endswith(".chunks.json")
        ]
        chunks, manifests = held_out_chunks([p for p in named if p not in own], roots, other)
        notes = [f"holding out the passages listed in {m}" for m in manifests]
        for path in own:
            pages = evidence_pages(path)
            chunks = chunks | pages
            notes.append(f"holding out the {len(pages.places)} page(s) {path} cites as evidence")
        return HeldOut(chunks, notes)

    # -- finished runs, read back ------------------------------------------------------------------
    @staticmethod
    def latest(roots: Sequence[Path]) -> Path | None:
        """The most recently finished run under ``roots``."""
        return latest_evaluation(roots)

    @staticmethod
    def runs(root: Path) -> list[tuple[str, Path]]:
        """The finished ``eval run`` folders under ``root``, each with its name relative to it."""
        root = root.resolve()
        return [(str(p.resolve().relative_to(root)), p) for p in find_evaluations([root])]

    @staticmethod
    def summary(folder: Path) -> Summary:
        """A finished run's summary."""
        return Summary.load(folder)

    @staticmethod
    def report(folder: str | Path) -> Report:
        """``summary.md`` and ``report.html`` of a finished run, written again."""
        summary = Summary.load(folder)
        return Report(summary, write_markdown(folder, summary), write_html(folder, summary))

    @staticmethod
    def compare(before: str | Path, after: str | Path) -> dict[str, Any]:
        """Two runs of the same questions: each shared mode and retrieval, with paired tests."""
        return compare_runs(before, after)

    @staticmethod
    def report_page(folder: Path) -> Path:
        """A finished run's ``report.html``, written first if it is not there."""
        page = folder / "report.html"
        if not page.is_file():
            write_html(folder, Summary.load(folder))
        return page


class Advising:
    """RAG, fine-tuning or both: the advice, from an evaluation, the store and the model."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def novelty(self, texts: Sequence[str] | None = None) -> Novelty | None:
        """The base model's perplexity on the workspace's prose against plain English; None when
        there is too little prose or the model is not a local GGUF file (an API model's
        perplexity cannot be read). ``texts``: the chunks' texts, if read already."""
        from ..generate.perplexity import gguf_perplexities
        from ..models import gguf_file, resolve_model

        gen = self.ctx.settings.generator
        if gen.backend != "llama-cpp":
            return None
        prose = prose_sample(chunk_texts(self.ctx.store) if texts is None else texts)
        if not prose:
            return None
        model = resolve_model(gen.model)
        domain, general = gguf_perplexities(
            gguf_file(model), [prose, [general_english()]], threads=gen.threads
        )
        return Novelty(domain.value, general.value, domain.tokens, model.name)

    def advise(self, evaluation: str | Path | None = None, novelty: bool = True) -> Advice:
        """RAG, fine-tuning or both, from the evaluation in the folder ``evaluation`` (if any),
        the workspace's size and churn, and (``novelty``) how new its language is to the model."""
        summary = Summary.load(evaluation) if evaluation is not None else None
        texts = chunk_texts(self.ctx.store)  # read once for the size and the prose sample
        measured, unmeasured = None, ""
        if novelty:
            try:
                measured = self.novelty(texts)
            except MissingExtraError as exc:  # the advice stands on the rest, and says what it lacks
                unmeasured = f"how new the domain's language is to the model was not measured: {exc}"
        advice = advise(
            summary,
            workspace_facts(self.ctx.store, texts=texts),
            measured,
            str(evaluation) if evaluation is not None else None,
        )
        if unmeasured:
            advice.next_steps.append(unmeasured)
        return advice
