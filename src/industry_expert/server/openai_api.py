"""OpenAI's wire format: ``/v1/models``, ``/v1/chat/completions`` (whole or streamed as server-sent
events) and ``/v1/embeddings``, so the clients people already use (the ``openai`` SDK, LangChain,
LlamaIndex) talk to the workspace unchanged.

Citations travel without breaking strict clients: each ``[n]`` in the answer is a standard
``url_citation`` annotation whose URL opens the cited page on this server
(``/documents/ID#page=N``). A request with ``"sources": true`` (``extra_body`` in the SDK) also
gets ``sources`` (source, page, locator, passage, score, url) and the answer's checks
(``unsupported`` figures, failed ``checks``, ``quoted``, ``found``): in the response, or in the
last chunk when streaming. A chat's earlier turns are its history: a follow-up is rewritten into
a standalone question for retrieval, as in ``expert chat``. System messages are not passed on:
the server's own rules stay in charge of how passages are used.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..embed import embedder_id
from ..errors import ExpertError, GenerationError, InputError, NotFoundError, TooLargeError, http_status
from ..generate.citations import CITATION
from ..types import Answer, Citation
from .deps import Key, State
from .http import error_body
from .queue import Cancelled, Interruptible
from .state import ServerState

log = logging.getLogger("industry_expert.server")
router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])
OWNER = "industry-expert"


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat request; fields it has that this server does not use are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[Message]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    n: int | None = Field(None, ge=1, le=1, description="one answer per request")
    # this server's own fields (extra_body in the openai SDK)
    sources: bool = Field(False, description="add the cited passages and the answer's checks")
    collection: str | None = Field(None, description="answer from this collection only")
    source: str | None = Field(None, description="answer from documents matching this path or glob")
    k: int | None = Field(None, ge=1, le=50, description="passages to retrieve")


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    input: str | list[str] | list[int] | list[list[int]]
    model: str
    encoding_format: Literal["float", "base64"] = "float"


def conversation(messages: list[Message], max_chars: int) -> tuple[str, list[tuple[str, str]]]:
    """The last user message, and the ``(question, answer)`` turns before it."""

    def text(message: Message, i: int) -> str:
        content = message.content
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        parts = []
        for part in content:
            if part.get("type") != "text":
                raise InputError(f"messages[{i}]: only text content is supported, not {part.get('type')!r}")
            parts.append(str(part.get("text", "")))
        return "\n".join(parts)

    if not messages:
        raise InputError("messages: give at least one message, the user's question last")
    turns: list[tuple[str, str]] = []
    pending: list[str] = []
    for i, message in enumerate(messages):
        if message.role in ("system", "developer"):
            continue
        if message.role == "user":
            pending.append(text(message, i))
        elif message.role == "assistant":
            if pending:
                turns.append(("\n".join(pending), text(message, i)))
                pending = []
        else:
            raise InputError(f"messages[{i}]: role {message.role!r} is not supported; use user and assistant")
    if messages[-1].role != "user" or not pending:
        raise InputError("messages: the last message must be the user's question")
    question = "\n".join(pending).strip()
    if not question:
        raise InputError("messages: the last user message is empty; ask something")
    if len(question) > max_chars:
        raise TooLargeError(
            f"the question is {len(question):,} characters; this server takes {max_chars:,} "
            "(serve.max_message_chars)"
        )
    return question, turns


def url_citations(text: str, citations: tuple[Citation, ...], urls: dict[int, str]) -> list[dict[str, Any]]:
    """A ``url_citation`` for each ``[n]`` in ``text``; a citation with no marker in it (the text
    as streamed, before the answer's own markers were added) spans the whole text."""
    titles = {c.n: f"{c.source}" + (f", page {c.page}" if c.page else "") for c in citations}
    out: list[dict[str, Any]] = []
    marked: set[int] = set()
    for match in CITATION.finditer(text):
        start = match.start() + (1 if match.group(0)[0].isspace() else 0)
        for number in (int(n) for n in match.group(1).replace(";", ",").split(",")):
            if number in urls:
                marked.add(number)
                out.append(_annotation(urls[number], titles[number], start, match.end()))
    for c in citations:
        if c.n not in marked:
            out.append(_annotation(urls[c.n], titles[c.n], 0, len(text)))
    return out


@dataclass(frozen=True)
class Piece:
    """A piece of the answer's text as the model writes it."""

    text: str


@dataclass(frozen=True)
class Done:
    """The answer, checked and cited: the response's last word."""

    answer: Answer


@dataclass(frozen=True)
class Failed:
    error: ExpertError


@dataclass(frozen=True)
class Stopped:
    """The client left; the model stopped at its next token."""


Streamed = Piece | Done | Failed | Stopped


def _annotation(url: str, title: str, start: int, end: int) -> dict[str, Any]:
    return {
        "type": "url_citation",
        "url_citation": {"url": url, "title": title, "start_index": start, "end_index": end},
    }


def citation_urls(request: Request, answer: Answer) -> dict[int, str]:
    """Each citation's link into this server: its document's file at its page."""
    base = str(request.base_url).rstrip("/")
    urls = {}
    for c in answer.citations:
        url = f"{base}/documents/{c.document_id}" if c.document_id is not None else f"{base}/api/documents"
        urls[c.n] = url + (f"#page={c.page}" if c.page else "")
    return urls


def extras(answer: Answer, urls: dict[int, str]) -> dict[str, Any]:
    """What ``"sources": true`` adds: the cited passages and how the answer fared in its checks."""
    hits = answer.cited_hits()
    return {
        "sources": [
            {
                "n": c.n,
                "source": c.source,
                "page": c.page,
                "locator": c.locator,
                "passage": c.passage,
                "chunk_id": c.chunk_id,
                "document_id": c.document_id,
                "score": round(hits[c.n].score, 6) if c.n in hits else 0.0,
                "url": urls[c.n],
                "attributed": c.n in answer.attributed,
            }
            for c in answer.citations
        ],
        "found": answer.found,
        "unsupported": list(answer.unsupported),
        "checks": list(answer.checks),
        "quoted": answer.quoted,
        "spelled": [{"asked": a, "searched": b} for a, b in answer.spelled],
    }


def usage(answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


@router.get("/models", summary="The modes this server answers in")
def list_models(state: State, access: Key) -> dict[str, Any]:
    created = int(state.started)
    data = [
        {"id": m.id, "object": "model", "created": created, "owned_by": OWNER, "description": m.description}
        for m in state.modes.all()
    ]
    data.append(
        {"id": state.ws.settings.embedder.model, "object": "model", "created": created, "owned_by": OWNER,
         "description": "the workspace's embedder (POST /v1/embeddings)"}
    )  # fmt: skip
    return {"object": "list", "data": data}


@router.post("/chat/completions", summary="Answer the last user message, citing the workspace")
async def chat_completions(body: ChatRequest, request: Request, state: State, access: Key) -> Any:
    mode = state.modes.get(body.model)
    question, history = conversation(body.messages, state.settings.max_message_chars)
    collections = (
        await run_in_threadpool(state.catalog.readable, access, body.collection) if mode.retrieval else None
    )
    settings = state.ws.settings.generator
    max_tokens = body.max_completion_tokens or body.max_tokens or settings.max_tokens
    generator = await run_in_threadpool(state.modes.generator, mode)
    max_tokens = min(max_tokens, generator.context_window - 64)
    temperature = settings.temperature if body.temperature is None else body.temperature

    try:
        await state.queue.acquire(request.is_disconnected)
    except Cancelled:
        return JSONResponse(error_body(499, "the client closed the request"), status_code=499)
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Streamed] = asyncio.Queue()
    cancel = threading.Event()
    started = time.monotonic()

    def put(event: Streamed) -> None:
        with contextlib.suppress(RuntimeError):  # the server stopped: nobody is listening
            loop.call_soon_threadsafe(events.put_nowait, event)

    def work() -> None:
        try:
            stream = state.ws.ask_stream(
                question,
                k=body.k,
                source=body.source,
                collection=body.collection,
                history=history,
                retrieval=mode.retrieval,
                collections=collections,
                generator=Interruptible(generator, cancel),
                max_tokens=max_tokens,
                temperature=temperature,
            )
            for piece in stream:
                put(Piece(piece))
            assert stream.answer is not None  # set when the stream ends
            put(Done(stream.answer))
        except Cancelled:
            put(Stopped())
        except ExpertError as exc:
            put(Failed(exc))
        except Exception as exc:  # the model's library failed: the request fails, the server stays
            log.exception("generation failed")
            put(Failed(GenerationError(f"the model failed while answering ({type(exc).__name__}: {exc})")))
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(state.queue.release, time.monotonic() - started)

    threading.Thread(target=work, name="answer", daemon=True).start()
    reply = Reply(body, mode.id, state, request, max_tokens)
    if body.stream:
        return StreamingResponse(
            reply.stream(events, cancel),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return await reply.whole(events, cancel)


class Reply:
    """One chat completion's response, whole or as chunks."""

    def __init__(self, body: ChatRequest, model: str, state: ServerState, request: Request, max_tokens: int):
        self.body, self.model, self.state, self.request = body, model, state, request
        self.max_tokens = max_tokens
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def finish_reason(self, answer: Answer) -> str:
        return "length" if answer.completion_tokens >= self.max_tokens else "stop"

    def finished(self, answer: Answer, text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The annotations of ``text`` (the answer as the client received it) and, when asked for
        with ``"sources": true``, the extras: what a whole response and a stream's last chunk share."""
        urls = citation_urls(self.request, answer)
        more = extras(answer, urls) if self.body.sources else {}
        return url_citations(text, answer.citations, urls), more

    async def whole(self, events: asyncio.Queue[Streamed], cancel: threading.Event) -> Any:
        while True:
            try:
                event = await asyncio.wait_for(events.get(), 0.5)
            except TimeoutError:
                if await self.request.is_disconnected():
                    cancel.set()  # the client left: free the model
                continue
            match event:
                case Piece():
                    continue  # the answer's text comes whole when done, as checked
                case Failed(error=error):
                    raise error
                case Stopped():
                    return JSONResponse(error_body(499, "the client closed the request"), status_code=499)
                case Done(answer=answer):
                    annotations, more = self.finished(answer, answer.text)
                    message = {
                        "role": "assistant",
                        "content": answer.text,
                        "refusal": None,
                        "annotations": annotations,
                    }
                    choice = {
                        "index": 0,
                        "message": message,
                        "finish_reason": self.finish_reason(answer),
                        "logprobs": None,
                    }
                    return {
                        "id": self.id,
                        "object": "chat.completion",
                        "created": self.created,
                        "model": self.model,
                        "choices": [choice],
                        "usage": usage(answer),
                        **more,
                    }

    def chunk(self, delta: dict[str, Any] | None, finish: str | None = None, **more: Any) -> str:
        """One server-sent event; ``delta`` None is the usage chunk, which has no choices."""
        choices = (
            [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        )
        event = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **more,
        }
        return f"data: {json.dumps(event, ensure_ascii=False)}\n\n"

    async def stream(self, events: asyncio.Queue[Streamed], cancel: threading.Event) -> AsyncIterator[str]:
        include_usage = bool((self.body.stream_options or {}).get("include_usage"))
        sent: list[str] = []
        try:
            yield self.chunk({"role": "assistant", "content": ""})
            while True:
                match await events.get():
                    case Piece(text=text):
                        sent.append(text)
                        yield self.chunk({"content": text})
                    case Stopped():
                        return
                    case Failed(error=error):
                        yield f"data: {json.dumps(error_body(http_status(error), str(error)))}\n\n"
                        return
                    case Done(answer=answer):
                        annotations, more = self.finished(answer, "".join(sent))
                        if self.body.sources:
                            more["content"] = answer.text  # the answer as checked, with every citation
                        yield self.chunk({"annotations": annotations}, self.finish_reason(answer), **more)
                        if include_usage:
                            yield self.chunk(None, usage=usage(answer))
                        yield "data: [DONE]\n\n"
                        return
        finally:
            cancel.set()  # a client that left mid-stream frees the model at its next token


@router.post("/embeddings", summary="Embed texts with the workspace's embedder")
async def embeddings(body: EmbeddingRequest, state: State, access: Key) -> dict[str, Any]:
    settings = state.ws.settings.embedder
    if body.model not in (settings.model, embedder_id(settings)):
        raise NotFoundError(
            f"the embedding model {body.model!r} does not exist here; use {settings.model!r} (GET /v1/models)"
        )
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise InputError("input: give a text or a list of texts")
    if not all(isinstance(t, str) for t in texts):
        raise InputError(
            "input: send texts, not token arrays (LangChain: OpenAIEmbeddings(check_embedding_ctx_length=False))"
        )
    if len(texts) > 2048:
        raise TooLargeError(f"input: {len(texts)} texts; send at most 2048 per request")
    strings = [str(t) for t in texts]
    limit = state.settings.max_message_chars
    for i, text in enumerate(strings):
        if not text.strip():
            raise InputError(f"input[{i}] is empty")
        if len(text) > limit:
            raise TooLargeError(f"input[{i}] is {len(text):,} characters; at most {limit:,}")

    def embed() -> tuple[np.ndarray, int]:
        embedder = state.ws.embedder
        return embedder.embed_batch(strings), sum(embedder.count_tokens(strings))

    vectors, tokens = await run_in_threadpool(embed)
    data = []
    for i, vector in enumerate(vectors):
        value: Any = (
            base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
            if body.encoding_format == "base64"
            else [float(x) for x in vector]
        )
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": body.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
