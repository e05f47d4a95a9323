"""transformers: a local Hugging Face model folder, optionally with a PEFT LoRA adapter on top.

This is the backend for fine-tuned models before they are exported to GGUF: ``adapter`` names a
folder written by ``peft`` (``adapter_config.json`` + weights) or a run directory written by
``expert train`` (whose manifest names the base, so ``--adapter runs/x`` is enough), loaded over
the base model without merging. The model is a folder, a GGUF file that transformers
de-quantizes (the shipped SmolLM2 among them), or a hub id where a network exists; references are
resolved by ``models``, and nothing local is ever fetched (``local_files_only``).

The prompt is rendered from the tokenizer's own chat template (the same renderer the llama.cpp
backend uses), and generation stops at the template's end-of-turn tokens as well as EOS.

``generate`` runs in one worker thread kept for the generator's life while the caller reads the
streamer: on CUDA the first generation in any new thread runs at a third of the speed (measured
on an H100: 12 against 40 tokens/s for a Phi-3-mini-sized model, benchmarks/gpu.py), so a thread
per answer would pay that every time. One worker also serves one answer at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import GenerationError, GeneratorError
from ..extras import require
from ..models import hf_source, model_for, resolve_adapter, resolve_model
from .base import Messages
from .chat_template import ChatTemplateError, read_template, render, stop_strings


class TransformersGenerator:
    def __init__(
        self,
        model: str,
        adapter: str = "",
        context_window: int = 4096,
        device: str | None = None,
        threads: int = 0,
        chat_template: str = "",
    ):
        # a missing adapter or model is said first: installing the extra would not fix it
        found = resolve_adapter(adapter, GeneratorError) if adapter else None
        ref = resolve_model(model_for(model, found), GeneratorError)
        require("train", why="the transformers generator")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.on_failed_check = ref.on_failed_check  # the model's entry decides (models.py)
        self.languages = ref.languages
        if threads:
            torch.set_num_threads(threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            # a GGUF base loads from the de-quantized copy that training uses (made once, cached):
            # the weights the adapter was trained on, loaded in a second
            where, local = hf_source(ref)
            self.tokenizer: Any = AutoTokenizer.from_pretrained(where, local_files_only=local)
            dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
            self.model: Any = AutoModelForCausalLM.from_pretrained(where, local_files_only=local, dtype=dtype)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GeneratorError(f"cannot load the model {ref.ref}: {first}") from None
        name = f"transformers/{ref.name}"
        if found is not None:
            if found.peft is None:
                raise GeneratorError(
                    f"{found.ref} is a GGUF adapter, which llama.cpp reads; use --backend llama-cpp, or give "
                    "the run directory or PEFT folder to transformers"
                )
            self.model = self._with_adapter(found.peft, found.base)
            name += f"+{found.label}"
        self.model.to(self.device).eval()
        self.template = read_template(chat_template) or getattr(self.tokenizer, "chat_template", None) or ""
        if not isinstance(self.template, str) or not self.template:
            raise ChatTemplateError(
                f"{ref.name} has no chat template in its tokenizer, so it is not a chat (instruct) model"
            )
        self.eos = self.tokenizer.eos_token or ""
        self.stops = stop_strings(self.template, self.eos)
        vocab = self.tokenizer.get_vocab()
        self.stop_ids = sorted({vocab[s] for s in self.stops if s in vocab})
        limit = int(getattr(self.model.config, "max_position_embeddings", 0) or context_window)
        self.context_window = min(context_window, limit)
        self.name = name
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")

    def _with_adapter(self, adapter: Path, base: str) -> Any:
        if not (adapter / "adapter_config.json").is_file():
            raise GeneratorError(f"{adapter} has no adapter_config.json, so it is not an adapter folder")
        try:
            from peft import PeftModel
        except ImportError:
            raise GeneratorError("a LoRA adapter needs the package peft; pip install peft") from None
        try:
            return PeftModel.from_pretrained(self.model, str(adapter), local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise GeneratorError(
                f"the adapter in {adapter} does not fit this model (it was trained on {base or 'its base model'}): {first}"
            ) from None

    def prompt(self, messages: Messages) -> str:
        return render(self.template, messages, bos_token=self.tokenizer.bos_token or "", eos_token=self.eos)

    def stream(self, messages: Messages, max_tokens: int = 512, temperature: float = 0.0) -> Iterator[str]:
        import threading

        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = self.tokenizer(self.prompt(messages), return_tensors="pt", add_special_tokens=False)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        options: dict[str, Any] = {
            **inputs,
            "max_new_tokens": max_tokens,
            "streamer": streamer,
            "eos_token_id": self.stop_ids or None,
            "pad_token_id": self.tokenizer.pad_token_id or (self.stop_ids[0] if self.stop_ids else 0),
        }
        if temperature > 0:
            options.update(do_sample=True, temperature=temperature)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        cancelled = threading.Event()

        class Cancelled(StoppingCriteria):  # type: ignore[misc]
            """Stops generating once the reader has gone (closed the stream, Ctrl-C)."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancelled.is_set(), device=input_ids.device)

        options["stopping_criteria"] = StoppingCriteriaList([Cancelled()])

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**options)
            finally:
                streamer.end()  # wakes the reader also when generation failed

        done = self._worker.submit(run)
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:
            cancelled.set()
        try:
            done.result()
        except Exception as exc:
            raise GenerationError(f"generation failed in {self.name}: {exc}") from None

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
