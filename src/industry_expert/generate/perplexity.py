"""How surprising a text is to a GGUF model: its perplexity, through transformers.

llama.cpp's server, which answers questions here, returns log-probabilities for the tokens it
writes but not for a prompt's own tokens, so the GGUF file is read by transformers instead: its
weights de-quantized once into a cached folder (``models.dequantized_folder``, the same copy that
training starts from). The figure is the base model's at full precision, a little lower than the
quantized file's; ``advise`` compares two perplexities of the same model, which that does not move.
It needs the ``train`` extra (torch, transformers, gguf).

Texts are cut into windows of ``window`` tokens, each scored from its start after a BOS token;
the result is exp(mean negative log-likelihood) over every predicted token, and how many there were.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GeneratorError
from ..extras import require


@dataclass(frozen=True)
class Perplexity:
    value: float
    tokens: int


def gguf_perplexity(
    path: str | Path, texts: Sequence[str], window: int = 512, max_tokens: int = 8_192, threads: int = 0
) -> Perplexity:
    """Perplexity of the model at ``path`` on ``texts`` (up to ``max_tokens`` scored tokens)."""
    return gguf_perplexities(path, [texts], window, max_tokens, threads)[0]


def gguf_perplexities(
    path: str | Path,
    text_sets: Sequence[Sequence[str]],
    window: int = 512,
    max_tokens: int = 8_192,
    threads: int = 0,
) -> list[Perplexity]:
    """``gguf_perplexity`` on each of ``text_sets``, with the model loaded once."""
    require("train", why="measuring a model's perplexity")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..models import dequantized_folder

    try:
        folder = dequantized_folder(Path(path))
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    except (ValueError, RuntimeError, OSError, KeyError) as exc:
        raise GeneratorError(f"cannot read {path} with transformers to measure perplexity ({exc})") from None
    if threads:
        torch.set_num_threads(threads)
    return [_perplexity(model, tokenizer, texts, window, max_tokens) for texts in text_sets]


def _perplexity(model: Any, tokenizer: Any, texts: Sequence[str], window: int, max_tokens: int) -> Perplexity:
    import torch

    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    total, count = 0.0, 0
    with torch.inference_mode():
        for text in texts:
            tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
            for start in range(0, len(tokens), window - len(bos)):
                if count >= max_tokens:
                    break
                piece = [*bos, *tokens[start : start + window - len(bos)]]
                if len(piece) < 3:
                    continue
                ids = torch.tensor([piece])
                logits = model(input_ids=ids).logits[0, :-1].float()
                nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum")
                total += float(nll)
                count += len(piece) - 1
    if not count:
        raise GeneratorError("no text to measure perplexity on")
    return Perplexity(math.exp(total / count), count)
