"""A BERT encoder's ONNX graph written from its weights, without PyTorch.

The default embedder (all-MiniLM-L6-v2) and the multilingual one (multilingual-e5-small) are both
BERT encoders. Exporting them with ``torch.onnx`` made torch (about 700 MB installed) a run-time
need of every search. Here the graph is written directly with ``onnx.helper`` from the folder's
``config.json`` and ``model.safetensors``, in the fused form ONNX Runtime's transformer optimizer
gives the exported graph (``EmbedLayerNormalization``, ``Attention``, ``SkipLayerNormalization``,
``BiasGelu`` from its ``com.microsoft`` operators, plain ``MatMul`` for the dense layers), followed
by the sentence-transformers pooling, so ``quantize_dynamic`` turns it into the same int8 graph.

Only the absolute-position BERT architecture is written here; any other model (RoBERTa, MPNet...)
goes through the ``torch.onnx`` export, which needs the ``train`` extra (``embed/onnx.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

MS = "com.microsoft"
_PREFIXES = ("", "bert.", "model.")


def supported(model_dir: Path) -> bool:
    """Whether ``model_dir`` is a BERT encoder this module can write: absolute positions, GELU,
    weights in ``model.safetensors``."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        config.get("model_type") == "bert"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and config.get("hidden_act", "gelu") == "gelu"
        and (model_dir / "model.safetensors").is_file()
    )


def _weights(model_dir: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    tensors = load_file(str(model_dir / "model.safetensors"))
    for prefix in _PREFIXES:
        if f"{prefix}embeddings.word_embeddings.weight" in tensors:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    raise ValueError(
        f"{model_dir / 'model.safetensors'} has no BERT embeddings (embeddings.word_embeddings.weight)"
    )


class _Graph:
    """Nodes and initializers being written, with names chosen by the caller."""

    def __init__(self) -> None:
        self.inits: list[Any] = []
        self.nodes: list[Any] = []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        # ascontiguousarray would turn a scalar (Gather's index, Clip's bound) into a vector
        self.inits.append(
            numpy_helper.from_array(
                np.asarray(value) if value.ndim == 0 else np.ascontiguousarray(value), name
            )
        )
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], domain: str = "", **attrs: Any) -> None:
        from onnx import helper

        self.nodes.append(
            helper.make_node(op, inputs, outputs, name=f"{op}_{len(self.nodes)}", domain=domain, **attrs)
        )


