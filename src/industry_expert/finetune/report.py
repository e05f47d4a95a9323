"""What a training run reports: library versions for the manifest, progress events from the
Trainer's logs (with tokens/s counted from the start of this ``train()`` call), and the loss curve.
"""

from __future__ import annotations

import contextlib
import platform
import time
from pathlib import Path
from typing import Any

from ..events import Progress, TrainLog


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "industry-expert"):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def progress_callback(emit: Progress, total_steps: int) -> Any:
    from transformers import TrainerCallback

    class Report(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.started = time.perf_counter()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.started = time.perf_counter()  # TRL counts tokens from here, also after --resume

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
        ) -> None:
            logs = logs or {}
            values: dict[str, float] = {
                key: float(logs[key])
                for key in ("loss", "eval_loss", "learning_rate", "grad_norm", "num_tokens")
                if key in logs
            }
            if "loss" not in values and "eval_loss" not in values:
                return
            if "num_tokens" in logs:
                elapsed = time.perf_counter() - self.started
                values["tokens_per_s"] = round(float(logs["num_tokens"]) / max(elapsed, 1e-9), 1)
            emit(TrainLog(step=state.global_step, total=total_steps, **values))

    return Report()


def plot_losses(history: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in history if "loss" in h and "eval_loss" not in h]
    val = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss")
    if val:
        ax.plot(*zip(*val, strict=True), marker="o", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
