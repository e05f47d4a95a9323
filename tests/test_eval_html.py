"""report.html: one self-contained page with the plots, the tables and every answer; checked in a
real headless Chromium."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import FakeGenerator, screenshot
from PIL import Image

from industry_expert import Workspace
from industry_expert.config import AnswerSettings
from industry_expert.evaluate.html import render, write_html
from industry_expert.evaluate.questions import EvalQuestion, Evidence
from industry_expert.evaluate.run import run_eval
from industry_expert.evaluate.summary import Summary

QUESTIONS = [
    EvalQuestion(i, f"q{i}", f"What was plant {i}'s capital expenditure in fiscal 2023?", f"${10 + i}.5 million",
                 "figure", (Evidence(f"plant{i}.md"),))
    for i in range(8)
] + [EvalQuestion(9, "who", "Who leads the <b>valve</b> business?", "Dana Reyes", "explanation")]  # fmt: skip


def evaluation(workspace: Workspace, tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(8):
        (docs / f"plant{i}.md").write_text(
            f"# Plant {i}\n\nPlant {i} capital expenditure in fiscal 2023 was ${10 + i}.5 million.\n"
        )
    workspace.ingest([docs])
    base = FakeGenerator(["I do not know <script>alert(1)</script>."])
    rag = FakeGenerator([f"It was ${10 + i}.5 million [1]." for i in range(8)] + ["Dana Reyes [1]."])
    out = tmp_path / "r1"
    run_eval(
        QUESTIONS, {"base": base, "rag": rag}, workspace.retriever, AnswerSettings(unsupported="warn"), out
    )
    return out


def test_the_page_is_self_contained_and_escapes_what_it_shows(workspace: Workspace, tmp_path: Path) -> None:
    out = evaluation(workspace, tmp_path)
    summary = Summary.load(out)
    page = write_html(out, summary).read_text()
    assert page.count("<img alt=") == 3 and page.count("src='data:image/png;base64,") == 3
    assert (
        "http://" not in page and "https://" not in page and "<script" not in page
    )  # nothing to fetch or run
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "Who leads the &lt;b&gt;valve&lt;/b&gt;" in page
    )
    assert page.count("<tr><td><b>") == 9  # one row per question
    assert "rag is better" in page and "plant3.md" in page  # the paired verdict and a cited passage
    empty = render(Summary.from_dict({"questions": 0, "modes": {}, "pairs": [], "retrieval": {}}), [])
    assert "<img" not in empty and empty.endswith("</html>")


def test_chromium_renders_the_plots(workspace: Workspace, tmp_path: Path, chromium: str) -> None:
    out = evaluation(workspace, tmp_path)
    write_html(out, Summary.load(out))
    shot = screenshot(chromium, out / "report.html", tmp_path / "shot.png")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[1] == 1200

    def share(rgb: tuple[int, int, int]) -> float:
        return float((np.abs(pixels - np.array(rgb)).sum(axis=2) < 30).mean())

    # The rag bars (matplotlib's blue) and the base marker (grey) are drawn; the page is not blank.
    assert share((31, 119, 180)) > 0.01 and share((127, 127, 127)) > 0.0001
    assert share((255, 255, 255)) < 0.97
