"""Tune the retriever on the workspace: synthetic questions, hard negatives, a contrastive fine-tune
of the embedder, exported to the same ONNX int8 path as the default.

A general embedder does not know what an industry calls things. This teaches it from the
workspace itself, the way dataset build teaches the generator:

1. ``synthesize``: for sampled passages the generator writes a question each passage answers
   (the dataset build prompt and checks); a question must share a word or figure with its
   passage. Passages that an evaluation set uses are left out (``held_out_chunks``).
2. ``mine_negatives``: each question is searched with the current retriever; the best-ranked
   passage that is not its own (often from the same document: the ranking inside a document is
   where retrieval loses) becomes its hard negative.
3. ``train``: sentence-transformers fine-tunes the embedder with MultipleNegativesRankingLoss
   (InfoNCE: every other passage in the batch is a negative too, plus the hard one), on the
   CPU by default, and saves a sentence-transformers folder ``OUT/NAME`` (``NAME`` is OUT's own
   name, which becomes the embedder's name in the workspace: ``onnx-int8/NAME``).
4. Before and after, the held-out pairs are scored (MRR@10, R@1, R@5 of each question's own
   passage among the held-out passages and a sample of others), and ``OUT/manifest.json``
   records what it was trained on; ``OUT/pairs.jsonl`` holds the pairs and ``OUT/pairs.chunks.json``
   the passages used.

``expert reindex --embedder OUT`` then re-embeds the workspace with the tuned model through the
ONNX int8 path, which exports it on first use. Left out: query rewriting for the analyst's
abbreviations (the tuned model learns what the generator's questions say, no more).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BuildError, TrainError
from ..events import PairsWritten, Progress, RetrieverStep, StageStarted, ignore
from ..extras import require
from ..generate import Generator, complete
from ..generate.citations import content_terms
from ..store import Store
from ..types import Hit
from .build import QUESTION_PROMPT, UsedChunks, parse_question, passages, write_used_chunks

MANIFEST = "manifest.json"
KIND = "retriever"


@dataclass(frozen=True)
class Pair:
    question: str
    hit: Hit  # the passage the question was written from
    negative: str = ""  # a passage that does not answer it, header and text

    @property
    def passage(self) -> str:
        """Header and text, as the embedder sees the passage."""
        return indexed(self.hit.header, self.hit.text)


@dataclass(frozen=True)
class RetrieverConfig:
    out: Path
    n: int = 600  # passages to write questions for
    val_fraction: float = 0.1
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 2e-5
    seed: int = 0
    source: str | None = None


@dataclass
class RetrieverReport:
    out: str
    base: str
    train: int = 0
    validation: int = 0
    rejected: int = 0  # passages the generator wrote no usable question for
    synth_seconds: float = 0.0
    train_seconds: float = 0.0
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def indexed(header: str, text: str) -> str:
    return f"{header}\n{text}" if header else text


def synthesize(
    store: Store,
    generator: Generator,
    ids: Sequence[int],
    n: int,
    seed: int = 0,
    source: str | None = None,
    exclude: UsedChunks | None = None,
    progress: Progress | None = None,
) -> tuple[list[Pair], int]:
    """Up to ``n`` (question, passage) pairs from the chunks ``ids`` taken in a random order, and
    how many passages gave no usable question."""
    emit = progress or ignore
    ids = list(ids)
    random.Random(seed).shuffle(ids)
    pairs: list[Pair] = []
    rejected = 0
    emit(StageStarted("questions", n))
    for hit in passages(store, ids, source):  # long enough to ask about, from matching sources
        if len(pairs) >= n:
            break
        if exclude is not None and hit in exclude:
            continue
        reply = complete(
            generator, [{"role": "user", "content": QUESTION_PROMPT.format(passage=hit.text)}], max_tokens=64
        )
        question = parse_question(reply)
        if not question or not content_terms(question) & content_terms(f"{hit.header} {hit.text}"):
            rejected += 1
            continue
        pairs.append(Pair(question, hit))
        emit(PairsWritten(len(pairs), n))
    return pairs, rejected


def mine_negatives(pairs: Sequence[Pair], search: Callable[[str], Sequence[Any]]) -> list[Pair]:
    """Each pair with the best-ranked passage ``search`` returns that is not its own (skipping
    near-copies of it); a pair without one keeps in-batch negatives only."""
    out = []
    for pair in pairs:
        words = set(pair.passage.lower().split())
        negative = ""
        for hit in search(pair.question):
            if hit.chunk_id == pair.hit.chunk_id:
                continue
            text = indexed(hit.header, hit.text)
            other = set(text.lower().split())
            if words and len(words & other) / len(words | other) > 0.8:
                continue  # the same passage again (a re-ingested copy, overlap)
            negative = text
            break
        out.append(replace(pair, negative=negative))
    return out


def score(
    encode_queries: Callable[[list[str]], np.ndarray],
    encode_passages: Callable[[list[str]], np.ndarray],
    pairs: Sequence[Pair],
    others: Sequence[str],
) -> dict[str, float]:
    """MRR@10, R@1 and R@5 of each question's own passage among every held-out passage and
    ``others`` (a sample of the workspace's passages)."""
    corpus = [p.passage for p in pairs] + list(others)
    q = encode_queries([p.question for p in pairs])
    c = encode_passages(corpus)
    sims = q @ c.T
    ranks = [int((row > row[i]).sum()) + 1 for i, row in enumerate(sims)]
    return {
        "MRR@10": round(float(np.mean([1 / r if r <= 10 else 0 for r in ranks])), 4),
        "R@1": round(100 * float(np.mean([r == 1 for r in ranks])), 1),
        "R@5": round(100 * float(np.mean([r <= 5 for r in ranks])), 1),
        "passages": len(corpus),
    }


def train(
    base_dir: Path,
    train_pairs: Sequence[Pair],
    out: Path,
    config: RetrieverConfig,
    progress: Progress | None = None,
) -> Path:
    """Fine-tune the sentence-transformers model at ``base_dir`` on ``train_pairs`` into ``out``."""
    import logging
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )
    from transformers import PrinterCallback, TrainerCallback

    emit = progress or ignore
    model = SentenceTransformer(str(base_dir), device="cpu", local_files_only=True)
    prompts: dict[str, str] = {k: v for k, v in (model.prompts or {}).items() if v}
    columns: dict[str, list[str]] = {
        "anchor": [p.question for p in train_pairs],
        "positive": [p.passage for p in train_pairs],
    }
    with_negatives = all(p.negative for p in train_pairs)
    if with_negatives:
        columns["negative"] = [p.negative for p in train_pairs]
    column_prompts = (
        {"anchor": prompts.get("query", ""), "positive": prompts.get("passage", ""), "negative": prompts.get("passage", "")}
        if prompts
        else None
    )  # fmt: skip
    steps = max(1, math.ceil(math.ceil(len(train_pairs) / config.batch_size) * config.epochs))

    class Report(TrainerCallback):  # type: ignore[misc]
        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any
        ) -> None:
            if logs and "loss" in logs:
                emit(RetrieverStep(state.global_step, steps, round(float(logs["loss"]), 4)))

    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=0.1,  # a float is a share of the steps
        seed=config.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,  # a passage twice in a batch would be its own negative
        prompts=column_prompts,
        save_strategy="no",
        logging_steps=max(1, steps // 10),
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
    )
    with contextlib.redirect_stderr(io.StringIO()):  # its model card's "widget examples" bar
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_dict(columns),
            loss=MultipleNegativesRankingLoss(model),
            callbacks=[Report()],
        )
    trainer.remove_callback(PrinterCallback)  # progress goes through ``emit`` instead
    emit(StageStarted("train", steps))
    try:
        trainer.train()
    except (RuntimeError, ValueError) as exc:
        raise TrainError(f"tuning the embedder failed: {exc}") from None
    folder = out / out.resolve().name  # the folder's name is the embedder's name in the workspace
    model.save_pretrained(str(folder))
    return folder


