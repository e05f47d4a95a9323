"""The workspace as a Model Context Protocol server, on the official ``mcp`` SDK (``MCPServer``).

An assistant or an IDE gets four tools, with structured results: ``search`` (passages with their
source, page, locator and link), ``ask`` (an answer with its citations), ``list_documents`` and
``read_document`` (a document's passages in reading order, or one page's); and each document as
the resource ``document://ID``.

One server, two transports:

- ``expert mcp`` serves it over stdio, for a desktop assistant or an IDE that starts the command
  itself. The local user owns the workspace, so every collection is open, as for ``expert ask``.
- ``expert serve`` mounts it over streamable HTTP at ``/mcp`` (stateless: any server of a team's
  several answers any call). There the same API keys as ``/api`` decide what a client sees: a
  request without a valid key is refused with 401 before it reaches the protocol, and a key for one
  collection never sees another's passages through any tool or resource.

A user's mistake (an unknown document, a collection the key may not read) is a tool error of one
line; arguments the tools do not take are the protocol's own validation error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.tools import Tool
from pydantic import ConfigDict
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from .. import __version__
from ..errors import ExpertError, InputError
from ..keys import OPEN, Access
from ..types import Answer
from .catalog import Catalog

if TYPE_CHECKING:
    from .state import ServerState

INSTRUCTIONS = (
    "Search and read a company's own documents. `search` finds passages with their source and page; "
    "`ask` answers a question from them with numbered citations; `list_documents` and "
    "`read_document` read a document whole or one page at a time."
)
MAX_PASSAGES = 200  # read_document's largest page of passages


class HitOut(TypedDict):
    source: str
    page: int | None
    locator: str | None
    title: str
    collection: str
    score: float
    text: str
    document_id: int | None
    url: str | None


class CitationOut(TypedDict):
    n: int
    source: str
    page: int | None
    locator: str | None
    passage: str
    document_id: int | None
    url: str | None


class SearchOut(TypedDict):
    query: str
    hits: list[HitOut]


class AnswerOut(TypedDict):
    answer: str
    citations: list[CitationOut]
    found: bool
    model: str


class DocumentOut(TypedDict):
    id: int
    source: str
    collection: str
    title: str
    chunks: int
    url: str | None


class DocumentsOut(TypedDict):
    documents: list[DocumentOut]


class PassageOut(TypedDict):
    page: int | None
    text: str


class DocumentText(TypedDict):
    id: int
    source: str
    title: str
    collection: str
    passages: list[PassageOut]
    offset: int
    total: int  # passages in the document (or on the page asked for)
    next_offset: int | None  # where the next call starts, when there is more


# who is asking: the access of a call's HTTP headers (None over stdio)
Authorize = Callable[[Mapping[str, str] | None], Access]
# answer (question, collection, the key's collections) with the model, taking turns for it
AnswerFn = Callable[[str, str | None, frozenset[str] | None], Awaitable[Answer]]


def local(_: Mapping[str, str] | None) -> Access:
    """Over stdio: the local user, who owns the workspace."""
    return OPEN


def build(catalog: Catalog, authorize: Authorize, answer: AnswerFn, links: bool = False) -> MCPServer:
    """The MCP server over ``catalog``'s workspace; ``links``: results link to the HTTP server's
    pages of their documents (``/documents/ID``), at the address the client called."""
    ws = catalog.ws

    def access(ctx: Context, error: type[Exception] = ToolError) -> Access:
        try:
            return authorize(ctx.headers)
        except ExpertError as exc:
            raise error(str(exc)) from None

    def linker(ctx: Context) -> Callable[[int | None, int | None], str | None]:
        request = getattr(ctx.request_context, "request", None) if links else None
        base = f"{request.url.scheme}://{request.url.netloc}" if request is not None else None

        def link(document_id: int | None, page: int | None = None) -> str | None:
            if base is None or document_id is None:
                return None
            return f"{base}/documents/{document_id}" + (f"#page={page}" if page else "")

        return link

    async def work(fn: Callable[[], Any], error: type[Exception] = ToolError) -> Any:
        """``fn`` in a worker thread; a user's mistake is the protocol's error of one line."""
        try:
            return await anyio.to_thread.run_sync(fn)
        except ExpertError as exc:
            raise error(str(exc)) from None

    async def search(query: str, ctx: Context, k: int = 5, collection: str | None = None) -> SearchOut:
        who, link = access(ctx), linker(ctx)

        def run() -> SearchOut:
            if not query.strip():
                raise InputError("the query is empty; send the question or search terms")
            if not 1 <= k <= 50:
                raise InputError(f"k is {k}; ask for 1 to 50 passages")
            collections = catalog.readable(who, collection)
            hits = ws.search(query, k=k, collection=collection, collections=collections)
            return {
                "query": query,
                "hits": [
                    {
                        "source": h.source,
                        "page": h.page,
                        "locator": h.locator,
                        "title": h.title,
                        "collection": h.collection,
                        "score": round(h.score, 6),
                        "text": h.text,
                        "document_id": h.document_id,
                        "url": link(h.document_id, h.page),
                    }
                    for h in hits
                ],
            }

        return await work(run)  # type: ignore[no-any-return]

    async def ask(question: str, ctx: Context, collection: str | None = None) -> AnswerOut:
        who, link = access(ctx), linker(ctx)
        if not question.strip():
            raise ToolError("the question is empty")
        collections = await work(lambda: catalog.readable(who, collection))
        try:
            found = await answer(question, collection, collections)
        except ExpertError as exc:
            raise ToolError(str(exc)) from None
        return {
            "answer": found.text,
            "citations": [
                {
                    "n": c.n,
                    "source": c.source,
                    "page": c.page,
                    "locator": c.locator,
                    "passage": c.passage,
                    "document_id": c.document_id,
                    "url": link(c.document_id, c.page),
                }
                for c in found.citations
            ],
            "found": found.found,
            "model": found.model,
        }

    async def list_documents(ctx: Context, collection: str | None = None) -> DocumentsOut:
        who, link = access(ctx), linker(ctx)

        def run() -> DocumentsOut:
            docs = catalog.documents(who, collection)
            return {
                "documents": [
                    {
                        "id": d.id,
                        "source": d.source,
                        "collection": d.collection,
                        "title": d.title,
                        "chunks": d.chunks,
                        "url": link(d.id, None),
                    }
                    for d in docs
                ]
            }

        return await work(run)  # type: ignore[no-any-return]

    async def read_document(
        document_id: int, ctx: Context, page: int | None = None, offset: int = 0
    ) -> DocumentText:
        who = access(ctx)
        return await work(lambda: read(catalog, who, document_id, page, offset))  # type: ignore[no-any-return]

    tools: list[tuple[Callable[..., Any], str]] = [
        (search, "The passages of the documents that best match a question or search terms."),
        (ask, "Answer a question from the documents, citing the passages used as [n]."),
        (list_documents, "The documents this workspace holds (those of one collection if named)."),
        (
            read_document,
            "A document's passages in reading order: 200 from offset, or those of one page.",
        ),
    ]
    server = MCPServer(
        "industry-expert",
        version=__version__,
        instructions=INSTRUCTIONS,
        tools=[strict(Tool.from_function(fn, description=text)) for fn, text in tools],
    )

    @server.resource(
        "document://{document_id}",
        name="document",
        description="A document's text, its passages in reading order, each page marked",
        mime_type="text/markdown",
    )
    async def document(document_id: str, ctx: Context) -> str:
        who = access(ctx, ResourceError)
        if not (document_id.isascii() and document_id.isdigit() and len(document_id) <= 18):
            raise ResourceError(f"there is no document {document_id[:40]!r}; list_documents gives the ids")

        def run() -> str:
            doc = read(catalog, who, int(document_id), None, 0, limit=None)
            lines = [f"# {doc['title'] or doc['source']}", ""]
            last: int | None = None
            for passage in doc["passages"]:
                if passage["page"] is not None and passage["page"] != last:
                    lines += [f"## Page {passage['page']}", ""]
                    last = passage["page"]
                lines += [passage["text"], ""]
            return "\n".join(lines)

        return await work(run, ResourceError)  # type: ignore[no-any-return]

    return server


def strict(tool: Tool) -> Tool:
    """``tool`` refusing arguments it does not take (the SDK would drop them unsaid), in its
    published schema too: a misspelt ``colection`` must not widen a search to every collection;
    and taking each argument as the type its schema says (``true`` is not document 1)."""
    base = tool.fn_metadata.arg_model
    tool.fn_metadata.arg_model = type(
        base.__name__,
        (base,),
        {"model_config": ConfigDict(**{**base.model_config, "extra": "forbid", "strict": True})},
    )
    tool.parameters = {**tool.parameters, "additionalProperties": False}
    return tool


def read(
    catalog: Catalog,
    who: Access,
    document_id: int,
    page: int | None,
    offset: int,
    limit: int | None = MAX_PASSAGES,
) -> DocumentText:
    """Document ``document_id``'s passages from ``offset`` (those of ``page`` only, if given)."""
    if offset < 0:
        raise InputError(f"offset is {offset}; start at 0 or later")
    doc = catalog.document(document_id, who)
    passages = [(p, t) for p, t in catalog.ws.store.document_chunks(doc.key) if page is None or p == page]
    if page is not None and not passages:
        raise InputError(f"document {document_id} has no passage on page {page}")
    end = len(passages) if limit is None else offset + limit
    return {
        "id": doc.id,
        "source": doc.source,
        "title": doc.title,
        "collection": doc.collection,
        "passages": [{"page": p, "text": t} for p, t in passages[offset:end]],
        "offset": offset,
        "total": len(passages),
        "next_offset": end if end < len(passages) else None,
    }


