"""Embedding APIs: OpenAI (and any server speaking its wire format), Azure OpenAI, and Jina.

All three take ``{"input": [...], "model": ...}`` and answer ``{"data": [{"embedding": [...],
"index": i}]}``; Jina also takes a ``task`` that differs for passages and queries. URLs, keys and
retries are ``api.ApiClient``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..api import ApiClient
from ..errors import EmbedderError, UpstreamError
from .base import estimate_tokens, normalize


class HTTPEmbedder:
    """Embeds through an HTTP API in batches."""

    def __init__(
        self,
        backend: str,
        model: str,
        base_url: str = "",
        api_key_env: str = "",
        api_version: str = "2024-10-21",
        dimensions: int = 0,
        batch_size: int = 64,
        max_tokens: int = 8191,
        timeout: float = 60.0,
        retries: int = 3,
    ):
        self.api = ApiClient(backend, base_url, api_key_env, api_version, EmbedderError, timeout, retries)
        self.backend = backend
        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.name = f"{backend}/{model}" + (f"@{dimensions}" if dimensions else "")
        self._dim = dimensions

    @property
    def retries(self) -> int:
        return self.api.retries

    @retries.setter
    def retries(self, value: int) -> None:
        self.api.retries = value

    @property
    def dim(self) -> int:
        """The vector size: as configured, else asked of the API once."""
        if not self._dim:
            self._dim = len(self._request(["dimension probe"], "passage")[0])
        return self._dim

    def _request(self, texts: Sequence[str], kind: str) -> list[list[float]]:
        body: dict[str, Any] = {"input": list(texts), "model": self.model}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        if self.backend == "jina":
            body["task"] = "retrieval.query" if kind == "query" else "retrieval.passage"
        answer = self.api.post("embeddings", self.model, body)
        try:
            data = sorted(answer["data"], key=lambda d: d.get("index", 0))
            return [d["embedding"] for d in data]
        except (KeyError, TypeError, AttributeError):
            raise UpstreamError(
                f"{self.api.url('embeddings', self.model)} did not answer in the embeddings format"
            ) from None

    def _embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            rows.extend(self._request(texts[start : start + self.batch_size], kind))
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalize(np.array(rows, dtype=np.float32))

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "passage")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "query")

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return estimate_tokens(texts)
