"""The tuning service: training data from the store's passages, and a retriever tuned on them,
over one ``context.Context``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..context import Context
from ..errors import InputError
from ..events import Progress
from ..types import Hit
from .build import BuildReport, UsedChunks, build_dataset
from .dataset import DatasetReport, check_dataset
from .export import ExportResult, OutType, export
from .retriever import RetrieverConfig, RetrieverReport, tune_retriever, tuned_model_dir
from .train import TrainConfig, TrainResult, resolve_config, train

__all__ = ["RetrieverConfig", "TrainConfig", "Tuning", "build_dataset", "export", "tuned_model_dir"]


class Tuning:
    """Data and tuning from the store; ``search`` finds a question's passages (hard negatives)."""

    def __init__(self, ctx: Context, search: Callable[[str], Sequence[Hit]]):
        self.ctx = ctx
        self.search = search

    def build_dataset(self, out: str | Path, **options: Any) -> BuildReport:
        """Training examples written from the store's passages by the context's generator
        (``finetune.build.build_dataset``: ``n``, ``distractors``, ``oracle_share``,
        ``val_fraction``, ``seed``, ``source``, ``exclude``, ``progress``)."""
        return build_dataset(self.ctx.store, self.ctx.generator, out, **options)

    # -- what needs no workspace: a training file, a run, its export -----------------------------
    @staticmethod
    def check(path: str | Path) -> DatasetReport:
        """What is wrong with the training file ``path``, without raising for it."""
        return check_dataset(path)

    @staticmethod
    def train(config: TrainConfig, resume: bool = False, progress: Progress | None = None) -> TrainResult:
        """Fine-tune ``config.base`` on ``config.data`` into the run ``config.out`` (LoRA or QLoRA;
        ``resume`` goes on from the run's last checkpoint)."""
        if resolve_config(config, resume).processes > 1:
            from .distributed import launch

            return launch(config, resume, progress)
        return train(config, resume, progress)

    @staticmethod
    def export(run: str | Path, merged: bool, gguf: bool, outtype: OutType) -> ExportResult:
        """The run's adapter merged into its base (a Hugging Face folder) and, with ``gguf``, as
        GGUF files with an Ollama Modelfile."""
        return export(run, merged=merged, gguf=gguf, outtype=outtype)

    def tune_retriever(
        self,
        config: RetrieverConfig,
        exclude: UsedChunks | None = None,
        progress: Progress | None = None,
    ) -> RetrieverReport:
        """Fine-tune the embedder on questions the generator writes about the store's passages
        (``finetune.retriever``); ``reindex`` with the result to use it."""
        from ..embed.local import resolve_model_dir

        settings = self.ctx.settings.embedder
        if settings.backend not in ("onnx", "sentence-transformers"):
            raise InputError(
                f"tuning the retriever needs a local embedder; this workspace embeds with "
                f"{settings.backend} (an API). Start a workspace with the default embedder"
            )
        return tune_retriever(
            self.ctx.store,
            self.ctx.generator,
            resolve_model_dir(settings.model),
            self.ctx.embedder,
            self.search,
            config,
            exclude,
            progress,
        )
