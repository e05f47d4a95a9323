"""Reads from a streaming replica, writes to the primary: ``[store] read_url``.

A team whose searches outgrow one PostgreSQL server adds a streaming replica (PostgreSQL's own
physical replication: ``pg_basebackup -R``, ``primary_conninfo``) and names it::

    [store]
    url = "postgresql://expert@db-primary/expert"
    read_url = "postgresql://expert@db-replica/expert"

``ReplicatedStore`` is the Store contract over the two:

- **Where each call goes.** Searches, answers and listings (``READS``) go to the replica; every
  write, and what a write job reads to decide its next write (``PRIMARY``: an ingest's, a
  forget's, a reindex's, a migration's), goes to the primary. The services that write (ingest,
  maintenance) run their whole job inside ``writing(store)``, which sends every call to the
  primary and notes where the WAL stood when the job ended.
- **Reading one's own writes** (``store.read_after_write``): after this process wrote, a read
  waits until the replica has replayed the write's WAL position, for at most
  ``store.replica_wait_s``, then reads from the primary (``"wait"``, the default); or reads from
  the primary until the replica has it (``"primary"``); or reads the replica as it is
  (``"replica"``). A write made through another process is waited for the same way once its
  position is known: ``note(lsn)`` for every read from then on (a server, when its ingest job
  ends), ``read_after(lsn)`` for the reads inside a block.
- **A replica that goes down** is read around: each read it cannot answer goes to the primary,
  with one log line when it goes down and one when it is back (tried again every ``RETRY_S``).
- **A replica that is not one** (``pg_is_in_recovery()`` false, or a replica of another cluster)
  is refused when the store opens, in one line.
- ``replication()``: how far the replica is behind, in bytes of WAL and in seconds
  (``expert status``).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from ..errors import ConfigError, StoreUnreachableError
from .base import Store

log = logging.getLogger(__name__)

RETRY_S = 30.0  # how often a replica that went down is tried again

# the Store methods a replica answers; every other one goes to the primary
READS = frozenset(
    {
        "get_meta",
        "all_meta",
        "get_document",
        "list_documents",
        "list_skipped",
        "document_chunks",
        "get_chunks",
        "dense_search",
        "keyword_search",
        "term_counts",
        "generation",
        "languages",
        "all_chunks",
        "stats",
    }
)
PRIMARY = frozenset(
    {
        "set_meta",
        "put_document",
        "touch_document",
        "record_skipped",
        "delete_documents",
        "set_summary",
        "export_document",
        "set_language",
        "replace_vectors",
        "stage_vectors",
        "staged",
        "commit_staged",
        "ingest_lock",
        "optimize",
        "check",
    }
)
WRITES = PRIMARY - {"export_document", "staged", "ingest_lock", "check"}  # calls after which the WAL moved

ReadAfterWrite = Literal["wait", "primary", "replica"]

# a WAL position a caller of this context must see (a client that wrote through another process)
_AFTER: contextvars.ContextVar[str | None] = contextvars.ContextVar("expert_read_after", default=None)
# inside a write job (``writing``): every call goes to the primary
_PINNED: contextvars.ContextVar[bool] = contextvars.ContextVar("expert_on_primary", default=False)


def lsn_int(lsn: str) -> int:
    """A WAL position (``16/B374D848``) as a number of bytes.

    >>> lsn_int("1/0") - lsn_int("0/FFFFFFFF")
    1
    """
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(frozen=True)
class Replication:
    """Where the replica stands: ``state`` streaming, behind, or down; ``lag_bytes`` of WAL
    written on the primary and not yet replayed; ``lag_s`` since the last transaction it
    replayed, when it is behind (0 when it has everything)."""

    replica: str
    state: Literal["streaming", "behind", "down"]
    lag_bytes: int | None = None
    lag_s: float | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Replica(Protocol):
    """What a replicated backend offers beyond the Store contract."""

    def wal_position(self) -> str:
        """The primary's current WAL position (``pg_current_wal_lsn``)."""
        ...

    def replayed(self, lsn: str) -> bool:
        """Whether this replica has replayed the WAL up to ``lsn``."""
        ...

    def replay_state(self) -> tuple[str, float | None]:
        """The position this replica has replayed to, and the seconds since the last
        transaction it replayed (None before the first)."""
        ...


