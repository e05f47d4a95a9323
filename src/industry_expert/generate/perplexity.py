"""How surprising a text is to a GGUF model: its perplexity, through llama.cpp.

A second llama.cpp context with ``logits_all`` is opened (the answering one keeps only the last
token's logits). Texts are cut into windows of ``window`` tokens, each scored from its start; the
result is exp(mean negative log-likelihood) over every predicted token, and how many there were.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GeneratorError
from .llama import _cores


@dataclass(frozen=True)
class Perplexity:
    value: float
    tokens: int


def gguf_perplexity(
    path: str | Path, texts: Sequence[str], window: int = 512, max_tokens: int = 8_192, threads: int = 0
) -> Perplexity:
    """Perplexity of the model at ``path`` on ``texts`` (up to ``max_tokens`` scored tokens)."""
    import numpy as np
    from llama_cpp import Llama

    try:
        llm: Any = Llama(
            model_path=str(path),
            n_ctx=window,
            n_batch=window,
            logits_all=True,
            n_threads=threads or min(_cores(), 8),
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise GeneratorError(f"cannot load {path} with llama.cpp to measure perplexity ({exc})") from None
    total, count = 0.0, 0
    try:
        for text in texts:
            tokens = llm.tokenize(text.encode("utf-8"), add_bos=False)
            for start in range(0, len(tokens), window - 1):
                if count >= max_tokens:
                    break
                piece = [llm.token_bos(), *tokens[start : start + window - 1]]
                if len(piece) < 3:
                    continue
                llm.reset()
                llm.eval(piece)
                logits = np.asarray(llm.scores[: len(piece)], dtype=np.float64)
                top = logits.max(axis=1)
                log_norm = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
                targets = np.asarray(piece[1:])
                nll = log_norm[:-1] - logits[np.arange(len(piece) - 1), targets]
                total += float(nll.sum())
                count += len(piece) - 1
    finally:
        llm.close()
    if not count:
        raise GeneratorError("no text to measure perplexity on")
    return Perplexity(math.exp(total / count), count)
