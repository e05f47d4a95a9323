"""OCR: how fast and how faithful, and what it changes for the release whose fonts have no Unicode map.

1. Speed and fidelity: one page of each of the 20 filings (its third page) rendered at 200 dpi
   into an image-only PDF and read back by OCR: pages/s, and how many of the page's words and
   figures (from its text layer, where that is text) the OCR text holds.
2. The cost of looking: parsing the 20 filings with ``ocr=never`` against ``auto`` (the text
   check on every page, and OCR of the pages that need it).
3. MCDONALDS_2022Q4_EARNINGS.pdf before (``never``: glyph numbers) and after (``auto``): the
   share of word-like tokens, and retrieval of six questions whose answers are on its pages, in
   a workspace of McDonald's three filings.

    .venv/bin/python benchmarks/ocr.py
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import FILINGS, machine, require

from industry_expert import Workspace
from industry_expert.ingest.ocr import LoadOptions, text_quality, usable
from industry_expert.ingest.pdf import load_pdf, page_lines

MCD = "MCDONALDS_2022Q4_EARNINGS.pdf"
QUESTIONS = [  # (question, page of the release holding the answer)
    ("What were McDonald's global comparable sales growth in the fourth quarter of 2022?", 1),
    ("McDonald's diluted earnings per share for full year 2022", 2),
    ("McDonald's consolidated revenues in the fourth quarter of 2022", 3),
    ("How much were McDonald's pre-tax charges related to the sale of its business in Russia?", 3),
    ("McDonald's net income GAAP to non-GAAP reconciliation for Q4 2022", 4),
    ("How does McDonald's define constant currency results?", 5),
]
_WORD = re.compile(r"[A-Za-z]{3,}|\d[\d,.]*\d|\d")


def words(text: str) -> Counter[str]:
    return Counter(w.lower().replace(",", "") for w in _WORD.findall(text))


def fidelity(tmp: Path) -> dict[str, float]:
    import pypdfium2 as pdfium

    originals, images = [], []
    for f in sorted(FILINGS.glob("*.pdf")):
        pdf = pdfium.PdfDocument(str(f))
        page = pdf[min(2, len(pdf) - 1)]
        text = page.get_textpage().get_text_range()
        if not usable(page_lines(text)):
            continue  # no reference: the text layer is glyph numbers (the McDonald's release)
        originals.append(text)
        images.append(page.render(scale=200 / 72).to_pil().convert("RGB"))
    scan = tmp / "scan.pdf"
    images[0].save(scan, save_all=True, append_images=images[1:], resolution=200)
    started = time.perf_counter()
    _, blocks = load_pdf(scan, scan.read_bytes(), LoadOptions("auto"))
    seconds = time.perf_counter() - started
    read = {n: words("\n".join(b.text for b in blocks if b.page == n)) for n in range(1, len(images) + 1)}
    kept = total = figures_kept = figures = 0
    for n, original in enumerate(originals, start=1):
        want = words(original)
        got = read[n]
        for word, count in want.items():
            found = min(count, got.get(word, 0))
            total, kept = total + count, kept + found
            if word[0].isdigit():
                figures, figures_kept = figures + count, figures_kept + found
    return {
        "pages": len(images),
        "seconds": round(seconds, 1),
        "pages_per_s": round(len(images) / seconds, 3),
        "words_kept_%": round(100 * kept / total, 1),
        "figures_kept_%": round(100 * figures_kept / figures, 1),
    }


def parse_cost() -> dict[str, float]:
    out = {}
    for mode in ("never", "auto"):
        started = time.perf_counter()
        pages = ocr_pages = 0
        for f in sorted(FILINGS.glob("*.pdf")):
            _, blocks = load_pdf(f, f.read_bytes(), LoadOptions(mode))  # type: ignore[arg-type]
            pages += len({b.page for b in blocks})
            ocr_pages += len({b.page for b in blocks if b.locator == "OCR"})
        out[mode] = {
            "seconds": round(time.perf_counter() - started, 1),
            "pages": pages,
            "ocr_pages": ocr_pages,
        }
    return out


def mcdonalds(tmp: Path) -> dict[str, dict[str, float]]:
    files = [FILINGS / n for n in ("MCDONALDS_2022_10K.pdf", MCD, "MCDONALDS_2023Q1_EARNINGS.pdf")]
    out = {}
    for mode in ("never", "auto"):
        _, blocks = load_pdf(FILINGS / MCD, (FILINGS / MCD).read_bytes(), LoadOptions(mode))  # type: ignore[arg-type]
        quality = text_quality([b.text for b in blocks]) or 0.0
        ws = Workspace.init(tmp / f"mcd-{mode}")
        ws.ingest(files, ocr=mode)  # type: ignore[arg-type]
        ranks = []
        for question, page in QUESTIONS:
            hits = ws.search(question, k=10)
            ranks.append(
                next(
                    (r for r, h in enumerate(hits, 1) if Path(h.source).name == MCD and h.page == page), None
                )
            )
        ws.close()
        out[mode] = {
            "word_like_%": round(100 * quality, 1),
            "R@1": round(100 * sum(r == 1 for r in ranks) / len(ranks), 1),
            "R@5": round(100 * sum(r is not None and r <= 5 for r in ranks) / len(ranks), 1),
            "R@10": round(100 * sum(r is not None for r in ranks) / len(ranks), 1),
        }
    return out


def main() -> None:
    require(FILINGS)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ocr-"))
    try:
        print(f"# {machine()}")
        print("fidelity", fidelity(tmp), flush=True)
        print("parse cost", parse_cost(), flush=True)
        print("mcdonalds", mcdonalds(tmp), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
