"""The Embedder protocol: one required method, ``embed_batch``, and helpers on top.

Vectors come back as a float32 matrix with unit-length rows, so a dot product is the cosine
similarity. ``count_tokens`` lets the chunker size chunks in the embedder's own tokens; backends
without a local tokenizer estimate (four characters a token, as OpenAI's guide does).

A local backend whose ``embed_batch`` takes ``before_batch`` (a function called before each of its
own batches) says so with ``paces_batches = True``: ingest's pause for a server's answers then
waits there (ingest/yielding.py, embed/onnx.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors.

    ``name`` identifies the model and backend; the workspace records it with ``dim`` and refuses
    to mix vectors from two embedders.
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit length (rows of zeros stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def estimate_tokens(texts: Sequence[str]) -> list[int]:
    """About four characters a token: the usual estimate for English BPE vocabularies."""
    return [max(1, len(t) // 4) for t in texts]


def embed_query(embedder: Embedder, text: str) -> np.ndarray:
    """Embed one query, using a backend's query-specific mode where it has one."""
    query = getattr(embedder, "embed_queries", None)
    vectors = query([text]) if query is not None else embedder.embed_batch([text])
    return np.asarray(vectors[0], dtype=np.float32)
