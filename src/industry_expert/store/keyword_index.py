"""The SQLite store's keyword index for large stores: tantivy (BM25 with block-max WAND) beside
the database, kept up to date from the store's change log.

FTS5 ranks every chunk that holds any query word, so a common word walks a long posting list:
413 ms p95 at a million chunks. tantivy skips the blocks that cannot reach the top k and answers
the same questions in 4 ms p95 with the same R@k (``benchmarks/keyword_index.py``). The FTS5 table
stays the store's own index (written in each document's transaction, used by ``term_counts`` and
by a search this index cannot serve); this one is derived from the rows and never trusted blindly:

- ``state.json`` beside it names the store (``meta.store_id``) and the change-log position the
  index reflects, written only after tantivy's commit (itself atomic). A ``kill -9`` between the
  two leaves the position behind the index, and applying a chunk twice is harmless (each change
  deletes the chunk's entry, then adds its current row), so the index is never silently stale.
- On first use in a process its size is checked against the store's chunk count; a mismatch, a
  log cut past its position, another store's name or an unreadable index rebuilds it.
- Only one process (or connection) writes it at a time: ``flock`` on a file beside it, which the
  kernel releases when its holder dies. A search that finds the index behind while another holds
  the lock is answered by FTS5.

One field holds the document's name and label, the chunk's header and text, stemmed in English
as FTS5's porter tokenizer does: three fields scored apart lost 14 points of R@5, the short name
field outweighing the text.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tantivy

from . import derived
from .change_log import KEYWORD_ROWS, ChangeLog

FORMAT = 2  # bumped when the schema or the analyzer changes: an index of another format is rebuilt
# A row to index: chunk id, document id, the document's name and label, the chunk's header and text
Row = tuple[int, int, str, str]
ANALYZER = "expert_en"


def _schema() -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("id", stored=True, indexed=True, fast=True)
    builder.add_unsigned_field("doc", stored=False, indexed=True, fast=True)
    # positions: a word the tokenizer splits ("pg_dump") is searched as a phrase, as FTS5 does
    builder.add_text_field("body", stored=False, tokenizer_name=ANALYZER, index_option="position")
    # header and text without the document's name, documents only (no positions, no frequencies):
    # what routing counts (``count``), where a name would count every chunk of its document
    builder.add_text_field("content", stored=False, tokenizer_name=ANALYZER, index_option="basic")
    return builder.build()


def _analyzer() -> Any:
    """Words of letters and digits in any script, lower-cased, Latin accents folded, English
    stems: what FTS5's ``porter unicode61 remove_diacritics 2`` makes of the same text."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(64))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


