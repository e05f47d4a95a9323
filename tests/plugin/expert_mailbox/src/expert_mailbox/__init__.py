"""A plugin for industry-expert: ``.eml`` files and an embedder that counts letters.

Only the package's public interfaces are used: a loader returns ``(title, blocks)``; an embedder
factory takes the embedder settings and returns an object with ``name``, ``dim``, ``max_tokens``,
``embed_batch`` and ``count_tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import numpy as np

from industry_expert.types import Block


def load_eml(path: Path, data: bytes) -> tuple[str, list[Block]]:
    message = message_from_bytes(data, policy=default)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return str(message["subject"] or path.stem), [Block(text=text.strip())]


class LetterEmbedder:
    """26 letter counts, scaled to unit length: crude, but a real vector per text."""

    def __init__(self, model: str) -> None:
        self.name = f"letters/{model}"
        self.dim = 26
        self.max_tokens = 512

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text.lower():
                if "a" <= char <= "z":
                    vectors[row, ord(char) - ord("a")] += 1
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1
        return vectors / norms

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [max(1, len(t.split())) for t in texts]


def letters(settings: Any) -> LetterEmbedder:
    return LetterEmbedder(settings.model)
