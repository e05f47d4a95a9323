"""The FastAPI application: the OpenAI-compatible API, the native API, and the web page.

``create_app(state)`` builds it over a ``ServerState``; ``serve`` runs it with uvicorn. The page
at ``/`` is plain HTML, CSS and JavaScript shipped in the package (``static/``): no build step and
nothing fetched from elsewhere, so it works offline. The schema is at ``/openapi.json``; FastAPI's
``/docs`` and ``/redoc`` pages are off, since they load their scripts from a CDN.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from .. import __version__
from ..errors import ConfigError
from .guard import Guard, Scope
from .http import install_handlers
from .mcp_server import over_http
from .native_api import router as native_router
from .openai_api import router as openai_router
from .state import ServerState

log = logging.getLogger("industry_expert.server")
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def create_app(state: ServerState) -> FastAPI:
    mcp, mcp_app = over_http(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with mcp.session_manager.run():  # the MCP endpoint's sessions (stateless: one a call)
            yield

    app = FastAPI(
        lifespan=lifespan,
        title="industry-expert",
        version=__version__,
        description="Answers with citations from a company's own documents: an OpenAI-compatible API "
        "(/v1), search, documents, uploads and evaluations (/api), a Model Context Protocol server "
        "for assistants (/mcp), and a web page (/).",
        docs_url=None,
        redoc_url=None,
    )
    app.state.server = state
    app.add_middleware(Guard, limit=lambda scope: body_limit(state, scope))
    install_handlers(app)
    app.include_router(openai_router)
    app.include_router(native_router)
    # the Model Context Protocol over streamable HTTP, for assistants and IDEs (mcp_server.py)
    app.add_route("/mcp", mcp_app, methods=["GET", "POST", "DELETE"], include_in_schema=False)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return _static("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC:
            return Response(status_code=404)
        return Response(_static(name), media_type=STATIC[name], headers={"Cache-Control": "no-cache"})

    @app.get("/healthz", tags=["native"], summary="Whether the server is up (no key needed)")
    def health() -> dict[str, Any]:
        return {"status": "ok", "keys_required": state.auth_required()}

    return app


def body_limit(state: ServerState, scope: Scope) -> tuple[int, str]:
    """The most bytes a request may send, and the setting that says so: an upload's files, or
    one JSON body."""
    path = str(scope.get("path", ""))
    if scope.get("method") == "POST" and path.startswith("/api/collections/") and path.endswith("/files"):
        return int(state.settings.max_upload_mb * 1_000_000), "serve.max_upload_mb"
    return state.settings.max_body_kb * 1000, "serve.max_body_kb"


def check_port(host: str, port: int) -> None:
    """Fail in one line, before any model loads, when ``host:port`` cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port or --host, "
                "or stop what uses it"
            ) from None


def serve(
    state: ServerState, port: int, log_level: str = "info", stage: Callable[[str], None] | None = None
) -> None:
    """Check the address and the keys, load the models (so a broken one stops the server before
    it listens), and serve until interrupted; ``stage`` hears ``loading`` and then ``ready``. The
    ingest jobs and the store are closed on the way out, whatever happens."""
    tell = stage or (lambda name: None)
    import uvicorn

    # uvicorn shuts down gracefully on SIGINT or SIGTERM, then raises the signal again: both end
    # here as KeyboardInterrupt, so the jobs and the store are closed and the command exits 0
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        state.check_bind()
        check_port(state.host, port)
        tell("loading")
        state.modes.load()
        _ = state.ws.embedder
        tell("ready")
        config = uvicorn.Config(
            create_app(state),
            host=state.host,
            port=port,
            log_level=log_level,
            timeout_graceful_shutdown=5,
            access_log=True,
        )
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        state.close()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