class KeywordIndex:
    """A tantivy index in folder ``path``; ``store_id`` names the store it must belong to."""

    def __init__(self, path: Path, store_id: str):
        self.path = path
        self.store_id = store_id
        self.seq: int | None = None  # the log position this process's view reflects
        self.verified = False
        self._index: Any = None
        self._schema: Any = None
        self._analyzer = _analyzer()

    # -- state ---------------------------------------------------------------------------------
    def recorded_seq(self) -> int | None:
        """The log position recorded beside the index, or None when it is missing, of another
        format, or of another store."""
        state = derived.read_state(self.path, self.store_id, FORMAT)
        seq = None if state is None else state.get("seq")
        return seq if isinstance(seq, int) else None

    def _record(self, seq: int) -> None:
        derived.write_state(self.path, {"format": FORMAT, "store": self.store_id, "seq": seq})
        self.seq = seq

    def open(self) -> bool:
        """Open the index on disk for searching; False when there is none usable."""
        if self.recorded_seq() is None:
            return False
        try:
            self._schema = _schema()
            self._index = tantivy.Index.open(str(self.path / "index"))
            self._index.register_tokenizer(ANALYZER, self._analyzer)
        except (OSError, ValueError):
            self._index = None
            return False
        return True

    @property
    def opened(self) -> bool:
        return self._index is not None

    def documents(self) -> int:
        self._index.reload()
        return int(self._index.searcher().num_docs)

    # -- following the store (derived.DerivedIndex) ----------------------------------------------
    def follow(self, log: ChangeLog) -> bool:
        """Bring the index up to the store's last write; False (FTS5 answers) when there is none
        and none can be made (a read-only copy, another process writing it)."""
        if self.opened and self.seq == log.seq():
            return True
        with log.snapshot():  # one snapshot for the log position and the rows
            try:
                seq = log.seq()
                current = (self.opened or self.open()) and self._catch_up(log, seq)
                if current and not self.verified:  # first use in this process: one count
                    current = self.verified = self.documents() == log.chunk_count()
                if not current and not log.read_only:
                    current = self.rebuild(log.all_rows(KEYWORD_ROWS), seq)
            except (OSError, ValueError):
                self.close()  # unreadable: FTS5 answers; the next search rebuilds it
                current = False
        return current

    def _catch_up(self, log: ChangeLog, seq: int) -> bool:
        """Apply the chunks the log names after the index's position; False when that cannot be
        done (no position, a log cut past it, another process holding the lock) or is not worth
        it (more than a quarter of the chunks changed: a rebuild is cheaper)."""
        recorded = self.recorded_seq()
        if recorded is None or recorded > seq:
            return False
        if recorded == seq:
            self.reload(seq)
            return True
        if log.read_only:
            return False
        changed = log.changed_since(recorded, max(1000, self.documents() // 4))
        if changed is None:
            return False
        # read under the index's lock, only when this connection is the one to apply them
        return self.apply(recorded, lambda: log.rows_of(KEYWORD_ROWS + " WHERE c.id IN ({})", changed), seq)

    def reload(self, seq: int) -> None:
        """See the commits another process made, up to ``seq``."""
        self._index.reload()
        self.seq = seq

    # -- writing -------------------------------------------------------------------------------
    def _document(self, row: Row) -> Any:
        chunk_id, doc_id, name, content = row
        fields = {"id": chunk_id, "doc": doc_id, "body": f"{name}\n{content}", "content": content}
        return tantivy.Document.from_dict(fields, self._schema)

    def rebuild(self, rows: Iterable[Row], seq: int) -> bool:
        """Index ``rows`` from nothing, as of ``seq``; False
        when another process is writing the index."""
        with derived.write_lock(self.path) as mine:
            if not mine:
                return False
            self._index = None
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir(mode=0o700)  # private, as the workspace's other files
            (self.path / "index").mkdir()
            self._schema = _schema()
            self._index = tantivy.Index(self._schema, path=str(self.path / "index"))
            self._index.register_tokenizer(ANALYZER, self._analyzer)
            self._write(self._index.writer(heap_size=128_000_000, num_threads=1), rows, seq)
            self.verified = True
            return True

    def apply(
        self,
        since: int,
        changes: Callable[[], tuple[Sequence[Row], Sequence[int]]],
        seq: int,
    ) -> bool:
        """Bring the index from ``since`` to ``seq``: ``changes()`` gives the rows that replace
        their chunks' entries and the chunks deleted. False, changing nothing, when another
        process holds the lock or has moved the index elsewhere meanwhile."""

        with derived.write_lock(self.path) as mine:
            if not mine:
                return False
            recorded = self.recorded_seq()
            if recorded == seq:  # another process caught it up first
                self.reload(seq)
                return True
            if recorded != since:
                return False
            rows, deleted = changes()
            writer = self._index.writer(heap_size=32_000_000, num_threads=1)
            touched = [int(i) for i in [*deleted, *(r[0] for r in rows)]]
            if touched:  # by query: delete_documents_by_term misses an unsigned field's terms
                writer.delete_documents_by_query(tantivy.Query.term_set_query(self._schema, "id", touched))
            self._write(writer, rows, seq)
            return True

    def _write(self, writer: Any, rows: Iterable[Row], seq: int) -> None:
        """Add ``rows`` through ``writer``, commit, then record ``seq`` (after the commit: see the
        module's notes) and let this process's searcher see it."""
        for row in rows:
            writer.add_document(self._document(row))
        writer.commit()
        writer.wait_merging_threads()
        del writer  # the writer's lock on the index goes with it
        self._record(seq)
        self._index.reload()

    def close(self) -> None:
        self._index = None

    # -- searching -----------------------------------------------------------------------------
    def search(
        self, terms: Sequence[str], n: int, allowed_docs: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """Up to ``n`` ``(chunk id, BM25)`` best first for any of ``terms``, among ``allowed_docs``
        when given."""
        if not terms:
            return []
        # quoted: a term the analyzer splits in two ("pg_dump") is a phrase, as in FTS5
        query = self._index.parse_query(" ".join(f'"{t}"' for t in terms), ["body"])
        if allowed_docs is not None:
            query = self._within(query, allowed_docs)
        searcher = self._index.searcher()
        hits = searcher.search(query, n, count=False).hits
        return [(int(searcher.doc(address)["id"][0]), float(score)) for score, address in hits]

    def count(self, term: str, doc_ids: Sequence[int]) -> tuple[int, int] | None:
        """``(chunks of doc_ids, all chunks)`` whose header or text holds ``term`` (stemmed as a
        search stems it); None when the analyzer splits it into several words ("pg_dump"), which
        would take a phrase, and this field keeps no positions."""
        words = self._analyzer.analyze(term)
        if len(words) != 1:
            return None
        searcher = self._index.searcher()
        query = tantivy.Query.term_query(self._schema, "content", words[0])
        total = searcher.search(query, 1, count=True).count
        inside = 0
        if total and doc_ids:
            inside = searcher.search(self._within(query, doc_ids), 1, count=True).count
        return int(inside), int(total)

    def _within(self, query: Any, doc_ids: Iterable[int]) -> Any:
        """``query`` among the chunks of ``doc_ids``, scored as ``query`` alone."""
        inside = tantivy.Query.term_set_query(self._schema, "doc", [int(d) for d in doc_ids])
        must = tantivy.Occur.Must
        return tantivy.Query.boolean_query(
            [(must, query), (must, tantivy.Query.const_score_query(inside, 0.0))]
        )
