"""Generation over retrieved passages: generators behind one interface, prompts with numbered
sources, and citations checked against them.

Backends are registered by name, built-ins the same way as third-party ones::

    register_generator("my-server", lambda settings: MyGenerator(settings.model))

Built in: ``llama-cpp`` (``llama.LlamaCppGenerator``: the shipped SmolLM2 or any GGUF, with an
optional GGUF LoRA), ``transformers`` (``hf.TransformersGenerator``: a model folder or GGUF, with
an optional PEFT adapter) and ``openai``/``azure`` (``openai.OpenAIChatGenerator``: any
OpenAI-compatible chat API). ``create_generator`` builds the one the settings name; the local
backends run an adapter over the model it was trained on unless another is named (``models.model_for``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import GeneratorSettings, add_choice
from ..errors import ConfigError, GeneratorError
from ..models import base_and_tuned
from .base import Generator, complete
from .citations import CitationFilter, resolve_citations
from .llama import LlamaCppGenerator
from .openai import OpenAIChatGenerator
from .prompt import Prompt, QuestionTooLongError, build_prompt

GeneratorFactory = Callable[[GeneratorSettings], Generator]
_REGISTRY: dict[str, GeneratorFactory] = {}


def register_generator(backend: str, factory: GeneratorFactory) -> None:
    """Make ``generator.backend = BACKEND`` build ``factory(settings)``."""
    _REGISTRY[backend] = factory
    add_choice("generator.backend", backend)


def create_generator(settings: GeneratorSettings) -> Generator:
    """The generator ``settings`` describe, loaded and ready (raises ``GeneratorError`` on failure)."""
    factory = _REGISTRY.get(settings.backend)
    if factory is None:
        raise ConfigError(
            f"generator.backend: unknown backend {settings.backend!r} (known: {', '.join(sorted(_REGISTRY))})"
        )
    return factory(settings)


def create_base_and_tuned(settings: GeneratorSettings) -> tuple[Generator, Generator]:
    """The base model and the base model with ``settings.adapter``, on the same runtime, so that a
    comparison of the two measures the adapter and nothing else."""
    base, tuned = base_and_tuned(settings)
    return create_generator(base), create_generator(tuned)


def _llama_cpp(s: GeneratorSettings) -> Generator:
    return LlamaCppGenerator(s.model, s.context_window, s.threads or None, s.chat_template, s.adapter)


def _transformers(s: GeneratorSettings) -> Generator:
    from .hf import TransformersGenerator

    return TransformersGenerator(
        s.model, s.adapter, s.context_window, threads=s.threads, chat_template=s.chat_template
    )


def _openai(s: GeneratorSettings) -> Generator:
    if not s.model or s.model == GeneratorSettings.model:
        raise GeneratorError(
            f"the {s.backend} backend needs the server's model name (--model or generator.model)"
        )
    return OpenAIChatGenerator(
        s.model, s.backend, s.base_url, s.api_key_env, s.api_version, s.context_window, timeout=s.timeout
    )


register_generator("llama-cpp", _llama_cpp)
register_generator("transformers", _transformers)
register_generator("openai", _openai)
register_generator("azure", _openai)

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
    "create_base_and_tuned",
    "create_generator",
    "register_generator",
    "resolve_citations",
]
