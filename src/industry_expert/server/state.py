"""What one running server holds: the workspace, its keys, its models, its queue and its jobs.

Reads (searches, answers, listings) share the workspace's store through one lock
(``Workspace.open(shared=True)``); the server's own small writes (forget, skip records of
uploads) go through a second connection, so they wait for an ingest's transaction without
holding up readers; documents are written by ingest jobs in a child process (``jobs``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..api import is_loopback
from ..errors import AuthenticationError, ConfigError
from ..generate import Generator
from ..ingest.watch import Watched, watch
from ..ingest.yielding import AnswerGate, answering_flag
from ..jobs import JobQueue, open_jobs
from ..keys import OPEN, Access, KeyRing
from ..store import Store, StoredDocument, open_store
from ..store.locked import locked
from ..store.replica import note, written
from ..workspace import Workspace
from .catalog import Catalog
from .modes import Modes
from .queue import ModelQueue

log = logging.getLogger("industry_expert.server")


class ServerState:
    def __init__(
        self,
        ws: Workspace,
        host: str = "127.0.0.1",
        adapters: Mapping[str, str] | None = None,
        tuned: Mapping[str, Generator] | None = None,
        evaluations: Path | None = None,
        watch: Sequence[Watched] = (),
    ):
        self.ws = ws
        self.catalog = Catalog(ws)
        self.settings = ws.settings.serve
        self.host = host
        self.keys = KeyRing(ws.store)
        self.modes = Modes(lambda: ws.generator, ws.settings.generator, adapters, tuned)
        self.writer: Store = locked(open_store(ws.settings.store, ws.path))
        # a model on this machine: ingest here pauses between batches while it answers
        self.gate = AnswerGate(answering_flag(ws.path))
        local = ws.settings.generator.backend in ("llama-cpp", "transformers")
        on_busy = (lambda busy: self.gate.hold() if busy else self.gate.release()) if local else None
        self.queue = ModelQueue(
            self.settings.parallel, self.settings.queue, on_busy, self.settings.max_wait_s
        )
        self.jobs: JobQueue = open_jobs(ws, self.writer)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        if watch:
            self._watch(list(watch))
        self.evaluations = evaluations or Path(self.settings.evaluations or ".")
        self.started = time.time()

    # -- keys ----------------------------------------------------------------------------------
    def check_bind(self) -> None:
        """Refuse to serve beyond loopback without keys (one line that says what to do)."""
        auth = self.settings.auth
        if auth == "on" and not self.keys.any_active():
            raise ConfigError(
                "serve.auth is on but no key exists; make one: expert keys create --name NAME --read '*'"
            )
        if is_loopback(self.host):
            return
        if auth == "off":
            raise ConfigError(
                f"serve.auth = off is refused when binding {self.host}: anyone who can reach it would "
                "read every document; keep keys on, or bind 127.0.0.1 behind a proxy that checks users"
            )
        if not self.keys.any_active():
            raise ConfigError(
                f"binding {self.host} exposes the workspace, and it has no API key; make one first: "
                "expert keys create --name NAME --read COLLECTIONS (or '*'), or bind 127.0.0.1"
            )

    def auth_required(self) -> bool:
        auth = self.settings.auth
        if auth == "off":
            return False
        return auth == "on" or not is_loopback(self.host) or self.keys.any_active()

    def authorize(self, header: str | None) -> Access:
        """The access an ``Authorization`` header grants (everything while keys are off)."""
        if not self.auth_required():
            return OPEN
        scheme, _, token = (header or "").partition(" ")
        if not header or scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                "this server needs an API key: send the header 'Authorization: Bearer KEY' "
                "(`expert keys create` makes one)"
            )
        access = self.keys.verify(token)
        if access is None:
            raise AuthenticationError(
                "the API key is wrong or revoked; ask for a new one (`expert keys list` shows the active keys)"
            )
        return access

    def forget(self, doc: StoredDocument) -> None:
        """Remove ``doc``; an uploaded file goes with it, or a re-run of its job would bring it back."""
        self.writer.delete_documents([doc.key])
        note(self.ws.store, written(self.writer))
        self.jobs.discard(doc.key)

    def _watch(self, folders: list[Watched]) -> None:
        """Watched folders: each synced now, as a job (one line here if this server's jobs cannot
        read them), then whenever it changes, from a thread of its own."""
        try:
            for w in folders:
                if w.folder.is_dir():
                    self.jobs.sync(w.collection, w.folder)
        except BaseException:
            self.jobs.close()
            self.writer.close()
            raise

        def sync(w: Watched) -> None:
            self.jobs.sync(w.collection, w.folder)

        def run() -> None:
            watch(folders, sync, self._stop, log.warning, initial=False)

        self._watcher = threading.Thread(target=run, name="watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
        self.gate.release()
        self.jobs.close()
        self.writer.close()
        self.ws.close()
