"""Keyword search in PostgreSQL: a ``tsvector`` per chunk in a GIN index, ranked as BM25 ranks,
in each collection's language.

- **The index entry** (``TSVECTOR``): the document's name and label (weight C), the header (B)
  and the text (A), each reduced to terms by the collection's text-search configuration, so a
  term can be counted in header and text alone (``term:AB``).
- **Ranking**: each query term's ``ts_rank`` (its frequency in the chunk, damped by the chunk's
  length) weighted by its inverse document frequency (``idf``). PostgreSQL's own ``ts_rank`` over
  the whole query weighs "2019" as much as "capex".
- **Languages**: a collection's configuration is recorded in ``meta`` (``english`` unless one
  is, ``simple`` for languages PostgreSQL has no stemmer for); a query is reduced to terms by each
  configuration of the collections it searches.
- **What it keeps of the whole store** (the chunk count, the collections, their languages, the
  document frequencies) is read again when the store's generation moves (``refresh``).

``KeywordSearch`` works on the connection its store hands it, inside the store's transaction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from . import languages
from .base import SearchFilter

# A query term in more than this share of the chunks does not make a chunk a candidate by
# itself (it still counts in the score of those that are): it spares ranking most of the store.
COMMON_SHARE = 0.2  # 0.1 cost the 50 filings questions 16 points of keyword R@1 (docs/benchmarks.md)
# ts_rank's length normalisation (1 divides by 1 + log(length)) and weights of D, C (the
# document's name and label), B (header) and A (text): equal, as the SQLite store's FTS5 columns
# are. Chosen by R@k on the 50 filings and 127 analyst questions (docs/benchmarks.md).
RANK_NORMALIZATION = 1
RANK_WEIGHTS = "{1, 1, 1, 1}"

# a chunk's index entry: its document's name and label (weight C), header (B) and text (A), each
# reduced to terms by the collection's text-search configuration
TSVECTOR = (
    "setweight(to_tsvector(%(config)s::regconfig, {name}), 'C')"
    " || setweight(to_tsvector(%(config)s::regconfig, {header}), 'B')"
    " || setweight(to_tsvector(%(config)s::regconfig, {text}), 'A')"
)


def _tsquery(terms: Sequence[str], weights: str = "") -> str:
    """A ``to_tsquery`` text that matches any of ``terms`` (restricted to ``weights``)."""
    suffix = f":{weights}" if weights else ""
    return " | ".join("'" + t.replace("'", "''").replace("\\", "\\\\") + "'" + suffix for t in terms)


def match(terms: Sequence[str], configs: Sequence[str], weights: str = "") -> tuple[str, list[Any]]:
    """A ``tsquery`` expression matching any of ``terms`` as any of ``configs`` reduces them,
    and its arguments."""
    text = _tsquery(terms, weights)
    sql = " || ".join("to_tsquery(%s::regconfig, %s)" for _ in configs)
    return f"({sql})", [a for c in configs for a in (c, text)]


def language(conn: Any, collection: str, exclusive: bool = False) -> str:
    """The configuration ``collection`` is indexed with, read under the collection's advisory
    lock (inside the caller's transaction): documents written into it share the lock and
    ``set_language`` takes it alone, so no chunk is indexed with a language being replaced."""
    lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    conn.execute(f"SELECT {lock}(hashtext(%s))", ("industry_expert.language:" + collection,))
    row = conn.execute(
        "SELECT value FROM meta WHERE key = %s", (languages.META_PREFIX + collection,)
    ).fetchone()
    return languages.DEFAULT if row is None else str(row[0])


def reindex_collection(conn: Any, collection: str, config: str) -> int:
    """Index the chunks of ``collection`` again with ``config``; the number of chunks."""
    tsvector = TSVECTOR.format(name="d.source || ' ' || d.label", header="c.header", text="c.text")
    return int(
        conn.execute(
            f"UPDATE chunks c SET tsv = {tsvector} FROM documents d"
            " WHERE d.id = c.doc_id AND d.collection = %(collection)s",
            {"config": config, "collection": collection},
        ).rowcount
    )


class KeywordSearch:
    """BM25-ranked keyword search over the chunks' ``tsvector``, with what it knows of the store."""

    def __init__(self) -> None:
        self.generation = -1
        self.chunk_count = 0
        self.collections: set[str] = set()
        self.languages: dict[str, str] = {}
        self._idf: dict[tuple[str, tuple[str, ...]], float] = {}

    def refresh(self, conn: Any) -> None:
        """Read the generation once; when another write has happened since the caches were filled,
        forget the document frequencies and re-read the chunk count and the collections' languages."""
        (generation,) = conn.execute("SELECT value::bigint FROM meta WHERE key = 'generation'").fetchone()
        if generation == self.generation:
            return
        self._idf = {}
        self.chunk_count = int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
        self.collections = {str(r[0]) for r in conn.execute("SELECT DISTINCT collection FROM documents")}
        self.languages = languages.recorded(
            {
                str(k): str(v)
                for k, v in conn.execute("SELECT key, value FROM meta WHERE key LIKE 'language:%%'")
            }
        )
        self.generation = int(generation)

    def configs(self, where: SearchFilter | None = None) -> tuple[str, ...]:
        """The text-search configurations of the collections ``where`` reaches: a query is reduced
        to terms by each, so a German collection is searched with German stems and a Persian one
        word for word (``match``)."""
        scope = self.collections
        if where is not None and where.collection is not None:
            scope = scope & {where.collection}
        if where is not None and where.collections is not None:
            scope = scope & where.collections
        return tuple(sorted({self.languages.get(c, languages.DEFAULT) for c in scope})) or (
            languages.DEFAULT,
        )

    def idf(self, conn: Any, terms: Sequence[str], configs: tuple[str, ...]) -> dict[str, float]:
        """BM25's inverse document frequency of each term over the chunks, ``ln(1 + (N - df +
        0.5) / (df + 0.5))``; counted once per term (an index scan) and kept until the store
        changes (``refresh``)."""
        for term in terms:
            if (term, configs) not in self._idf:
                sql, args = match([term], configs)
                (df,) = conn.execute(f"SELECT COUNT(*) FROM chunks WHERE tsv @@ {sql}", args).fetchone()
                self._idf[term, configs] = math.log(1 + (self.chunk_count - df + 0.5) / (df + 0.5))
        return {t: self._idf[t, configs] for t in terms}

    def search(
        self, conn: Any, terms: Sequence[str], n: int, where: SearchFilter, allowed: list[int] | None
    ) -> list[tuple[int, float]]:
        """Chunks holding any of the query's ``terms`` (``keyword_terms``; among the documents
        ``allowed``, None for all), best first; ``refresh`` first."""
        configs = self.configs(where)
        idf = self.idf(conn, terms, configs)
        parts, args = [], []
        for term in terms:
            sql, term_args = match([term], configs)
            parts.append(f"%s * ts_rank('{RANK_WEIGHTS}', tsv, {sql}, {RANK_NORMALIZATION})")
            args += [idf[term], *term_args]
        # the candidates: chunks holding a term that is not in most chunks ("2022" in a shelf
        # of 2022 filings), when the query has one; common terms still add to the score
        common = math.log(1 + (1 - COMMON_SHARE) / COMMON_SHARE)
        selective = [t for t in terms if idf[t] >= common] or terms
        candidates, candidate_args = match(selective, configs)
        sql = f"SELECT id, {' + '.join(parts)} AS s FROM chunks WHERE tsv @@ {candidates}"
        args += candidate_args
        if allowed is not None:
            sql += " AND doc_id = ANY(%s)"
            args.append(allowed)
        rows = conn.execute(sql + " ORDER BY s DESC, id LIMIT %s", [*args, n]).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def term_counts(self, conn: Any, term: str, doc_ids: Sequence[int]) -> tuple[int, int]:
        """The chunks of ``doc_ids`` whose header or text holds ``term``, and all such chunks."""
        sql, args = match([term], self.configs(), "AB")
        row = conn.execute(
            f"SELECT COUNT(*), COUNT(*) FILTER (WHERE doc_id = ANY(%s)) FROM chunks WHERE tsv @@ {sql}",
            [[int(i) for i in doc_ids], *args],
        ).fetchone()
        return int(row[1]), int(row[0])
