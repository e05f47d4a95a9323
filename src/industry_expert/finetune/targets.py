"""Which modules LoRA adapts, resolved from the model in hand rather than from a recipe.

Public Phi-3 recipes list ``q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj``,
names from Llama. Phi-3 fuses its projections (``qkv_proj``, ``gate_up_proj``), so such a list
silently adapts only ``o_proj`` and ``down_proj``. Here the default is every linear layer inside
the transformer blocks (peft's ``all-linear`` semantics: the output head is left alone), and a
name the user lists that matches no linear layer is an error naming the ones that exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import TargetError


def linear_names(model: Any) -> list[str]:
    """Leaf names of the linear layers inside the blocks (``q_proj``, ``qkv_proj``, ...), sorted."""
    import torch

    kinds: tuple[type, ...] = (torch.nn.Linear,)
    try:
        from transformers.pytorch_utils import Conv1D  # GPT-2 style linear layers

        kinds += (Conv1D,)
    except ImportError:  # pragma: no cover
        pass
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names: set[str] = set()
    for full, module in model.named_modules():
        if module is head or not isinstance(module, kinds):
            continue
        leaf = full.rsplit(".", 1)[-1]
        if leaf in ("lm_head", "score", "classifier") or "lora_" in full:
            continue
        names.add(leaf)
    return sorted(names)


def resolve_targets(model: Any, requested: str | Sequence[str] = "all-linear") -> list[str]:
    """The module names LoRA should adapt in ``model``.

    ``"all-linear"`` gives every linear layer in the blocks; a comma-separated string or a list
    is checked name by name against the model.
    """
    available = linear_names(model)
    if not available:
        raise TargetError(f"{type(model).__name__} has no linear layers that LoRA can adapt")
    if isinstance(requested, str):
        if requested.strip() in ("", "all-linear"):
            return available
        requested = [n.strip() for n in requested.split(",") if n.strip()]
    missing = [n for n in requested if n not in available]
    if missing:
        raise TargetError(
            f"LoRA target(s) {', '.join(missing)} match no linear layer in {type(model).__name__}; "
            f"its layers are {', '.join(available)} (leave the targets unset to adapt all of them)"
        )
    return list(dict.fromkeys(requested))


def count_parameters(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
