"""Export: merged weights are W + alpha/r·B·A; GGUF through llama.cpp's converters loads and answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import make_llama, make_smol_llama, write_dataset

from industry_expert.cli import main
from industry_expert.finetune.export import ExportError, converters_dir, export
from industry_expert.finetune.train import TrainConfig, train


def _run(base: Path, tmp_path: Path, steps: int = 2) -> Path:
    data = write_dataset(tmp_path / "train.jsonl")
    run = tmp_path / "run"
    train(
        TrainConfig(
            data=str(data), out=str(run), base=str(base), max_steps=steps, max_length=128, learning_rate=5e-2
        )
    )
    return run


def test_merged_weights_are_base_plus_scaled_lora_product(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    base = make_llama(tmp_path / "base")
    run = _run(base, tmp_path)
    result = export(run, merged=True)
    merged = AutoModelForCausalLM.from_pretrained(result.merged)
    original = AutoModelForCausalLM.from_pretrained(base)
    lora = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    config = json.loads((run / "adapter" / "adapter_config.json").read_text())
    scale = config["lora_alpha"] / config["r"]
    name = "model.layers.0.self_attn.q_proj"
    a = next(v for k, v in lora.items() if name in k and "lora_A" in k)
    b = next(v for k, v in lora.items() if name in k and "lora_B" in k)
    assert b.abs().sum() > 0  # training moved B off its zero start
    expected = original.get_submodule(name).weight + scale * (b @ a)
    assert torch.allclose(merged.get_submodule(name).weight, expected, atol=1e-6)
    with pytest.raises(ExportError, match="already exists"):
        export(run, merged=True)


def test_a_base_changed_since_training_is_refused(tmp_path: Path) -> None:
    import shutil

    base = make_llama(tmp_path / "base")
    run = _run(base, tmp_path)
    shutil.rmtree(base)
    make_llama(base, seed=1)  # other weights of the same shapes at the same path
    with pytest.raises(ExportError, match="has changed since"):
        export(run, merged=True)
    assert not (run / "export").exists()


def test_unfinished_or_missing_runs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not a training run"):
        export(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"status": "running", "config": {}}))
    with pytest.raises(ExportError, match="has not finished training"):
        export(tmp_path)
    assert main(["export", str(tmp_path)]) == 2


@pytest.mark.long
@pytest.mark.slow
def test_gguf_export_loads_in_llama_cpp_and_answers(tmp_path: Path) -> None:
    try:
        converters_dir()
    except ExportError:
        pytest.skip("llama.cpp's converters are not installed (make install unpacks them)")
    from industry_expert.generate import LlamaCppGenerator, complete

    run = _run(make_smol_llama(tmp_path / "base"), tmp_path)
    assert main(["export", str(run), "--gguf", "--json"]) == 0
    export_dir = run / "export"
    model = export_dir / "run-f16.gguf"
    assert model.is_file() and (export_dir / "run-lora-f16.gguf").is_file()
    modelfile = (export_dir / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./run-f16.gguf") and 'PARAMETER stop "<|im_end|>"' in modelfile
    gen = LlamaCppGenerator(str(model), 512)
    assert gen.stops == ["<|im_end|>"]
    assert isinstance(complete(gen, [{"role": "user", "content": "What was capex?"}], max_tokens=4), str)
