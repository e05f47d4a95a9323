"""One model, many requests: a bounded queue in front of the model, and answers that stop when
their client leaves.

A loaded model answers ``parallel`` requests at a time (one for a local model on a CPU: two
answers at once would each take twice as long). Up to ``queue`` more wait their turn, in order;
beyond that a request is refused at once with 503 and a ``Retry-After`` estimated from recent
answer times, instead of piling up. A wait is bounded too (``max_wait`` seconds, the setting
``serve.max_wait_s``): a request whose estimated wait is longer is refused at once, and one that
has waited that long is refused then, so that a busy server answers in time for a client to
come back rather than leave it to time out. A request whose client disconnects, while it waits or while
its answer is being written, gives its place back: ``Interruptible`` stops the model between two
tokens, and the slot is released only once the model has really stopped.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
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

    @property
    def on_failed_check(self) -> str:  # the model's entry, seen through the wrapper (base.py)
        return str(getattr(self.inner, "on_failed_check", "flag"))

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(getattr(self.inner, "languages", ()))

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

    def __init__(
        self,
        parallel: int = 1,
        limit: int = 8,
        on_busy: Callable[[bool], None] | None = None,
        max_wait: float = 30.0,
    ):
        self.parallel = parallel
        self.limit = limit
        self.max_wait = max_wait
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

    def _expected_wait(self, waiting: int) -> float:
        """Seconds until a request behind ``waiting`` others gets a slot, by recent answer times."""
        typical = sorted(self._recent)[len(self._recent) // 2] if self._recent else 5.0
        return typical * (waiting + 1) / self.parallel

    def retry_after(self, waiting: int | None = None) -> int:
        return max(1, math.ceil(self._expected_wait(self.waiting if waiting is None else waiting)))

    def _busy_error(self, why: str, waiting: int) -> BusyError:
        seconds = self.retry_after(waiting)
        return BusyError(
            f"the model is busy ({why}: {self.running} answer(s) running, {waiting} waiting); "
            f"try again in {seconds} s",
            seconds,
        )

    async def acquire(self, gone: Callable[[], Awaitable[bool]], poll: float = 0.5) -> None:
        """Wait for a slot; raise ``BusyError`` if the queue is full, the wait would be longer
        than ``max_wait`` or has been, and ``Cancelled`` if ``gone()``."""
        full = self.running >= self.parallel
        if full and self.waiting >= self.limit:
            raise self._busy_error("the queue is full", self.waiting)
        # an estimate needs a few answers measured; until then only the deadline below bounds it
        expected = self._expected_wait(self.waiting)
        if full and len(self._recent) >= 3 and expected > self.max_wait:
            raise self._busy_error(f"the wait would be about {expected:.0f} s", self.waiting)
        deadline = time.monotonic() + self.max_wait
        self.waiting += 1
        self._changed()
        # one acquire for the whole wait keeps the request's place in line (asyncio's semaphore
        # serves its waiters in order); polling only looks at the client and the clock meanwhile
        turn = asyncio.ensure_future(self._free.acquire())
        try:
            while not (await asyncio.wait({turn}, timeout=poll))[0]:
                if await gone():
                    raise Cancelled
                if time.monotonic() > deadline:  # the error's count leaves this request out
                    raise self._busy_error(f"waited {self.max_wait:g} s", self.waiting - 1)
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self._free.release()  # the slot came just as the request left: pass it on
            else:
                turn.cancel()
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
            "max_wait_s": int(self.max_wait),
        }
