"""Embedding throughput: the shipped model under sentence-transformers and ONNX Runtime (fp32
and int8, exported locally from the same weights), on the same 2,000 chunk texts of the filings.

Also reports how close each ONNX variant's vectors are to sentence-transformers' (mean and
minimum cosine). Recall of each on the question set comes from benchmarks/retrieval.py.

``--static`` adds the shipped static embedder (WordLlama's token vectors, ``--embedder static``),
timed on the same texts; its vectors live in another space, so no cosine is shown for it.

``--multilingual`` adds the shipped multilingual-e5-small (ONNX int8, ``--embedder multilingual``),
12 layers to MiniLM's 6 and its own tokenizer; the token count of the table is MiniLM's.

``--sweep`` adds the shapes of the default (ONNX int8): batch sizes and intra-op threads, each
against the same sentence-transformers baseline of the run.

    python benchmarks/embedders.py --sweep
    python benchmarks/embedders.py --alternate    # batch 8, 16 and 32 in turn, three rounds
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from common import FILINGS, machine, require

from industry_expert.embed.local import SentenceTransformerEmbedder
from industry_expert.embed.onnx import OnnxEmbedder
from industry_expert.embed.static import StaticEmbedder
from industry_expert.ingest import chunk_document, load_document


def sample_texts(count_tokens, n: int = 2000) -> list[str]:  # type: ignore[no-untyped-def]
    texts: list[str] = []
    for path in sorted(FILINGS.glob("*.pdf")):
        doc = load_document(path, path.read_bytes())
        texts += [c.indexed_text for c in chunk_document(doc, count_tokens, 200, 32)]
    step = max(len(texts) // n, 1)
    return texts[::step][:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweep", action="store_true", help="ONNX int8 batch sizes and threads too")
    parser.add_argument("--alternate", action="store_true", help="ONNX int8 batch 8, 16, 32 in turn")
    parser.add_argument("--static", action="store_true", help="the static embedder (WordLlama) too")
    parser.add_argument("--multilingual", action="store_true", help="multilingual-e5-small (ONNX int8) too")
    args = parser.parse_args()
    require(FILINGS)
    if args.alternate:
        alternate()
        return
    reference = SentenceTransformerEmbedder()
    texts = sample_texts(reference.count_tokens)
    tokens = sum(reference.count_tokens(texts)) + 2 * len(texts)
    print(f"# {machine()}; {len(texts)} texts, {tokens} tokens")
    print("| backend | seconds | tokens/s | speed-up | cosine to ST (mean / min) |\n|---|---|---|---|---|")
    base_vectors = None
    base_seconds = 0.0
    for name, make in [
        ("sentence-transformers fp32", lambda: reference),
        ("onnx fp32", lambda: OnnxEmbedder("all-MiniLM-L6-v2", quantize=False)),
        ("onnx int8", lambda: OnnxEmbedder("all-MiniLM-L6-v2", quantize=True)),
    ] + [
        (f"onnx int8, batch {b}, {t} thread{'s' if t > 1 else ''}",
         lambda b=b, t=t: OnnxEmbedder("all-MiniLM-L6-v2", batch_size=b, threads=t))
        for b, t in ([(8, 2), (16, 2), (64, 2), (128, 2), (32, 1)] if args.sweep else [])
    ] + ([("static (WordLlama l2_supercat)", lambda: StaticEmbedder())] if args.static else []
    ) + ([("multilingual-e5-small, onnx int8", lambda: OnnxEmbedder("multilingual-e5-small", quantize=True))]
         if args.multilingual else []):  # fmt: skip
        embedder: Any = make()
        embedder.embed_batch(texts[:64])  # warm up
        t0 = time.perf_counter()
        vectors = embedder.embed_batch(texts)
        seconds = time.perf_counter() - t0
        if base_vectors is None:
            base_vectors, base_seconds = vectors, seconds
        if vectors.shape == base_vectors.shape and not name.startswith("multilingual"):
            cos = (vectors * base_vectors).sum(axis=1)
            close = f"{np.mean(cos):.4f} / {np.min(cos):.4f}"
        else:
            close = "another space"
        print(
            f"| {name} | {seconds:.2f} | {tokens / seconds:.0f} | {base_seconds / seconds:.2f}x | {close} |"
        )


def alternate(sizes: tuple[int, ...] = (8, 16, 32), rounds: int = 3) -> None:
    """Batch sizes in turn, so that the machine's drift hits each alike."""
    embedders = {b: OnnxEmbedder("all-MiniLM-L6-v2", batch_size=b) for b in sizes}
    texts = sample_texts(embedders[sizes[0]].count_tokens)
    for embedder in embedders.values():
        embedder.embed_batch(texts[:64])  # warm up
    seconds: dict[int, list[float]] = {b: [] for b in sizes}
    for _ in range(rounds):
        for b, embedder in embedders.items():
            t0 = time.perf_counter()
            embedder.embed_batch(texts)
            seconds[b].append(time.perf_counter() - t0)
    print(f"# {machine()}; {len(texts)} texts, ONNX int8, {rounds} rounds in turn")
    for b, s in seconds.items():
        print(f"batch {b:3}: " + " / ".join(f"{x:.1f}" for x in s) + f" s (mean {sum(s) / len(s):.2f})")


if __name__ == "__main__":
    main()
