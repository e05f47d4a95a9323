"""Retrieval over a store: fusion functions with known answers, and the Retriever's modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

from industry_expert.config import RetrievalSettings
from industry_expert.errors import InputError
from industry_expert.retrieve import Retriever, collapse_duplicates, rrf, weighted
from industry_expert.store import DocumentRecord, SearchFilter, SQLiteStore, keyword_terms
from industry_expert.types import Chunk, Hit


def test_keyword_terms() -> None:
    assert keyword_terms("What was Apple's capex in FY2019?") == ["apple", "s", "capex", "fy2019", "2019"]
    assert keyword_terms("the of") == ["the", "of"]
    assert keyword_terms("مزایای تنظیم دقیق") == ["مزایای", "تنظیم", "دقیق"]


def test_fusion_functions_known_answers() -> None:
    dense = [(1, 0.9), (2, 0.8), (3, 0.1)]
    keyword = [(3, 12.0), (1, 5.0)]
    fused = rrf([dense, keyword], [1.0, 1.0], k=60)
    assert fused[0][0] == 1 and abs(fused[0][1] - (1 / 61 + 1 / 62)) < 1e-12
    assert [i for i, _ in fused] == [1, 3, 2]
    w = weighted([dense, [(3, 12.0), (1, 8.0), (2, 4.0)]], [1.0, 1.0])
    assert [i for i, _ in w] == [1, 3, 2]
    assert [round(s, 3) for _, s in w] == [1.5, 1.0, 0.875]


def test_collapse_near_duplicates() -> None:
    def hit(i: int, text: str) -> Hit:
        return Hit(i, "s", None, None, 1.0, text)

    hits = [
        hit(1, "Forward-looking statements involve risks."),
        hit(2, "forward looking statements involve risks"),
        hit(3, "Capex was $5m."),
    ]
    assert [h.chunk_id for h in collapse_duplicates(hits, 0.9)] == [1, 3]


class _Direction:
    """An embedder whose every query points one way (stands in for "revenue"-like meaning)."""

    name, dim, max_tokens = "fixed/2", 2, 512

    def embed_batch(self, texts):  # type: ignore[no-untyped-def]
        return np.array([[0, 1]] * len(texts), dtype=np.float32)

    def count_tokens(self, texts):  # type: ignore[no-untyped-def]
        return [len(t.split()) for t in texts]


def test_retriever_modes_scores_and_validation(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    chunks = [Chunk("the impeller part number is IM-7", "hdr", 0), Chunk("quarterly revenue grew", "hdr", 1)]
    store.put_document(
        DocumentRecord("/a", "/a", "default", "h", 1, 1, "a", "a"),
        chunks,
        np.array([[1, 0], [0, 1]], dtype=np.float32),
    )
    store.set_meta("embedder_dim", "2")
    retriever = Retriever(store, RetrievalSettings(), lambda: _Direction())
    keyword = retriever.search("impeller", 1, "keyword")
    assert keyword[0].text.startswith("the impeller") and keyword[0].score > 0
    dense, best = retriever.search_scored("impeller", 1, "dense")
    assert dense[0].text == "quarterly revenue grew" and best == pytest.approx(1.0)
    assert dense[0].score == pytest.approx(1.0)  # the store's score travels with the hit
    assert len(retriever.search("impeller", 5, "hybrid")) == 2
    assert retriever.search("impeller", 5, where=SearchFilter(collection="other")) == []
    assert retriever.summaries({"/a"}) == {} and not retriever.is_empty()
    with pytest.raises(InputError, match="empty query"):
        retriever.search(" ")
    with pytest.raises(InputError, match="k must be"):
        retriever.search("x", 0)
    with pytest.raises(InputError, match="unknown mode"):
        retriever.search("impeller", 3, "fuzzy")
    # without an embedder (or before any vector is stored) every search is by keyword
    keyword_only = Retriever(store, RetrievalSettings())
    assert keyword_only.search("impeller", 1)[0].text.startswith("the impeller")


def test_retriever_never_loads_the_embedder_for_keyword_search(tmp_path: Path) -> None:
    def explode() -> FakeEmbedder:
        raise AssertionError("keyword search loaded the embedder")

    store = SQLiteStore(tmp_path / "s.db")
    store.set_meta("embedder_dim", "64")
    assert Retriever(store, RetrievalSettings(), explode).search("anything", 3, "keyword") == []


def _shelf(tmp_path: Path) -> SQLiteStore:
    """Five reports named by company and year, and a manual whose page names a common topic."""
    store = SQLiteStore(tmp_path / "s.db")
    reports = {
        "ACME_2022_REPORT": (
            "Acme annual report 2022",
            ["Acme revenue was 10 million; revenue guidance for 2023 is 12 million revenue."],
        ),
        "ACME_2023_REPORT": (
            "Acme annual report 2023",
            ["Acme revenue was 12 million.", "Headcount grew in 2023.", "Offices opened in 2023."],
        ),
        "GLOBEX_2023_REPORT": ("Globex annual report 2023", ["Globex sales were 5 million in 2023."]),
        "INITECH_2021_REPORT": ("Initech annual report 2021", ["Connections to the plant were upgraded."]),
        "UMBRELLA_2020_REPORT": (
            "Umbrella annual report 2020",
            ["Every connection is logged; connection limits apply."],
        ),
        "connections": ("Connections", ["Set the connection limit here."]),
    }
    for stem, (title, texts) in reports.items():
        key = f"/r/{stem}.md"
        chunks = [Chunk(t, title, i) for i, t in enumerate(texts)]
        store.put_document(
            DocumentRecord(key, key, "default", stem, 1, 1, title, title),
            chunks,
            np.array([[1.0, 0.0]] * len(texts), dtype=np.float32),
        )
    store.set_meta("embedder_dim", "2")
    return store


def test_routing_finds_the_document_a_question_names(tmp_path: Path) -> None:
    store = _shelf(tmp_path)
    routed = Retriever(store, RetrievalSettings(), lambda: _Direction())
    plain = routed.with_settings(route_weight=0)
    question = "What was Acme's revenue in 2023?"
    # fusion alone prefers the 2022 report, which says "revenue" three times and mentions 2023
    assert plain.search(question, 1)[0].source.endswith("ACME_2022_REPORT.md")
    # "acme" and "2023" name reports (their chunks mostly lie in them): the report both name wins
    ids = {d.source.rsplit("/", 1)[1]: d.id for d in store.list_documents()}
    ranks = routed.router.ranks(question)
    assert ranks == {
        ids["ACME_2023_REPORT.md"]: 1,
        ids["ACME_2022_REPORT.md"]: 2,
        ids["GLOBEX_2023_REPORT.md"]: 2,
    }
    top = routed.search(question, 2)
    assert top[0].source.endswith("ACME_2023_REPORT.md") and top[0].text == "Acme revenue was 12 million."
    # routing reorders fused ranks; a single retriever's own scores are left as they are
    assert routed.search(question, 1, "keyword") == plain.search(question, 1, "keyword")
    # "McDonald's"-style possessives and plurals match as the keyword index stems them
    assert routed.router.ranks("globex's sales")[ids["GLOBEX_2023_REPORT.md"]] == 1
    # a page named for a topic that other documents speak of names nothing ("connection")
    assert routed.router.ranks("how do I set the connection limit") == {}
    # names follow the store: a forgotten report is no longer named
    store.delete_documents(["/r/GLOBEX_2023_REPORT.md"])
    assert ids["GLOBEX_2023_REPORT.md"] not in routed.router.ranks(question)


def test_a_code_or_a_name_only_one_documents_chunks_hold_routes_to_it(tmp_path: Path) -> None:
    """Reports filed under numbers name their aircraft on the first page only: a question about
    N2699G's pilot is about that report, though its pilot page never says N2699G."""
    store = SQLiteStore(tmp_path / "s.db")
    pages = {
        "20080115X00053": [
            "Registration: N2699G Model: Aerostar 601 at Elyria",
            "Flight Time: 2411 hours (Total)",
        ],
        "20080109X00035": ["Registration: N103JT Model: RV-8", "The pilot had 475 total flight hours."],
        "20080122X00080": ["Registration: N461TC Model: Cessna 152", "The pilot had 42 total flight hours."],
        # a shelf of filings: one names Elyria in passing, in one chunk of many
        "ACME_2023_10K": [f"Acme plant {i} shipped pumps." for i in range(11)]
        + ["A depot opened in Elyria."],
        "GLOBEX_2023_10K": ["Globex sold valves."],
    }
    for stem, texts in pages.items():
        key = f"/r/{stem}.pdf"
        store.put_document(
            DocumentRecord(key, key, "default", stem, 1, 1, "NTSB report", "NTSB report"),
            [Chunk(t, "NTSB report", i) for i, t in enumerate(texts)],
            np.array([[1.0, 0.0]] * len(texts), dtype=np.float32),
        )
    store.set_meta("embedder_dim", "2")
    routed = Retriever(store, RetrievalSettings(), lambda: _Direction())
    ids = {d.source.rsplit("/", 1)[1]: d.id for d in store.list_documents()}
    question = "How many total flight hours did the N2699G pilot have?"
    assert routed.router.ranks(question) == {ids["20080115X00053.pdf"]: 1}
    # its pilot page is found with its first page; unrouted, another report's pilot page comes first
    assert {h.source for h in routed.search(question, 2)} == {"/r/20080115X00053.pdf"}
    unrouted = routed.with_settings(route_weight=0).search(question, 2)
    assert "Flight Time: 2411 hours (Total)" not in [h.text for h in unrouted]
    # so does a name, to the documents a tenth of whose chunks use it, not to one that names it in passing
    assert routed.router.ranks("How many hours did the Elyria pilot have?") == {ids["20080115X00053.pdf"]: 1}
    # a code every report holds, a period, or a code nothing holds names no document
    assert routed.router.ranks("What was the total in FY2021?") == {}
    assert routed.router.ranks("Who flew N999ZZ?") == {}


def test_name_text_splits_file_names_and_periods() -> None:
    from industry_expert.retrieve import name_text

    assert (
        name_text("/x/INTEL_2023Q1_EARNINGS.pdf", "Intel first quarter")
        == "INTEL 2023 Q1 EARNINGS Intel first quarter"
    )
    assert (
        name_text("runtime-config-wal.html", "20.5. Write Ahead Log")
        == "runtime-config-wal 20.5. Write Ahead Log"
    )
