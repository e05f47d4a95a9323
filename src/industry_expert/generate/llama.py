"""llama.cpp through llama-cpp-python: the shipped SmolLM2-135M-Instruct, or any GGUF file,
with an optional LoRA adapter (a GGUF LoRA, or a run's PEFT adapter converted once, see ``models``).

The prompt is rendered from the chat template in the GGUF file itself (``chat_template``), with
its end-of-turn marker as a stop string, so Phi-3, Llama 3, Qwen and SmolLM2 each get their own
format. The BOS token is left to llama.cpp, which adds it when it tokenizes the prompt.

llama-cpp-python is built from source at install time. It is built with ``GGML_NATIVE=OFF``
(see the Makefile): the native build for this project's Xeon (with AMX) crashes in
``llama_decode`` on any prompt longer than a few tokens.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..errors import GeneratorError
from ..models import gguf_adapter, gguf_file, model_for, resolve_adapter, resolve_model
from .base import Messages
from .chat_template import ChatTemplateError, read_template, render, stop_strings


def _cores() -> int:
    """Cores this process may use (a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class LlamaCppGenerator:
    def __init__(
        self,
        model: str = "smollm2",
        context_window: int = 4096,
        threads: int | None = None,
        chat_template: str = "",
        adapter: str = "",
    ):
        found = resolve_adapter(adapter, GeneratorError) if adapter else None
        ref = resolve_model(model_for(model, found), GeneratorError)
        self.on_failed_check = ref.on_failed_check  # the model's entry decides (models.py)
        self.languages = ref.languages
        path = gguf_file(ref, GeneratorError)
        lora, label = None, ""
        if found is not None:
            lora, label = gguf_adapter(found, ref, GeneratorError), f"+{found.label}"
        from llama_cpp import Llama

        # The prompt's threads too: llama-cpp-python would take os.cpu_count(), the host's count in
        # a container limited by quota, and many more spinning threads than cores slow prefill.
        n = threads or min(_cores(), 8)
        try:
            self.llm: Any = Llama(
                model_path=str(path),
                n_ctx=context_window,
                n_threads=n,
                n_threads_batch=n,
                lora_path=str(lora) if lora else None,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise GeneratorError(
                f"cannot load {path}{f' with the adapter {lora}' if lora else ''} with llama.cpp ({exc}); "
                "is the file complete, and was the adapter trained on this model?"
            ) from None
        self.template = read_template(chat_template) or self.llm.metadata.get("tokenizer.chat_template", "")
        if not self.template:
            raise ChatTemplateError(
                f"{path.name} has no chat template, so it is not a chat (instruct) model; use an instruct "
                "GGUF, or name a Jinja template file in generator.chat_template"
            )
        self.eos = self.llm.detokenize([self.llm.token_eos()], special=True).decode("utf-8", "replace")
        self.stops = stop_strings(self.template, self.eos)
        self.context_window = int(self.llm.n_ctx())
        self.name = f"llama.cpp/{path.name}{label}"

    def prompt(self, messages: Messages) -> str:
        return render(self.template, messages, bos_token="", eos_token=self.eos)

    def stream(self, messages: Messages, max_tokens: int = 512, temperature: float = 0.0) -> Iterator[str]:
        # llama-cpp-python keeps the last prompt's KV cache and decodes only what follows the shared
        # prefix. The rest is then decoded in other batch shapes, whose rounding differs, so a greedy
        # answer depended on the question asked before it. Each answer starts from an empty cache.
        self.llm.reset()
        chunks = self.llm.create_completion(
            self.prompt(messages),
            max_tokens=max_tokens,
            temperature=temperature,
            stop=self.stops,
            stream=True,
        )
        for chunk in chunks:
            text = chunk["choices"][0]["text"]
            if text:
                yield text

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))
