"""The evaluation and advice services: held-out questions, scored runs in every mode, and the
advice between RAG and fine-tuning, over one ``context.Context``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ..context import Context
from ..embed import embedder_id
from ..errors import InputError, MissingExtraError
from ..events import Progress
from ..generate import Generator, create_base_and_tuned, create_generator
from ..retrieve import Retriever
from .advise import (
    Advice,
    Novelty,
    advise,
    chunk_texts,
    find_evaluations,
    general_english,
    prose_sample,
    workspace_facts,
)
from .build import QuestionBuildReport, build_questions
from .html import write_html
from .judge import Judge
from .questions import EvalQuestion
from .report import load_summary
from .run import RETRIEVAL_MODES, TUNED_MODES, EvalRun, run_eval


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
        return run_eval(
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

    # -- finished runs, read back ------------------------------------------------------------------
    @staticmethod
    def runs(root: Path) -> list[tuple[str, Path]]:
        """The finished ``eval run`` folders under ``root``, each with its name relative to it."""
        root = root.resolve()
        return [(str(p.resolve().relative_to(root)), p) for p in find_evaluations([root])]

    @staticmethod
    def summary(folder: Path) -> dict[str, Any]:
        """A finished run's ``summary.json``."""
        return load_summary(folder)

    @staticmethod
    def report_page(folder: Path) -> Path:
        """A finished run's ``report.html``, written first if it is not there."""
        page = folder / "report.html"
        if not page.is_file():
            write_html(folder, load_summary(folder))
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
        summary = load_summary(evaluation) if evaluation is not None else None
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
