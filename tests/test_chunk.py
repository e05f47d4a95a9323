from industry_expert.ingest.chunk import chunk_document, document_label, split_block
from industry_expert.types import Block, Document


def words(texts):
    return [len(t.split()) for t in texts]


def doc(blocks, **metadata):
    return Document("reports/ACME_2022_10K.pdf", "Annual report", tuple(blocks), metadata)


def test_chunks_respect_budget_and_pages() -> None:
    blocks = [Block(f"Sentence {i} about pumps and valves here.", page=1 + i // 10) for i in range(40)]
    chunks = chunk_document(doc(blocks), words, max_tokens=40, overlap=0)
    assert all(c.tokens <= 40 for c in chunks)
    assert {c.page for c in chunks} == {1, 2, 3, 4}
    for c in chunks:  # a chunk never crosses a page
        assert all(f"Sentence {i} " not in c.text or 1 + i // 10 == c.page for i in range(40))


def test_header_names_document_company_period_and_section() -> None:
    d = doc(
        [Block("Item 7. MD&A", "heading", 5, level=1), Block("Capex rose.", page=5)],
        company="Acme Corp",
        form="Form 10-K",
        period="fiscal year ended May 31, 2022 (FY2022)",
    )
    (chunk,) = chunk_document(d, words, max_tokens=100)
    assert chunk.header == "Acme Corp 10-K FY 2022 — Item 7. MD&A"
    assert document_label(d) == "ACME 2022 10K — Acme Corp Form 10-K, fiscal year ended May 31, 2022 (FY2022)"
    assert chunk.indexed_text.startswith(chunk.header + "\n")
    assert document_label(Document("notes.txt", "notes", ())) == "notes"


def test_header_does_not_repeat_a_title_heading() -> None:
    d = Document(
        "q.pdf", "Quality manual", (Block("Quality manual", "heading", 1, level=2), Block("Scope.", page=1))
    )
    (chunk,) = chunk_document(d, words, max_tokens=100)
    assert chunk.header == "q — Quality manual"


def test_long_prose_is_split_with_overlap() -> None:
    text = " ".join(f"Sentence number {i} ends here." for i in range(30))
    sized = split_block(text, words, budget=20, overlap=5, table=False)
    assert all(n == len(p.split()) for p, n in sized)
    pieces = [p for p, _ in sized]
    assert len(pieces) > 1
    assert all(len(p.split()) <= 20 for p in pieces)
    first_tail = pieces[0].split(". ")[-1]
    assert first_tail.rstrip(".") in pieces[1]


def test_each_record_is_one_chunk_with_its_row() -> None:
    rows = [Block(f"plant: P{i}; staff: {i}", "row", locator=f"sheet S row {i}") for i in range(2, 30)]
    chunks = chunk_document(doc([Block("Sheet S", "heading", level=1), *rows]), words, max_tokens=30)
    assert [c.locator for c in chunks] == [f"sheet S row {i}" for i in range(2, 30)]
    assert chunks[0].text == "Sheet S\nplant: P2; staff: 2"


def test_rows_and_prose_do_not_mix_and_lone_heading_travels() -> None:
    blocks = [Block("Intro", "heading", level=1), Block("Some prose."), Block("a: 1", "row", locator="row 2")]
    chunks = chunk_document(doc(blocks), words, max_tokens=100)
    assert [c.text for c in chunks] == ["Intro\nSome prose.", "a: 1"]


def test_a_table_cut_over_chunks_takes_its_column_heading_along() -> None:
    rows = "\n".join(f"Item {i} $ {i}0,000 $ {i}9,500 $ {i}8,100" for i in range(1, 30))
    table = Block("(in millions) 2019 2018 2017\n" + rows, "table", page=3)
    more = Block("Net income $ 11,083 $ 3,587 $ 9,452", "table", page=3)
    chunks = chunk_document(doc([Block("Results", "heading", 3, level=2), table, more]), words, 60, 0)
    assert len(chunks) > 2
    for c in chunks:  # under the section's heading, the table's
        assert [line for line in c.text.splitlines() if line != "Results"][
            0
        ] == "(in millions) 2019 2018 2017"
    assert all(c.tokens <= 60 for c in chunks)
    assert "Net income $ 11,083" in chunks[-1].text


def test_the_column_heading_stays_on_its_page_and_in_its_table() -> None:
    heading = Block("(in millions) 2019 2018\nRevenue $ 5 $ 4", "table", page=1)
    later = Block("Cost $ 3 $ 2", "table", page=2)  # another page: the heading is not carried
    prose = Block("The board met twice. " * 12, page=2)
    after = Block("Units 7 8", "table", page=2)  # after prose: another table
    chunks = chunk_document(doc([heading, later, prose, after]), words, 30, 0)
    assert sum("2019 2018" in c.text for c in chunks) == 1


def test_a_heading_laid_out_over_lines_in_the_new_chunk_is_not_overwritten() -> None:
    # the next chunk starts with its own heading lines ("FY 2013" / "Target"): nothing is carried
    first = Block(
        "Key indicator FY 2011 FY 2012\n" + "\n".join(f"Row {i} 1.0 2.0" for i in range(12)), "table", page=4
    )
    blocks = [first, Block("FY 2013", "heading", 4, level=3), Block("Target", "heading", 4, level=3)]
    blocks.append(Block("Index - OPM 71.70 70.70 75.29 72.00", "table", page=4))
    chunks = chunk_document(doc(blocks), words, 40, 0)
    assert "FY 2011" not in chunks[-1].text and chunks[-1].text.startswith("FY 2013")
