"""The shipped static embedder (WordLlama's token vectors, from inside its wheel): real vectors,
the same whatever batch a text is in, found through the CLI, and one line for a wrong model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from industry_expert import Workspace
from industry_expert.config import EmbedderSettings
from industry_expert.embed import check_embedder, create_embedder, embedder_id
from industry_expert.embed.static import WORDLLAMA, StaticEmbedder
from industry_expert.errors import EmbedderError

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "industry_expert" / "samples"


@pytest.fixture(scope="module")
def static() -> StaticEmbedder:
    return StaticEmbedder()


def test_vectors_are_unit_length_and_mean_what_the_text_says(static: StaticEmbedder) -> None:
    q, right, wrong = static.embed_batch(
        ["What was capital expenditure in fiscal 2023?", "Capital expenditure was $38.4 million.",
         "The pump's seals are replaced every spring."]
    )  # fmt: skip
    assert static.dim == 256 and static.name == f"static/{WORDLLAMA}"
    assert np.allclose(np.linalg.norm(np.stack([q, right, wrong]), axis=1), 1.0, atol=1e-5)
    assert float(q @ right) > float(q @ wrong) + 0.2
    # a batch is padded to its longest text; a count is of the text's own tokens
    short, empty, longer = static.count_tokens(["capital expenditure", "", "capital expenditure was high"])
    assert static.count_tokens(["capital expenditure"]) == [short] and empty == 0 and longer == short + 2


def test_a_text_gets_the_same_vector_in_any_batch(static: StaticEmbedder) -> None:
    """Unlike int8 ONNX, whose activation scale is the batch's: a chunk's vector never depends on
    the chunks embedded with it (so re-ingesting moves no figure)."""
    text = "Capital expenditure in fiscal 2023 was $38.4 million."
    alone = static.embed_batch([text])[0]
    batch = static.embed_batch(["a much longer text about valves and pumps " * 40, text, ""])
    assert np.array_equal(alone, batch[1])
    assert not batch[2].any()  # no token, no direction


def test_the_backend_is_registered_and_checks_its_model() -> None:
    settings = EmbedderSettings(backend="static")  # the default model setting means the shipped one
    check_embedder(settings)
    assert embedder_id(settings) == f"static/{WORDLLAMA}" == create_embedder(settings).name
    with pytest.raises(EmbedderError, match="unknown static embedding model 'bge-small'"):
        check_embedder(EmbedderSettings(backend="static", model="bge-small"))


def test_a_static_workspace_finds_the_demo_answer(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws", {"embedder.backend": "static"}) as ws:
        ws.ingest([SAMPLES])
        hits = ws.search("What was capital expenditure in fiscal 2023?", k=3)
        assert any("$38.4 million" in h.text for h in hits)
        dense = ws.search("Which error code means the actuator stalled?", k=3, mode="dense")
        assert any("E17" in h.text for h in dense)


@pytest.mark.slow
def test_expert_init_embedder_static(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    run = [sys.executable, "-m", "industry_expert.cli", "-w", str(ws)]
    done = subprocess.run([*run, "init", "--embedder", "static"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"static/{WORDLLAMA}" in done.stdout
    status = subprocess.run([*run, "status", "--json"], capture_output=True, text=True, timeout=120)
    assert json.loads(status.stdout)["embedder"] == f"static/{WORDLLAMA}"
    wrong = subprocess.run(
        [*run[:-1], str(tmp_path / "other"), "init", "--embedder", "static:bge-small"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert wrong.returncode != 0 and "unknown static embedding model" in wrong.stderr
    assert "Traceback" not in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
