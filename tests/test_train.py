"""LoRA training through the real entry points, on tiny random Llama- and Phi-3-style models."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from tiny_models import (
    MEMO_ANSWER,
    MEMO_QUESTION,
    make_llama,
    make_phi3,
    memorise,
    write_dataset,
)

from industry_expert.cli import main
from industry_expert.errors import ExpertError
from industry_expert.finetune.train import TrainConfig, TrainError, prepare, train


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_llama(tmp_path_factory.mktemp("llama"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data") / "train.jsonl")


def test_cli_train_writes_adapter_manifest_and_loss_curve(
    llama: Path, data: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / "run"
    args = [
        "train",
        "--base",
        str(llama),
        "--data",
        str(data),
        "--out",
        str(run),
        "--max-steps",
        "3",
        "--max-length",
        "128",
    ]
    assert main([*args, "--no-gradient-checkpointing", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["steps"] == 3 and result["dropped_too_long"] == 1
    assert result["train_examples"] + result["val_examples"] == 24 and result["val_examples"] == 2
    assert 0 < result["trainable_parameters"] < result["total_parameters"]
    assert (run / "adapter" / "adapter_config.json").is_file() and (run / "loss.png").stat().st_size > 1000
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "done" and len(manifest["base"]["sha256"]) == 64
    assert len(manifest["dataset"]["sha256"]) == 64 and manifest["versions"]["peft"]
    assert manifest["config"]["r"] == 16 and "eval_loss" in manifest["result"]["metrics"]
    assert manifest["precision"] in ("bf16", "fp32") and manifest["gradient_checkpointing"] is False
    # the run directory is never overwritten
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    # --resume continues the step count
    assert main(["train", "--resume", str(run), "--max-steps", "5", "--json"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["steps"] == 5 and resumed["tokens_per_s"] > 0 and "eval_loss" in resumed["metrics"]
    history = json.loads((run / "manifest.json").read_text())["history"]
    assert sum("eval_loss" in h and h["step"] == 5 for h in history) == 1  # the final step evaluated once
    # the run directory is enough to use the tuned model: the manifest names the base
    from industry_expert.generate import complete
    from industry_expert.generate.hf import TransformersGenerator

    tuned = TransformersGenerator("", adapter=str(run))
    assert tuned.name == f"transformers/{llama.name}+run"
    assert isinstance(complete(tuned, [{"role": "user", "content": "What was capex?"}], max_tokens=4), str)
    # and so is `expert ask --adapter RUN --no-retrieval`: the fine-tuned model alone
    ws = str(tmp_path / "ws")
    assert main(["-w", ws, "init"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "-w",
                ws,
                "ask",
                "--adapter",
                str(run),
                "--no-retrieval",
                "--max-tokens",
                "4",
                "--json",
                "Capex?",
            ]
        )
        == 0
    )
    answer = json.loads(capsys.readouterr().out)
    assert answer["model"] == f"transformers/{llama.name}+run" and answer["hits"] == []


def test_loss_is_on_the_assistant_tokens_only(llama: Path, data: Path, tmp_path: Path) -> None:
    session = prepare(TrainConfig(data=str(data), out=str(tmp_path / "r"), base=str(llama), max_length=128))
    row = session.trainer.train_dataset[0]
    learned = [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
    text = session.tokenizer.decode(learned)
    assert text.startswith("Capex was ") and text.rstrip().endswith("<|im_end|>")
    assert "What was capex" not in text and "Answer from the filings" not in text
    assert not (tmp_path / "r" / "manifest.json").exists()  # prepare trains and records nothing
    # gradient checkpointing is on unless turned off, as in TRL, and recorded
    assert session.trainer.args.activation_checkpointing and session.manifest["gradient_checkpointing"]


def test_phi3_fused_projections_are_all_adapted(tmp_path: Path, data: Path) -> None:
    phi3 = make_phi3(tmp_path / "phi3")
    result = train(
        TrainConfig(data=str(data), out=str(tmp_path / "run"), base=str(phi3), max_steps=2, max_length=128)
    )
    assert result.targets == ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"]
    adapter = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == set(result.targets)


def test_bad_training_input_is_one_clear_line(llama: Path, data: Path, tmp_path: Path) -> None:
    def fails(config: TrainConfig, match: str) -> None:
        with pytest.raises(ExpertError, match=match):
            train(config)

    fails(TrainConfig(data=str(data), out=str(tmp_path / "a"), base=str(tmp_path / "nope")), "not found")
    fails(TrainConfig(data=str(data), out=str(tmp_path / "a"), base=str(data)), "not a GGUF file")
    fails(
        TrainConfig(data=str(data), out=str(tmp_path / "a"), base=str(llama), max_length=16),
        "longer than max length",
    )
    fails(
        TrainConfig(data=str(data), out=str(tmp_path / "a"), base=str(llama), targets="q_proj,qkv_proj"),
        "qkv_proj match no linear layer",
    )
    fails(TrainConfig(data=str(data), out=str(tmp_path / "a"), base=str(llama), r=0), "r and alpha")
    fails(
        TrainConfig(data=str(data), out=str(tmp_path / "a"), base=str(llama), precision="fp16"),
        "precision must be",
    )
    with pytest.raises(TrainError, match="not a run directory"):
        train(TrainConfig(data="", out=str(tmp_path / "missing-run")), resume=True)
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    from industry_expert.finetune import DatasetError

    with pytest.raises(DatasetError, match="no examples"):
        train(TrainConfig(data=str(tmp_path / "empty.jsonl"), out=str(tmp_path / "b"), base=str(llama)))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_qlora_trains_on_a_4bit_nf4_base(data: Path, tmp_path: Path) -> None:
    import bitsandbytes as bnb
    import torch

    # bitsandbytes quantizes in blocks of 64 inputs, so the layers need at least 64
    base = make_llama(tmp_path / "llama64", hidden=64)
    config = TrainConfig(
        data=str(data),
        out=str(tmp_path / "q"),
        base=str(base),
        method="qlora",
        max_steps=4,
        max_length=128,
        eval_steps=2,
    )
    session = prepare(config)
    layer = session.trainer.model.get_submodule("base_model.model.model.layers.0.self_attn.q_proj.base_layer")
    assert isinstance(layer, bnb.nn.Linear4bit) and layer.weight.quant_type == "nf4"
    assert layer.weight.quant_state.nested and layer.compute_dtype == torch.bfloat16  # double quant, bf16
    result = train(replace(config, out=str(tmp_path / "q2")))
    losses = [
        h["loss"]
        for h in json.loads((tmp_path / "q2" / "manifest.json").read_text())["history"]
        if "loss" in h
    ]
    assert all(0 < loss < 20 for loss in losses)  # training goes on normally after a 4-bit evaluation
    assert result.steps == 4 and (tmp_path / "q2" / "adapter" / "adapter_config.json").is_file()


@pytest.mark.long
@pytest.mark.slow
def test_the_shipped_smollm2_gguf_is_the_default_base(data: Path, tmp_path: Path) -> None:
    """A CPU-only user fine-tunes the shipped GGUF: de-quantized once into the cache, then trained."""
    result = train(
        TrainConfig(data=str(data), out=str(tmp_path / "run"), max_steps=1, batch_size=1, max_length=128)
    )
    assert result.steps == 1 and result.targets == [
        "down_proj",
        "gate_proj",
        "k_proj",
        "o_proj",
        "q_proj",
        "up_proj",
        "v_proj",
    ]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["base"]["name"] == "smollm2" and manifest["base"]["class"] == "LlamaForCausalLM"


def test_packing_keeps_examples_apart_and_the_loss_on_answers(
    llama: Path, data: Path, tmp_path: Path
) -> None:
    import torch

    session = prepare(
        TrainConfig(
            data=str(data),
            out=str(tmp_path / "r"),
            base=str(llama),
            max_length=256,
            packing=True,
            batch_size=2,
        )
    )
    batch = next(iter(session.trainer.get_train_dataloader()))
    ids, labels, positions = batch["input_ids"], batch["labels"], batch["position_ids"]
    bounds = batch["cu_seq_lens_q"].tolist()
    assert ids.shape[0] == 1 and len(bounds) >= 3  # several examples in one row, no padding
    learned = session.tokenizer.decode([t for t, y in zip(ids[0], labels[0], strict=True) if y != -100])
    assert learned.count("Capex was ") == len(bounds) - 1 and "What was capex" not in learned
    # each example attends only to itself: packed logits equal the logits of the example alone
    model = session.trainer.model.eval()
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=positions).logits[0]
        for start, end in zip(bounds[:-1], bounds[1:], strict=False):
            alone = model(input_ids=ids[:, start:end]).logits[0]
            assert torch.allclose(alone, packed[start:end], atol=1e-4)
    # and it trains through the real entry point
    result = train(replace(session.config, out=str(tmp_path / "run"), max_steps=2))
    assert result.steps == 2 and (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()


@pytest.mark.gpu
def test_lora_and_qlora_on_cuda(data: Path, tmp_path: Path) -> None:
    """On CUDA: bf16 LoRA with gradient checkpointing, and QLoRA on a 4-bit NF4 base with double
    quantization and bf16 compute, both through the real entry point."""
    import bitsandbytes as bnb
    import torch

    base = make_llama(tmp_path / "llama64", hidden=64)
    lora = train(
        TrainConfig(data=str(data), out=str(tmp_path / "l"), base=str(base), max_steps=3, max_length=128)
    )
    manifest = json.loads((tmp_path / "l" / "manifest.json").read_text())
    assert lora.steps == 3 and manifest["precision"] == "bf16" and manifest["gradient_checkpointing"]
    config = TrainConfig(
        data=str(data), out=str(tmp_path / "q"), base=str(base), method="qlora", max_steps=3, max_length=128
    )
    session = prepare(config)
    layer = session.trainer.model.get_submodule("base_model.model.model.layers.0.self_attn.q_proj.base_layer")
    assert isinstance(layer, bnb.nn.Linear4bit) and layer.weight.device.type == "cuda"
    assert layer.weight.quant_type == "nf4" and layer.weight.quant_state.nested  # double quantization
    assert layer.compute_dtype == torch.bfloat16
    assert train(replace(config, out=str(tmp_path / "q2"))).steps == 3


def test_a_few_lora_steps_memorise_a_fixed_answer(tmp_path: Path) -> None:
    """The training path learns: 30 LoRA steps on one question take the loss on its answer down
    by more than 20x, and greedy decoding through the tuned model returns the answer word for
    word, which the base model does not."""
    from industry_expert.generate import complete
    from industry_expert.generate.hf import TransformersGenerator

    base = make_llama(tmp_path / "base", init=0.5)  # wide logits, so the loss can fall far
    memorise(base, tmp_path / "run", steps=30)
    history = json.loads((tmp_path / "run" / "manifest.json").read_text())["history"]
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[0] / losses[-1] > 20, losses
    assert (
        complete(TransformersGenerator("", adapter=str(tmp_path / "run")), MEMO_QUESTION, max_tokens=24)
        == MEMO_ANSWER
    )
    assert complete(TransformersGenerator(str(base)), MEMO_QUESTION, max_tokens=24) != MEMO_ANSWER
