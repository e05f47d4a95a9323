"""Generation over retrieved passages: prompts with numbered sources, and citations checked
against them. Generator backends (llama.cpp, transformers, OpenAI-compatible servers) follow in
issue 3; what is here is the backend-independent part.
"""

from .citations import resolve_citations
from .prompt import Prompt, QuestionTooLongError, build_prompt

__all__ = ["Prompt", "QuestionTooLongError", "build_prompt", "resolve_citations"]
