"""Ingest yields the cores to answers: embedding waits between batches while a server on the same
workspace holds its answering flag."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from conftest import FakeEmbedder

from industry_expert.ingest.yielding import AnswerGate, YieldingEmbedder, answering_flag


def test_pieces_come_back_in_order_and_equal_to_one_call(tmp_path: Path) -> None:
    texts = [("word " * (i % 37 + 1)) + f"t{i}" for i in range(300)]
    inner = FakeEmbedder()
    wrapped = YieldingEmbedder(inner, AnswerGate(answering_flag(tmp_path)), piece=64)
    assert np.array_equal(wrapped.embed_batch(texts), FakeEmbedder().embed_batch(texts))
    assert inner.calls == [64, 64, 64, 64, 44] and wrapped.dim == inner.dim and wrapped.name == inner.name


def test_the_gate_holds_only_for_a_live_other_process(tmp_path: Path) -> None:
    flag = answering_flag(tmp_path)
    gate = AnswerGate(flag, max_wait=0.3)
    assert not gate.raised()
    gate.hold()  # this process's own flag never stops it
    assert flag.read_text() == str(os.getpid()) and not gate.raised()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        flag.write_text(str(other.pid))
        assert gate.raised()
        embedder = YieldingEmbedder(FakeEmbedder(), gate, piece=100)
        started = time.monotonic()
        embedder.embed_batch([f"text {i}" for i in range(250)])  # three pieces, each waits 0.3 s at most
        assert 0.85 < time.monotonic() - started < 5 and gate.waited >= 0.85
    finally:
        other.kill()
        other.wait()
    assert not gate.raised()  # the process that held it is gone
    gate.release()
    assert not flag.exists()


def test_an_embedder_with_its_own_batches_waits_between_them(tmp_path: Path) -> None:
    """An embedder that paces its own batches gets the whole call and the gate as that call's
    ``before_batch`` (its batches are sorted by tokens; pieces cut outside would pad more)."""

    class Batching(FakeEmbedder):
        paces_batches = True

        def __init__(self) -> None:
            super().__init__()
            self.hooks: list[object] = []

        def embed_batch(self, texts, before_batch=None):  # type: ignore[no-untyped-def]
            self.hooks.append(before_batch)
            for _ in range(0, len(texts), 32):
                before_batch()
            return super().embed_batch(texts)

    inner = Batching()
    gate = AnswerGate(answering_flag(tmp_path))
    waits: list[int] = []
    gate.wait = lambda: waits.append(1)  # type: ignore[method-assign]
    texts = [f"text {i}" for i in range(300)]
    assert np.array_equal(
        YieldingEmbedder(inner, gate, piece=64).embed_batch(texts), FakeEmbedder().embed_batch(texts)
    )
    assert inner.calls == [300] and len(waits) == 10 and inner.hooks == [gate.wait]
