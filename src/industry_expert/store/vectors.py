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


class VectorMatrix:
    """Every vector of a store with its chunk id and document id, for exact cosine search.

    Rows ``[0, size)`` of ``matrix`` are in use; a row whose id is -1 belongs to a chunk deleted or
    replaced since the load (``apply``), and is compacted away once a quarter of the rows are
    such. ``seq`` is the store's change-log position the matrix reflects (None: unknown).
    """

    def __init__(self) -> None:
        self.matrix: np.ndarray | None = None
        self.ids = np.zeros(0, dtype=np.int64)
        self.doc_ids = np.zeros(0, dtype=np.int64)
        self.size = 0
        self.dead = 0
        self.generation = -1
        self.seq: int | None = None

    def fresh(self, generation: int) -> bool:
        """Whether the matrix holds the store as of ``generation``."""
        return self.matrix is not None and generation == self.generation

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
        n = -1
        for n, (chunk_id, doc_id, blob) in enumerate(rows):
            ids[n], doc_ids[n] = chunk_id, doc_id
            if len(blob) == dim * 4:
                matrix[n] = np.frombuffer(blob, dtype=np.float32)
        self.matrix, self.ids, self.doc_ids = matrix, ids, doc_ids
        self.size, self.dead, self.generation, self.seq = n + 1, 0, generation, seq

    def apply(self, rows: Sequence[tuple[int, int, bytes]], deleted: Sequence[int], seq: int) -> bool:
        """Bring the matrix up to change-log position ``seq``: ``rows`` (chunk id, document id,
        float32 bytes) are added or replace the chunk's row; ``deleted`` chunk ids are gone.
        False, changing nothing, when a row's vector is not of the matrix's size (vectors of
        another embedder: the caller loads every row instead)."""
        assert self.matrix is not None
        dim = self.matrix.shape[1]
        if rows and self.size - self.dead == 0:  # nothing live: the matrix takes the new size
            dim = len(rows[0][2]) // 4
            self.matrix, self.size, self.dead = np.zeros((0, dim), dtype=np.float32), 0, 0
            self.ids, self.doc_ids = self.ids[:0], self.doc_ids[:0]
        if any(len(r[2]) != dim * 4 for r in rows):
            return False
        touched = np.array([int(r[0]) for r in rows] + [int(i) for i in deleted], dtype=np.int64)
        stale = np.flatnonzero(np.isin(self.ids[: self.size], touched))
        self.ids[stale] = -1
        self.dead += len(stale)
        need = self.size + len(rows)
        if need > len(self.matrix):
            grown = max(need, int(len(self.matrix) * 1.25) + 16)
            self.matrix = np.resize(self.matrix, (grown, dim))
            self.ids = np.resize(self.ids, grown)
            self.doc_ids = np.resize(self.doc_ids, grown)
        for offset, (chunk_id, doc_id, blob) in enumerate(rows):
            n = self.size + offset
            self.ids[n], self.doc_ids[n] = int(chunk_id), int(doc_id)
            self.matrix[n] = np.frombuffer(blob, dtype=np.float32)
        self.size = need
        self.seq = seq
        if self.dead > self.size // 4:
            keep = np.flatnonzero(self.ids[: self.size] >= 0)
            self.matrix, self.ids, self.doc_ids = self.matrix[keep], self.ids[keep], self.doc_ids[keep]
            self.size, self.dead = len(keep), 0
        return True

    def search(self, vector: np.ndarray, n: int, allowed_docs: np.ndarray | None) -> list[tuple[int, float]]:
        """Up to ``n`` ``(chunk id, cosine)`` best first, among ``allowed_docs`` when given."""
        if self.matrix is None or self.size - self.dead == 0:
            return []
        if self.matrix.shape[1] != len(vector):
            raise StoreError(
                f"the query vector has {len(vector)} dimensions but the stored ones {self.matrix.shape[1]}; "
                "run `expert reindex`"
            )
        scores = self.matrix[: self.size] @ np.asarray(vector, dtype=np.float32)
        ids, doc_ids = self.ids[: self.size], self.doc_ids[: self.size]
        if self.dead:
            scores[ids < 0] = -np.inf
        if allowed_docs is not None:
            scores = np.where(np.isin(doc_ids, allowed_docs), scores, -np.inf)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [(int(ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]
