"""The transformers backend on a tiny random Llama saved to disk, with and without a LoRA adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import make_llama

from industry_expert.config import GeneratorSettings
from industry_expert.errors import GeneratorError
from industry_expert.generate import complete, create_generator
from industry_expert.generate.hf import TransformersGenerator

MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What was capex?"}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_llama(tmp_path_factory.mktemp("tiny-llama"))


def test_streams_from_a_local_folder_with_its_own_template(tiny: Path) -> None:
    gen = create_generator(GeneratorSettings(backend="transformers", model=str(tiny), context_window=4096))
    assert isinstance(gen, TransformersGenerator)
    assert gen.context_window == 1024  # the model's own limit wins over the setting
    assert gen.prompt(MESSAGES).endswith("<|im_start|>assistant\n")
    assert "<|im_end|>" in gen.stops
    pieces = list(gen.stream(MESSAGES, max_tokens=8))
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert gen.count_tokens("capital expenditure") > 0


def test_a_lora_adapter_changes_the_output(tiny: Path, tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny)
    torch.manual_seed(1)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    )
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 1.0)
    peft_model.save_pretrained(tmp_path / "adapter")
    plain = TransformersGenerator(str(tiny))
    tuned = TransformersGenerator(str(tiny), adapter=str(tmp_path / "adapter"))
    assert tuned.name == f"transformers/{tiny.name}+{tmp_path.name}"
    ids = plain.tokenizer(plain.prompt(MESSAGES), return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        a = plain.model(**ids).logits
        b = tuned.model(**ids).logits
    assert not torch.allclose(a, b)
    assert isinstance(complete(tuned, MESSAGES, max_tokens=4), str)


def test_bad_folders_are_one_line_errors(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="not found"):
        TransformersGenerator(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeneratorError, match="no config.json"):
        TransformersGenerator(str(tmp_path / "empty"))
    with pytest.raises(GeneratorError, match="no adapter_config.json"):
        TransformersGenerator(str(tiny), adapter=str(tmp_path / "empty"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(GeneratorError, match="cannot load"):
        TransformersGenerator(str(broken))


def test_an_adapter_for_another_base_is_refused(tiny: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    other = make_llama(tmp_path / "other", hidden=48)
    adapter = get_peft_model(
        AutoModelForCausalLM.from_pretrained(other), LoraConfig(r=2, target_modules="all-linear")
    )
    adapter.save_pretrained(tmp_path / "adapter")
    with pytest.raises(GeneratorError, match="does not fit this model"):
        TransformersGenerator(str(tiny), adapter=str(tmp_path / "adapter"))


def test_a_model_without_a_chat_template_is_not_a_chat_model(tmp_path: Path) -> None:
    import json as _json

    from industry_expert.generate.chat_template import ChatTemplateError

    path = make_llama(tmp_path / "base")
    config = tmp_path / "base" / "tokenizer_config.json"
    data = _json.loads(config.read_text())
    data.pop("chat_template", None)
    config.write_text(_json.dumps(data))
    for extra in ("chat_template.jinja", "chat_template.json"):
        (path / extra).unlink(missing_ok=True)
    with pytest.raises(ChatTemplateError, match="not a chat"):
        TransformersGenerator(str(path))
    template = tmp_path / "chatml.jinja"
    template.write_text(
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    )
    assert TransformersGenerator(str(path), chat_template=str(template)).stops == ["<|im_end|>"]


def test_one_worker_thread_serves_every_answer_and_a_closed_stream_stops_it(tiny: Path) -> None:
    import threading

    gen = TransformersGenerator(str(tiny))
    seen: set[str] = set()
    written: list[int] = []
    original = gen.model.generate

    def generate(**options):  # type: ignore[no-untyped-def]
        seen.add(threading.current_thread().name)
        out = original(**options, min_new_tokens=options["max_new_tokens"])
        written.append(int(out.shape[1] - options["input_ids"].shape[1]))
        return out

    gen.model.generate = generate
    for _ in range(3):
        complete(gen, MESSAGES, max_tokens=2)
    assert len(seen) == 1 and next(iter(seen)).startswith("generate")
    assert written == [2, 2, 2]
    # a reader that goes away after the first piece does not leave 900 tokens to be written
    stream = gen.stream(MESSAGES, max_tokens=900)
    next(stream)
    stream.close()
    complete(gen, MESSAGES, max_tokens=2)  # runs after the cancelled one, on the same worker
    assert written[3] < 100 and written[4] == 2
