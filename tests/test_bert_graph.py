"""The BERT graph written from weights (embed/bert_graph.py) computes what transformers' BertModel
computes, with each of sentence-transformers' poolings, padding included; other architectures
still export through torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from industry_expert.embed import bert_graph
from industry_expert.embed.onnx import export_onnx

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def tiny(path: Path, model_type: str = "bert") -> object:
    torch.manual_seed(0)
    dims = {
        "vocab_size": 50,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "max_position_embeddings": 40,
    }
    if model_type == "bert":
        model = transformers.BertModel(
            transformers.BertConfig(layer_norm_eps=1e-12, **dims), add_pooling_layer=False
        )
    else:
        model = transformers.RobertaModel(transformers.RobertaConfig(**dims), add_pooling_layer=False)
    model.eval()
    model.save_pretrained(path)
    return model


def pooled(model: object, ids: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    with torch.no_grad():
        hidden = model(  # type: ignore[operator]
            input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
        ).last_hidden_state
    m = torch.from_numpy(mask).unsqueeze(-1).float()
    if mode == "cls":
        out = hidden[:, 0]
    elif mode == "max":
        out = (hidden * m + (m - 1) * 1e9).max(dim=1).values
    else:
        out = (hidden * m).sum(1) / m.sum(1)
    return out.numpy()


def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 50, size=(3, 9)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 5:] = 0  # right padding, as the tokenizer pads
    mask[2, 2:] = 0
    ids[mask == 0] = 0
    return ids, mask


@pytest.mark.long
@pytest.mark.parametrize("mode", ["mean", "cls", "max"])
def test_the_written_graph_matches_bert_model(tmp_path: Path, mode: str) -> None:
    import onnx
    import onnxruntime as ort

    model = tiny(tmp_path)
    assert bert_graph.supported(tmp_path)
    graph = bert_graph.build(tmp_path, mode)
    onnx.checker.check_model(graph)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    ids, mask = batch()
    got = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[
        0
    ]
    np.testing.assert_allclose(got, pooled(model, ids, mask, mode), atol=2e-5)


def test_weights_saved_under_a_prefix_and_what_is_not_written(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    tiny(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    save_file({f"bert.{k}": v for k, v in weights.items()}, str(tmp_path / "model.safetensors"))
    assert bert_graph.build(tmp_path) is not None  # a BertForX checkpoint's "bert." prefix
    config = json.loads((tmp_path / "config.json").read_text())
    for change in (
        {"position_embedding_type": "relative_key"},
        {"hidden_act": "relu"},
        {"model_type": "roberta"},
    ):
        (tmp_path / "config.json").write_text(json.dumps({**config, **change}))
        assert not bert_graph.supported(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config))
    save_file({"other.weight": np.zeros(2, np.float32)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="no BERT embeddings"):
        bert_graph.build(tmp_path)


def test_another_architecture_goes_through_the_torch_export(tmp_path: Path) -> None:
    import onnxruntime as ort

    model = tiny(tmp_path, "roberta")
    assert not bert_graph.supported(tmp_path)
    out = export_onnx(tmp_path, tmp_path / "out" / "model.onnx", quantize=False)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    ids, mask = batch()
    ids[ids < 2] = 3  # RoBERTa's pad id is 1; keep real tokens off it
    ids[mask == 0] = 1
    got = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[
        0
    ]
    np.testing.assert_allclose(got, pooled(model, ids, mask, "mean"), atol=2e-5)
