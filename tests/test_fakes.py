"""Each fake used in tests keeps the protocol it stands in for, checked the same way as the real
backends are: every member present, and every method taking the protocol's parameters (same
names, same order, a default wherever the protocol has one). A fake that drifts from its protocol
would let a test pass that the real thing fails.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeEmbedder, FakeGenerator
from test_build_dataset import QAGenerator
from test_store_retrieve import _Direction

from industry_expert.embed import Embedder
from industry_expert.embed.remote import HTTPEmbedder
from industry_expert.generate import Generator, LlamaCppGenerator, OpenAIChatGenerator
from industry_expert.generate.hf import TransformersGenerator
from industry_expert.store import SQLiteStore, Store


def protocol_problems(cls: type, protocol: type) -> list[str]:
    """What ``cls`` lacks or takes differently from ``protocol`` (empty when it conforms)."""
    problems = []
    members = [name for name in dir(protocol) if not name.startswith("_") and name not in ("register",)]
    instance_attrs = set(inspect.get_annotations(cls)) | set(getattr(cls, "__dict__", {}))
    for name in members:
        wanted = getattr(protocol, name)
        if isinstance(wanted, property):
            found = name in instance_attrs or hasattr(cls, name) or _assigned_in_init(cls, name)
            if not found:
                problems.append(f"{cls.__name__} has no attribute {name}")
            continue
        have = getattr(cls, name, None)
        if have is None or not callable(have):
            problems.append(f"{cls.__name__} has no method {name}")
            continue
        expected = [p for p in inspect.signature(wanted).parameters.values() if p.name != "self"]
        actual = [p for p in inspect.signature(have).parameters.values() if p.name != "self"]
        required = [
            p for p in actual if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        names = [p.name for p in actual]
        for i, p in enumerate(expected):
            if i >= len(actual) or names[i] != p.name:
                problems.append(
                    f"{cls.__name__}.{name} takes {names}, the protocol {[q.name for q in expected]}"
                )
                break
            if p.default is not p.empty and actual[i].default is actual[i].empty:
                problems.append(f"{cls.__name__}.{name}: {p.name} needs a default, as in the protocol")
        if len(required) > len(expected):
            problems.append(f"{cls.__name__}.{name} requires more than the protocol passes")
    return problems


def _assigned_in_init(cls: type, name: str) -> bool:
    try:
        source = inspect.getsource(cls.__init__)  # type: ignore[misc]
    except (OSError, TypeError):
        return False
    return f"self.{name} =" in source or f"self.{name}:" in source


@pytest.mark.parametrize(
    ("cls", "protocol"),
    [
        (FakeEmbedder, Embedder),
        (_Direction, Embedder),
        (FakeGenerator, Generator),
        (QAGenerator, Generator),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_each_fake_keeps_its_protocol(cls: type, protocol: type) -> None:
    assert protocol_problems(cls, protocol) == []


@pytest.mark.parametrize(
    ("cls", "protocol"),
    [
        (SQLiteStore, Store),
        (HTTPEmbedder, Embedder),
        (LlamaCppGenerator, Generator),
        (TransformersGenerator, Generator),
        (OpenAIChatGenerator, Generator),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_the_real_backends_pass_the_same_check(cls: type, protocol: type) -> None:
    assert protocol_problems(cls, protocol) == []


def test_the_check_finds_a_drifted_fake() -> None:
    class Drifted:
        name = "drifted"
        context_window = 100

        def stream(self, prompt: str) -> Any:  # the protocol passes messages, max_tokens, temperature
            yield prompt

    assert any("stream takes" in p for p in protocol_problems(Drifted, Generator))
    assert any("no method count_tokens" in p for p in protocol_problems(Drifted, Generator))


def test_fakes_work_where_the_real_parts_do(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    """The fakes plug into the real pipeline: a store, a retriever and an answer stream."""
    from industry_expert import Workspace

    ws = Workspace.init(tmp_path / "ws")
    ws.use_embedder(fake_embedder)
    ws.use_generator(FakeGenerator(["Capex was $38.4 million [1]."]))
    (tmp_path / "capex.md").write_text("Capital expenditure in fiscal 2023 was $38.4 million.\n")
    ws.ingest([tmp_path / "capex.md"])
    answer = ws.ask("What was capital expenditure in fiscal 2023?")
    assert answer.citations[0].source.endswith("capex.md") and "38.4" in answer.text
    ws.close()
