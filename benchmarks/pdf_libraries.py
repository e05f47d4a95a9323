"""Which PDF library: speed and table fidelity on the filings.

Speed: pages per second over all 20 filings (pdfplumber, being ~35x slower, over the first
three). Table fidelity: for eight rows of financial statements across the filings, whether one
extracted line holds the row's label followed by its values in order, which is what makes a
table row a readable, retrievable unit. Libraries that are not installed are reported as such
(``pip install pdfplumber pypdf``; PyMuPDF is measured if present but is AGPL-licensed).
"""

from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path

from common import FILINGS, machine, require

PROBES = [
    ("APPLE_2022_10K.pdf", 24, "Total net sales", ["394,328", "365,817", "274,515"]),
    (
        "APPLE_2022_10K.pdf",
        36,
        "Payments for acquisition of property, plant and equipment",
        ["(10,708)", "(11,085)", "(7,309)"],
    ),
    ("EBAY_2022_10K.pdf", 62, "Purchases of property and equipment", ["(449)", "(444)", "(463)"]),
    ("FEDEX_2023_10K.pdf", 81, "REVENUE", ["90,155", "93,512", "83,959"]),
    ("INTEL_2020_10K.pdf", 88, "Total revenue", ["77,867", "71,965", "70,848"]),
    ("ORACLE_2023_10K.pdf", 105, "Total revenues", ["49,954", "42,440", "40,479"]),
    ("SALESFORCE_2023_10K.pdf", 61, "Net income", ["208", "1,444", "4,072"]),
    ("MCDONALDS_2022_10K.pdf", 48, "Total revenues", ["23,182.6", "23,222.9", "19,207.8"]),
]


def pdfium_pages(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]


def plumber_pages(path: Path, only: int | None = None) -> list[str]:
    import pdfplumber

    with pdfplumber.open(str(path)) as pdf:
        pages = pdf.pages if only is None else [pdf.pages[only - 1]]
        return [p.extract_text() or "" for p in pages]


def pypdf_pages(path: Path) -> list[str]:
    import pypdf

    return [p.extract_text() or "" for p in pypdf.PdfReader(str(path)).pages]


def mupdf_pages(path: Path) -> list[str]:
    import pymupdf

    return [p.get_text() for p in pymupdf.open(str(path))]


LIBRARIES = {
    "pypdfium2": ("pypdfium2", pdfium_pages),
    "pdfplumber": ("pdfplumber", plumber_pages),
    "pypdf": ("pypdf", pypdf_pages),
    "pymupdf (AGPL)": ("pymupdf", mupdf_pages),
}


def row_intact(text: str, label: str, values: list[str]) -> bool:
    pattern = re.escape(label) + "".join(r"[^\n]{0,16}?" + re.escape(v) for v in values)
    return any(re.search(pattern, line) for line in text.replace("\r", "").split("\n"))


def main() -> None:
    require(FILINGS)
    files = sorted(FILINGS.glob("*.pdf"))
    print(f"# {machine()}")
    print("| library | files | pages/s | words | table rows intact |\n|---|---|---|---|---|")
    for name, (module, read) in LIBRARIES.items():
        if importlib.util.find_spec(module) is None:
            print(f"| {name} | not installed | | | |")
            continue
        subset = files[:3] if module == "pdfplumber" else files
        t0 = time.perf_counter()
        pages = words = 0
        for f in subset:
            texts = read(f)
            pages += len(texts)
            words += sum(len(t.split()) for t in texts)
        rate = pages / (time.perf_counter() - t0)
        intact = 0
        for file, page, label, values in PROBES:
            text = (
                plumber_pages(FILINGS / file, page)[0]
                if module == "pdfplumber"
                else read(FILINGS / file)[page - 1]
            )
            intact += row_intact(text, label, values)
        print(f"| {name} | {len(subset)} | {rate:.1f} | {words} | {intact}/{len(PROBES)} |")


if __name__ == "__main__":
    main()
