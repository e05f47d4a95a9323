"""expert tune retriever: questions about the workspace's passages, hard negatives, a contrastive
fine-tune of the shipped embedder on the CPU, and a reindex with the tuned model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeGenerator

from industry_expert import Workspace
from industry_expert.finetune.retriever import RetrieverConfig, tuned_model_dir

pytestmark = pytest.mark.slow
PLANTS = ["Dayton", "Pune", "Tilburg", "Monterrey", "Austin", "Gdansk", "Osaka", "Leeds", "Porto", "Ulsan"]
TOPICS = ["capital expenditure", "maintenance spending", "energy use", "overtime hours"]


class QuestionWriter(FakeGenerator):
    """Writes a question about the first place and figure of the passage it is shown."""

    def stream(self, messages, max_tokens: int = 512, temperature: float = 0.0):  # type: ignore[no-untyped-def]
        text = messages[-1]["content"]
        place = next((p for p in PLANTS if p in text), "the plant")
        topic = next((t for t in TOPICS if t in text), "spending")
        yield f"Question: How much was the {topic} at the {place} plant?"


def corpus(folder: Path) -> Path:
    folder.mkdir()
    for i, place in enumerate(PLANTS):
        for j, topic in enumerate(TOPICS):
            figure = 10 + 3 * i + j
            (folder / f"{place.lower()}-{j}.md").write_text(
                f"# {place} plant report\n\nThe {topic} at the {place} plant reached {figure}.{j} million in fiscal 2023, "
                f"compared with {figure - 2}.{j} million a year earlier. Managers at {place} attribute the change to "
                "a new production line, longer shifts and higher prices for steel and copper across the region.\n",
                encoding="utf-8",
            )
    return folder


@pytest.mark.long
def test_tuning_writes_a_model_that_reindexing_puts_to_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest([corpus(tmp_path / "docs")])
    ws.use_generator(QuestionWriter())
    events: list[dict] = []
    out = tmp_path / "runs" / "retriever-plants"
    report = ws.tune_retriever(
        RetrieverConfig(out, n=40, batch_size=8), progress=lambda e: events.append(e.to_dict())
    )
    ws.close()
    assert report.train + report.validation == 40 and report.validation >= 5
    assert {e["stage"] for e in events if e["event"] == "start"} == {"questions", "train"}
    # 36 pairs in batches of 8 are 5 steps, and the trainer prints no log dicts of its own
    steps = [e for e in events if e["stage"] == "train" and e["event"] == "progress"]
    assert steps and all(e["step"] <= e["total"] == 5 for e in steps)
    assert "{'loss'" not in capsys.readouterr().out
    assert 0 < report.before["MRR@10"] <= 1 and 0 < report.after["MRR@10"] <= 1
    folder = tuned_model_dir(out)
    assert folder == out / "retriever-plants" and (folder / "modules.json").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "retriever" and manifest["train"] == report.train
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == 40 and all(p["negative"] and p["negative"] != p["positive"] for p in pairs)
    assert all(re.search(r"plant\?$", p["question"]) for p in pairs)
    assert json.loads((out / "pairs.chunks.json").read_text())["made_by"] == "tune retriever"
    # the workspace switches to it: every chunk re-embedded, the settings file updated
    done = subprocess.run(
        [sys.executable, "-m", "industry_expert.cli", "-w", str(tmp_path / "ws"), "reindex", "--embedder", str(out), "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"chunks": 40, "embedder": "onnx-int8/retriever-plants"}
    with Workspace.open(tmp_path / "ws") as tuned:
        assert tuned.settings.embedder.model == str(folder.resolve())
        hit = tuned.search("How much was the energy use at the Osaka plant?", k=1, mode="dense")[0]
        assert "Osaka" in hit.text
    # a second run into the same folder is refused
    with Workspace.open(tmp_path / "ws") as again, pytest.raises(Exception, match="holds a tuned retriever"):
        again.use_generator(QuestionWriter())
        again.tune_retriever(RetrieverConfig(out, n=40))
