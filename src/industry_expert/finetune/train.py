"""LoRA and QLoRA fine-tuning with peft and TRL's SFTTrainer; no hand-written training loop.

What this module adds around ``SFTTrainer``, each a known fault of public recipes:

- the base model's own chat template renders every example (TRL applies the tokenizer's);
- loss on the assistant's answer only: examples go to TRL as conversational prompt/completion
  pairs, so the prompt's tokens are masked out of the labels;
- LoRA targets resolved from the model (``targets.resolve_targets``), so Phi-3's fused
  ``qkv_proj``/``gate_up_proj`` are adapted, and the trainable parameter count is reported;
- examples longer than ``max_length`` are dropped and counted, not silently truncated (a cut
  answer teaches the model to stop mid-sentence);
- a run directory that is never overwritten: ``adapter/``, ``checkpoints/``, ``manifest.json``
  (base model and its hash, hyperparameters, dataset hash, metrics, library versions) and
  ``loss.png``; ``resume`` continues from the last checkpoint and its step count.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from ..errors import TrainError
from ..events import Finished, Loading, Progress, TrainStarted, ignore
from ..extras import require
from ..models import base_fingerprint, hf_source, resolve_model, sha256_file
from .dataset import Example, load_examples
from .report import plot_losses, progress_callback, versions
from .targets import count_parameters, resolve_targets

Method = Literal["lora", "qlora"]
Precision = Literal["auto", "bf16", "fp32"]
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class TrainConfig:
    data: str
    out: str
    base: str = "smollm2"  # a model reference (models.resolve_model): the shipped SmolLM2 GGUF
    method: Method = "lora"  # or qlora (4-bit NF4 base through bitsandbytes, CUDA or CPU)
    eval_data: str = ""  # a separate validation file; else ``val_fraction`` is held out
    val_fraction: float = 0.1
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    targets: str = "all-linear"
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1  # overrides epochs when > 0
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 1024
    warmup: float = 0.03  # fraction of steps
    scheduler: str = "cosine"
    packing: bool = False
    # Recompute activations in the backward pass instead of keeping them: None (auto) is on, as in
    # TRL, which cuts peak memory; off trades that memory for speed (see docs/benchmarks.md).
    gradient_checkpointing: bool | None = None
    # auto: bf16 on CUDA, and on CPUs with native bf16 (AVX512-BF16/AMX; 1.7x the fp32 speed for
    # SmolLM2 on this project's Xeon); fp32 elsewhere. Or "bf16", "fp32".
    precision: Precision = "auto"
    logging_steps: int = 5
    eval_steps: int = 0  # 0: about 10 evaluations per run
    save_steps: int = 0  # 0: same as eval_steps
    seed: int = 42
    # data-parallel processes on this machine (finetune/distributed.py): each takes batch_size
    # examples a step, so the global batch is processes x batch_size x grad_accum
    processes: int = 1
    # with processes > 1: shard the weights, gradients and optimizer state across the processes
    # (FSDP2) instead of a whole copy in each (DDP), for a model that does not fit one device
    shard: bool = False

    def check(self) -> None:
        problems = []
        if self.precision not in get_args(Precision):
            problems.append(f"precision must be {' or '.join(get_args(Precision))}, not {self.precision!r}")
        if self.method not in get_args(Method):
            problems.append(f"method must be {' or '.join(get_args(Method))}, not {self.method!r}")
        if self.r < 1 or self.alpha < 1:
            problems.append("r and alpha must be at least 1")
        if not 0 <= self.dropout < 1:
            problems.append("dropout must be in 0..1")
        if self.learning_rate <= 0:
            problems.append("learning rate must be > 0")
        if self.batch_size < 1 or self.grad_accum < 1:
            problems.append("batch size and gradient accumulation must be at least 1")
        if self.max_length < 16:
            problems.append("max length must be at least 16 tokens")
        if not 0 <= self.val_fraction < 0.5:
            problems.append("validation fraction must be in 0..0.5")
        if self.max_steps <= 0 and self.epochs <= 0:
            problems.append("give epochs > 0 or max steps > 0")
        if self.processes < 1:
            problems.append("processes must be at least 1")
        if self.shard and self.processes < 2:
            problems.append("shard needs processes of 2 or more: one process has nothing to shard with")
        if self.shard and self.method == "qlora":
            problems.append("shard works with method lora: 4-bit weights are not sharded here")
        if problems:
            raise TrainError("invalid training settings: " + "; ".join(problems))


def load_base(config: TrainConfig) -> tuple[Any, Any, str]:
    """The tokenizer, the model (4-bit for QLoRA) and a fingerprint of the base weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = resolve_model(config.base, TrainError)
    # A model read from GGUF stays marked "quantized with gguf", which the Trainer refuses to
    # train; hf_source gives the de-quantized copy in the cache, an ordinary model folder.
    where, local = hf_source(base)
    options: dict[str, Any] = {"local_files_only": local}
    if config.method == "qlora":
        try:
            import bitsandbytes  # noqa: F401  (4-bit layers; CPU support since 0.48)
            from transformers import BitsAndBytesConfig
        except ImportError:
            raise TrainError(
                "--method qlora needs the package bitsandbytes; pip install bitsandbytes"
            ) from None
        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        options["dtype"] = torch.bfloat16
    elif torch.cuda.is_available():
        options["dtype"] = torch.bfloat16
    else:
        options["dtype"] = torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local)
        model = AutoModelForCausalLM.from_pretrained(where, **options)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise TrainError(f"cannot load the base model {config.base}: {first}") from None
    if not getattr(tokenizer, "chat_template", None):
        raise TrainError(f"{config.base} has no chat template, so it is not a chat model to fine-tune")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    fingerprint = base_fingerprint(base.path) if base.path is not None else f"hub:{where}"
    return tokenizer, model, fingerprint


