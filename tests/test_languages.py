"""The multilingual guides in ../shared/data/seeds: each language's query finds its own document.

Skipped when ../shared is not beside the repository; tests/test_workspace.py covers right-to-left
text on a fixture the repository ships.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SHARED

from industry_expert import Workspace

SEEDS = SHARED / "seeds"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.shared,
    pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/data/seeds is not present"),
]
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "industry_expert" / "samples"

QUERIES = {
    "ar": "كيف نضيف بيانات العمل الخاصة بالصناعة إلى نموذج Phi-3؟",
    "bg": "Как да добавим бизнес данни от индустрията към модела?",
    "fa": "چگونه داده‌های تجاری صنعتی را به مدل اضافه کنیم؟",
    "he": "איך מוסיפים נתוני עסקים תעשייתיים למודל?",
    "ur": "صنعت کے کاروباری ڈیٹا کو ماڈل میں کیسے شامل کریں؟",
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = Workspace.init(tmp_path_factory.mktemp("lang") / "ws")
    report = workspace.ingest([SEEDS, SAMPLES])
    assert not report.skipped and len(report.added) == 8
    yield workspace
    workspace.close()


@pytest.mark.parametrize("lang", sorted(QUERIES))
@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_query_finds_its_own_language_first(ws: Workspace, lang: str, mode: str) -> None:
    hit = ws.search(QUERIES[lang], k=3, mode=mode)[0]
    assert hit.source.endswith(f".{lang}.md"), (mode, lang, hit.source)


@pytest.mark.parametrize("lang", sorted(QUERIES))
def test_text_is_stored_unchanged(ws: Workspace, lang: str) -> None:
    """Every stored line is a verbatim span of the guide, and every word of the guide is stored."""
    path = SEEDS / f"LetPhi3gotoIndustry.{lang}.md"
    original = re.sub(r"<!--.*?-->", "", path.read_text(encoding="utf-8"), flags=re.S)
    rows = ws.store.db.execute(
        "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.key = ?",
        (str(path.resolve()),),
    )
    texts = [r[0] for r in rows]
    flat = " ".join(original.split())
    plain = re.sub(r"\*\*(.+?)\*\*", r"\1", flat)  # headings are stored without their emphasis marks
    for text in texts:
        for line in text.split("\n"):  # long sentences are cut at spaces, so compare spans
            span = " ".join(line.split())
            assert span in flat or span in plain, span
    stored_words = {w.strip("*#") for w in " ".join(texts).split()}
    missing = [w for w in original.split() if w.strip("*#|-") and w.strip("*#") not in stored_words]
    assert not missing, missing[:5]
    assert "\u200c" not in original or any("\u200c" in t for t in texts)  # Persian ZWNJ kept
