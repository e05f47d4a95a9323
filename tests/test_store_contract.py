"""The Store contract, run on every backend.

A new backend joins by adding one entry to ``BACKENDS``: a function that opens (creating where
needed) a store at a location made from ``tmp_path``. Each test below then runs on it unchanged:
put and replace, forget, filters, dense and keyword search, metadata, skips, integrity, and a
process killed in the middle of a document.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from industry_expert.errors import StoreError
from industry_expert.store import (
    DocumentRecord,
    SearchFilter,
    SQLiteStore,
    Store,
    StoreStats,
    path_matches,
)
from industry_expert.types import Chunk


def _postgres(url: str) -> Store:
    from industry_expert.store.postgres import PostgresStore

    return PostgresStore(url)


def _postgres_database(tmp: Path) -> str:
    from postgres_server import fresh_database

    return fresh_database()


def _distributable_database(tmp: Path) -> str:
    """A fresh database keyed as Citus needs (store/citus.py's first step, which plain PostgreSQL
    runs): the store must work the same on it."""
    from industry_expert.store.citus import distribute

    url = _postgres_database(tmp)
    distribute(url)
    return url


# name -> (open a store at a location, the location for a test's tmp_path)
BACKENDS: dict[str, tuple[Callable[[str], Store], Callable[[Path], str]]] = {
    "sqlite": (lambda where: SQLiteStore(Path(where)), lambda tmp: str(tmp / "store.db")),
    # a database of its own on the session's PostgreSQL server (tests/postgres_server.py)
    "postgresql": (_postgres, _postgres_database),
    "postgresql-distributable": (_postgres, _distributable_database),
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    name = request.param
    yield name, BACKENDS[name][1](tmp_path)


@pytest.fixture
def store(backend: tuple[str, str]) -> Iterator[Store]:
    name, where = backend
    opened = BACKENDS[name][0](where)
    yield opened
    opened.close()


def record(key: str, collection: str = "default", sha: str = "") -> DocumentRecord:
    return DocumentRecord(key, key, collection, sha or "h" + key, 1, 1, f"title {key}", f"label {key}")


def put(store: Store, key: str, texts: Sequence[str], vectors: Sequence[Sequence[float]], **kw: str) -> int:
    chunks = [Chunk(t, "hdr", i, page=i + 1, tokens=len(t.split())) for i, t in enumerate(texts)]
    return store.put_document(record(key, **kw), chunks, np.array(vectors, dtype=np.float32))


def unit(*values: float) -> list[float]:
    v = np.array(values, dtype=np.float32)
    return list(v / np.linalg.norm(v))


def test_the_store_keeps_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)


def test_put_lists_and_replaces_a_document_atomically(store: Store) -> None:
    put(store, "/docs/a.pdf", ["pumps leak", "valves stick"], [unit(1, 0), unit(0, 1)])
    put(store, "/docs/b.md", ["boilers hum"], [unit(1, 1)])
    assert [d.source for d in store.list_documents()] == ["/docs/a.pdf", "/docs/b.md"]
    doc = store.get_document("/docs/a.pdf")
    assert doc is not None and doc.chunks == 2 and doc.title == "title /docs/a.pdf"
    assert store.document_chunks("/docs/a.pdf") == [(1, "pumps leak"), (2, "valves stick")]
    assert store.stats() == StoreStats(2, 3, 6, store.stats().bytes)
    # re-ingest: the new version replaces every chunk, vector and index row of the old one
    put(store, "/docs/a.pdf", ["pumps fixed"], [unit(1, 0)], sha="new")
    assert store.stats().chunks == 2
    assert [
        h.text for h in store.get_chunks([i for i, _ in store.keyword_search("pumps", 5, SearchFilter())])
    ] == ["pumps fixed"]
    assert store.keyword_search("valves", 5, SearchFilter()) == []
    assert store.get_document("/docs/a.pdf").sha256 == "new"  # type: ignore[union-attr]
    assert store.check() == []


def test_a_failed_put_leaves_the_old_version(store: Store) -> None:
    put(store, "/a", ["old text"], [unit(1, 0)])
    with pytest.raises(StoreError):
        put(store, "/a", ["new text", "second"], [unit(1, 0)])  # two chunks, one vector
    assert store.document_chunks("/a") == [(1, "old text")]
    assert store.check() == []


def test_forget_removes_chunks_index_vectors_and_skips(store: Store) -> None:
    put(store, "/a", ["pumps leak"], [unit(1, 0)])
    put(store, "/b", ["pumps hum"], [unit(0, 1)])
    store.record_skipped("/c", "c", "corrupt PDF")
    assert store.delete_documents(["/a", "/c", "/missing"]) == 1
    assert [d.key for d in store.list_documents()] == ["/b"]
    assert [i for i, _ in store.dense_search(np.array(unit(1, 0)), 5, SearchFilter())] == [
        h.chunk_id for h in store.get_chunks([i for i, _ in store.keyword_search("hum", 5, SearchFilter())])
    ]
    assert store.list_skipped() == []
    store.optimize()  # after a run of writes: whatever the backend builds, the store stays whole
    assert store.check() == []


def test_filters_by_collection_and_path_pattern(store: Store) -> None:
    put(store, "/docs/a.pdf", ["alpha"], [unit(1, 0)], collection="finance")
    put(store, "/docs/sub/b.md", ["beta"], [unit(0.8, 0.6)], collection="ops")
    put(store, "/docs/c[1].md", ["gamma"], [unit(0.6, 0.8)], collection="ops")
    query = np.array(unit(1, 0), dtype=np.float32)

    def dense_sources(where: SearchFilter) -> list[str]:
        return [h.source for h in store.get_chunks([i for i, _ in store.dense_search(query, 5, where)])]

    assert dense_sources(SearchFilter()) == ["/docs/a.pdf", "/docs/sub/b.md", "/docs/c[1].md"]
    assert dense_sources(SearchFilter(collection="ops")) == ["/docs/sub/b.md", "/docs/c[1].md"]
    assert dense_sources(SearchFilter(source="/docs/*.md")) == ["/docs/c[1].md"]  # * stays in one level
    assert dense_sources(SearchFilter(source="/docs/**/*.md")) == ["/docs/sub/b.md", "/docs/c[1].md"]
    assert dense_sources(SearchFilter(source="*.md")) == ["/docs/sub/b.md", "/docs/c[1].md"]  # file names
    assert dense_sources(SearchFilter(source="/docs/c[1].md")) == ["/docs/c[1].md"]  # exact path
    assert dense_sources(SearchFilter(collection="ops", source="*a.pdf")) == []
    assert dense_sources(SearchFilter(collection="nowhere")) == []
    # a set of allowed collections (a server key's) applies on top of the other filters
    assert dense_sources(SearchFilter(collections=frozenset({"finance"}))) == ["/docs/a.pdf"]
    assert dense_sources(SearchFilter(collections=frozenset({"finance", "ops"}))) == dense_sources(
        SearchFilter()
    )
    assert dense_sources(SearchFilter(collection="ops", collections=frozenset({"finance"}))) == []
    assert dense_sources(SearchFilter(collections=frozenset())) == []
    for word, where, expected in [
        ("beta", SearchFilter(collection="ops"), ["/docs/sub/b.md"]),
        ("beta", SearchFilter(collection="finance"), []),
        ("gamma", SearchFilter(source="*.md"), ["/docs/c[1].md"]),
        ("gamma", SearchFilter(collections=frozenset({"finance"})), []),
        ("alpha", SearchFilter(collections=frozenset({"finance", "hr"})), ["/docs/a.pdf"]),
    ]:
        found = store.get_chunks([i for i, _ in store.keyword_search(word, 5, where)])
        assert [h.source for h in found] == expected
    # listings use the same patterns, and every backend matches like path_matches
    for pattern in ["/docs/*", "/docs/**", "*.md", "/docs/?.pdf", "/docs/c[1].md", "/docs/[ab]*", "[!a]*"]:
        expected = [d.source for d in store.list_documents() if path_matches(pattern, d.source, d.key)]
        assert [d.source for d in store.list_documents(pattern)] == expected, pattern


def test_dense_search_is_best_first_bounded_and_checks_the_dimension(store: Store) -> None:
    put(store, "/a", ["a1", "a2", "a3"], [unit(1, 0), unit(0.6, 0.8), unit(0, 1)])
    found = store.dense_search(np.array(unit(1, 0), dtype=np.float32), 2, SearchFilter())
    assert len(found) == 2 and found[0][1] >= found[1][1]
    assert found[0][1] == pytest.approx(1.0) and found[1][1] == pytest.approx(0.6)
    with pytest.raises(StoreError, match="dimensions"):
        store.dense_search(np.ones(3, dtype=np.float32), 2, SearchFilter())


def test_keyword_search_ranks_by_bm25_and_reads_the_document_label(store: Store) -> None:
    put(
        store,
        "/a",
        ["capital expenditure rose", "expenditure on expenditure fell expenditure"],
        [unit(1, 0)] * 2,
    )
    put(store, "/b", ["nothing relevant here"], [unit(0, 1)])
    found = store.keyword_search("expenditure", 5, SearchFilter())
    assert len(found) == 2 and found[0][1] > found[1][1] > 0
    assert store.get_chunks([found[0][0]])[0].text.startswith("expenditure on")
    # the document's label is indexed with every chunk ("label /b")
    assert [
        h.source for h in store.get_chunks([i for i, _ in store.keyword_search("label", 5, SearchFilter())])
    ]
    assert store.keyword_search("", 5, SearchFilter()) == []


def test_term_counts_and_generation(store: Store) -> None:
    before = store.generation()
    a = put(store, "/a", ["Intel revenue rose", "Intel margins", "nothing"], [unit(1, 0)] * 3)
    b = put(store, "/b", ["a customer named Intel", "revenue fell"], [unit(0, 1)] * 2)
    assert store.generation() != before
    # header or text, stemmed as keyword search stems; the label ("label /a") is not counted
    assert store.term_counts("intel", [a]) == (2, 3)
    assert store.term_counts("revenue", [a, b]) == (2, 2)
    assert store.term_counts("label", [a]) == (0, 0)
    assert store.term_counts("margin", []) == (0, 1)
    settled = store.generation()
    store.delete_documents(["/b"])
    assert store.generation() != settled
    assert store.term_counts("intel", [a]) == (2, 2)


def test_a_collection_keeps_its_language_and_other_scripts_are_found_word_for_word(store: Store) -> None:
    assert store.languages() == {}
    put(store, "/fa", ["شرکت‌ها درآمد خود را گزارش کردند", "هیچ"], [unit(1, 0)] * 2, collection="fa")
    put(store, "/en", ["revenues were growing"], [unit(0, 1)])
    assert store.set_language("fa", "Persian") >= 0  # no stemmer there: simple, on every backend
    assert store.languages() == {"fa": "simple"}
    assert store.set_language("fa", "fa") == 0  # unchanged: nothing indexed again
    hit = store.keyword_search("درآمد", 5, SearchFilter())
    assert [h.source for h in store.get_chunks([i for i, _ in hit])] == ["/fa"]
    # the English collection still stems ("grow" finds "growing"), also in a search over both
    assert [
        h.source
        for h in store.get_chunks([i for i, _ in store.keyword_search("grow revenue", 5, SearchFilter())])
    ] == ["/en"]
    assert store.term_counts("درآمد", []) == (0, 1)


def test_a_stemmed_language_is_indexed_or_refused_whole(store: Store) -> None:
    put(store, "/de", ["Die Häuser wurden verkauft"], [unit(1, 0)], collection="de")
    put(store, "/en", ["house prices"], [unit(0, 1)])
    before = store.generation()
    try:
        redone = store.set_language("de", "german")
    except StoreError as exc:  # SQLite: one index for every collection, English stems
        assert "PostgreSQL" in str(exc) and store.languages() == {} and store.generation() == before
        return
    assert redone == 1 and store.languages() == {"de": "german"} and store.generation() != before
    # the stored chunk was indexed again, and a new one is indexed the same way
    assert [i for i, _ in store.keyword_search("Haus", 5, SearchFilter(collection="de"))]
    put(store, "/de2", ["Ein Haus"], [unit(1, 0)], collection="de")
    found = store.keyword_search("Häuser", 5, SearchFilter())
    assert sorted(h.source for h in store.get_chunks([i for i, _ in found])) == ["/de", "/de2"]
    with pytest.raises(StoreError, match="no text-search configuration 'klingon'"):
        store.set_language("de", "klingon")
    assert store.languages() == {"de": "german"}


def test_export_gives_back_what_was_put(store: Store) -> None:
    record = DocumentRecord(
        "/r/caf\udce9.pdf", "r/caf\udce9.pdf", "finance", "abc", 7, 9, "Caf\u00e9 report", "CAFE report",
        {"format": "pdf", "period": "FY2023"},
    )  # fmt: skip
    chunks = [
        Chunk("first", "hdr", 0, page=1, locator="p.1", tokens=1),
        Chunk("second", "", 1, page=2, tokens=2),
    ]
    vectors = np.array([unit(1, 0), unit(0.6, 0.8)], dtype=np.float32)
    store.put_document(record, chunks, vectors)
    exported = store.export_document("/r/caf\udce9.pdf")
    assert exported is not None
    got_record, got_chunks, got_vectors = exported
    assert got_record == record and got_chunks == chunks
    assert got_vectors.dtype == np.float32 and np.allclose(got_vectors, vectors)
    assert store.export_document("/missing") is None


def test_get_chunks_keeps_the_order_asked_and_skips_unknown_ids(store: Store) -> None:
    doc_id = put(store, "/a", ["one", "two"], [unit(1, 0), unit(0, 1)], collection="c1")
    ids = [i for i, _ in store.all_chunks()]
    hits = store.get_chunks([ids[1], 999_999, ids[0]])
    assert [h.document_id for h in hits] == [doc_id, doc_id]  # what a link to the document needs
    assert [h.text for h in hits] == ["two", "one"]
    assert hits[0].source == "/a" and hits[0].page == 2 and hits[0].collection == "c1" and hits[0].score == 0
    assert hits[0].title == "title /a" and hits[0].header == "hdr"
    assert store.get_chunks([]) == []
    assert store.all_chunks() == [(ids[0], "hdr\none"), (ids[1], "hdr\ntwo")]


def test_meta_skips_summaries_touch_and_vectors(store: Store) -> None:
    assert store.get_meta("embedder") is None
    store.set_meta("embedder", "x")
    store.set_meta("embedder", "y")
    assert store.get_meta("embedder") == "y"
    assert store.all_meta()["embedder"] == "y"
    store.record_skipped("/k", "k.pdf", "encrypted")
    assert store.list_skipped() == [("/k", "k.pdf", "encrypted")]
    assert store.list_skipped("*.pdf") == [("/k", "k.pdf", "encrypted")]
    put(store, "/k", ["now readable"], [unit(1, 0)])  # a document that loads forgets its skip
    assert store.list_skipped() == []
    store.set_summary("/k", "A summary.")
    assert store.get_document("/k").summary == "A summary."  # type: ignore[union-attr]
    store.touch_document("/k", "renamed/k.pdf", 42)
    doc = store.get_document("/k")
    assert doc is not None and doc.mtime_ns == 42 and doc.source == "renamed/k.pdf"
    store.touch_document("/k", "renamed/k.pdf", 43, {"format": "pdf", "ocr": "auto"})
    doc = store.get_document("/k")
    assert (
        doc is not None and doc.metadata == {"format": "pdf", "ocr": "auto"} and doc.summary == "A summary."
    )
    put(store, "/k", ["new version"], [unit(1, 0)])
    assert store.get_document("/k").summary is None  # type: ignore[union-attr]
    ((chunk_id, _),) = store.all_chunks()
    store.replace_vectors([chunk_id], np.array([unit(0, 1)], dtype=np.float32))
    assert store.dense_search(np.array(unit(0, 1), dtype=np.float32), 1, SearchFilter())[0][
        1
    ] == pytest.approx(1)


def test_a_second_connection_sees_committed_writes(backend: tuple[str, str]) -> None:
    name, where = backend
    opener = BACKENDS[name][0]
    a, b = opener(where), opener(where)
    try:
        put(a, "/x", ["x"], [unit(1, 0)])
        assert len(b.dense_search(np.array(unit(1, 0), dtype=np.float32), 5, SearchFilter())) == 1
        put(a, "/y", ["y"], [unit(0, 1)])
        assert len(b.dense_search(np.array(unit(1, 0), dtype=np.float32), 5, SearchFilter())) == 2
        assert [d.key for d in b.list_documents()] == ["/x", "/y"]
    finally:
        a.close()
        b.close()


CRASH = """
import os, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_store_contract import BACKENDS, put, unit

