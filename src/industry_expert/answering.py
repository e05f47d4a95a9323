"""The answering service: search, answers, the document summaries answers show, and the fusion
weights searches use, over one context."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from . import fusion
from .answer import AnswerStream
from .config import RetrievalSettings
from .context import Context
from .errors import ExpertError, InputError
from .evaluate.questions import load_questions
from .events import FusionDone, Progress
from .generate import Generator
from .retrieve import Retriever
from .store import SearchFilter
from .store.replica import writing
from .summarize import SummaryReport, summarize_documents
from .types import Answer, Hit


class Answering:
    """Search and answer over the context's store; ``retriever`` applies the stored fusion fit."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.retriever = self._retriever(fusion.applied(ctx.settings.retrieval, fusion.load(ctx.store)))

    def _retriever(self, settings: RetrievalSettings) -> Retriever:
        """A retriever over the store and the context's embedder with ``settings``."""
        return Retriever(self.ctx.store, settings, lambda: self.ctx.embedder)

    def search(
        self,
        query: str,
        k: int = 5,
        mode: str | None = None,
        source: str | None = None,
        collection: str | None = None,
        collections: frozenset[str] | None = None,
    ) -> list[Hit]:
        """The ``k`` passages that best answer ``query``; ``source`` is a path or glob
        (``path_matches``); ``collections``, when given, the only collections searched."""
        return self.retriever.search(query, k, mode, SearchFilter(collection, source, collections))

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        source: str | None = None,
        collection: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        retrieval: bool = True,
        collections: frozenset[str] | None = None,
        generator: Generator | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AnswerStream:
        """Start answering ``question``: iterate the result for text, then read its ``answer``.

        ``history`` holds a chat's earlier ``(question, answer)`` turns; ``retrieval=False`` asks
        the model alone (a fine-tuned model without the workspace's passages). ``collections``
        limits what is read (a server key's); ``generator`` answers instead of the configured one.
        """
        settings = self.ctx.settings
        return AnswerStream(
            question,
            generator or self.ctx.generator,
            self.retriever if retrieval else None,
            settings.answer,
            k=k,
            where=SearchFilter(collection, source, collections),
            history=history,
            max_tokens=settings.generator.max_tokens if max_tokens is None else max_tokens,
            temperature=settings.generator.temperature if temperature is None else temperature,
        )

    def ask(
        self,
        question: str,
        k: int | None = None,
        source: str | None = None,
        collection: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        retrieval: bool = True,
    ) -> Answer:
        """Answer ``question`` from the workspace, citing the passages it used."""
        return self.ask_stream(question, k, source, collection, history, retrieval).run()

    # -- the fusion weights ---------------------------------------------------------------------
    def tune_fusion(self, questions: str | Path, progress: Progress | None = None) -> fusion.FusionFit:
        """Fit the keyword/dense/routing weights on ``questions`` (a question file with evidence,
        as ``expert eval`` reads) and store the fit; searches use it from now on when it held on
        held-out questions (``fusion``). The fit is written once, at the end: an interrupted or
        failed one leaves the previous fit in place."""
        settings, store = self.ctx.settings, self.ctx.store
        chunks = store.stats().chunks
        if chunks == 0:
            raise InputError("the workspace holds no documents yet; ingest them, then fit on your questions")
        if settings.retrieval.mode != "hybrid":
            raise InputError(
                f"retrieval.mode is {settings.retrieval.mode}: searches do not fuse keyword and dense "
                "runs, so there are no weights to fit; set it to hybrid in expert.toml first"
            )
        asked = load_questions(questions)
        configured = self._retriever(settings.retrieval)
        cases, left_out = fusion.prepare(configured, asked, progress)
        result = fusion.fit(configured, cases, str(Path(questions).resolve()), chunks)
        fusion.save(store, result)
        self.retriever = self._retriever(fusion.applied(settings.retrieval, result))
        if progress:
            progress(FusionDone(left_out))
        return result

    def summarize(self, force: bool = False, progress: Progress | None = None) -> SummaryReport:
        """Write a summary for every document that has none (all of them with ``force``), with
        the context's generator; a write job, on the primary of a replicated store."""
        ctx = self.ctx
        with writing(ctx.store):
            return summarize_documents(
                ctx.store, lambda: ctx.generator, ctx.settings.summary, force, progress
            )

    def refit_fusion(self) -> str:
        """After an ingest that changed the workspace by half or more since the fusion weights were
        fitted, fit them again on the same question file, when it is still there; what happened, in
        one line ("" when nothing was due). A refit that fails keeps the previous fit."""
        fit = fusion.load(self.ctx.store)
        if fit is None or not fusion.stale(fit, self.ctx.store.stats().chunks):
            return ""
        if not Path(fit.source).is_file():
            return f"fusion weights not fitted again: {fit.source} is gone (expert tune fusion QUESTIONS)"
        try:
            return "fusion weights fitted again: " + self.tune_fusion(fit.source).summary()
        except ExpertError as exc:
            return f"fusion weights not fitted again ({exc}); the previous fit stays"

    def reset_fusion(self) -> bool:
        """Forget the stored fit (the configured weights apply again); whether there was one."""
        had = fusion.load(self.ctx.store) is not None
        fusion.save(self.ctx.store, None)
        self.retriever = self._retriever(self.ctx.settings.retrieval)
        return had

    def fusion_status(self, chunks: int) -> str:
        """The weights searches use and where they come from, for ``status``."""
        settings = self.ctx.settings.retrieval
        fit = fusion.load(self.ctx.store)
        configured = fusion.Weights.of(settings)
        if fit is None:
            return f"configured ({configured}); fit them on your questions: expert tune fusion QUESTIONS"
        line = fit.summary()
        if fit.used and not settings.fitted:
            line = f"configured ({configured}; retrieval.fitted = false); {line}"
        if fusion.stale(fit, chunks):
            line += f"; fitted at {fit.chunks:,} chunks, now {chunks:,}: run expert tune fusion again"
        return line
