"""llama.cpp through xllamacpp: the shipped SmolLM2-135M-Instruct, or any GGUF file, with an
optional LoRA adapter (a GGUF LoRA, or a run's PEFT adapter converted once, see ``models``).

xllamacpp is llama.cpp's own server compiled into a binary wheel (no compiler at install; see
docs/benchmarks.md, "llama.cpp from a wheel"). The server runs inside this process: completions
are called directly and stream back through a callback. The few calls it answers only over HTTP
(the end-of-turn token, the context size, tokenizing) go to the loopback port it listens on, with a random API key
so that nothing else on the machine, a web page in the user's browser included, can use it.

The prompt is rendered from the chat template in the GGUF file itself (read from its header:
the server would put ChatML in place of a missing one), with
its end-of-turn marker as a stop string, so Phi-3, Llama 3, Qwen and SmolLM2 each get their own
format. The BOS token is left to llama.cpp, which adds it when it tokenizes the prompt.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import secrets
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from ..errors import GeneratorError
from ..models import gguf_adapter, gguf_file, model_for, resolve_adapter, resolve_model
from .base import Messages
from .chat_template import ChatTemplateError, read_template, render, stop_strings
from .gguf_header import NotGGUF, read_string

_DONE = object()


def _cores() -> int:
    """Cores this process may use (a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class _Loopback:
    """The in-process server's HTTP port: one kept-alive connection, one request at a time."""

    def __init__(self, address: str, key: str):
        url = urlsplit(address if "://" in address else f"http://{address}")
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.lock = threading.Lock()
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        payload = json.dumps(body) if body is not None else None
        with self.lock:
            for attempt in (1, 2):  # a kept-alive connection the server closed is opened again once
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                try:
                    self.conn.request(method, path, body=payload, headers=self.headers)
                    response = self.conn.getresponse()
                    data = response.read()
                    break
                except (OSError, http.client.HTTPException) as exc:
                    self.conn.close()
                    self.conn = None
                    if attempt == 2:
                        raise GeneratorError(
                            f"llama.cpp's server in this process did not answer {path} ({exc})"
                        ) from None
        if response.status != 200:
            raise GeneratorError(f"llama.cpp's server answered {path} with {response.status}: {data[:200]!r}")
        return json.loads(data)


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
        try:
            own_template = read_string(path, "tokenizer.chat_template") or ""
        except (NotGGUF, OSError) as exc:
            raise GeneratorError(
                f"cannot load {path} with llama.cpp: {exc}; is the file a complete GGUF model?"
            ) from None
        self.template = read_template(chat_template) or own_template
        if not self.template:
            raise ChatTemplateError(
                f"{path.name} has no chat template, so it is not a chat (instruct) model; use an instruct "
                "GGUF, or name a Jinja template file in generator.chat_template"
            )
        import xllamacpp as xlc

        params = xlc.CommonParams()
        params.model.path = str(path)
        params.n_ctx = context_window
        params.n_parallel = 1
        # The prompt's threads too, and the cores this process may use: os.cpu_count() is the
        # host's count in a container limited by quota, and more spinning threads than cores slow
        # prefill many times over.
        n = threads or min(_cores(), 8)
        params.cpuparams.n_threads = n
        params.cpuparams_batch.n_threads = n
        params.n_threads_http = 1
        params.verbosity = -1  # llama.cpp's own log lines stay off the user's terminal
        key = secrets.token_urlsafe(24)
        params.api_keys = [key]
        if lora is not None:
            params.lora_adapters = [xlc.CommonAdapterLoraInfo(str(lora), 1.0)]
        try:
            self._server: Any = xlc.Server(params)
        except (ValueError, RuntimeError, OSError) as exc:
            raise GeneratorError(
                f"cannot load {path}{f' with the adapter {lora}' if lora else ''} with llama.cpp ({exc}); "
                "is the file a complete GGUF model, and was the adapter trained on this model?"
            ) from None
        self._loopback = _Loopback(self._server.listening_address, key)
        props = self._loopback.call("GET", "/props")
        self.eos = str(props.get("eos_token") or "")
        self.stops = stop_strings(self.template, self.eos)
        self.context_window = int(props.get("default_generation_settings", {}).get("n_ctx") or context_window)
        self.name = f"llama.cpp/{path.name}{label}"

    def prompt(self, messages: Messages) -> str:
        return render(self.template, messages, bos_token="", eos_token=self.eos)

    def stream(self, messages: Messages, max_tokens: int = 512, temperature: float = 0.0) -> Iterator[str]:
        request: dict[str, Any] = {
            "prompt": self.prompt(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stop": self.stops,
            "stream": True,
            # Each answer starts from an empty cache: the part after a reused prefix is decoded in
            # other batch shapes, whose rounding differs, so a greedy answer would depend on the
            # question asked before it.
            "cache_prompt": False,
        }
        if temperature <= 0:  # greedy: the server's default sampler chain only costs decode time
            request |= {"samplers": ["top_k"], "top_k": 1}
        pieces: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            pieces.put(chunk)
            return stop.is_set()  # True ends the request when the reader has gone

        def work() -> None:
            try:
                self._server.handle_completions(request, on_chunk)
            except Exception as exc:  # noqa: BLE001 - handed to the reader as an error
                pieces.put({"error": {"message": str(exc)}})
            finally:
                pieces.put(_DONE)

        threading.Thread(target=work, name="llama.cpp completion", daemon=True).start()
        try:
            while (chunk := pieces.get()) is not _DONE:
                if not isinstance(chunk, dict):
                    continue
                if "error" in chunk:
                    error = chunk["error"]
                    message = error.get("message", error) if isinstance(error, dict) else error
                    raise GeneratorError(f"llama.cpp could not answer: {message}")
                for choice in chunk.get("choices") or ():
                    if text := choice.get("text"):
                        yield text
        finally:
            stop.set()

    def count_tokens(self, text: str) -> int:
        answer = self._loopback.call(
            "POST", "/tokenize", {"content": text, "add_special": False, "parse_special": True}
        )
        return len(answer["tokens"])
