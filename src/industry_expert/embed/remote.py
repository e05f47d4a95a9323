"""Embedding APIs: OpenAI (and any server speaking its wire format), Azure OpenAI, and Jina.

All three take ``{"input": [...], "model": ...}`` and answer ``{"data": [{"embedding": [...],
"index": i}]}``; they differ in URL, auth header and extras (Azure puts the deployment in the URL
and wants ``api-key``; Jina takes a ``task`` that differs for passages and queries). Keys come from
environment variables, never from files in the workspace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from ..errors import EmbedderError
from .base import estimate_tokens, normalize

DEFAULTS = {
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "azure": ("", "AZURE_OPENAI_API_KEY"),
    "jina": ("https://api.jina.ai/v1", "JINA_API_KEY"),
}
_RETRY_STATUS = {429, 500, 502, 503, 504}


class HTTPEmbedder:
    """Embeds through an HTTP API in batches, retrying rate limits and server errors."""

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
        if backend not in DEFAULTS:
            raise EmbedderError(f"unknown embedding API {backend!r}; use openai, azure or jina")
        default_url, default_key = DEFAULTS[backend]
        self.backend = backend
        self.model = model
        if backend == "azure":
            base_url = base_url or os.environ.get("AZURE_OPENAI_ENDPOINT", "")
        self.base_url = (base_url or default_url).rstrip("/")
        if not self.base_url:
            raise EmbedderError("azure embedder needs embedder.base_url or AZURE_OPENAI_ENDPOINT")
        self.key_env = api_key_env or default_key
        self.api_key = os.environ.get(self.key_env, "")
        self.api_version = api_version
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.retries = retries
        self.client = httpx.Client(timeout=timeout)
        self.name = f"{backend}/{model}" + (f"@{dimensions}" if dimensions else "")
        self._dim = dimensions

    @property
    def dim(self) -> int:
        """The vector size: as configured, else asked of the API once."""
        if not self._dim:
            self._dim = len(self._request(["dimension probe"], "passage")[0])
        return self._dim

    def _url(self) -> str:
        if self.backend == "azure":
            return (
                f"{self.base_url}/openai/deployments/{self.model}/embeddings?api-version={self.api_version}"
            )
        return f"{self.base_url}/embeddings"

    def _headers(self) -> dict[str, str]:
        if not self.api_key:
            return {}
        if self.backend == "azure":
            return {"api-key": self.api_key}
        return {"Authorization": f"Bearer {self.api_key}"}

    def _request(self, texts: Sequence[str], kind: str) -> list[list[float]]:
        body: dict[str, Any] = {"input": list(texts), "model": self.model}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        if self.backend == "jina":
            body["task"] = "retrieval.query" if kind == "query" else "retrieval.passage"
        for attempt in range(self.retries + 1):
            try:
                response = self.client.post(self._url(), json=body, headers=self._headers())
            except httpx.HTTPError as exc:
                if attempt < self.retries:
                    time.sleep(0.5 * 2**attempt)
                    continue
                raise EmbedderError(f"cannot reach {self._url()}: {exc}; check the URL and network") from None
            if response.status_code in _RETRY_STATUS and attempt < self.retries:
                time.sleep(0.5 * 2**attempt)
                continue
            if response.status_code in (401, 403):
                raise EmbedderError(
                    f"{self.backend} embeddings refused the key (HTTP {response.status_code}); set {self.key_env}"
                )
            if response.status_code >= 400:
                raise EmbedderError(
                    f"{self.backend} embeddings failed (HTTP {response.status_code}): {response.text[:200]}"
                )
            try:
                data = sorted(response.json()["data"], key=lambda d: d.get("index", 0))
                return [d["embedding"] for d in data]
            except (ValueError, KeyError, TypeError):
                raise EmbedderError(f"{self._url()} did not answer in the embeddings format") from None
        raise EmbedderError(f"{self.backend} embeddings kept failing after {self.retries} retries")

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
