"""The llama.cpp generator with the shipped SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

from pathlib import Path

import pytest

from industry_expert.errors import ChatTemplateError, GeneratorError
from industry_expert.generate import Generator, LlamaCppGenerator, build_prompt, complete
from industry_expert.generate.gguf_header import read_string
from industry_expert.models import shipped_gguf
from industry_expert.types import Hit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gen() -> LlamaCppGenerator:
    return LlamaCppGenerator(context_window=2048)


def test_shipped_model_answers_with_its_own_template(gen: LlamaCppGenerator) -> None:
    assert isinstance(gen, Generator)
    assert gen.name == "llama.cpp/SmolLM2-135M-Instruct.Q4_1.gguf" and gen.context_window == 2048
    assert gen.stops[0] == "<|im_end|>"
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
    assert (
        gen.prompt(messages)
        == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n"
    )
    pieces = list(gen.stream(messages, max_tokens=16))
    assert pieces and "<|im_end|>" not in "".join(pieces)


@pytest.mark.long
def test_rag_prompt_fits_the_model_window(gen: LlamaCppGenerator) -> None:
    hits = [
        Hit(i, f"doc{i}.pdf", i, None, 1.0, "Capital expenditure was $38.4 million. " * 40)
        for i in range(1, 30)
    ]
    prompt = build_prompt(
        "What was capital expenditure?", hits, gen.count_tokens, gen.context_window, reserve=64
    )
    assert 0 < len(prompt.sources) < 29 and prompt.tokens <= gen.context_window - 64
    assert gen.count_tokens(gen.prompt(prompt.messages)) <= gen.context_window - 64 + 16
    assert complete(gen, prompt.messages, max_tokens=8)


def test_an_answer_does_not_depend_on_the_question_before_it(gen: LlamaCppGenerator) -> None:
    """The same prompt gets the same greedy answer after another prompt with a shared prefix."""
    system = {"role": "system", "content": "Answer from the passage. " * 20}

    def ask(question: str) -> str:
        return complete(gen, [system, {"role": "user", "content": question}], max_tokens=24)

    capex = "Passage: capital expenditure was $38.4 million in fiscal 2023.\nWhat was capital expenditure?"
    first = ask(capex)
    ask("Passage: error E17 means debris in the intake.\nWhat does error E17 mean?")
    assert ask(capex) == first


def test_a_reader_that_stops_early_leaves_the_model_ready(gen: LlamaCppGenerator) -> None:
    messages = [{"role": "user", "content": "Tell me a long story about a ship."}]
    whole = complete(gen, messages, max_tokens=32)
    stream = gen.stream(messages, max_tokens=400)
    first = next(stream)
    stream.close()  # a client that went away: the request ends, the next one runs at once
    assert whole.startswith(first) and complete(gen, messages, max_tokens=32) == whole


def test_tokens_are_counted_with_the_model_tokenizer(gen: LlamaCppGenerator) -> None:
    assert gen.count_tokens("") == 0
    assert gen.count_tokens("<|im_end|>") == 1  # special tokens are read as such
    assert gen.count_tokens("Capital expenditure was $38.4 million.") < len(
        "Capital expenditure was $38.4 million."
    )
    with pytest.raises(GeneratorError, match="could not answer"):  # longer than the window
        complete(gen, [{"role": "user", "content": "word " * 3000}], max_tokens=4)


def test_bad_model_files_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="not found"):
        LlamaCppGenerator(str(tmp_path / "missing.gguf"))
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(GeneratorError, match="not a GGUF file"):
        LlamaCppGenerator(str(text))
    shipped = shipped_gguf().read_bytes()
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(shipped[:1_000_000])
    with pytest.raises(GeneratorError, match="cannot load"):
        LlamaCppGenerator(str(truncated))
    header = tmp_path / "header-only.gguf"
    header.write_bytes(shipped[:200])
    with pytest.raises(GeneratorError, match="truncated"):
        LlamaCppGenerator(str(header))


def test_a_model_without_a_chat_template_is_named_as_such(tmp_path: Path) -> None:
    """llama.cpp's server would chat in ChatML with any model; the file's own header decides."""
    shipped = shipped_gguf().read_bytes()
    renamed = tmp_path / "base-model.gguf"  # the same file with its template under another key
    renamed.write_bytes(shipped.replace(b"tokenizer.chat_template", b"tokenizer.chat_templatX", 1))
    assert read_string(renamed, "tokenizer.chat_template") is None
    assert read_string(shipped_gguf(), "general.architecture") == "llama"
    with pytest.raises(ChatTemplateError, match="not a chat"):
        LlamaCppGenerator(str(renamed))
    template = tmp_path / "chatml.jinja"
    template.write_text(
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    )
    assert LlamaCppGenerator(
        str(renamed), chat_template=str(template), context_window=512
    ).template.startswith("{% for m")