def tune_retriever(
    store: Store,
    generator: Generator,
    base_dir: Path,
    encoder: Any,
    search: Callable[[str], Sequence[Any]],
    config: RetrieverConfig,
    exclude: UsedChunks | None = None,
    progress: Progress | None = None,
) -> RetrieverReport:
    """Synthesize, mine, score, train, score again, and write ``config.out``.

    ``encoder`` is the embedder the workspace uses now (its ``embed_queries`` and ``embed_batch``
    score the baseline); ``search`` is the workspace's search, for the hard negatives."""
    # before minutes of synthesis, not after them
    require("train", why="tuning the retriever")
    out = config.out
    if (out / MANIFEST).exists():
        raise BuildError(f"{out} holds a tuned retriever already; pick another --out")
    out.mkdir(parents=True, exist_ok=True)
    report = RetrieverReport(str(out), str(base_dir))
    started = time.perf_counter()
    rows = store.all_chunks()  # read once: ids to ask about, and passages to score among
    pairs, report.rejected = synthesize(
        store, generator, [i for i, _ in rows], config.n, config.seed, config.source, exclude, progress
    )
    if len(pairs) < 20:
        raise BuildError(
            f"only {len(pairs)} usable questions came from the workspace ({report.rejected} passages gave "
            "none); ingest more documents, or use a stronger --model to write them"
        )
    pairs = mine_negatives(pairs, search)
    report.synth_seconds = round(time.perf_counter() - started, 1)
    random.Random(config.seed).shuffle(pairs)
    held = max(5, int(len(pairs) * config.val_fraction))
    validation, training = pairs[:held], pairs[held:]
    report.train, report.validation = len(training), len(validation)
    used = {p.hit.chunk_id for p in pairs}
    unused = [t for i, t in rows if i not in used]
    others = random.Random(config.seed + 1).sample(unused, min(2000, len(unused)))
    report.before = score(
        lambda q: np.asarray(getattr(encoder, "embed_queries", encoder.embed_batch)(q)),
        lambda p: np.asarray(encoder.embed_batch(p)),
        validation,
        others,
    )
    started = time.perf_counter()
    folder = train(base_dir, training, out, config, progress)
    report.train_seconds = round(time.perf_counter() - started, 1)
    from sentence_transformers import SentenceTransformer

    tuned = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    prompts = tuned.prompts or {}
    report.after = score(
        lambda q: tuned.encode(q, prompt=prompts.get("query"), normalize_embeddings=True),
        lambda p: tuned.encode(p, prompt=prompts.get("passage"), normalize_embeddings=True),
        validation,
        others,
    )
    hits = [p.hit for p in pairs]
    write_used_chunks(out / "pairs.chunks.json", hits, hits, made_by="tune retriever")
    with (out / "pairs.jsonl").open("w", encoding="utf-8") as f:
        for p in pairs:
            row = {
                "question": p.question,
                "chunk_id": p.hit.chunk_id,
                "source": p.hit.source,
                "page": p.hit.page,
            }
            f.write(
                json.dumps({**row, "positive": p.passage, "negative": p.negative}, ensure_ascii=False) + "\n"
            )
    manifest = {"kind": KIND, "model": folder.name, **report.to_dict()}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return report


def tuned_model_dir(path: str | Path) -> Path | None:
    """The model folder of a tuned-retriever run (``OUT/NAME``), or None if ``path`` is not one."""
    folder = Path(path).expanduser()
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return folder / str(data.get("model", folder.name)) if data.get("kind") == KIND else None