def use_bf16(precision: str) -> bool:
    """Whether to train in bf16 autocast: asked for, or ``auto`` on CUDA or a CPU with native bf16."""
    if precision != "auto":
        return precision == "bf16"
    import torch

    if torch.cuda.is_available():
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _pairs(examples: list[Example]) -> list[dict[str, Any]]:
    return [{"prompt": list(e.messages[:-1]), "completion": [e.messages[-1]]} for e in examples]


def split_examples(config: TrainConfig) -> tuple[list[Example], list[Example]]:
    train = load_examples(config.data)
    if config.eval_data:
        return train, load_examples(config.eval_data)
    if config.val_fraction <= 0 or len(train) < 10:
        return train, []
    shuffled = train[:]
    random.Random(config.seed).shuffle(shuffled)
    n_val = max(1, round(len(shuffled) * config.val_fraction))
    return shuffled[n_val:], shuffled[:n_val]


def example_length(tokenizer: Any, example: Example) -> int:
    ids = tokenizer.apply_chat_template(list(example.messages), tokenize=True, add_generation_prompt=False)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return len(ids)


@dataclass
class TrainResult:
    run: str
    steps: int
    train_examples: int
    val_examples: int
    dropped_too_long: int
    trainable_parameters: int
    total_parameters: int
    targets: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    tokens_per_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Session:
    """A trainer ready to run, with what ``train`` needs to finish the run directory."""

    config: TrainConfig
    run: Path
    trainer: Any
    tokenizer: Any
    manifest: dict[str, Any]
    checkpoint: str | None
    info: TrainStarted


def resolve_config(config: TrainConfig, resume: bool, launched: bool = False) -> TrainConfig:
    """The run's settings (a resumed run's from its manifest, ``max_steps`` as given), checked;
    ``launched``: one of several processes, whose launcher checked the run folder already."""
    run = Path(config.out)
    if resume:
        manifest = run / MANIFEST
        if not manifest.is_file():
            raise TrainError(f"{run} is not a run directory (no {MANIFEST}); start a run with --out {run}")
        saved = json.loads(manifest.read_text(encoding="utf-8"))["config"]
        steps = config.max_steps
        config = TrainConfig(**saved)
        if steps > 0:
            config = replace(config, max_steps=steps)
    elif not launched and run.exists() and (run.is_file() or any(run.iterdir())):
        raise TrainError(f"{run} already exists; pick another --out, or continue it with --resume {run}")
    config.check()
    return config


