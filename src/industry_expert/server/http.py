"""Errors as OpenAI's clients expect them, on every endpoint: a status and one line saying what
was wrong and what to do, in ``{"error": {"message", "type", "param", "code"}}``.

The package's own errors carry their status (``errors.STATUS``); a body FastAPI cannot read
becomes a 400 that names the field; anything else is a 500 that says it is the server's fault
(its traceback goes to the server's log, never to the client).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import BusyError, ExpertError, http_status

log = logging.getLogger("industry_expert.server")

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    411: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    500: "server_error",
    502: "upstream_error",
    503: "service_unavailable",
}


def error_body(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": TYPES.get(status, "invalid_request_error"),
            "param": param,
            "code": code,
        }
    }


def error_response(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> JSONResponse:
    return JSONResponse(error_body(status, message, code, param), status_code=status)


def expert_error(exc: ExpertError) -> JSONResponse:
    status = http_status(exc)
    response = error_response(status, str(exc), type(exc).__name__.removesuffix("Error").lower() or None)
    if isinstance(exc, BusyError):
        response.headers["Retry-After"] = str(exc.retry_after)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    problems = []
    param = None
    for error in exc.errors():
        where = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        if error.get("type") == "json_invalid":
            return "the request body is not valid JSON; send a JSON object", None
        field = ".".join(where)
        param = param or field or None
        text = str(error.get("msg", "invalid"))
        problems.append(f"{field}: {text}" if field else text)
    return "invalid request: " + "; ".join(problems), param


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ExpertError)
    async def on_expert(request: Request, exc: ExpertError) -> JSONResponse:
        return expert_error(exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(400, message, "invalid_request", param)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"there is nothing at {request.url.path}; GET /openapi.json lists the endpoints"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return error_response(exc.status_code, message)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, f"the server failed on this request ({type(exc).__name__}); its log has the details"
        )
