"""Any OpenAI-compatible chat API: OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp's server.

Answers stream as server-sent events (``choices[0].delta.content``). The server applies the
model's chat template, so messages go as they are. Token counts are estimated (four characters a
token) since the server's tokenizer is not available locally; the context window is a setting.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..api import ApiClient
from ..errors import GeneratorError, UpstreamError
from .base import Messages


class OpenAIChatGenerator:
    def __init__(
        self,
        model: str,
        backend: str = "openai",
        base_url: str = "",
        api_key_env: str = "",
        api_version: str = "2024-10-21",
        context_window: int = 4096,
        timeout: float = 120.0,
        retries: int = 2,
    ):
        self.api = ApiClient(backend, base_url, api_key_env, api_version, GeneratorError, timeout, retries)
        self.model = model
        self.name = f"{backend}/{model}"
        self.context_window = context_window

    def stream(self, messages: Messages, max_tokens: int = 512, temperature: float = 0.0) -> Iterator[str]:
        body = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        for event in self.api.stream("chat/completions", self.model, body):
            try:
                choices = event.get("choices") or []
                piece = (choices[0].get("delta") or {}).get("content") if choices else None
            except (AttributeError, IndexError, TypeError):
                raise UpstreamError(
                    f"{self.api.url('chat/completions', self.model)} sent an event not in the chat format"
                ) from None
            if piece:
                yield piece

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)