def prepare(
    config: TrainConfig, resume: bool = False, progress: Progress | None = None, launched: bool = False
) -> Session:
    """Check everything, load the base and data, and build the SFTTrainer; nothing is trained
    (the trainer creates the run's empty ``checkpoints`` folder)."""
    require("train", why="training an adapter")
    emit = progress or ignore
    config = resolve_config(config, resume, launched)
    run = Path(config.out)
    import datasets
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    datasets.disable_progress_bars()
    train_set, val_set = split_examples(config)
    emit(Loading(config.base))
    tokenizer, model, fingerprint = load_base(config)
    keep_train = [e for e in train_set if example_length(tokenizer, e) <= config.max_length]
    keep_val = [e for e in val_set if example_length(tokenizer, e) <= config.max_length]
    dropped = len(train_set) - len(keep_train) + len(val_set) - len(keep_val)
    if not keep_train:
        raise TrainError(
            f"every training example is longer than max length {config.max_length} tokens; raise --max-length"
        )
    targets = resolve_targets(model, config.targets)
    steps_per_epoch = max(1, -(-len(keep_train) // (config.batch_size * config.grad_accum)))
    total = config.max_steps if config.max_steps > 0 else max(1, round(steps_per_epoch * config.epochs))
    eval_every = config.eval_steps or max(1, total // 10)
    cuda = torch.cuda.is_available()
    checkpointing = config.gradient_checkpointing is not False
    bf16 = use_bf16(config.precision)
    args = SFTConfig(
        output_dir=str(run / "checkpoints"),
        max_steps=total,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        eval_strategy="steps" if keep_val else "no",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=config.save_steps or eval_every,
        save_total_limit=2,
        max_length=config.max_length,
        packing=config.packing,
        activation_checkpointing=checkpointing and not config.shard,  # FSDP checkpoints its own way
        bf16=bf16,
        use_cpu=not cuda,
        # FSDP2 through accelerate: each process keeps 1/N of every layer, gathered for its step
        fsdp=config.shard,  # type: ignore[arg-type]  # True is the documented form in transformers 5
        fsdp_config={"version": 2, "activation_checkpointing": checkpointing} if config.shard else None,
        report_to="none",
        seed=config.seed,
        disable_tqdm=True,
    )
    lora = LoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(_pairs(keep_train)),
        eval_dataset=Dataset.from_list(_pairs(keep_val)) if keep_val else None,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[progress_callback(emit, total)],
    )
    trainer.remove_callback(PrinterCallback)  # progress goes through ``emit`` instead
    trainable, all_params = count_parameters(trainer.model)
    checkpoint = None
    if resume:
        found = sorted((run / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        checkpoint = str(found[-1]) if found else None
    manifest: dict[str, Any] = {
        "config": asdict(config),
        "base": {"name": config.base, "sha256": fingerprint, "class": type(model).__name__},
        "dataset": {
            "path": config.data,
            "sha256": sha256_file(Path(config.data)),
            "train": len(keep_train),
            "validation": len(keep_val),
            "dropped_too_long": dropped,
        },
        "lora": {"targets": targets, "r": config.r, "alpha": config.alpha, "dropout": config.dropout},
        "precision": "bf16" if bf16 else "fp32",
        "gradient_checkpointing": checkpointing,
        "trainable_parameters": trainable,
        "total_parameters": all_params,
        "versions": versions(),
        "status": "running",
    }
    info = TrainStarted(
        steps=total,
        train=len(keep_train),
        validation=len(keep_val),
        dropped=dropped,
        trainable=trainable,
        total=all_params,
        targets=targets,
        resumed_from=checkpoint,
    )
    return Session(config, run, trainer, tokenizer, manifest, checkpoint, info)


def train(
    config: TrainConfig, resume: bool = False, progress: Progress | None = None, launched: bool = False
) -> TrainResult:
    """Fine-tune ``config.base`` on ``config.data`` into the run directory ``config.out`` in this
    process; ``launched``: as one of ``config.processes`` (``distributed.launch``), where only
    the first writes the run folder."""
    emit = progress or ignore
    fresh = not Path(config.out).exists()
    try:
        session = prepare(config, resume, progress, launched)
    except BaseException:
        if fresh and not launched and Path(config.out).is_dir():
            shutil.rmtree(config.out, ignore_errors=True)  # the trainer made it; leave nothing behind
        raise
    config, run, trainer = session.config, session.run, session.trainer
    first = trainer.is_world_process_zero()
    if first:
        run.mkdir(parents=True, exist_ok=True)
        (run / MANIFEST).write_text(json.dumps(session.manifest, indent=1), encoding="utf-8")
    emit(session.info)
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=session.checkpoint)
    seconds = time.perf_counter() - started
    metrics = {k: float(v) for k, v in output.metrics.items() if isinstance(v, (int, float))}
    last = trainer.state.log_history[-2:-1]  # before the summary entry ``train()`` appends
    if last and "eval_loss" in last[0] and last[0].get("step") == trainer.state.global_step:
        metrics.update({k: float(v) for k, v in last[0].items() if k.startswith("eval_")})  # just evaluated
    elif trainer.eval_dataset is not None:
        metrics.update({k: float(v) for k, v in trainer.evaluate().items() if isinstance(v, (int, float))})
    history = trainer.state.log_history
    # TRL counts tokens from the start of this ``train()`` call (a resumed run starts again at 0)
    since = int(session.checkpoint.rsplit("-", 1)[-1]) if session.checkpoint else 0
    tokens = max((float(h.get("num_tokens", 0)) for h in history if h.get("step", 0) > since), default=0.0)
    result = TrainResult(
        run=str(run),
        steps=int(trainer.state.global_step),
        train_examples=session.info.train,
        val_examples=session.info.validation,
        dropped_too_long=session.info.dropped,
        trainable_parameters=session.info.trainable,
        total_parameters=session.info.total,
        targets=session.info.targets,
        metrics=metrics,
        seconds=seconds,
        tokens_per_s=round(tokens / seconds, 1) if seconds else 0.0,
    )
    if first:
        trainer.model.save_pretrained(run / "adapter")
        session.tokenizer.save_pretrained(run / "adapter")
        title = f"{Path(config.base).name} {config.method} r={config.r} on {Path(config.data).name}"
        plot_losses(history, run / "loss.png", title)
        session.manifest.update(status="done", result=result.to_dict(), history=history)
        (run / MANIFEST).write_text(json.dumps(session.manifest, indent=1), encoding="utf-8")
    emit(Finished(result.to_dict()))
    return result