def one_at_a_time(ask: Callable[[str, str | None, frozenset[str] | None], Answer]) -> AnswerFn:
    """Answers through one model, one at a time (over stdio: one client, one local model)."""
    lock = asyncio.Lock()

    async def answer(question: str, collection: str | None, collections: frozenset[str] | None) -> Answer:
        async with lock:
            return await anyio.to_thread.run_sync(lambda: ask(question, collection, collections))

    return answer


def over_http(state: ServerState) -> tuple[MCPServer, Any]:
    """The server for ``expert serve`` (keys from each call's headers, answers through the
    server's model queue) and its ASGI app at ``/mcp``, the key checked before the protocol."""
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.responses import JSONResponse

    from ..api import is_loopback
    from ..errors import AuthenticationError, http_status
    from .http import error_body

    def authorize(headers: Mapping[str, str] | None) -> Access:
        if headers is None:  # never open: a call that came with no HTTP request is refused
            raise AuthenticationError("this MCP server is reached over HTTP with an API key")
        return state.authorize(headers.get("authorization"))

    async def answer(question: str, collection: str | None, collections: frozenset[str] | None) -> Answer:
        async def gone() -> bool:
            return False

        await state.queue.acquire(gone)
        started = asyncio.get_running_loop().time()
        try:
            return await anyio.to_thread.run_sync(
                lambda: state.ws.ask_stream(question, collection=collection, collections=collections).run()
            )
        finally:
            state.queue.release(asyncio.get_running_loop().time() - started)

    server = build(state.catalog, authorize, answer, links=True)
    # DNS-rebinding protection where the server listens on loopback only; beyond it, keys are required
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if is_loopback(state.host):
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    inner = server.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True, transport_security=security
    )

    class KeyChecked:  # an ASGI app (a class, so that routing does not take it for an endpoint)
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope.get("method") == "GET":  # stateless: no stream from the server to listen to
                body = error_body(405, "this MCP endpoint is stateless: POST each call (streamable HTTP)")
                await JSONResponse(body, status_code=405, headers={"Allow": "POST"})(scope, receive, send)
                return
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            try:
                await anyio.to_thread.run_sync(lambda: state.authorize(headers.get("authorization")))
            except ExpertError as exc:
                status = http_status(exc)
                await JSONResponse(error_body(status, str(exc)), status_code=status)(scope, receive, send)
                return
            await inner(scope, receive, send)

    return server, KeyChecked()
