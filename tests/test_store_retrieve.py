"""The SQLite store and the fusion functions, with vectors made by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from industry_expert.config import RetrievalSettings
from industry_expert.retrieve import collapse_duplicates, rrf, search_scored, weighted
from industry_expert.store import DocumentRecord, SearchFilter, SQLiteStore, keyword_terms
from industry_expert.types import Chunk, Hit


def record(key: str, collection: str = "default") -> DocumentRecord:
    return DocumentRecord(key, key, collection, "h" + key, 1, 1, key, f"label {key}")


def put(
    store: SQLiteStore, key: str, texts: list[str], vectors: list[list[float]], collection: str = "default"
) -> None:
    chunks = [Chunk(t, "hdr", i, page=i + 1) for i, t in enumerate(texts)]
    store.put_document(record(key, collection), chunks, np.array(vectors, dtype=np.float32))


def test_put_replaces_atomically_and_delete_cleans_index(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    put(store, "/a", ["pumps leak", "valves stick"], [[1, 0], [0, 1]])
    put(store, "/a", ["pumps fixed"], [[1, 0]])
    assert store.stats()["chunks"] == 1
    assert [h.text for h in store.hits(store.keyword_search("pumps", 5, SearchFilter()))] == ["pumps fixed"]
    assert store.delete_documents(["/a"]) == 1
    assert store.keyword_search("pumps", 5, SearchFilter()) == []
    assert store.check() == []


def test_dense_search_with_filters(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    put(store, "/docs/a.pdf", ["alpha"], [[1, 0]], collection="finance")
    put(store, "/docs/b.md", ["beta"], [[0.8, 0.6]], collection="ops")
    query = np.array([1, 0], dtype=np.float32)
    assert [i for i, _ in store.dense_search(query, 5, SearchFilter())] == [1, 2]
    assert [h.source for h in store.hits(store.dense_search(query, 5, SearchFilter(collection="ops")))] == [
        "/docs/b.md"
    ]
    assert [h.source for h in store.hits(store.dense_search(query, 5, SearchFilter(source_glob="*.md")))] == [
        "/docs/b.md"
    ]


def test_vector_cache_sees_writes_from_another_connection(tmp_path: Path) -> None:
    a, b = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    put(a, "/x", ["x"], [[1, 0]])
    assert len(b.dense_search(np.array([1, 0], dtype=np.float32), 5, SearchFilter())) == 1
    put(a, "/y", ["y"], [[0, 1]])
    assert len(b.dense_search(np.array([1, 0], dtype=np.float32), 5, SearchFilter())) == 2


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


def test_search_modes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    put(store, "/a", ["the impeller part number is IM-7", "quarterly revenue grew"], [[1, 0], [0, 1]])
    settings = RetrievalSettings()
    embed = lambda q: np.array([0, 1], dtype=np.float32)  # noqa: E731 - "revenue"-like direction
    assert search_scored(store, "impeller", 1, settings, None, "keyword")[0][0].text.startswith(
        "the impeller"
    )
    assert (
        search_scored(store, "impeller", 1, settings, embed, "dense")[0][0].text == "quarterly revenue grew"
    )
    assert len(search_scored(store, "impeller", 5, settings, embed, "hybrid")[0]) == 2
