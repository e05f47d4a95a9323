"""What each endpoint is given: the server's state, and the access the request's key grants."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from ..keys import Access
from .state import ServerState


def server(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


async def reader(request: Request) -> Access:
    """The request's access; every endpoint but the page and its files needs a valid key when
    keys are on (``ServerState.auth_required``), checked afresh on each request."""
    state = server(request)
    return await run_in_threadpool(state.authorize, request.headers.get("authorization"))


State = Annotated[ServerState, Depends(server)]
Key = Annotated[Access, Depends(reader)]
