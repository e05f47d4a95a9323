"""Shared fixtures: a deterministic fake embedder and builders for every file format."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from industry_expert import Workspace
from industry_expert.embed import normalize

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` skip cleanly on machines without CUDA."""
    gpu = [item for item in items if "gpu" in item.keywords]
    if not gpu:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in gpu:
        item.add_marker(skip)


class FakeEmbedder:
    """Hashes each word into one of 64 buckets: texts sharing words get similar vectors."""

    name = "fake/hash-64"
    dim = 64
    max_tokens = 512

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return normalize(out)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(re.findall(r"\w+|[^\w\s]", t)) for t in texts]

    @property
    def embedded(self) -> int:
        return sum(self.calls)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's headless Chromium, which `make test` installs. Outside `make test` a machine
    without it skips the browser tests; under it (EXPERT_REQUIRE_BROWSER=1) they fail instead."""
    import os
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("EXPERT_REQUIRE_BROWSER"):
        pytest.fail("chromium is not installed; `make browser` installs Debian's chromium package")
    pytest.skip("needs chromium (make browser)")


def screenshot(browser: str, page: Path, out: Path, width: int = 1200, height: int = 1800) -> Path:
    """A headless Chromium screenshot of the file ``page``."""
    import subprocess

    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={out.parent / 'chromium-profile'}", f"--window-size={width},{height}",
         f"--screenshot={out}", page.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return out


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Exported ONNX models go to a temporary cache, not the user's home (CLI tests inherit it)."""
    import os

    os.environ["EXPERT_CACHE"] = str(tmp_path_factory.mktemp("expert-cache"))


@pytest.fixture(scope="module")
def served_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the real embedder and collections finance and hr (``serving.py``)."""
    from serving import build_workspace

    return build_workspace(tmp_path_factory.mktemp("served"))


@pytest.fixture
def served_ws(served_template: Path, tmp_path: Path) -> Path:
    """A copy of ``served_template`` for one test to serve and change."""
    from serving import copy_workspace

    return copy_workspace(served_template, tmp_path)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def workspace(tmp_path: Path, fake_embedder: FakeEmbedder) -> Workspace:
    ws = Workspace.init(tmp_path / "ws", {"chunking.max_tokens": 120})
    ws.use_embedder(fake_embedder)
    yield ws
    ws.close()


def make_pdf(path: Path, pages: list[str], title: str = "") -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def make_encrypted_pdf(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, "Confidential salary bands.")
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_heading("Pump maintenance policy", level=1)
    d.add_paragraph("Every pump is inspected quarterly by a certified technician.")
    d.add_heading("Spare parts", level=2)
    table = d.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Part", "Stock"), ("Impeller IM-7", "14"), ("Seal kit SK-2", "40")]):
        table.rows[r].cells[0].text = a
        table.rows[r].cells[1].text = b
    d.save(str(path))
    return path


def make_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly safety review"
    slide.placeholders[1].text = "Lost-time incidents fell to 3 in Q2."
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Incidents by plant"
    shape = slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(4), Inches(1))
    for r, (a, b) in enumerate([("Plant", "Incidents"), ("Dayton", "1"), ("Pune", "2")]):
        shape.table.cell(r, 0).text = a
        shape.table.cell(r, 1).text = b
    slide.notes_slide.notes_text_frame.text = "Pune had a forklift incident."
    deck.save(str(path))
    return path


def make_xlsx(path: Path) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Prices"
    sheet.append(["sku", "product", "price_eur"])
    sheet.append(["NW-100", "Centrifugal pump", 1250.0])
    sheet.append(["NW-200", "Gate valve", 310.5])
    other = book.create_sheet("Suppliers")
    other.append(["supplier", "country"])
    other.append(["Acme Castings", "Poland"])
    book.save(str(path))
    return path


class FakeGenerator:
    """Replies with scripted text, in small pieces; records the messages it was given."""

    name = "fake/scripted"
    context_window = 2048

    def __init__(self, replies: Sequence[str] = ("The answer is in the sources [1].",)) -> None:
        self.replies = list(replies)
        self.calls: list[list[dict[str, str]]] = []

    def stream(self, messages, max_tokens: int = 512, temperature: float = 0.0):  # type: ignore[no-untyped-def]
        self.calls.append([dict(m) for m in messages])
        reply = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        for start in range(0, len(reply), 3):
            yield reply[start : start + 3]

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text))


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator()