store = BACKENDS[{name!r}][0]({where!r})
put(store, "/first", ["first document"], [unit(1, 0)])

class Dies(list):
    # the process is killed while the store reads the second document's chunks
    def __iter__(self):
        yield from self[:1]
        os._exit(9)

from industry_expert.types import Chunk
from test_store_contract import record
chunks = Dies([Chunk("second a", "hdr", 0), Chunk("second b", "hdr", 1)])
store.put_document(record("/first"), chunks, np.array([unit(0, 1)] * 2, dtype=np.float32))
store.put_document(record("/second"), chunks, np.array([unit(0, 1)] * 2, dtype=np.float32))
"""


def test_a_process_killed_between_documents_loses_only_the_one_in_flight(backend: tuple[str, str]) -> None:
    name, where = backend
    script = CRASH.format(tests=str(Path(__file__).parent), name=name, where=where)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    store = BACKENDS[name][0](where)
    try:
        assert [d.key for d in store.list_documents()] == ["/first"]
        assert store.document_chunks("/first") == [(1, "first document")]  # the old version, whole
        assert store.check() == []
        put(store, "/second", ["second document"], [unit(0, 1)])  # a re-run finishes the job
        assert store.stats().documents == 2 and store.check() == []
    finally:
        store.close()


def test_staged_vectors_take_over_at_once_and_never_outlive_their_chunk(store: Store) -> None:
    put(store, "/a", ["a1", "a2"], [unit(1, 0), unit(1, 0)])
    put(store, "/b", ["b1"], [unit(1, 0)])
    ids = [i for i, _ in store.all_chunks()]
    query = np.array(unit(0, 1), dtype=np.float32)
    store.stage_vectors("new", ids, np.array([unit(0, 1)] * 3, dtype=np.float32))
    assert store.staged("new") == set(ids) and store.staged("other") == set()
    assert store.dense_search(query, 1, SearchFilter())[0][1] < 0.5  # searches still see the old vectors
    # a document replaced meanwhile loses its staged vectors, even if its new chunk reuses the id
    put(store, "/b", ["b1 again"], [unit(1, 0)], sha="new")
    assert store.staged("new") == set(ids[:2])
    assert store.commit_staged("new", {"embedder": "new/model"}) == 2
    assert store.get_meta("embedder") == "new/model" and store.staged("new") == set()
    scores = dict(store.dense_search(query, 3, SearchFilter()))
    assert {i for i, s in scores.items() if s > 0.99} == set(ids[:2])  # /b kept the vector it was put with
    # staging for another embedder drops what was staged for the first
    store.stage_vectors("first", ids[:1], np.array([unit(1, 0)], dtype=np.float32))
    store.stage_vectors("second", ids[1:2], np.array([unit(1, 0)], dtype=np.float32))
    assert store.staged("first") == set() and store.staged("second") == {ids[1]}
    assert store.check() == []


def test_one_ingest_holds_the_lock_and_another_connection_waits(
    backend: tuple[str, str], store: Store
) -> None:
    name, where = backend
    other = BACKENDS[name][0](where)  # another process's connection, as far as the lock knows
    try:
        with store.ingest_lock() as held:
            assert held
            with other.ingest_lock() as second:
                assert not second  # told at once, not blocked
        with other.ingest_lock() as second:
            assert second  # released on exit
    finally:
        other.close()


def test_an_ingest_of_named_documents_locks_those_documents(backend: tuple[str, str], store: Store) -> None:
    """Two ingests of the same document never run together; of other documents, they may where
    the backend takes writes from many machines (PostgreSQL), and never beside a whole-store
    ingest (a prune)."""
    name, where = backend
    other = BACKENDS[name][0](where)
    parallel = not name.startswith("sqlite")
    try:
        with store.ingest_lock({"a", "b"}) as held:
            assert held
            with other.ingest_lock({"b", "c"}) as second:
                assert not second  # b is being written
            with other.ingest_lock({"c"}) as second:
                assert second == parallel
            with other.ingest_lock() as second:
                assert not second  # a prune may remove a or b
        with other.ingest_lock() as whole:
            assert whole
            with store.ingest_lock({"z"}) as second:
                assert not second
        with other.ingest_lock({"a"}) as second:
            assert second  # everything released on exit
    finally:
        other.close()
