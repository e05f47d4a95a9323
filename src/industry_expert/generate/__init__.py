"""Generation over retrieved passages: generators behind one interface, prompts with numbered
sources, and citations checked against them.

Backends: llama.cpp (``llama.LlamaCppGenerator``, the shipped SmolLM2 or any GGUF), transformers
(``hf.TransformersGenerator``, a model folder with an optional LoRA adapter) and any
OpenAI-compatible chat API (``openai.OpenAIChatGenerator``: OpenAI, Azure, Ollama, vLLM).
``create_generator`` builds the one the settings name.
"""

from ..config import GeneratorSettings
from ..errors import GeneratorError
from .base import Generator, complete
from .citations import CitationFilter, resolve_citations
from .llama import LlamaCppGenerator
from .openai import OpenAIChatGenerator
from .prompt import Prompt, QuestionTooLongError, build_prompt


def create_generator(settings: GeneratorSettings) -> Generator:
    """The generator ``settings`` describe, loaded and ready (raises ``GeneratorError`` on failure)."""
    if settings.backend == "llama-cpp":
        return LlamaCppGenerator(
            settings.model, settings.context_window, settings.threads or None, settings.chat_template
        )
    if settings.backend == "transformers":
        from .hf import TransformersGenerator

        return TransformersGenerator(
            settings.model,
            settings.adapter,
            settings.context_window,
            threads=settings.threads,
            chat_template=settings.chat_template,
        )
    if settings.backend in ("openai", "azure"):
        if not settings.model or settings.model == GeneratorSettings.model:
            raise GeneratorError(
                f"the {settings.backend} backend needs the server's model name (--model or generator.model)"
            )
        return OpenAIChatGenerator(
            settings.model,
            settings.backend,
            settings.base_url,
            settings.api_key_env,
            settings.api_version,
            settings.context_window,
        )
    raise GeneratorError(f"unknown generator backend {settings.backend!r}")


__all__ = [
    "CitationFilter",
    "Generator",
    "GeneratorError",
    "LlamaCppGenerator",
    "OpenAIChatGenerator",
    "Prompt",
    "QuestionTooLongError",
    "build_prompt",
    "complete",
    "create_generator",
    "resolve_citations",
]
