"""Pages without a usable text layer are found and read by OCR (RapidOCR, models in its wheel):
an image-only PDF made here from a rendered page, image files, a script the models cannot read,
the McDonald's release whose fonts have no Unicode map, and a re-ingest after the mode changes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, make_pdf

from industry_expert import Workspace
from industry_expert.errors import LoadError
from industry_expert.ingest.ocr import LoadOptions, text_quality, usable
from industry_expert.ingest.pdf import load_pdf, pages_for_ocr

pytestmark = pytest.mark.slow
TEXT = (
    "Northwind annual report 2023\n\nCapital expenditure in fiscal 2023 was $38.4 million, compared with "
    "$29.9 million in fiscal 2022.\nRevenue $482.6 $430.9\nGross profit $164.6 $140.9"
)
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def image_pdf(text_pdf: Path, out: Path, pages: list[int] | None = None) -> Path:
    """``text_pdf``'s pages rendered to images and saved as a PDF without any text layer."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(text_pdf))
    images = [pdf[i].render(scale=200 / 72).to_pil().convert("RGB") for i in (pages or range(len(pdf)))]
    images[0].save(out, save_all=True, append_images=images[1:], resolution=200)
    return out


def test_text_quality_tells_text_from_glyph_numbers_in_any_script() -> None:
    assert text_quality(["Revenue grew 12% to $482.6 million.", "Gross profit $164.6 $140.9"]) == 1.0
    assert usable(
        ["تن ل-Phi-3 להפוך למומחה תעשייתי", "الضبط الدقيق لنموذج لغوي صغير", "Фина настройка на модел"]
    )
    assert usable(["微调小型语言模型以适应行业"])
    assert not usable(["!\"#$!%&'( )' *+,(-' !\"#$.$ +,\"'#!/0!.123.2#1", "=LMBFGNOCFGFPQJB 6789:;99<=>==9"])
    assert text_quality([]) is None and not usable([])


@pytest.mark.long
def test_an_image_only_pdf_is_read_by_ocr_and_cited_as_such(tmp_path: Path, workspace: Workspace) -> None:
    text = make_pdf(
        tmp_path / "text.pdf",
        [
            TEXT,
            "Item 7. Outlook\nWe expect capital expenditure of $35 million to $40 million in fiscal 2024.",
        ],
    )
    scan = image_pdf(text, tmp_path / "docs" / "scan.pdf") if (tmp_path / "docs").mkdir() is None else None
    assert (
        scan is not None
        and pages_for_ocr(scan.read_bytes(), "auto") == 2
        and pages_for_ocr(text.read_bytes(), "auto") == 0
    )
    events: list[dict] = []
    report = workspace.ingest([scan], progress=lambda e: events.append(e.to_dict()))
    assert report.added == [str(scan)], report.skipped
    assert [(e["page"], e["pages"]) for e in events if e["event"] == "ocr"] == [(1, 2), (2, 2)]
    hit = workspace.search("capital expenditure fiscal 2023", k=1, mode="keyword")[0]
    assert "$38.4 million" in hit.text and hit.page == 1 and hit.locator == "OCR"
    rows = [h.text for h in workspace.search("gross profit", k=3, mode="keyword")]
    assert any("Gross profit $164.6 $140.9" in t for t in rows), rows  # a table row stays one line
    (doc,) = workspace.sources()
    assert doc.metadata["ocr"] == "auto" and doc.metadata["ocr_pages"] == "2"
    # with OCR off, the same scan is skipped with the reason and what to do
    with pytest.raises(LoadError, match="--ocr auto"):
        load_pdf(scan, scan.read_bytes(), LoadOptions("never"))


