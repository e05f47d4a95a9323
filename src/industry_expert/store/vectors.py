"""Exact dense search over every stored vector: one float32 matrix and a matrix product.

A backend that keeps vectors as rows (the SQLite store) fills a ``VectorMatrix`` from them and
searches it; the matrix is rebuilt only when the store's ``generation`` has moved (another
process or connection wrote since). At 100k x 384 a query takes milliseconds on two cores; this
is the one place a faster index (int8 codes, a graph) would replace.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import StoreError


class VectorMatrix:
    """Every vector of a store with its chunk id and document id, for exact cosine search."""

    def __init__(self) -> None:
        self.matrix: np.ndarray | None = None
        self.ids = np.zeros(0, dtype=np.int64)
        self.doc_ids = np.zeros(0, dtype=np.int64)
        self.generation = -1

    def fresh(self, generation: int) -> bool:
        """Whether the matrix holds the store as of ``generation``."""
        return self.matrix is not None and generation == self.generation

    def load(self, rows: Iterable[tuple[int, int, bytes]], count: int, dim: int, generation: int) -> None:
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
        self.matrix, self.ids, self.doc_ids, self.generation = matrix, ids, doc_ids, generation

    def search(self, vector: np.ndarray, n: int, allowed_docs: np.ndarray | None) -> list[tuple[int, float]]:
        """Up to ``n`` ``(chunk id, cosine)`` best first, among ``allowed_docs`` when given."""
        if self.matrix is None or self.matrix.size == 0:
            return []
        if self.matrix.shape[1] != len(vector):
            raise StoreError(
                f"the query vector has {len(vector)} dimensions but the stored ones {self.matrix.shape[1]}; "
                "run `expert reindex`"
            )
        scores = self.matrix @ np.asarray(vector, dtype=np.float32)
        if allowed_docs is not None:
            scores = np.where(np.isin(self.doc_ids, allowed_docs), scores, -np.inf)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [(int(self.ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]
