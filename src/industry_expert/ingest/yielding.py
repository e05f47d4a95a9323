"""Ingest that gives the cores to answers: embedding pauses between batches while a server on the
same workspace is generating.

On a laptop or a small server, ingest and generation want the same cores, and llama.cpp's
threads spin while they wait for each other: an answer took 3 to 3.8 times as long beside a plain
`expert ingest` (docs/benchmarks.md, Serving), and 56 times beside two heavy jobs. Running the
ingest at a lower CPU priority (``nice``) fixes it too, but only when whoever starts the ingest
remembers to; so the two take turns by default: while an answer is being generated, ``expert
serve`` keeps the file ``WORKSPACE/.answering`` (holding its process id), and every ingest of that
workspace, the server's own jobs and ``expert ingest`` in another process alike, waits before its
next batch of chunks until the file is gone. A pause lasts at most ``max_wait`` seconds at a
time, so a server that never stops answering still lets an ingest advance by one batch per pause;
a file left by a server that died is ignored.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..embed import Embedder

FLAG = ".answering"


def answering_flag(workspace: Path) -> Path:
    return workspace / FLAG


class AnswerGate:
    """Raised (``hold``) and lowered (``release``) by a server; waited on by ingest."""

    def __init__(self, flag: Path, max_wait: float = 10.0, poll: float = 0.02):
        self.flag = flag
        self.max_wait = max_wait
        self.poll = poll
        self.waited = 0.0  # seconds spent waiting, for reports and benchmarks

    def hold(self) -> None:
        with contextlib.suppress(OSError):  # a read-only workspace: answers go on without it
            self.flag.write_text(str(os.getpid()), encoding="ascii")

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.flag.unlink(missing_ok=True)

    def raised(self) -> bool:
        try:
            pid = int(self.flag.read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            return False
        if pid == os.getpid():
            return False  # a server's own process never waits on itself
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False  # left by a server that is gone
        except PermissionError:
            pass  # another user's live process
        return True

    def wait(self) -> None:
        """Wait while an answer is being generated, at most ``max_wait`` seconds."""
        started = time.monotonic()
        while self.raised() and time.monotonic() - started < self.max_wait:
            time.sleep(self.poll)
        self.waited += time.monotonic() - started


class YieldingEmbedder:
    """``inner`` whose ``embed_batch`` waits at ``gate`` before each batch: inside the embedder,
    between its own batches, where it takes ``before_batch`` (embed/onnx.py); else it embeds
    ``piece`` texts at a time (the shortest first) and waits before each piece.

    Pieces cost time: the ONNX embedder took 10% longer on the filings' chunks in pieces of 128
    than in one call, each piece padded to its longest text, as characters order texts only
    roughly by their tokens."""

    def __init__(self, inner: Embedder, gate: AnswerGate, piece: int = 128):
        self.inner = inner
        self.gate = gate
        self.piece = piece

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if getattr(self.inner, "paces_batches", False):
            return self.inner.embed_batch(texts, before_batch=self.gate.wait)  # type: ignore[call-arg]
        if len(texts) <= self.piece:
            self.gate.wait()
            return self.inner.embed_batch(texts)
        order = np.argsort([len(t) for t in texts], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(order), self.piece):
            index = order[start : start + self.piece]
            self.gate.wait()
            vectors = self.inner.embed_batch([texts[i] for i in index])
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[index] = vectors
        assert out is not None
        return out