def test_image_files_are_read_and_an_unknown_script_is_refused_in_one_line(
    tmp_path: Path, workspace: Workspace
) -> None:
    from PIL import Image, ImageDraw, ImageFont

    docs = tmp_path / "docs"
    docs.mkdir()
    image_pdf(make_pdf(tmp_path / "t.pdf", [TEXT]), tmp_path / "page.pdf")
    import pypdfium2 as pdfium

    pdfium.PdfDocument(str(make_pdf(tmp_path / "t2.pdf", [TEXT])))[0].render(scale=2.5).to_pil().save(
        docs / "photo.png"
    )
    Image.new("RGB", (600, 400), "white").save(docs / "blank.jpg")
    if FONT.exists():  # Hebrew, which the recognition models do not read
        img = Image.new("RGB", (1400, 300), "white")
        draw = ImageDraw.Draw(img)
        for i, line in enumerate(
            ["כוונון עדין של מודל שפה קטן לתעשייה", "המודל לומד את אוצר המילים של התחום"]
        ):
            draw.text((40, 40 + 90 * i), line, fill="black", font=ImageFont.truetype(str(FONT), 32))
        buffer = io.BytesIO()
        img.save(buffer, format="PDF")
        (docs / "hebrew-scan.pdf").write_bytes(buffer.getvalue())
    report = workspace.ingest([docs])
    assert report.added == [str(docs / "photo.png")]
    reasons = dict(report.skipped)
    assert reasons[str(docs / "blank.jpg")] == "no text found in the image"
    if FONT.exists():
        reason = reasons[str(docs / "hebrew-scan.pdf")]
        assert (
            "OCR found no words it could read on its 1 marked page(s)" in reason and "Latin and CJK" in reason
        )
        assert "\n" not in reason
    assert "$38.4 million" in workspace.search("capital expenditure", k=1, mode="keyword")[0].text
    never = workspace.ingest([docs / "photo.png"], ocr="never")  # unchanged bytes, but never reads images
    assert never.unchanged == [str(docs / "photo.png")]
    assert dict(workspace.ingest([docs / "blank.jpg"], ocr="never").skipped)[
        str(docs / "blank.jpg")
    ].endswith("--ocr auto")


def test_a_new_ocr_mode_reparses_only_documents_it_changes(tmp_path: Path, workspace: Workspace) -> None:
    import pypdfium2 as pdfium

    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "plain.pdf", ["Valves are inspected quarterly.", "Seals are replaced yearly."])
    scan = image_pdf(make_pdf(tmp_path / "s.pdf", [TEXT]), tmp_path / "scan-page.pdf")
    mixed = pdfium.PdfDocument(str(make_pdf(tmp_path / "m.pdf", ["Pump P-7 was overhauled in March."])))
    mixed.import_pages(pdfium.PdfDocument(str(scan)))
    mixed.save(str(docs / "mixed.pdf"))
    first = workspace.ingest([docs], ocr="never")
    assert sorted(first.added) == [str(docs / "mixed.pdf"), str(docs / "plain.pdf")]
    embedded = workspace.embedder.embedded  # type: ignore[attr-defined]
    again = workspace.ingest([docs])  # auto now: only the document with an image page is read again
    assert again.updated == [str(docs / "mixed.pdf")] and again.unchanged == [str(docs / "plain.pdf")]
    by_name = {Path(d.source).name: d for d in workspace.sources()}
    assert by_name["plain.pdf"].metadata["ocr"] == "auto" and "ocr_pages" not in by_name["plain.pdf"].metadata
    assert by_name["mixed.pdf"].metadata["ocr_pages"] == "1"
    assert workspace.embedder.embedded - embedded == by_name["mixed.pdf"].chunks  # type: ignore[attr-defined]
    assert workspace.ingest([docs]).unchanged == sorted([str(docs / "mixed.pdf"), str(docs / "plain.pdf")])


@pytest.mark.long
@pytest.mark.shared
def test_the_release_whose_fonts_have_no_unicode_map_is_read(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    source = SHARED / "filings" / "MCDONALDS_2022Q4_EARNINGS.pdf"
    if not source.exists():
        pytest.skip("needs ../shared/data/filings")
    first = pdfium.PdfDocument.new()
    first.import_pages(pdfium.PdfDocument(str(source)), [0])
    page = tmp_path / "mcd-page1.pdf"
    first.save(str(page))
    never = load_pdf(page, page.read_bytes(), LoadOptions("never"))[1]
    assert not usable([b.text for b in never])  # what was indexed before: glyph numbers
    blocks = load_pdf(page, page.read_bytes())[1]
    text = "\n".join(b.text for b in blocks)
    assert (
        "FOURTH QUARTER AND FULL YEAR 2022 RESULTS" in text
        and "Global comparable sales increased 12.6%" in text
    )
    assert {b.locator for b in blocks} == {"OCR"} and np.mean([usable([b.text]) for b in blocks]) > 0.9
