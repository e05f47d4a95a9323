"""Generation over retrieved passages: generators behind one interface, prompts with numbered
sources, and citations checked against them.

Backends so far: llama.cpp (``llama.LlamaCppGenerator``, the shipped SmolLM2 or any GGUF) and any
OpenAI-compatible chat API (``openai.OpenAIChatGenerator``). The transformers backend and
``Workspace.ask`` are the rest of issue 3.
"""

from ..errors import GeneratorError
from .base import Generator, complete
from .citations import resolve_citations
from .llama import LlamaCppGenerator
from .openai import OpenAIChatGenerator
from .prompt import Prompt, QuestionTooLongError, build_prompt

__all__ = [
    "Generator",
    "GeneratorError",
    "LlamaCppGenerator",
    "OpenAIChatGenerator",
    "Prompt",
    "QuestionTooLongError",
    "build_prompt",
    "complete",
    "resolve_citations",
]
