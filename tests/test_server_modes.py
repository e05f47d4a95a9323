"""The models a server offers: rag and base, and two modes per adapter; names checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FakeGenerator

from industry_expert.config import GeneratorSettings
from industry_expert.errors import InputError, NotFoundError
from industry_expert.server.modes import Modes, parse_adapters


def test_adapters_are_named_by_flag_or_folder(tmp_path: Path) -> None:
    (tmp_path / "fin-lora").mkdir()
    (tmp_path / "ops.gguf").write_bytes(b"GGUF")
    assert parse_adapters([str(tmp_path / "fin-lora"), f"ops={tmp_path / 'ops.gguf'}"]) == {
        "fin-lora": str(tmp_path / "fin-lora"),
        "ops": str(tmp_path / "ops.gguf"),
    }
    with pytest.raises(InputError, match="does not exist"):
        parse_adapters([str(tmp_path / "missing")])
    with pytest.raises(InputError, match="two adapters are named 'fin-lora'"):
        parse_adapters([str(tmp_path / "fin-lora"), f"fin-lora={tmp_path / 'ops.gguf'}"])
    with pytest.raises(InputError, match="not valid"):
        parse_adapters([f"a/b={tmp_path / 'ops.gguf'}"])


def test_modes_and_their_generators() -> None:
    base, tuned = FakeGenerator(), FakeGenerator()
    modes = Modes(lambda: base, GeneratorSettings(), tuned={"fin": tuned})
    assert [m.id for m in modes.all()] == ["rag", "base", "rag+ft", "ft", "rag+ft:fin", "ft:fin"]
    assert modes.generator(modes.get("rag")) is base and modes.generator(modes.get("ft:fin")) is tuned
    assert modes.get("rag+ft").retrieval and not modes.get("ft").retrieval
    with pytest.raises(NotFoundError, match="offers rag, base"):
        modes.get("gpt-4")
    alone = Modes(lambda: base, GeneratorSettings())
    assert [m.id for m in alone.all()] == ["rag", "base"]
    with pytest.raises(NotFoundError, match="--adapter"):
        alone.get("ft")
