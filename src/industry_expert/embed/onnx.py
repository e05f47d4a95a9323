"""ONNX Runtime embedder: the same sentence-transformers weights, exported and quantized locally.

The first use writes the model's ONNX graph (pooling included, so the graph returns one vector per
text) and, with ``quantize`` on, applies per-channel dynamic int8 quantization to the weights. A BERT
encoder (the default MiniLM, multilingual-e5-small, bge-small...) is written straight from its
weights in the fused form (``bert_graph``), with no PyTorch; any other architecture is exported
with ``torch.onnx`` (the ``train`` extra), after which ONNX Runtime's transformer optimizer fuses
attention, LayerNorm and GELU. Both give the same graph, and the same vectors, for MiniLM. The files are
cached under ``$EXPERT_CACHE`` (default ``~/.cache/industry-expert``) keyed by the weights' names,
sizes and times, so later runs load in well under a second. docs/benchmarks.md has the speed and the
recall of each variant against sentence-transformers.

Texts are sorted by length before batching so that a batch pads to similar lengths.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderError
from ..extras import require
from ..models import cache_dir
from . import bert_graph
from .base import normalize
from .local import count_with, counting_tokenizer, model_label, prompts, resolve_model_dir


def _weights_fingerprint(model_dir: Path) -> str:
    """A cache key for the model's files: names, sizes and modification times.

    Hashing the 90 MB of weights took 0.1 s on every start (every ``expert search``); a changed
    file changes its size or time, the same test ingest uses to skip unchanged documents.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.iterdir() if p.suffix in (".safetensors", ".bin", ".json")):
        st = path.stat()
        digest.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def _pooling(model_dir: Path) -> tuple[str, bool]:
    """Pooling mode and whether vectors are normalised, from the sentence-transformers config."""
    mode, normalized = "mean", True
    modules = model_dir / "modules.json"
    if modules.exists():
        entries = json.loads(modules.read_text())
        normalized = any("Normalize" in m.get("type", "") for m in entries)
        for m in entries:
            if "Pooling" in m.get("type", ""):
                config = json.loads((model_dir / m["path"] / "config.json").read_text())
                if config.get("pooling_mode_cls_token"):
                    mode = "cls"
                elif config.get("pooling_mode_max_tokens"):
                    mode = "max"
    return mode, normalized


def export_onnx(model_dir: Path, out: Path, quantize: bool) -> Path:
    """Write ``model_dir``'s encoder to ``out`` (ONNX, pooled output), fused and optionally int8."""
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        fused = Path(tmp) / "fused.onnx"
        if bert_graph.supported(model_dir):
            onnx.save(bert_graph.build(model_dir, _pooling(model_dir)[0]), str(fused))
        else:
            _torch_export(model_dir, fused, Path(tmp))
        final = fused
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            final = Path(tmp) / "int8.onnx"
            quantize_dynamic(
                str(fused),
                str(final),
                weight_type=QuantType.QInt8,
                per_channel=True,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        os.replace(final, out)  # atomic: a crash never leaves a half-written model in the cache
    return out


def _torch_export(model_dir: Path, out: Path, tmp: Path) -> None:
    """Export a model ``bert_graph`` does not write with ``torch.onnx``, then fuse it with ONNX
    Runtime's transformer optimizer."""
    import warnings

    require("train", why=f"to export {model_dir.name} (not a BERT encoder) to ONNX")
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", module=r"torch\..*")
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    mode, _ = _pooling(model_dir)
    # Eager attention exports as plain MatMul/Softmax, which ONNX Runtime's optimizer fuses into
    # its Attention kernel (1.4x faster on 2 cores than the exported SDPA graph, which it cannot).
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            if mode == "cls":
                return hidden[:, 0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            if mode == "max":
                return (hidden * mask + (mask - 1) * 1e9).max(dim=1).values
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    raw = tmp / "raw.onnx"
    dummy = torch.ones((2, 8), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"embedding": {0: "batch"}}
    torch.onnx.export(
        Pooled(),
        (dummy, dummy, torch.zeros_like(dummy)),
        str(raw),
        input_names=names,
        output_names=["embedding"],
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )
    from onnxruntime.transformers.optimizer import optimize_model

    config = model.config
    optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=1,
    ).save_model_to_file(str(out))


class OnnxEmbedder:
    """Embeds with ONNX Runtime on the CPU; same vectors as sentence-transformers up to rounding."""

    def __init__(self, model: str, batch_size: int = 32, quantize: bool = True, threads: int | None = None):
        import logging

        logging.getLogger("root").setLevel(logging.ERROR)  # the quantizer warns about pre-processing
        model_dir = resolve_model_dir(model)
        variant = "int8" if quantize else "fp32"
        path = (
            cache_dir() / "onnx" / f"{model_label(model)}-{_weights_fingerprint(model_dir)}-{variant}-v2.onnx"
        )
        if not path.exists():
            try:
                export_onnx(model_dir, path, quantize)
            except (ImportError, RuntimeError, ValueError, OSError) as exc:
                raise EmbedderError(f"could not export {model_dir} to ONNX: {exc}") from None
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 8)
        options.log_severity_level = 3
        # Ingest parses the next file in another thread; spinning workers would starve it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = counting_tokenizer(model_dir)
        config = (
            json.loads((model_dir / "sentence_bert_config.json").read_text())
            if (model_dir / "sentence_bert_config.json").exists()
            else {}
        )
        self.counter = counting_tokenizer(model_dir)
        self.prompts = prompts(model_dir)  # E5's "query: " and "passage: "
        prefix = len(self.counter.encode(self.prompts.get("passage", ""), add_special_tokens=False).ids)
        self.max_tokens = int(config.get("max_seq_length", 256)) - 2 - prefix
        self.tokenizer.enable_truncation(self.max_tokens + 2 + prefix)
        self.normalized = _pooling(model_dir)[1]
        self.batch_size = batch_size
        self.name = f"onnx{'-int8' if quantize else ''}/{model_label(model)}"
        self.dim = int(self.embed_batch(["x"]).shape[1])

    # ``embed_batch`` takes ``before_batch``: ingest's pause for a server's answers
    # (ingest/yielding.py) waits between this embedder's own batches, which are sorted by tokens;
    # pieces cut outside cost 10% more time, each padded to its longest text.
    paces_batches = True

    def embed_batch(self, texts: Sequence[str], before_batch: Callable[[], None] | None = None) -> np.ndarray:
        """Passages (with the model's passage prompt, if it has one); ``before_batch`` is called
        before each batch of ``batch_size`` texts."""
        return self._embed(texts, self.prompts.get("passage", ""), before_batch)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Questions (with the model's query prompt, if it has one)."""
        return self._embed(texts, self.prompts.get("query", ""))

    def _embed(
        self, texts: Sequence[str], prompt: str, before_batch: Callable[[], None] | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([prompt + t for t in texts] if prompt else list(texts))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in index)
            ids = np.zeros((len(index), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for row, i in enumerate(index):
                e = encodings[i]
                ids[row, : len(e.ids)] = e.ids
                mask[row, : len(e.ids)] = 1
                types[row, : len(e.ids)] = e.type_ids
            if before_batch is not None:
                before_batch()
            vectors = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )[0]
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[index] = vectors
        assert out is not None
        return normalize(out) if self.normalized else out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return count_with(self.counter, texts)