def build(model_dir: Path, pooling: str = "mean") -> Any:
    """The fp32 ONNX model (an ``onnx.ModelProto``) of the encoder in ``model_dir`` with its
    pooling (``mean``, ``cls`` or ``max``): inputs ``input_ids``, ``attention_mask``,
    ``token_type_ids`` (int64, batch by sequence), output ``embedding`` (batch by hidden)."""
    from onnx import TensorProto, helper

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    w = _weights(model_dir)
    eps = float(config.get("layer_norm_eps", 1e-12))
    heads = int(config["num_attention_heads"])
    g = _Graph()
    const, node = g.const, g.node
    for name in ("input_ids", "token_type_ids", "attention_mask"):
        node("Cast", [name], [f"{name}_int32"], to=TensorProto.INT32)
    types = (
        const("token_type_embeddings", w["embeddings.token_type_embeddings.weight"])
        if "embeddings.token_type_embeddings.weight" in w
        else ""
    )
    node(
        "EmbedLayerNormalization",
        [
            "input_ids_int32",
            "token_type_ids_int32" if types else "",
            const("word_embeddings", w["embeddings.word_embeddings.weight"]),
            const("position_embeddings", w["embeddings.position_embeddings.weight"]),
            types,
            const("embeddings_ln_weight", w["embeddings.LayerNorm.weight"]),
            const("embeddings_ln_bias", w["embeddings.LayerNorm.bias"]),
            "attention_mask_int32",
        ],
        ["hidden_0", "mask_index"],
        domain=MS,
        epsilon=eps,
    )

    def dense_add_norm(x: str, dense: str, residual: str, norm: str, out: str) -> str:
        """``LayerNorm(residual + x @ W + b)``: a dense layer and its residual, fused in
        SkipLayerNormalization (torch's Linear stores W as (out, in); MatMul wants (in, out))."""
        node("MatMul", [x, const(f"{out}_weight", w[f"{dense}.weight"].T)], [f"{out}_dense"])
        node(
            "SkipLayerNormalization",
            [
                f"{out}_dense",
                residual,
                const(f"{out}_ln_weight", w[f"{norm}.weight"]),
                const(f"{out}_ln_bias", w[f"{norm}.bias"]),
                const(f"{out}_bias", w[f"{dense}.bias"]),
            ],
            [out],
            domain=MS,
            epsilon=eps,
        )
        return out

    hidden = "hidden_0"
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        a = p + "attention."
        # Q, K and V side by side, each transposed like a dense layer's weight
        qkv = np.concatenate([w[f"{a}self.{x}.weight"].T for x in ("query", "key", "value")], axis=1)
        qkv_bias = np.concatenate([w[f"{a}self.{x}.bias"] for x in ("query", "key", "value")])
        node(
            "Attention",
            [hidden, const(f"l{i}_qkv_weight", qkv), const(f"l{i}_qkv_bias", qkv_bias), "mask_index"],
            [f"l{i}_context"],
            domain=MS,
            num_heads=heads,
        )
        attended = dense_add_norm(
            f"l{i}_context", f"{a}output.dense", hidden, f"{a}output.LayerNorm", f"l{i}_attn"
        )
        node(
            "MatMul",
            [attended, const(f"l{i}_inter_weight", w[f"{p}intermediate.dense.weight"].T)],
            [f"l{i}_inter"],
        )
        node(
            "BiasGelu",
            [f"l{i}_inter", const(f"l{i}_inter_bias", w[f"{p}intermediate.dense.bias"])],
            [f"l{i}_gelu"],
            domain=MS,
        )
        hidden = dense_add_norm(
            f"l{i}_gelu", f"{p}output.dense", attended, f"{p}output.LayerNorm", f"hidden_{i + 1}"
        )
    _pool(g, hidden, pooling)
    graph = helper.make_graph(
        g.nodes,
        "bert_encoder_pooled",
        [
            helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
            for n in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [
            helper.make_tensor_value_info(
                "embedding", TensorProto.FLOAT, ["batch", int(config["hidden_size"])]
            )
        ],
        g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
        producer_name="industry-expert",
    )
    model.ir_version = 8
    return model


def _pool(g: _Graph, hidden: str, pooling: str) -> None:
    """sentence-transformers' pooling over the last hidden states: the mean of the unmasked
    tokens, the first token (``cls``), or the largest value per dimension (``max``)."""
    from onnx import TensorProto

    add, c = g.node, g.const
    if pooling == "cls":
        add("Gather", [hidden, c("first", np.array(0, dtype=np.int64))], ["embedding"], axis=1)
        return
    add("Unsqueeze", ["attention_mask", c("last_axis", np.array([-1], dtype=np.int64))], ["mask3"])
    add("Cast", ["mask3"], ["mask3_float"], to=TensorProto.FLOAT)
    axis = c("sequence_axis", np.array([1], dtype=np.int64))
    if pooling == "max":
        # masked positions get -1e9 so that they never win: hidden * mask + (mask - 1) * 1e9
        add("Mul", [hidden, "mask3_float"], ["masked"])
        add("Sub", ["mask3_float", c("one", np.array(1.0, dtype=np.float32))], ["mask_minus_one"])
        add("Mul", ["mask_minus_one", c("big", np.array(1e9, dtype=np.float32))], ["mask_penalty"])
        add("Add", ["masked", "mask_penalty"], ["penalized"])
        add("ReduceMax", ["penalized"], ["embedding"], axes=[1], keepdims=0)
        return
    add("Mul", [hidden, "mask3_float"], ["masked"])
    add("ReduceSum", ["masked", axis], ["summed"], keepdims=0)
    add("ReduceSum", ["mask3_float", axis], ["counts"], keepdims=0)
    add("Clip", ["counts", c("tiny", np.array(1e-9, dtype=np.float32))], ["counts_safe"])
    add("Div", ["summed", "counts_safe"], ["embedding"])
