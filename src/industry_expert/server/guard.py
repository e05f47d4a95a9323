"""What every response and every request body passes through: security headers, and a bound on
the bytes a request may send, enforced as they arrive.

Headers. The page (``/`` and ``/static/``) may run only its own scripts (a Content-Security-Policy
with ``script-src 'self'`` and no inline code), and nothing may frame it. Every response says
``nosniff``, so a browser never guesses a document to be HTML. A document's original
(``/documents/ID``) gets its own headers from ``document_headers``: a sandbox with no scripts, and
``attachment`` for any type a browser would run (HTML, SVG, XML): its content can never act in
this server's origin, where the page keeps a reader's key.

Bodies. A request that declares a ``Content-Length`` over its limit is refused with 413 before a
byte of its body is read; one that sends more than it declared, or streams without a length, is
cut off at the limit. JSON endpoints take ``serve.max_body_kb``; the upload endpoint takes
``serve.max_upload_mb``. The 413 is in OpenAI's error shape, as every other error here, and comes
before the key is checked: a body too large for anyone is refused without reading it.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# A document, a report or a JSON body is shown, never run: no scripts, plugins, forms or
# navigation of its own; the inline styles and data: images of a self-contained report still show
DOCUMENT_POLICY = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; media-src 'self'"
# Types a browser shows without running anything; everything else is served as an attachment.
# Text other than these (Markdown, CSV, source) is shown as plain text.
INERT = frozenset({"application/pdf", "text/plain", "image/png", "image/jpeg", "image/gif", "image/webp"})
ACTIVE_TEXT = ("text/html", "text/xml", "text/xsl", "text/javascript", "text/css", "text/x-")


def document_headers(path: Path) -> tuple[str, str, dict[str, str]]:
    """The media type, the disposition (``inline`` or ``attachment``) and the headers that serve
    the file at ``path`` inert.

    >>> document_headers(Path("q3.html"))[:2]
    ('text/html', 'attachment')
    >>> document_headers(Path("notes.md"))[:2]
    ('text/plain; charset=utf-8', 'inline')
    """
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media.startswith("text/") and not media.startswith(ACTIVE_TEXT):
        media = "text/plain"  # Markdown, CSV: readable, and never rendered as markup
    disposition = "inline" if media in INERT else "attachment"
    if media == "text/plain":
        media = "text/plain; charset=utf-8"
    headers = {
        "Content-Security-Policy": DOCUMENT_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "private, no-cache",
    }
    return media, disposition, headers


def _is_page(path: str) -> bool:
    return path == "/" or path.startswith("/static/")


class Guard:
    """ASGI middleware: security headers on every response, and bounded request bodies.

    ``limit(scope)`` gives the most bytes a request's body may hold, and the setting that says so."""

    def __init__(self, app: ASGIApp, limit: Callable[[Scope], tuple[int, str]]):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit, setting = self.limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, declared, limit, setting)
            return
        started = refused = False
        received = 0

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; what the app says after it goes nowhere
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *_headers_for(path, message)]
            await send(message)

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not started:
                    # more than the limit without a declared length: answer now, and tell the app
                    # its client is gone so that it stops reading
                    refused = True
                    await _too_large(send, received, limit, setting)
                    return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise


def _headers_for(path: str, start: Message) -> list[tuple[bytes, bytes]]:
    names = {bytes(k).lower() for k, _ in start.get("headers", ())}
    out = [] if b"x-content-type-options" in names else [(b"x-content-type-options", b"nosniff")]
    if _is_page(path):
        out += [
            (b"content-security-policy", PAGE_POLICY.encode()),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
        ]
    elif b"content-security-policy" not in names:
        # JSON and reports: nothing in them is meant to run, whatever a browser makes of them
        out.append((b"content-security-policy", DOCUMENT_POLICY.encode()))
    return out


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _too_large(send: Send, size: int, limit: int, setting: str) -> None:
    message = (
        f"the request body is {size / 1e6:.1f} MB or more; this server takes at most {limit / 1e6:g} MB "
        f"here ({setting}): send less"
    )
    body = json.dumps(
        {"error": {"message": message, "type": "request_too_large", "param": None, "code": "too_large"}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
