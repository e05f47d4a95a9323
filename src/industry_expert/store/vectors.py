"""Exact dense search over every stored vector: one float32 matrix and a matrix product.

A backend that keeps vectors as rows (the SQLite store) fills a ``VectorMatrix`` from them and
searches it. When the store's ``generation`` has moved (another process or connection wrote
since), the matrix catches up from the store's change log (``apply``: the chunks added, deleted
or re-embedded since) rather than loading every row again. At 100k x 384 a query takes
milliseconds on two cores; this is the one place a faster index (issue 16) would replace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import StoreError
from .change_log import ALL_VECTORS, VECTOR_ROWS, ChangeLog


class VectorMatrix:
    """Every vector of a store with its chunk id and document id, for exact cosine search.

    ``matrix`` holds the rows as loaded, ``extra`` the rows added since (``apply``), so that a
    small write never copies the large matrix; a loaded row whose id is -1 belongs to a chunk
    deleted or replaced since. Both are merged into one matrix when ``extra`` outgrows an eighth
    of it or a quarter of its rows are dead. ``seq`` is the store's change-log position the
    matrix reflects (None: unknown).
    """

    def __init__(self) -> None:
        self.matrix: np.ndarray | None = None
        self.ids = np.zeros(0, dtype=np.int64)
        self.doc_ids = np.zeros(0, dtype=np.int64)
        self.extra = np.zeros((0, 0), dtype=np.float32)
        self.extra_ids = np.zeros(0, dtype=np.int64)
        self.extra_doc_ids = np.zeros(0, dtype=np.int64)
        self.dead = 0
        self.generation = -1
        self.seq: int | None = None

    @property
    def live(self) -> int:
        """How many chunks the matrix answers for."""
        return len(self.ids) - self.dead + len(self.extra_ids)

    def fresh(self, generation: int) -> bool:
        """Whether the matrix holds the store as of ``generation``."""
        return self.matrix is not None and generation == self.generation

    # -- following the store (derived.DerivedIndex) ----------------------------------------------
    def follow(self, log: ChangeLog) -> bool:
        """Bring the matrix to the store's last write: the chunks the log names since its
        position, or every row again. Always True: the matrix can answer any store."""
        if self.fresh(log.generation()):
            return True
        with log.snapshot():  # one snapshot for the generation, the log and the rows
            generation = log.generation()
            seq = log.seq() if log.logged else None
            if seq is not None and self.seq is not None and self._catch_up(log, self.seq, seq):
                self.generation = generation
                return True
            self.load(log.all_rows(ALL_VECTORS), log.chunk_count(), log.vector_width(), generation, seq)
        return True

    def _catch_up(self, log: ChangeLog, since: int, seq: int) -> bool:
        """Apply the chunks the log names after ``since``; False (nothing applied) when the log no
        longer reaches back to ``since``, or when so much changed that loading every row is as
        cheap (a reindex)."""
        if seq == since:
            return True  # a write that changed no chunk (a summary, a setting)
        changed = log.changed_since(since, max(1000, len(self.ids) // 4))
        return changed is not None and self.apply(*log.rows_of(VECTOR_ROWS, changed), seq)

    def load(
        self,
        rows: Iterable[tuple[int, int, bytes]],
        count: int,
        dim: int,
        generation: int,
        seq: int | None = None,
    ) -> None:
        """Fill from ``count`` rows of ``(chunk id, document id, float32 bytes)``, one row at a time
        (no second copy of 1.5 GB at 1M chunks); a vector of the wrong size is left at zero, and
        the store's ``check`` reports it."""
        matrix = np.zeros((count, dim), dtype=np.float32)
        ids = np.zeros(count, dtype=np.int64)
        doc_ids = np.zeros(count, dtype=np.int64)
        for n, (chunk_id, doc_id, blob) in enumerate(rows):
            ids[n], doc_ids[n] = chunk_id, doc_id
            if len(blob) == dim * 4:
                matrix[n] = np.frombuffer(blob, dtype=np.float32)
        self.matrix, self.ids, self.doc_ids, self.dead = matrix, ids, doc_ids, 0
        self.extra = np.zeros((0, dim), dtype=np.float32)
        self.extra_ids, self.extra_doc_ids = ids[:0].copy(), ids[:0].copy()
        self.generation, self.seq = generation, seq

    def apply(self, rows: Sequence[tuple[int, int, bytes]], deleted: Sequence[int], seq: int) -> bool:
        """Bring the matrix up to change-log position ``seq``: ``rows`` (chunk id, document id,
        float32 bytes) are added or replace the chunk's row; ``deleted`` chunk ids are gone.
        False, changing nothing, when a row's vector is not of the matrix's size (vectors of
        another embedder: the caller loads every row instead)."""
        assert self.matrix is not None
        dim = self.matrix.shape[1]
        if rows and self.live == 0:  # nothing live: the matrix takes the new vectors' size
            self.load([], 0, len(rows[0][2]) // 4, self.generation, self.seq)
            dim = len(rows[0][2]) // 4
        if any(len(r[2]) != dim * 4 for r in rows):
            return False
        touched = np.array([int(r[0]) for r in rows] + [int(i) for i in deleted], dtype=np.int64)
        stale = np.flatnonzero(np.isin(self.ids, touched))
        self.ids[stale] = -1
        self.dead += len(stale)
        keep = ~np.isin(self.extra_ids, touched)
        added = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        self.extra = np.concatenate([self.extra[keep], added])
        self.extra_ids = np.concatenate([self.extra_ids[keep], [int(r[0]) for r in rows]]).astype(np.int64)
        self.extra_doc_ids = np.concatenate([self.extra_doc_ids[keep], [int(r[1]) for r in rows]]).astype(
            np.int64
        )
        self.seq = seq
        if len(self.extra_ids) > max(1024, len(self.ids) // 8) or self.dead > len(self.ids) // 4:
            live = np.flatnonzero(self.ids >= 0)
            self.matrix = np.concatenate([self.matrix[live], self.extra])
            self.ids = np.concatenate([self.ids[live], self.extra_ids])
            self.doc_ids = np.concatenate([self.doc_ids[live], self.extra_doc_ids])
            self.extra, self.dead = self.extra[:0], 0
            self.extra_ids, self.extra_doc_ids = self.extra_ids[:0], self.extra_doc_ids[:0]
        return True

    def search(self, vector: np.ndarray, n: int, allowed_docs: np.ndarray | None) -> list[tuple[int, float]]:
        """Up to ``n`` ``(chunk id, cosine)`` best first, among ``allowed_docs`` when given."""
        if self.matrix is None or self.live == 0:
            return []
        if self.matrix.shape[1] != len(vector):
            raise StoreError(
                f"the query vector has {len(vector)} dimensions but the stored ones {self.matrix.shape[1]}; "
                "run `expert reindex`"
            )
        query = np.asarray(vector, dtype=np.float32)
        found: list[tuple[int, float]] = []
        for matrix, ids, doc_ids in (
            (self.matrix, self.ids, self.doc_ids),
            (self.extra, self.extra_ids, self.extra_doc_ids),
        ):
            if not len(ids):
                continue
            scores = matrix @ query
            if matrix is self.matrix and self.dead:
                scores[ids < 0] = -np.inf
            if allowed_docs is not None:
                scores = np.where(np.isin(doc_ids, allowed_docs), scores, -np.inf)
            m = min(n, len(scores))
            top = np.argpartition(-scores, m - 1)[:m]
            found += [(int(ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]
        return sorted(found, key=lambda hit: -hit[1])[:n]
