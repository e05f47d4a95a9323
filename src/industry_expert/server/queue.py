"""One model, many requests: a bounded queue in front of the model, and answers that stop when
their client leaves.

A loaded model answers ``parallel`` requests at a time (one for a local model on a CPU: two
answers at once would each take twice as long). Up to ``queue`` more wait their turn, in order;
beyond that a request is refused at once with 503 and a ``Retry-After`` estimated from recent
answer times, instead of piling up. A request whose client disconnects, while it waits or while
its answer is being written, gives its place back: ``Interruptible`` stops the model between two
tokens, and the slot is released only once the model has really stopped.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable, Iterator

from ..errors import BusyError
from ..generate import Generator
from ..generate.base import Messages


class Cancelled(Exception):
    """The client went away; the answer was stopped."""


class Interruptible:
    """``inner`` whose ``stream`` stops (raising ``Cancelled``) once ``cancel`` is set."""

    def __init__(self, inner: Generator, cancel: threading.Event):
        self.inner = inner
        self.cancel = cancel

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def context_window(self) -> int:
        return self.inner.context_window

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(self, messages: Messages, max_tokens: int = 512, temperature: float = 0.0) -> Iterator[str]:
        if self.cancel.is_set():
            raise Cancelled
        pieces = self.inner.stream(messages, max_tokens=max_tokens, temperature=temperature)
        try:
            for piece in pieces:
                if self.cancel.is_set():
                    raise Cancelled
                yield piece
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # llama.cpp stops decoding here


class ModelQueue:
    """``parallel`` slots and at most ``limit`` waiting requests (asyncio; one event loop)."""

    def __init__(self, parallel: int = 1, limit: int = 8, on_busy: Callable[[bool], None] | None = None):
        self.parallel = parallel
        self.limit = limit
        self.waiting = 0
        self.running = 0
        self._free = asyncio.Semaphore(parallel)
        self._recent: list[float] = []  # seconds of the last answers, for Retry-After
        self._on_busy = on_busy or (lambda busy: None)
        self._busy = False

    def _changed(self) -> None:
        """Tell ``on_busy`` when the model starts or stops being wanted (running or waited for)."""
        busy = self.running + self.waiting > 0
        if busy != self._busy:
            self._busy = busy
            self._on_busy(busy)

    def retry_after(self) -> int:
        typical = sorted(self._recent)[len(self._recent) // 2] if self._recent else 5.0
        return max(1, math.ceil(typical * (self.waiting + 1) / self.parallel))

    async def acquire(self, gone: Callable[[], Awaitable[bool]], poll: float = 0.5) -> None:
        """Wait for a slot; raise ``BusyError`` if the queue is full, ``Cancelled`` if ``gone()``."""
        if self.running >= self.parallel and self.waiting >= self.limit:
            raise BusyError(
                f"the model is busy: {self.running} answer(s) running and {self.waiting} waiting; "
                f"try again in {self.retry_after()} s",
                self.retry_after(),
            )
        self.waiting += 1
        self._changed()
        try:
            while True:
                try:
                    await asyncio.wait_for(self._free.acquire(), poll)
                    break
                except TimeoutError:
                    if await gone():
                        raise Cancelled from None
        except BaseException:
            self.waiting -= 1
            self._changed()
            raise
        self.waiting -= 1
        self.running += 1

    def release(self, seconds: float | None = None) -> None:
        """Give the slot back (on the event loop), noting how long the answer took."""
        self.running -= 1
        if seconds is not None:
            self._recent = [*self._recent[-19:], seconds]
        self._free.release()
        self._changed()

    def status(self) -> dict[str, int]:
        return {
            "parallel": self.parallel,
            "running": self.running,
            "waiting": self.waiting,
            "limit": self.limit,
        }
