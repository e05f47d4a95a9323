"""A static embedding model: one vector per token, averaged over the text. No transformer runs, so
a chunk is embedded about a hundred times faster than by MiniLM on a CPU, at a cost in recall
(docs/benchmarks.md, "A static embedder").

The shipped one is WordLlama's ``l2_supercat`` (MIT): a 256-dimension token table trained from
the input embeddings of several LLMs, whose weights and tokenizer ship inside the ``wordllama``
wheel. It is loaded from the wheel's own folder with downloads disabled, so it never reaches a
hub. Its vectors do not depend on the batch a text is embedded in (a masked mean), nor on the
CPU's instruction set beyond float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderError
from .base import normalize

WORDLLAMA = "wordllama-l2-supercat"
MODELS = {WORDLLAMA, "wordllama", "l2_supercat"}


def canonical(model: str) -> str:
    """The shipped static model's name for ``model``; the default model setting (a transformer's
    name, left as it was) means the shipped static model too."""
    from ..config import DEFAULT_EMBED_MODEL

    return WORDLLAMA if model in MODELS or model in ("", DEFAULT_EMBED_MODEL) else model


def check_model(model: str) -> Path:
    """The folder of the shipped static model's files; ``EmbedderError`` unless ``model`` names it
    and this install has them."""
    if canonical(model) != WORDLLAMA:
        raise EmbedderError(
            f"unknown static embedding model {model!r}; the shipped one is {WORDLLAMA!r} "
            '(embedder.model), or use embedder.backend = "onnx" for a transformer'
        )
    try:
        import wordllama
    except ImportError:
        raise EmbedderError(
            "the static embedder needs the wordllama package, whose wheels are for Linux x86-64 and "
            "Windows; there, reinstall industry-expert (make install), elsewhere use --embedder minilm"
        ) from None
    folder = Path(wordllama.__file__).parent
    if not (folder / "weights").is_dir() or not (folder / "tokenizers").is_dir():
        raise EmbedderError(f"the wordllama package at {folder} has no bundled weights; reinstall it")
    return folder


class StaticEmbedder:
    """Mean of WordLlama's token vectors, normalised."""

    def __init__(self, model: str = WORDLLAMA, batch_size: int = 256):
        folder = check_model(model)
        from wordllama import WordLlama

        try:  # its own loader looks for the tokenizer where the wheel does not put it, then downloads
            self._model: Any = WordLlama.load(cache_dir=folder, disable_download=True)
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise EmbedderError(f"could not load the static embedder {WORDLLAMA}: {exc}") from None
        self.batch_size = batch_size
        self._dim = int(self._model.embedding.shape[1])

    @property
    def name(self) -> str:
        return f"static/{WORDLLAMA}"

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return 512  # a mean has no window; this only bounds what the chunker asks of it

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        # a text with no token comes back as a zero vector, which normalize keeps
        return normalize(self._model.embed(list(texts), batch_size=self.batch_size))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        # the tokenizer pads a batch to its longest text: count only the real tokens
        encoded = self._model.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [int(sum(e.attention_mask)) for e in encoded]
