"""Every format loads into blocks with provenance; every kind of bad file gets one clear reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import make_docx, make_encrypted_pdf, make_pdf, make_pptx, make_xlsx

from industry_expert.errors import LoadError
from industry_expert.ingest import load_document, read_bytes
from industry_expert.ingest.files import decode_text, walk
from industry_expert.ingest.pdf import page_blocks


def load(path: Path):
    return load_document(path, path.read_bytes())


def test_pdf_pages_and_table_lines(tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "r.pdf",
        ["Overview\nWe make pumps.", "Capital expenditure $ 38.4 $ 29.9\nRevenue 482.6 430.9"],
    )
    doc = load(pdf)
    pages = {b.page for b in doc.blocks}
    assert pages == {1, 2}
    table = [b for b in doc.blocks if b.kind == "table"]
    assert table and "Capital expenditure $ 38.4 $ 29.9\nRevenue 482.6 430.9" in table[0].text


def test_pdf_line_classification() -> None:
    blocks = page_blocks(
        "Item 7. Management's Discussion\nSales rose 8% to $394 billion in 2022 and the\nTotal net sales $ 394,328 $ 365,817\r\n",
        3,
    )
    assert [b.kind for b in blocks] == ["heading", "text", "table"]
    assert blocks[0].level == 1 and all(b.page == 3 for b in blocks)


def test_pdf_running_headers_and_footers_are_dropped(tmp_path: Path) -> None:
    topics = ["pumps", "valves", "seals", "gaskets", "motors", "fans"]
    pages = [
        f"Table of Contents\nMaintenance of {t}\nInspect the {t} every {i + 2} months.\n"
        f"Totals 12 {len(t) * 7} 7\nACME Corp | 2024 Manual | {i + 1}"
        for i, t in enumerate(topics)
    ]
    pages[0] = "ACME Corp\nService manual\n" + pages[0]
    doc = load(make_pdf(tmp_path / "manual.pdf", pages))
    text = "\n".join(b.text for b in doc.blocks)
    # the furniture is gone from every page but the cover ...
    assert text.count("Table of Contents") == 1 and text.count("2024 Manual") == 1
    # ... and content that differs from page to page, even by figures only, stays
    assert all(f"Maintenance of {t}" in text for t in topics)
    assert text.count("Totals 12") == len(topics)
    assert doc.title == "ACME Corp"  # the cover's first heading, as the PDF has no title


def test_pdf_title_junk_metadata_gives_way(tmp_path: Path) -> None:
    junk = load(make_pdf(tmp_path / "a.pdf", ["Pump Service Manual\nText."], title="0000320193-19-000119"))
    assert junk.title == "Pump Service Manual"
    named = load(make_pdf(tmp_path / "b.pdf", ["Cover\nText."], title="Quality handbook 2024"))
    assert named.title == "Quality handbook 2024"
    filing = load(
        make_pdf(
            tmp_path / "c.pdf",
            [
                "FORM 10-K\nFor the fiscal year ended May 31, 2023\nACME CORP\n(Exact name of registrant as specified in its charter)"
            ],
            title="Q4-8-KtoFile.pdf",
        )
    )
    assert filing.title == "Acme Corp Form 10-K, fiscal year ended May 31, 2023 (FY2023)"


def test_corrupt_and_encrypted_pdf(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "g.pdf", ["hello"]).read_bytes()
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(good[: len(good) // 3])
    with pytest.raises(LoadError, match="not a valid PDF"):
        load(broken)
    with pytest.raises(LoadError, match="encrypted PDF"):
        load(make_encrypted_pdf(tmp_path / "secret.pdf"))


def test_docx_headings_and_table_rows(tmp_path: Path) -> None:
    doc = load(make_docx(tmp_path / "p.docx"))
    kinds = [(b.kind, b.text) for b in doc.blocks]
    assert ("heading", "Pump maintenance policy") in kinds
    assert ("row", "Part: Seal kit SK-2; Stock: 40") in kinds
    assert doc.title == "Pump maintenance policy" or doc.title == "p"


def test_pptx_slides_tables_and_notes(tmp_path: Path) -> None:
    doc = load(make_pptx(tmp_path / "d.pptx"))
    texts = {b.text: b.locator for b in doc.blocks}
    assert texts["Lost-time incidents fell to 3 in Q2."] == "slide 1"
    assert texts["Plant: Pune; Incidents: 2"] == "slide 2 row 2"
    assert texts["Notes: Pune had a forklift incident."] == "slide 2"


def test_xlsx_rows_keep_column_names_and_sheet(tmp_path: Path) -> None:
    doc = load(make_xlsx(tmp_path / "prices.xlsx"))
    rows = {b.text: b.locator for b in doc.blocks if b.kind == "row"}
    assert rows["sku: NW-200; product: Gate valve; price_eur: 310.5"] == "sheet Prices row 3"
    assert rows["supplier: Acme Castings; country: Poland"] == "sheet Suppliers row 2"


def test_csv_tsv_json_jsonl(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("plant;staff\nDayton;640\nPune;290\n")
    assert [b.text for b in load(tmp_path / "a.csv").blocks] == [
        "plant: Dayton; staff: 640",
        "plant: Pune; staff: 290",
    ]
    (tmp_path / "a.tsv").write_text("k\tv\nx\t1\n")
    assert load(tmp_path / "a.tsv").blocks[0].locator == "row 2"
    (tmp_path / "a.json").write_text(
        '{"title": "Plants", "plants": [{"name": "Dayton", "geo": {"country": "US"}}]}'
    )
    texts = [b.text for b in load(tmp_path / "a.json").blocks]
    assert "name: Dayton; geo.country: US" in texts
    (tmp_path / "a.jsonl").write_text('{"q": "pump?", "a": "yes"}\n\n{"q": "valve?", "a": "no"}\n')
    assert [b.locator for b in load(tmp_path / "a.jsonl").blocks] == ["line 1", "line 3"]
    deep = '{"a": ' * 50_000 + "1" + "}" * 50_000  # valid JSON, nested past Python's recursion limit
    (tmp_path / "b.jsonl").write_text(f'{{"q": "pump?"}}\n{deep}\n{{"q": "valve?"}}\n')
    assert [b.locator for b in load(tmp_path / "b.jsonl").blocks] == ["line 1", "line 3"]


def test_markdown_and_html_structure(tmp_path: Path) -> None:
    (tmp_path / "m.md").write_text(
        "<!-- meta -->\n# Manual\n\nIntro text.\n\n## Codes\n\n| Code | Action |\n|---|---|\n| E42 | Replace battery |\n"
    )
    doc = load(tmp_path / "m.md")
    assert doc.title == "Manual"
    assert [b.kind for b in doc.blocks] == ["heading", "text", "heading", "row"]
    assert doc.blocks[-1].text == "Code: E42; Action: Replace battery"
    (tmp_path / "p.html").write_text(
        "<html><head><title>Policy</title><script>var x=1</script></head><body><h1>Travel</h1>"
        "<p>Book economy.</p><ul><li>Rail <b>first</b></li></ul><table><tr><th>City</th><th>Cap</th></tr>"
        "<tr><td>Paris</td><td>180</td></tr></table></body></html>"
    )
    html = load(tmp_path / "p.html")
    assert html.title == "Policy"
    assert [b.text for b in html.blocks] == ["Travel", "Book economy.", "Rail first", "City: Paris; Cap: 180"]


def test_text_encodings() -> None:
    french = "Le débit nominal de la pompe est de 40 m³/h à 20 °C."
    assert decode_text(french.encode("latin-1")) == french
    assert decode_text("café ".encode("cp1252") * 20).startswith("café")
    russian = "Насос перекачивает воду из резервуара в систему охлаждения завода."
    assert decode_text(russian.encode("cp1251")) == russian
    assert decode_text("\ufeffnaïve".encode()) == "naïve"
    assert decode_text("שלום עולם".encode("utf-16")) == "שלום עולם"
    with pytest.raises(LoadError, match="binary data"):
        decode_text(b"\x00\x01\x02\xff" * 100)
    with pytest.raises(LoadError, match="empty"):
        decode_text(b"  \n ")


def test_read_bytes_limits(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(LoadError, match="empty file"):
        read_bytes(tmp_path / "empty.txt", 100)
    (tmp_path / "big.txt").write_bytes(b"x" * 2000)
    with pytest.raises(LoadError, match="over the 0 MB limit"):
        read_bytes(tmp_path / "big.txt", 1000)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.txt"
    path.write_text("secret")
    path.chmod(0)
    if os.geteuid() == 0:  # root reads every file: make open() answer as it would for a user

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(LoadError, match="permission denied"):
        read_bytes(path, 100)


def test_walk_reports_loops_unsupported_and_hidden(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("a")
    (tmp_path / "docs" / "photo.heic").write_bytes(b"x")
    (tmp_path / "docs" / ".hidden.txt").write_text("h")
    os.symlink(tmp_path / "docs", tmp_path / "docs" / "again")
    os.symlink(tmp_path / "self", tmp_path / "self")
    found = {f.path.name: f.problem for f in walk([tmp_path / "docs", tmp_path / "self"], [".txt"])}
    assert found["a.txt"] is None
    assert "unsupported file type .heic" in found["photo.heic"]
    assert ".hidden.txt" not in found
    assert "symbolic link loop" in found["self"]
    assert "again" in found and "loop" in found["again"]


def test_an_xhtml_manual_page_loses_its_navigation_and_reads_as_prose(tmp_path: Path) -> None:
    import warnings

    from industry_expert.ingest.text import load_html

    page = tmp_path / "config.html"
    page.write_text(
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
        "<title>20.3. Connections</title></head><body>"
        '<div class="navheader"><table><tr><td><a href="a.html">Prev</a></td><td>Up</td><td><a href="b.html">Next</a></td></tr></table></div>'
        '<div class="toc"><dl><dt>20.3.1. Connection Settings</dt></dl></div>'
        "<h2>20.3.1. Connection Settings</h2><dl><dt><code>max_connections</code> (<code>integer</code>)</dt>"
        "<dd><p>Determines the maximum number of concurrent\n            connections to the database server.\n"
        "            The default is typically 100 connections.</p></dd></dl>"
        '<div class="navfooter">Home | Next</div></body></html>',
        encoding="utf-8",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # XHTML parsed as HTML warns no more
        title, blocks = load_html(page, page.read_bytes())
    texts = [b.text for b in blocks]
    assert title == "20.3. Connections"
    assert texts == [
        "20.3.1. Connection Settings",
        "max_connections (integer)",
        "Determines the maximum number of concurrent connections to the database server. The default is typically 100 connections.",
    ]
