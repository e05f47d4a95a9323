"""A workspace: one folder holding ``expert.toml`` (settings) and, by default, ``store.db``.

This is the Python API the CLI and the server are thin layers over::

    from industry_expert import Workspace

    ws = Workspace.init("ws")                      # or Workspace.open("ws")
    report = ws.ingest(["docs/", "prices.xlsx"])
    for hit in ws.search("capital expenditure in FY2022", k=5):
        print(hit.source, hit.page, hit.score)

A ``Workspace`` opens (or creates) the folder's store and builds one ``context.Context`` and the
use-case services over it: ``answering`` (search, answers, summaries, fusion weights), ``ingesting`` (files
into the store), ``maintenance`` (forget, reindex, migrate, status), ``evaluation``, ``advising``
and ``tuning``. Each of its other methods is the service method of the same name, so the
services are also usable on their own (a server that shares one model, tests, benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from .answering import Answering
from .config import Settings
from .context import SETTINGS_FILE, Context
from .embed import Embedder
from .evaluate.service import Advising, Evaluation
from .finetune.service import Tuning
from .generate import Generator
from .ingest.pipeline import Ingestor, IngestReport
from .ingest.service import Ingesting, Maintenance
from .keys import KeyRing
from .retrieve import Retriever
from .store import Store
from .summarize import SummaryReport

__all__ = ["SETTINGS_FILE", "IngestReport", "SummaryReport", "Workspace"]

P = ParamSpec("P")
R = TypeVar("R")


class _To(Generic[P, R]):
    """A ``Workspace`` method that is the method of the same name of one of its services."""

    def __init__(self, service: str, method: Callable[Concatenate[Any, P], R]):
        self.service, self.method = service, method
        self.__doc__ = method.__doc__

    def __get__(self, ws: Any, owner: type | None = None) -> Callable[P, R]:
        if ws is None:
            return self.method  # type: ignore[return-value]  # read on the class: the service's function
        return getattr(getattr(ws, self.service), self.method.__name__)  # type: ignore[no-any-return]


class Workspace:
    """A folder of settings and one store; open it with ``Workspace.open`` or ``Workspace.init``."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.answering = Answering(ctx)
        self.ingesting = Ingesting(ctx, after=self.answering.refit_fusion)
        self.maintenance = Maintenance(ctx, self.ingesting.ingestor, self.answering.fusion_status)
        self.evaluation = Evaluation(ctx, lambda: self.answering.retriever)
        self.advising = Advising(ctx)
        self.tuning = Tuning(ctx, lambda question: self.answering.search(question, k=10))

    # -- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def init(cls, path: str | Path, overrides: dict[str, Any] | None = None, load: bool = False) -> Workspace:
        """Create a workspace at ``path`` (settings from ``overrides``, e.g. ``{"embedder.backend": "onnx"}``).
        ``load``: also load the embedder first, so that one that cannot load leaves nothing behind."""
        return cls(Context.create(Path(path), overrides, load))

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
        return cls(Context.open(Path(path), overrides, allow_embedder_change, shared))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the context --------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.ctx.path

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def embedder(self) -> Embedder:
        """The configured embedder, loaded on first use (keyword search never loads it)."""
        return self.ctx.embedder

    @property
    def generator(self) -> Generator:
        """The configured generator, loaded on first use."""
        return self.ctx.generator

    @property
    def retriever(self) -> Retriever:
        return self.answering.retriever

    @property
    def ingestor(self) -> Ingestor:
        return self.ingesting.ingestor

    @property
    def keys(self) -> KeyRing:
        """The server's API keys, kept in the store (``expert keys``)."""
        return KeyRing(self.ctx.store)

    use_embedder = _To("ctx", Context.use_embedder)
    use_generator = _To("ctx", Context.use_generator)
    save_settings = _To("ctx", Context.save_settings)

    # -- the services' methods ----------------------------------------------------------------
    search = _To("answering", Answering.search)
    ask_stream = _To("answering", Answering.ask_stream)
    ask = _To("answering", Answering.ask)
    tune_fusion = _To("answering", Answering.tune_fusion)
    reset_fusion = _To("answering", Answering.reset_fusion)
    fusion_status = _To("answering", Answering.fusion_status)
    summarize = _To("answering", Answering.summarize)
    ingest = _To("ingesting", Ingesting.ingest)
    set_language = _To("ingesting", Ingesting.set_language)
    reindex = _To("maintenance", Maintenance.reindex)
    migrate_store = _To("maintenance", Maintenance.migrate_store)
    sources = _To("maintenance", Maintenance.sources)
    skipped = _To("maintenance", Maintenance.skipped)
    forget = _To("maintenance", Maintenance.forget)
    status = _To("maintenance", Maintenance.status)
    evaluate = _To("evaluation", Evaluation.evaluate)
    build_questions = _To("evaluation", Evaluation.build_questions)
    novelty = _To("advising", Advising.novelty)
    advise = _To("advising", Advising.advise)
    build_dataset = _To("tuning", Tuning.build_dataset)
    tune_retriever = _To("tuning", Tuning.tune_retriever)
