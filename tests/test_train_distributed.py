"""`expert train --processes N`: two CPU processes (gloo) train as one process with the same
global batch does, and write one run folder that resumes like any other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tiny_models import make_llama, write_dataset

from industry_expert.errors import TrainError
from industry_expert.finetune.service import Tuning
from industry_expert.finetune.train import TrainConfig

pytestmark = [pytest.mark.slow, pytest.mark.long]

# The same examples make each global step in both runs (accelerate hands each process its share
# of the one-process batches, in order), so the curves differ only by the order of floating-point
# sums across two processes: a stated tolerance of 1% of each step's loss.
TOLERANCE = 0.01


def losses(run: Path) -> dict[int, float]:
    history = json.loads((run / "manifest.json").read_text())["history"]
    return {h["step"]: h["loss"] for h in history if "loss" in h}


def settings(tmp_path: Path) -> dict[str, Any]:
    """A tiny base and data set, and the settings both runs of a comparison share (no dropout)."""
    base = make_llama(tmp_path / "llama")
    data = write_dataset(tmp_path / "train.jsonl")
    return dict(
        data=str(data), base=str(base), max_length=128, dropout=0.0, val_fraction=0.0,
        max_steps=4, logging_steps=1, gradient_checkpointing=False, precision="fp32",
    )  # fmt: skip


def test_two_processes_train_as_one_with_the_same_global_batch(tmp_path: Path) -> None:
    common = settings(tmp_path)
    one = Tuning.train(TrainConfig(out=str(tmp_path / "one"), batch_size=4, **common))  # type: ignore[arg-type]
    events: list[dict] = []
    two = Tuning.train(
        TrainConfig(out=str(tmp_path / "two"), batch_size=2, processes=2, **common),  # type: ignore[arg-type]
        progress=lambda e: events.append(e.to_dict()),
    )
    assert one.steps == two.steps == 4 and two.train_examples == one.train_examples
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert a.keys() == b.keys() == {1, 2, 3, 4}
    for step in a:
        assert abs(a[step] - b[step]) <= TOLERANCE * a[step], (step, a[step], b[step])
    # one run folder, written once, reported as one run
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["config"]["processes"] == 2
    assert (tmp_path / "two" / "adapter" / "adapter_config.json").is_file()
    assert [e["event"] for e in events].count("start") == 1 and events[-1]["event"] == "done"
    # resumed with its processes, from its last checkpoint
    more = Tuning.train(TrainConfig(data="", out=str(tmp_path / "two"), max_steps=6), resume=True)
    assert more.steps == 6
    # a base that is not there: the first process's one line, and no run folder left
    bad = {**common, "base": str(tmp_path / "nope")}
    with pytest.raises(TrainError, match="not found") as caught:
        Tuning.train(TrainConfig(out=str(tmp_path / "bad"), processes=2, **bad))  # type: ignore[arg-type]
    assert "\n" not in str(caught.value) and not (tmp_path / "bad").exists()
    # an existing folder is refused before any process starts
    with pytest.raises(TrainError, match="already exists"):
        Tuning.train(TrainConfig(out=str(tmp_path / "two"), processes=2, **common))  # type: ignore[arg-type]


def test_two_sharded_processes_train_as_one_and_write_the_whole_adapter(tmp_path: Path) -> None:
    """FSDP2 (``--shard``): each process holds half of every layer; the loss curve is one
    process's, and the adapter rank 0 writes is whole (gathered), equal to one process's."""
    import numpy as np
    from safetensors.numpy import load_file

    common = settings(tmp_path)
    Tuning.train(TrainConfig(out=str(tmp_path / "one"), batch_size=4, **common))  # type: ignore[arg-type]
    Tuning.train(TrainConfig(out=str(tmp_path / "fsdp"), batch_size=2, processes=2, shard=True, **common))  # type: ignore[arg-type]
    a, b = losses(tmp_path / "one"), losses(tmp_path / "fsdp")
    assert a.keys() == b.keys() == {1, 2, 3, 4}
    for step in a:
        assert abs(a[step] - b[step]) <= TOLERANCE * a[step], (step, a[step], b[step])
    one = load_file(str(tmp_path / "one" / "adapter" / "adapter_model.safetensors"))
    sharded = load_file(str(tmp_path / "fsdp" / "adapter" / "adapter_model.safetensors"))
    assert one.keys() == sharded.keys()
    for name, tensor in one.items():
        assert tensor.shape == sharded[name].shape and np.allclose(tensor, sharded[name], atol=1e-5), name
    more = Tuning.train(TrainConfig(data="", out=str(tmp_path / "fsdp"), max_steps=6), resume=True)
    assert more.steps == 6
    with pytest.raises(TrainError, match="processes of 2 or more"):
        Tuning.train(TrainConfig(out=str(tmp_path / "x"), shard=True, **common))  # type: ignore[arg-type]
