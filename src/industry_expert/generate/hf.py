"""transformers: a local Hugging Face model folder, optionally with a PEFT LoRA adapter on top.

This is the backend for fine-tuned models before they are exported to GGUF: ``adapter`` names a
folder written by ``peft`` (``adapter_config.json`` + weights) or a run directory written by
``expert train`` (whose manifest names the base, so ``--adapter runs/x`` is enough), loaded over
the base model without merging. The model is a folder, or a GGUF file that transformers
de-quantizes (the shipped SmolLM2 among them). Nothing is downloaded: ``local_files_only`` is
always set.

The prompt is rendered from the tokenizer's own chat template (the same renderer the llama.cpp
backend uses), and generation stops at the template's end-of-turn tokens as well as EOS.

``generate`` runs in one worker thread kept for the generator's life while the caller reads the
streamer: on CUDA the first generation in any new thread runs at a third of the speed (measured
on an H100: 12 against 40 tokens/s for a Phi-3-mini-sized model, benchmarks/gpu.py), so a thread
per answer would pay that every time. One worker also serves one answer at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import GenerationError, GeneratorError
from .base import Messages
from .chat_template import ChatTemplateError, read_template, render, stop_strings


def resolve_adapter(adapter: str) -> tuple[Path, str]:
    """The adapter folder and its base model for ``adapter``: a run directory written by
    ``expert train`` (its ``adapter/`` and the base in ``manifest.json``) or an adapter folder."""
    path = Path(adapter).expanduser()
    manifest = path / "manifest.json"
    if manifest.is_file():
        try:
            base = json.loads(manifest.read_text(encoding="utf-8"))["config"]["base"]
        except (OSError, ValueError, KeyError) as exc:
            raise GeneratorError(f"{manifest} is not a readable run manifest ({exc})") from None
        return path / "adapter", str(base)
    try:
        config = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
        return path, str(config.get("base_model_name_or_path") or "")
    except (OSError, ValueError):
        return path, ""


def _check_folder(path: Path, what: str, marker: str) -> None:
    if not path.is_dir():
        raise GeneratorError(f"{what} folder {path} not found; pass a local folder (nothing is downloaded)")
    if not (path / marker).is_file():
        raise GeneratorError(f"{path} has no {marker}, so it is not a {what} folder saved by save_pretrained")


def _locate(model: str) -> tuple[str, str | None]:
    """``(folder, gguf file name or None)``: a model folder, a GGUF file (de-quantized by
    transformers), or the shipped SmolLM2 GGUF."""
    if model in ("", "smollm2", "SmolLM2-135M-Instruct"):
        from .llama import resolve_gguf

        shipped = resolve_gguf("smollm2")
        return str(shipped.parent), shipped.name
    path = Path(model).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return str(path.parent), path.name
    _check_folder(path, "model", "config.json")
    return str(path), None


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
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if adapter:
            adapter_dir, adapter_base = resolve_adapter(adapter)
            adapter = str(adapter_dir)
            model = model if model and model != "smollm2" else (adapter_base or model)
        where, gguf = _locate(model)
        path = Path(where) / gguf if gguf else Path(where)
        if threads:
            torch.set_num_threads(threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            if gguf:
                # The de-quantized copy that training uses (made once, cached): the weights the
                # adapter was trained on, loaded in a second instead of de-quantized each time.
                from ..finetune.train import dequantized_folder

                where = str(dequantized_folder(path))
            self.tokenizer: Any = AutoTokenizer.from_pretrained(where, local_files_only=True)
            dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
            self.model: Any = AutoModelForCausalLM.from_pretrained(where, local_files_only=True, dtype=dtype)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GeneratorError(f"cannot load the model in {path}: {first}") from None
        name = f"transformers/{path.name}"
        if adapter:
            self.model = self._with_adapter(Path(adapter))
            label = Path(adapter).parent.name if Path(adapter).name == "adapter" else Path(adapter).name
            name += f"+{label}"
        self.model.to(self.device).eval()
        self.template = read_template(chat_template) or getattr(self.tokenizer, "chat_template", None) or ""
        if not isinstance(self.template, str) or not self.template:
            raise ChatTemplateError(
                f"{path.name} has no chat template in its tokenizer, so it is not a chat (instruct) model"
            )
        self.eos = self.tokenizer.eos_token or ""
        self.stops = stop_strings(self.template, self.eos)
        vocab = self.tokenizer.get_vocab()
        self.stop_ids = sorted({vocab[s] for s in self.stops if s in vocab})
        limit = int(getattr(self.model.config, "max_position_embeddings", 0) or context_window)
        self.context_window = min(context_window, limit)
        self.name = name
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")

    def _with_adapter(self, adapter: Path) -> Any:
        _check_folder(adapter, "adapter", "adapter_config.json")
        try:
            from peft import PeftModel
        except ImportError:
            raise GeneratorError("a LoRA adapter needs the package peft; pip install peft") from None
        try:
            config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GeneratorError(f"{adapter}/adapter_config.json is not readable JSON ({exc})") from None
        try:
            return PeftModel.from_pretrained(self.model, str(adapter), local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            base = config.get("base_model_name_or_path") or "its base model"
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise GeneratorError(
                f"the adapter in {adapter} does not fit this model (it was trained on {base}): {first}"
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
