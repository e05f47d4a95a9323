"""A workspace: one folder holding ``expert.toml`` (settings) and, by default, ``store.db``.

This is the Python API the CLI and the server are thin layers over::

    from industry_expert import Workspace

    ws = Workspace.init("ws")                      # or Workspace.open("ws")
    report = ws.ingest(["docs/", "prices.xlsx"])
    for hit in ws.search("capital expenditure in FY2022", k=5):
        print(hit.source, hit.page, hit.score)

A ``Workspace`` is a small facade over parts that work on their own: a ``Store`` (opened by
``open_store(settings.store)``), a ``Retriever`` (hybrid search over the store), an ``Ingestor``
(files into the store), and an embedder and a generator loaded on first use. Each method is one
call into those parts, and each part can be built without a workspace (tests, benchmarks, a
server that shares one model between workspaces).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from . import fusion
from .answer import AnswerStream
from .config import RetrievalSettings, Settings, load_settings, settings_to_toml
from .embed import Embedder, check_embedder, create_embedder, embedder_id
from .errors import (
    ConfigError,
    EmbedderMismatchError,
    ExpertError,
    InputError,
    MissingExtraError,
    WorkspaceError,
)
from .evaluate.advise import (
    Advice,
    Novelty,
    advise,
    chunk_texts,
    general_english,
    prose_sample,
    workspace_facts,
)
from .evaluate.judge import Judge
from .evaluate.questions import EvalQuestion
from .evaluate.report import load_summary
from .evaluate.run import RETRIEVAL_MODES, TUNED_MODES, EvalRun, run_eval
from .events import FusionDone, Progress
from .finetune.build import UsedChunks
from .finetune.retriever import RetrieverConfig, RetrieverReport, tune_retriever
from .generate import Generator, check_generator, create_base_and_tuned, create_generator
from .ingest.ocr import OcrMode
from .ingest.pipeline import Ingestor, IngestReport
from .ingest.yielding import AnswerGate, YieldingEmbedder, answering_flag
from .keys import KeyRing
from .retrieve import Retriever
from .store import STORE_FILE, SearchFilter, Store, StoredDocument, open_store
from .store.base import foreign_embedder
from .store.locked import locked
from .store.migrate import MigrationReport, migrate
from .summarize import SummaryReport, summarize_documents
from .types import Answer, Hit, check_name

SETTINGS_FILE = "expert.toml"

__all__ = ["SETTINGS_FILE", "IngestReport", "SummaryReport", "Workspace"]


def _write_settings(path: Path, settings: Settings) -> None:
    """``expert.toml`` in the workspace folder, readable by its owner only."""
    settings_file = path / SETTINGS_FILE
    settings_file.write_text(settings_to_toml(settings), encoding="utf-8")
    settings_file.chmod(0o600)


def _not_a_file(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise WorkspaceError(f"{path} is a file, not a folder; a workspace is a folder (--workspace DIR)")


def check_models(settings: Settings) -> None:
    """Fail at once, one line each, when the settings name an embedder or a model that is not
    there (an unknown backend, a missing local folder or file); loads nothing."""
    problems = []
    checks: list[Callable[[], None]] = [
        lambda: check_embedder(settings.embedder),
        lambda: check_generator(settings.generator),
    ]
    for check in checks:
        try:
            check()
        except ExpertError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))


def _is_workspace(path: Path) -> bool:
    return (path / SETTINGS_FILE).is_file() or (path / STORE_FILE).exists()


class Workspace:
    """A folder of settings and one store; open it with ``Workspace.open`` or ``Workspace.init``."""

    def __init__(self, path: Path, settings: Settings, store: Store):
        self.path = path
        self.settings = settings
        self.store = store
        self._embedder: Embedder | None = None
        self._generator: Generator | None = None
        self.retriever = self._retriever(fusion.applied(settings.retrieval, fusion.load(store)))
        self._yielding: YieldingEmbedder | None = None
        self.ingestor = Ingestor(store, self._ingest_embedder, settings.chunking, settings.ingest)

    # -- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def init(cls, path: str | Path, overrides: dict[str, Any] | None = None, load: bool = False) -> Workspace:
        """Create a workspace at ``path`` (settings from ``overrides``, e.g. ``{"embedder.backend": "onnx"}``).
        ``load``: also load the embedder first, so that one that cannot load leaves nothing behind."""
        path = Path(path)
        _not_a_file(path)
        if _is_workspace(path):
            raise WorkspaceError(f"{path} is already a workspace; use it, or pick another folder")
        settings = load_settings(None, overrides)
        check_models(settings)  # before anything is written: a bad name leaves nothing behind
        embedder = create_embedder(settings.embedder) if load else None
        created = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)  # company data: the owner's only
        except OSError as exc:
            raise WorkspaceError(f"cannot create a workspace at {path}: {exc.strerror}") from None
        try:
            store = open_store(settings.store, path)  # before the settings file: a bad store leaves nothing
        except BaseException:
            if created:
                shutil.rmtree(path, ignore_errors=True)
            raise
        wanted = embedder_id(settings.embedder)
        if built_by := foreign_embedder(store, wanted):
            store.close()
            if created:
                shutil.rmtree(path, ignore_errors=True)
            raise EmbedderMismatchError(
                f"the store {settings.store.url or STORE_FILE} already holds vectors made by {built_by}; "
                f"init with that embedder (--embedder), or use another database"
            )
        try:
            _write_settings(path, settings)
        except OSError as exc:
            store.close()
            raise WorkspaceError(f"cannot create a workspace at {path}: {exc.strerror}") from None
        store.set_meta("embedder", wanted)
        ws = cls(path, settings, store)
        ws._embedder = embedder
        return ws

    @classmethod
    def open(
        cls,
        path: str | Path,
        overrides: dict[str, Any] | None = None,
        allow_embedder_change: bool = False,
        shared: bool = False,
    ) -> Workspace:
        """Open the workspace at ``path``; refuse it if its vectors came from another embedder.
        ``shared``: its store is used by several threads (a server), one call at a time."""
        path = Path(path)
        _not_a_file(path)
        if not _is_workspace(path):
            raise WorkspaceError(f"no workspace at {path}; run `expert init` (or pass --workspace DIR)")
        settings = load_settings(path / SETTINGS_FILE, overrides)
        check_embedder(settings.embedder)
        store = open_store(settings.store, path)
        if shared:
            store = locked(store)
        built_by = store.get_meta("embedder")
        wanted = embedder_id(settings.embedder)
        if built_by and built_by != wanted and not allow_embedder_change:
            store.close()
            raise EmbedderMismatchError(
                f"this workspace's vectors were made by {built_by} but the settings name {wanted}; "
                f"set the embedder back in {path / SETTINGS_FILE}, or run `expert reindex` to re-embed "
                "every chunk with the new one"
            )
        return cls(path, settings, store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- models, loaded on first use ----------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The configured embedder, loaded on first use (keyword search never loads it)."""
        if self._embedder is None:
            self._embedder = create_embedder(self.settings.embedder)
        return self._embedder

    def _ingest_embedder(self) -> Embedder:
        """The embedder for ingest: one that waits while a server here answers
        (``ingest.yield_to_answers``, ``ingest/yielding.py``)."""
        embedder = self.embedder
        if not self.settings.ingest.yield_to_answers:
            return embedder
        if self._yielding is None or self._yielding.inner is not embedder:
            self._yielding = YieldingEmbedder(embedder, AnswerGate(answering_flag(self.path)))
        return self._yielding

    def use_embedder(self, embedder: Embedder) -> None:
        """Use an already-built embedder (tests, servers that share one model)."""
        self._embedder = embedder

    @property
    def generator(self) -> Generator:
        """The configured generator, loaded on first use."""
        if self._generator is None:
            self._generator = create_generator(self.settings.generator)
        return self._generator

    def use_generator(self, generator: Generator) -> None:
        """Use an already-built generator (tests, servers, benchmarks that share one model)."""
        self._generator = generator

    # -- ingest -------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[str | Path],
        collection: str = "default",
        prune: bool = False,
        max_file_mb: float | None = None,
        progress: Progress | None = None,
        follow_symlinks: bool = False,
        ocr: OcrMode | None = None,
        move: bool = False,
    ) -> IngestReport:
        """``Ingestor.ingest`` with the workspace's embedder and settings (``ocr`` overrides
        ``ingest.ocr``: ``auto``, ``always`` or ``never``; ``move`` lets a file change collection)."""
        report = self.ingestor.ingest(
            paths, collection, prune, max_file_mb, progress, follow_symlinks, ocr, move
        )
        report.fusion_refit = self._refit_fusion()
        return report

    def _refit_fusion(self) -> str:
        """After an ingest that changed the workspace by half or more since the fusion weights were
        fitted, fit them again on the same question file, when it is still there; what happened, in
        one line ("" when nothing was due). A refit that fails keeps the previous fit."""
        fit = fusion.load(self.store)
        if fit is None or not fusion.stale(fit, self.store.stats().chunks):
            return ""
        if not Path(fit.source).is_file():
            return f"fusion weights not fitted again: {fit.source} is gone (expert tune fusion QUESTIONS)"
        try:
            return "fusion weights fitted again: " + self.tune_fusion(fit.source).summary()
        except ExpertError as exc:
            return f"fusion weights not fitted again ({exc}); the previous fit stays"

    def set_language(self, collection: str, language: str) -> int:
        """Index ``collection``'s words as ``language`` from now on (``store.languages``: a code,
        a name or a text-search configuration; PostgreSQL stems some thirty languages and keeps
        the words of the others whole), its stored chunks included; returns how many chunks were
        indexed again. Raises ``StoreError`` for a language the store cannot index."""
        return self.store.set_language(check_name(collection), language)

    def summarize(self, force: bool = False, progress: Progress | None = None) -> SummaryReport:
        """Write a summary for every document that has none (all of them with ``force``)."""
        return summarize_documents(self.store, lambda: self.generator, self.settings.summary, force, progress)

    def reindex(self, progress: Progress | None = None, batch: int = 512) -> int:
        """Re-embed every chunk with the configured embedder and record it as the workspace's."""
        return self.ingestor.reindex(embedder_id(self.settings.embedder), progress, batch)

    def migrate_store(self, url: str, progress: Progress | None = None) -> MigrationReport:
        """Copy this workspace's store into the store ``url`` names (``store.migrate``: resumable,
        checked), then make it the workspace's store: ``expert.toml`` names it from now on."""
        if url == self.settings.store.url:
            raise InputError(f"the workspace's store is {url} already")
        target_settings = replace(self.settings, store=replace(self.settings.store, url=url))
        target = open_store(target_settings.store, self.path)
        try:
            report = migrate(self.store, target, progress)
        finally:
            target.close()
        self.settings = target_settings
        self.save_settings()
        return report

    def save_settings(self) -> None:
        """Write the settings in use to ``expert.toml`` (after ``reindex`` with a new embedder)."""
        _write_settings(self.path, self.settings)

    def tune_retriever(
        self,
        config: RetrieverConfig,
        exclude: UsedChunks | None = None,
        progress: Progress | None = None,
    ) -> RetrieverReport:
        """Fine-tune the workspace's embedder on questions the generator writes about its own
        passages (``finetune.retriever``); ``reindex`` with the result to use it."""
        from .embed.local import resolve_model_dir

        if self.settings.embedder.backend not in ("onnx", "sentence-transformers"):
            raise InputError(
                f"tuning the retriever needs a local embedder; this workspace embeds with "
                f"{self.settings.embedder.backend} (an API). Start a workspace with the default embedder"
            )
        return tune_retriever(
            self.store,
            self.generator,
            resolve_model_dir(self.settings.embedder.model),
            self.embedder,
            lambda question: self.search(question, k=10),
            config,
            exclude,
            progress,
        )

    def tune_fusion(self, questions: str | Path, progress: Progress | None = None) -> fusion.FusionFit:
        """Fit the keyword/dense/routing weights on ``questions`` (a question file with evidence,
        as ``expert eval`` reads) and store the fit; searches use it from now on when it held on
        held-out questions (``fusion``). The fit is written once, at the end: an interrupted or
        failed one leaves the previous fit in place."""
        from .evaluate.questions import load_questions

        chunks = self.store.stats().chunks
        if chunks == 0:
            raise InputError("the workspace holds no documents yet; ingest them, then fit on your questions")
        if self.settings.retrieval.mode != "hybrid":
            raise InputError(
                f"retrieval.mode is {self.settings.retrieval.mode}: searches do not fuse keyword and dense "
                "runs, so there are no weights to fit; set it to hybrid in expert.toml first"
            )
        asked = load_questions(questions)
        configured = self._retriever(self.settings.retrieval)
        cases, left_out = fusion.prepare(configured, asked, progress)
        result = fusion.fit(configured, cases, str(Path(questions).resolve()), chunks)
        fusion.save(self.store, result)
        self.retriever = self._retriever(fusion.applied(self.settings.retrieval, result))
        if progress:
            progress(FusionDone(left_out))
        return result

    def reset_fusion(self) -> bool:
        """Forget the stored fit (the configured weights apply again); whether there was one."""
        had = fusion.load(self.store) is not None
        fusion.save(self.store, None)
        self.retriever = self._retriever(self.settings.retrieval)
        return had

    def _retriever(self, settings: RetrievalSettings) -> Retriever:
        """A retriever over this workspace's store and embedder with ``settings``."""
        return Retriever(self.store, settings, lambda: self.embedder)

    # -- search and answers -------------------------------------------------------------------
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
        gen = self.settings.generator
        return AnswerStream(
            question,
            generator or self.generator,
            self.retriever if retrieval else None,
            self.settings.answer,
            k=k,
            where=SearchFilter(collection, source, collections),
            history=history,
            max_tokens=gen.max_tokens if max_tokens is None else max_tokens,
            temperature=gen.temperature if temperature is None else temperature,
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

    # -- evaluation ---------------------------------------------------------------------------
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
        wanted = set(modes)
        gen = self.settings.generator
        if TUNED_MODES & wanted and not gen.adapter:
            raise InputError(
                "modes ft and rag+ft need an adapter: --adapter RUN (an `expert train` run, a PEFT "
                "folder or a GGUF LoRA)"
            )
        if RETRIEVAL_MODES & wanted and not self.store.stats().chunks:
            raise InputError(
                f"modes rag and rag+ft retrieve from the workspace, and {self.path} holds no documents; "
                "`expert ingest` some, or evaluate --modes base,ft"
            )
        tuned: Generator | None = None
        if TUNED_MODES & wanted:
            base, tuned = create_base_and_tuned(gen)
        else:
            base = self.generator if not gen.adapter else create_generator(replace(gen, adapter=""))
        generators = {m: tuned if m in TUNED_MODES and tuned is not None else base for m in modes}
        identity = {
            "base": base.name,
            "tuned": tuned.name if tuned is not None else None,
            "embedder": embedder_id(self.settings.embedder),
            "retrieval": asdict(self.settings.retrieval),
            "answer": asdict(self.settings.answer),
            "max_tokens": gen.max_tokens,
            "temperature": gen.temperature,
        }
        return run_eval(
            questions,
            generators,
            self.retriever,
            self.settings.answer,
            Path(out),
            identity,
            max_tokens=gen.max_tokens,
            temperature=gen.temperature,
            progress=progress,
            judge=judge,
        )

    def novelty(self, texts: Sequence[str] | None = None) -> Novelty | None:
        """The base model's perplexity on the workspace's prose against plain English
        (``evaluate.advise``); None when there is too little prose or the model is not a local
        GGUF file (an API model's perplexity cannot be read). ``texts``: the chunks' texts, if
        read already."""
        from .generate.perplexity import gguf_perplexities
        from .models import gguf_file, resolve_model

        gen = self.settings.generator
        if gen.backend != "llama-cpp":
            return None
        prose = prose_sample(chunk_texts(self.store) if texts is None else texts)
        if not prose:
            return None
        model = resolve_model(gen.model)
        path = gguf_file(model)
        domain, general = gguf_perplexities(path, [prose, [general_english()]], threads=gen.threads)
        return Novelty(domain.value, general.value, domain.tokens, model.name)

    def advise(self, evaluation: str | Path | None = None, novelty: bool = True) -> Advice:
        """RAG, fine-tuning or both, from the evaluation in the folder ``evaluation`` (if any),
        the workspace's size and churn, and (``novelty``) how new its language is to the model."""
        summary = load_summary(evaluation) if evaluation is not None else None
        texts = chunk_texts(self.store)  # read once for the size and the prose sample
        measured, unmeasured = None, ""
        if novelty:
            try:
                measured = self.novelty(texts)
            except MissingExtraError as exc:  # the advice stands on the rest, and says what it lacks
                unmeasured = f"how new the domain's language is to the model was not measured: {exc}"
        advice = advise(
            summary,
            workspace_facts(self.store, texts=texts),
            measured,
            str(evaluation) if evaluation is not None else None,
        )
        if unmeasured:
            advice.next_steps.append(unmeasured)
        return advice

    # -- inspection and maintenance -----------------------------------------------------------
    @property
    def keys(self) -> KeyRing:
        """The server's API keys, kept in the store (``expert keys``)."""
        return KeyRing(self.store)

    def sources(self, pattern: str | None = None) -> list[StoredDocument]:
        return self.store.list_documents(pattern)

    def skipped(self, pattern: str | None = None) -> list[tuple[str, str]]:
        """``(source, reason)`` of files that could not be ingested and have not loaded since."""
        return [(source, reason) for _, source, reason in self.store.list_skipped(pattern)]

    def forget(self, target: str, glob: bool = False, dry_run: bool = False) -> list[str]:
        """Remove the documents ``target`` names and return their sources (with ``dry_run``, only
        return them). By default ``target`` is a path: that document, or the documents under that
        folder, by the path as ingested or its absolute form; never a pattern, so a file named
        ``report[1].pdf`` removes itself only. With ``glob`` it is a pattern (``path_matches``:
        ``*`` within one folder level, ``**`` across levels). Their skip records go with them."""
        if not target.strip():
            raise InputError("give the path of a document or folder to forget (an empty one names nothing)")
        resolved = str(Path(target).resolve())
        folder = resolved.rstrip(os.sep) + os.sep

        def named(source: str, key: str) -> bool:
            return target in (source, key) or key == resolved or key.startswith(folder)

        if glob:  # the store matches its own patterns
            matches = {d.key: d.source for d in self.store.list_documents(target)}
            skipped = [key for key, _, _ in self.store.list_skipped(target)]
        else:
            matches = {d.key: d.source for d in self.store.list_documents() if named(d.source, d.key)}
            skipped = [key for key, source, _ in self.store.list_skipped() if named(source, key)]
        if not dry_run:
            for key in skipped:
                self.store.record_skipped(key, "", None)
            self.store.delete_documents(list(matches))
            if matches:
                self.store.optimize()  # as after an ingest: the store's indexes fold the change in
        return sorted(matches.values())

    def fusion_status(self, chunks: int) -> str:
        """The weights searches use and where they come from, for ``status``."""
        fit = fusion.load(self.store)
        configured = fusion.Weights.of(self.settings.retrieval)
        if fit is None:
            return f"configured ({configured}); fit them on your questions: expert tune fusion QUESTIONS"
        line = fit.summary()
        if fit.used and not self.settings.retrieval.fitted:
            line = f"configured ({configured}; retrieval.fitted = false); {line}"
        if fusion.stale(fit, chunks):
            line += f"; fitted at {fit.chunks:,} chunks, now {chunks:,}: run expert tune fusion again"
        return line

    def status(self, check: bool = True) -> dict[str, Any]:
        stats = self.store.stats()
        documents = self.store.list_documents()
        collections: dict[str, int] = {}
        for doc in documents:
            collections[doc.collection] = collections.get(doc.collection, 0) + 1
        return {
            "workspace": str(self.path),
            "documents": stats.documents,
            "chunks": stats.chunks,
            "tokens": stats.tokens,
            "database_bytes": stats.bytes,
            "collections": collections,
            # the keyword index's language of each collection that has one recorded (else english)
            "languages": self.store.languages(),
            "embedder": self.store.get_meta("embedder"),
            "embedder_dim": int(self.store.get_meta("embedder_dim") or 0) or None,
            "chunk_tokens": self.settings.chunking.max_tokens,
            "retrieval_mode": self.settings.retrieval.mode,
            "fusion": self.fusion_status(stats.chunks),
            "generator": f"{self.settings.generator.backend}/{self.settings.generator.model}",
            "summaries": sum(1 for d in documents if d.summary),
            "problems": self.store.check() if check else None,
        }
