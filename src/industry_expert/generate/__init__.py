"""Generation over retrieved passages: generators behind one interface, prompts with numbered
sources, and citations checked against them.

Backends are registered by name, built-ins the same way as third-party ones::

    register_generator("my-server", lambda settings: MyGenerator(settings.model))

or by an installed package's entry point in the group ``industry_expert.generators``
(``registry.GENERATORS``).

Built in: ``llama-cpp`` (``llama.LlamaCppGenerator``: the shipped SmolLM2 or any GGUF, with an
optional GGUF LoRA), ``transformers`` (``hf.TransformersGenerator``: a model folder or GGUF, with
an optional PEFT adapter) and ``openai``/``azure`` (``openai.OpenAIChatGenerator``: any
OpenAI-compatible chat API). ``create_generator`` builds the one the settings name; the local
backends run an adapter over the model it was trained on unless another is named (``models.model_for``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import GeneratorSettings
from ..errors import GeneratorError
from ..models import base_and_tuned, check_model
from ..registry import GENERATORS
from .base import Generator, complete
from .citations import CitationFilter, resolve_citations
from .llama import LlamaCppGenerator
from .openai import OpenAIChatGenerator
from .prompt import Prompt, QuestionTooLongError, build_prompt

GeneratorFactory = Callable[[GeneratorSettings], Generator]
GeneratorCheck = Callable[[GeneratorSettings], None]


def register_generator(backend: str, factory: GeneratorFactory, check: GeneratorCheck | None = None) -> None:
    """Make ``generator.backend = BACKEND`` build ``factory(settings)``; ``check(settings)``, if
    given, raises at once (without loading anything) when the settings cannot work."""
    GENERATORS.register(backend, factory, check)


def check_generator(settings: GeneratorSettings) -> None:
    """Raise now, in one line, if ``settings`` name a backend or a model that is not there; loads
    and downloads nothing (a hub file is fetched on first use)."""
    GENERATORS.check_name(settings.backend, settings)


def create_generator(settings: GeneratorSettings) -> Generator:
    """The generator ``settings`` describe, loaded and ready (raises ``GeneratorError`` on failure)."""
    return GENERATORS.get_factory(settings.backend)(settings)  # type: ignore[no-any-return]


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
    _server_model(s)
    return OpenAIChatGenerator(
        s.model, s.backend, s.base_url, s.api_key_env, s.api_version, s.context_window, timeout=s.timeout
    )


def _local_model(s: GeneratorSettings) -> None:
    check_model(s.model, GeneratorError)


def _server_model(s: GeneratorSettings) -> None:
    if not s.model or s.model == GeneratorSettings.model:
        raise GeneratorError(
            f"the {s.backend} backend needs the server's model name (--model or generator.model)"
        )


register_generator("llama-cpp", _llama_cpp, _local_model)
register_generator("transformers", _transformers, _local_model)
register_generator("openai", _openai, _server_model)
register_generator("azure", _openai, _server_model)

__all__ = [
    "CitationFilter",
    "Generator",
    "GeneratorError",
    "LlamaCppGenerator",
    "OpenAIChatGenerator",
    "Prompt",
    "QuestionTooLongError",
    "build_prompt",
    "check_generator",
    "complete",
    "create_base_and_tuned",
    "create_generator",
    "register_generator",
    "resolve_citations",
]
