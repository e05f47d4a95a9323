"""Generation over retrieved passages: generators behind one interface, prompts with numbered
sources, and citations checked against them.

Backends so far: any OpenAI-compatible chat API (``openai.OpenAIChatGenerator``); local backends
render the model's own chat template with ``chat_template.render``. The llama.cpp (shipped
default) and transformers backends, and ``Workspace.ask``, are the rest of issue 3.
"""

from .base import Generator, complete
from .citations import resolve_citations
from .openai import GeneratorError, OpenAIChatGenerator
from .prompt import Prompt, QuestionTooLongError, build_prompt

__all__ = [
    "Generator",
    "GeneratorError",
    "OpenAIChatGenerator",
    "Prompt",
    "QuestionTooLongError",
    "build_prompt",
    "complete",
    "resolve_citations",
]