class ReplicatedStore:
    """The Store contract over ``primary`` and the replica ``open_replica`` opens (see the module
    doc); ``shown``: the replica's place, without its password, for log lines and status."""

    def __init__(
        self,
        primary: Any,
        open_replica: Callable[[], Any],
        shown: str,
        after_write: ReadAfterWrite = "wait",
        wait_s: float = 2.0,
    ):
        self.primary: Store = primary
        self.shown = shown
        self.after_write = after_write
        self.wait_s = wait_s
        self._open_replica = open_replica
        self._replica: Any = None
        self._down_at: float | None = None
        self._down_reason = ""
        self._written: str | None = None  # this process's last write, until the replica has it
        self._late: str | None = None  # the write a wait last gave up on (said once)
        self._lock = threading.Lock()
        self._connect(first=True)

    # -- the replica's health ----------------------------------------------------------------------
    def _connect(self, first: bool = False) -> Any:
        try:
            replica = self._open_replica()
        except StoreUnreachableError as exc:
            self._went_down(exc.detail, first)
            return None
        except ConfigError:
            if first:
                raise  # a read_url that is no replica of this primary: the settings are wrong
            self._went_down("it is no longer a replica of the primary", first)
            return None
        if self._down_at is not None and not first:
            log.warning("the replica %s answers again; reads go to it", self.shown)
        self._replica, self._down_at, self._down_reason = replica, None, ""
        return replica

    def _went_down(self, reason: str, first: bool = False) -> None:
        with self._lock:
            replica, self._replica = self._replica, None
            said = self._down_at is not None
            self._down_at, self._down_reason = time.monotonic(), reason
        if replica is not None:
            with contextlib.suppress(Exception):
                replica.close()
        if not said:
            log.warning("the replica %s is unreachable (%s); reads go to the primary", self.shown, reason)

    def _live_replica(self) -> Any:
        """The replica, or None while it is down (tried again every ``RETRY_S``)."""
        if self._replica is not None:
            return self._replica
        if self._down_at is not None and time.monotonic() - self._down_at >= RETRY_S:
            return self._connect()
        return None

    # -- reads and writes --------------------------------------------------------------------------
    def _reader(self) -> Any:
        """The store a read goes to now (see "Reading one's own writes" in the module doc)."""
        replica = None if _PINNED.get() else self._live_replica()
        if replica is None:
            return self.primary
        own, given = self._written, _AFTER.get()
        wanted = max((p for p in (own, given) if p), key=lsn_int, default=None)
        if wanted is None or self.after_write == "replica":
            return replica
        deadline = time.monotonic() + (self.wait_s if self.after_write == "wait" else 0.0)
        while True:
            if replica.replayed(wanted):
                with self._lock:
                    if self._written == own and own is not None and lsn_int(own) <= lsn_int(wanted):
                        self._written = None
                return replica
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        if self.after_write == "wait" and self._late != wanted:
            self._late = wanted
            log.warning(
                "the replica %s has not replayed a write after %.1f s; reading it from the primary",
                self.shown,
                self.wait_s,
            )
        return self.primary

    def _read(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                store = self._reader()
            except StoreUnreachableError as exc:  # asking the replica how far it is
                self._went_down(exc.detail)
                store = self.primary
            try:
                return getattr(store, name)(*args, **kwargs)
            except StoreUnreachableError as exc:
                if store is self.primary:
                    raise
                self._went_down(exc.detail)
                return getattr(self.primary, name)(*args, **kwargs)

        return call

    def _write(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            result = getattr(self.primary, name)(*args, **kwargs)
            if not _PINNED.get():  # a write job notes the position once, at its end
                self._wrote()
            return result

        return call

    def _wrote(self) -> None:
        """Note the primary's WAL position as this process's last write."""
        position = self.primary.wal_position()  # type: ignore[attr-defined]
        with self._lock:
            if self._written is None or lsn_int(position) > lsn_int(self._written):
                self._written = position

    @contextlib.contextmanager
    def on_primary(self) -> Iterator[None]:
        """Every call inside goes to the primary (a write job reads what it just wrote); the
        position the WAL reached is noted at the end, for the reads after it."""
        token = _PINNED.set(True)
        try:
            yield
        finally:
            _PINNED.reset(token)
            with contextlib.suppress(StoreUnreachableError):
                self._wrote()

    def __getattr__(self, name: str) -> Any:
        if name in READS:
            return self._read(name)
        if name in WRITES:
            return self._write(name)
        if name in PRIMARY:
            return getattr(self.primary, name)
        raise AttributeError(name)

    @contextlib.contextmanager
    def read_after(self, lsn: str | None) -> Iterator[None]:
        """Reads inside see at least the WAL position ``lsn`` (a client's own write, made
        through another process), by ``read_after_write``'s rule."""
        token = _AFTER.set(lsn or None)
        try:
            yield
        finally:
            _AFTER.reset(token)

    def written(self) -> str | None:
        """The WAL position of this process's last write the replica may not have yet."""
        return self._written

    def note(self, lsn: str) -> None:
        """Reads from now on see at least the WAL position ``lsn`` (a write made through another
        connection or process, by ``read_after_write``'s rule)."""
        with self._lock:
            if self._written is None or lsn_int(lsn) > lsn_int(self._written):
                self._written = lsn

    def replication(self) -> Replication:
        replica = self._live_replica()
        if replica is None:
            return Replication(self.shown, "down", reason=self._down_reason)
        try:
            replayed, age = replica.replay_state()
            current = self.primary.wal_position()  # type: ignore[attr-defined]
        except StoreUnreachableError as exc:
            self._went_down(exc.detail)
            return Replication(self.shown, "down", reason=self._down_reason)
        behind = max(0, lsn_int(current) - lsn_int(replayed))
        return Replication(
            self.shown, "behind" if behind else "streaming", behind, (age or 0.0) if behind else 0.0
        )

    def close(self) -> None:
        replica, self._replica = self._replica, None
        if replica is not None:
            replica.close()
        self.primary.close()


def writing(store: Store) -> contextlib.AbstractContextManager[None]:
    """A write job's calls, all on the primary when ``store`` is replicated (``on_primary``)."""
    on_primary = getattr(store, "on_primary", None)
    return on_primary() if on_primary is not None else contextlib.nullcontext()


def written(store: Store) -> str | None:
    """The WAL position of the last write through ``store`` that its replica may not have
    replayed yet; None without a replica, or when it has."""
    position = getattr(store, "written", None)
    return position() if position is not None else None


def note(store: Store, lsn: str | None) -> None:
    """Reads through ``store`` see at least ``lsn`` from now on (nothing without a replica)."""
    noted = getattr(store, "note", None)
    if lsn and noted is not None:
        noted(lsn)


def replication(store: Store) -> Replication | None:
    """Where the replica of ``store`` stands, or None when it has none."""
    state = getattr(store, "replication", None)
    return state() if state is not None else None
