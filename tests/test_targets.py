"""LoRA targets resolved per architecture: fused (Phi-3) and separate (Llama) projections."""

from __future__ import annotations

import pytest
from tiny_models import tiny_llama, tiny_phi3

from industry_expert.finetune.targets import TargetError, count_parameters, resolve_targets

LLAMA_RECIPE = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def test_all_linear_finds_fused_and_separate_projections() -> None:
    assert resolve_targets(tiny_phi3()) == ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"]
    assert resolve_targets(tiny_llama()) == sorted(LLAMA_RECIPE)


def test_a_llama_recipe_on_phi3_is_refused_not_silently_narrowed() -> None:
    with pytest.raises(
        TargetError,
        match="q_proj, k_proj, v_proj, gate_proj, up_proj match no linear layer in Phi3ForCausalLM; its layers are down_proj, gate_up_proj, o_proj, qkv_proj",
    ):
        resolve_targets(tiny_phi3(), LLAMA_RECIPE)
    assert resolve_targets(tiny_llama(), "q_proj, v_proj") == ["q_proj", "v_proj"]


def test_lora_on_all_linear_trains_every_projection_and_counts_parameters() -> None:
    from peft import LoraConfig, get_peft_model

    model = tiny_phi3()
    targets = resolve_targets(model)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets))
    adapted = {name.split(".")[-1] for name, _ in peft_model.named_modules() if hasattr(_, "lora_A")}
    assert adapted == set(targets)
    trainable, total = count_parameters(peft_model)
    # r * (in + out) per adapted layer: qkv 32->96, o 32->32, gate_up 32->128, down 64->32; 2 layers
    assert trainable == 2 * 4 * ((32 + 96) + (32 + 32) + (32 + 128) + (64 + 32))
    assert 0 < trainable < total
