"""Model references resolved in one place, the generator registry, and the same adapter on both
runtimes (llama.cpp over GGUF, transformers over PEFT)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FakeGenerator
from tiny_models import (
    MEMO_ANSWER,
    MEMO_QUESTION,
    make_llama,
    make_smol_llama,
    memorise,
    write_dataset,
)

from industry_expert.config import GeneratorSettings, choices, load_settings
from industry_expert.errors import ConfigError, GeneratorError, ModelError, TrainError
from industry_expert.generate import Generator, create_generator, register_generator
from industry_expert.models import (
    base_and_tuned,
    generator_overrides,
    infer_backend,
    resolve_adapter,
    resolve_model,
    with_adapter_base,
)


def test_model_references(tmp_path: Path) -> None:
    shipped = resolve_model("smollm2")
    assert shipped.kind == "gguf" and shipped.path is not None and shipped.path.suffix == ".gguf"
    assert resolve_model("").path == shipped.path == resolve_model("SmolLM2-135M-Instruct").path
    folder = tmp_path / "phi3"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert resolve_model(str(folder)).kind == "folder"
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 16)
    assert resolve_model(str(gguf)).kind == "gguf"
    # a hub id is kept as such (transformers may fetch it where a network exists; nothing here does)
    hub = resolve_model("microsoft/Phi-3-mini-4k-instruct")
    assert hub.kind == "hub" and hub.path is None
    bad = tmp_path / "notes.txt"
    bad.write_text("x")
    cases = [
        (str(tmp_path / "missing.gguf"), "not found"),
        (str(bad), "not a GGUF file"),
        (str(tmp_path), "no config.json"),
    ]
    for ref, message in cases:
        with pytest.raises(ModelError, match=message):
            resolve_model(ref)
    # each caller gets its own error class, with the same message
    with pytest.raises(TrainError, match="not found"):
        resolve_model(str(tmp_path / "nope"), TrainError)


def test_adapter_references(tmp_path: Path) -> None:
    run = tmp_path / "run-fin"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "x"}))
    (run / "manifest.json").write_text(json.dumps({"config": {"base": "smollm2"}}))
    found = resolve_adapter(str(run))
    assert (found.peft, found.gguf, found.base, found.label) == (run / "adapter", None, "smollm2", "run-fin")
    (run / "export").mkdir()
    (run / "export" / "run-fin-lora-f16.gguf").write_bytes(b"GGUF")
    assert resolve_adapter(str(run)).gguf == run / "export" / "run-fin-lora-f16.gguf"
    peft = resolve_adapter(str(run / "adapter"))
    assert peft.base == "x" and peft.label == "run-fin" and peft.gguf is None
    file = resolve_adapter(str(run / "export" / "run-fin-lora-f16.gguf"))
    assert file.peft is None and file.gguf is not None
    with pytest.raises(ModelError, match="not found"):
        resolve_adapter(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no adapter_config.json"):
        resolve_adapter(str(tmp_path / "empty"))
    # an adapter runs over the base it was trained on unless another model is named
    settings = GeneratorSettings(backend="transformers", adapter=str(run))
    assert with_adapter_base(replace(settings, adapter=str(run / "adapter"))).model == "x"
    assert with_adapter_base(replace(settings, model="/other")).model == "/other"
    base, tuned = base_and_tuned(replace(settings, adapter=str(run / "adapter")))
    assert (base.model, base.adapter, tuned.model, tuned.backend) == ("x", "", "x", "transformers")
    with pytest.raises(ModelError, match="needs an adapter"):
        base_and_tuned(GeneratorSettings())


def test_the_backend_follows_from_what_the_user_named(tmp_path: Path) -> None:
    gguf_adapter = tmp_path / "a.gguf"
    gguf_adapter.write_bytes(b"GGUF")
    assert infer_backend(base_url="https://x.openai.azure.com/") == "azure"
    assert infer_backend(model="phi3", base_url="http://localhost:11434/v1") == "openai"
    assert infer_backend(adapter=str(tmp_path)) == "transformers"
    assert infer_backend(adapter=str(gguf_adapter)) == "llama-cpp"
    assert infer_backend(model=str(tmp_path)) == "transformers"
    assert infer_backend(model="phi3.gguf") == "llama-cpp"
    assert infer_backend() is None
    assert generator_overrides("transformers", model="m.gguf") == {
        "generator.model": "m.gguf",
        "generator.backend": "transformers",
    }
    assert generator_overrides() == {}


def test_a_registered_generator_is_a_setting_choice_and_is_built(tmp_path: Path) -> None:
    built: list[GeneratorSettings] = []

    def factory(settings: GeneratorSettings) -> Generator:
        built.append(settings)
        return FakeGenerator()

    with pytest.raises(ConfigError, match="generator.backend: expected one of"):
        load_settings(None, {"generator.backend": "scripted"})
    register_generator("scripted", factory)
    assert "scripted" in choices("generator.backend")
    settings = load_settings(None, {"generator.backend": "scripted", "generator.model": "m"})
    assert isinstance(create_generator(settings.generator), FakeGenerator)
    assert built[0].model == "m"
    with pytest.raises(ConfigError, match="unknown backend"):
        create_generator(GeneratorSettings(backend="nothing-registered"))  # type: ignore[arg-type]


def _trained_run(base: Path, tmp_path: Path) -> Path:
    from industry_expert.finetune.train import TrainConfig, train

    data = write_dataset(tmp_path / "train.jsonl")
    run = tmp_path / "run"
    train(
        TrainConfig(
            data=str(data), out=str(run), base=str(base), max_steps=2, max_length=128, learning_rate=5e-2
        )
    )
    return run


def test_base_and_tuned_on_transformers(tmp_path: Path) -> None:
    import torch

    from industry_expert.generate import create_base_and_tuned

    run = _trained_run(make_llama(tmp_path / "base"), tmp_path)
    base, tuned = create_base_and_tuned(GeneratorSettings(backend="transformers", adapter=str(run)))
    assert base.name == "transformers/base" and tuned.name == "transformers/base+run"
    ids = base.tokenizer("What was capex?", return_tensors="pt")  # type: ignore[attr-defined]
    with torch.no_grad():
        assert not torch.allclose(base.model(**ids).logits, tuned.model(**ids).logits)  # type: ignore[attr-defined]


@pytest.mark.long
@pytest.mark.slow
def test_the_same_adapter_answers_the_same_on_llama_cpp_and_transformers(tmp_path: Path) -> None:
    """A run that learned one answer by heart: over the GGUF base, llama.cpp with the run's PEFT
    adapter (converted once, cached) writes the answer, as transformers with the PEFT adapter does
    and as the exported GGUF adapter does; the base alone writes something else on each runtime."""
    from industry_expert.finetune.export import ExportError, converters_dir, export
    from industry_expert.generate import complete, create_base_and_tuned
    from industry_expert.models import run_converter

    try:
        converters_dir()
    except ExportError:
        pytest.skip("llama.cpp's converters are not installed (make install unpacks them)")
    base = make_smol_llama(tmp_path / "base", init=0.5)
    run = memorise(base, tmp_path / "run", steps=40)
    base_gguf = tmp_path / "base.gguf"
    run_converter("convert_hf_to_gguf.py", [str(base), "--outfile", str(base_gguf), "--outtype", "f32"])
    for backend, model in (("llama-cpp", str(base_gguf)), ("transformers", str(base))):
        settings = GeneratorSettings(backend=backend, model=model, adapter=str(run), context_window=512)  # type: ignore[arg-type]
        plain, tuned = create_base_and_tuned(settings)
        assert tuned.name == plain.name + "+run", backend
        assert complete(tuned, MEMO_QUESTION, max_tokens=24) == MEMO_ANSWER, backend
        assert complete(plain, MEMO_QUESTION, max_tokens=24) != MEMO_ANSWER, backend
    # the adapter exported as GGUF is the same adapter
    export(run, merged=False, gguf=True)
    lora = next((run / "export").glob("*-lora-*.gguf"))
    by_file = create_generator(GeneratorSettings(model=str(base_gguf), adapter=str(lora), context_window=512))
    assert complete(by_file, MEMO_QUESTION, max_tokens=24) == MEMO_ANSWER
    # an adapter trained on another base: one line saying so, not llama.cpp's crash
    with pytest.raises(GeneratorError, match="was the adapter trained on this model"):
        create_generator(GeneratorSettings(model="smollm2", adapter=str(lora), context_window=512))
    # llama.cpp cannot read a folder; the error says what to do
    with pytest.raises(GeneratorError, match="llama.cpp reads GGUF files"):
        create_generator(GeneratorSettings(model=str(base), adapter=str(run)))
