"""What one running server holds: the workspace, its keys, its models, its queue and its jobs.

Reads (searches, answers, listings) share the workspace's store through one lock
(``Workspace.open(shared=True)``); the server's own small writes (forget, skip records of
uploads) go through a second connection, so they wait for an ingest's transaction without
holding up readers; documents are written by ingest jobs in a child process (``jobs``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from ..api import is_loopback
from ..errors import AuthenticationError, ConfigError, NotFoundError, PermissionDeniedError
from ..generate import Generator
from ..ingest.yielding import AnswerGate, answering_flag
from ..jobs import JobQueue, open_jobs
from ..keys import OPEN, Access, KeyRing
from ..store import Store, StoredDocument, open_store
from ..store.locked import locked
from ..store.replica import note, written
from ..workspace import Workspace
from .modes import Modes
from .queue import ModelQueue


class ServerState:
    def __init__(
        self,
        ws: Workspace,
        host: str = "127.0.0.1",
        adapters: Mapping[str, str] | None = None,
        tuned: Mapping[str, Generator] | None = None,
        evaluations: Path | None = None,
    ):
        self.ws = ws
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

    # -- collections and documents -------------------------------------------------------------
    def collections(self, access: Access) -> dict[str, dict[str, int]]:
        """``{name: {"documents": n, "chunks": m}}`` of the collections ``access`` may read."""
        out: dict[str, dict[str, int]] = {}
        for doc in self.ws.sources():
            if access.can_read(doc.collection):
                entry = out.setdefault(doc.collection, {"documents": 0, "chunks": 0})
                entry["documents"] += 1
                entry["chunks"] += doc.chunks
        return dict(sorted(out.items()))

    def readable(self, access: Access, collection: str | None) -> frozenset[str] | None:
        """The collections a search may read: ``collection`` if named (checked), else the key's."""
        if collection is not None:
            if not access.can_read(collection):
                raise PermissionDeniedError(f"this key may not read the collection {collection!r}")
            if collection not in self.collections(access):
                raise NotFoundError(f"there is no collection {collection!r}; GET /api/collections lists them")
        return access.read

    def document(self, doc_id: int, access: Access, write: bool = False) -> StoredDocument:
        """The document ``doc_id``, if ``access`` may read it (``write``: change it); a document
        of a collection the key cannot read is reported as missing, not as forbidden."""
        found = next((d for d in self.ws.sources() if d.id == doc_id), None)
        visible = found is not None and (
            access.can_read(found.collection) or (write and access.can_write(found.collection))
        )
        if found is None or not visible:
            raise NotFoundError(f"there is no document {doc_id}; GET /api/documents lists them")
        if write and not access.can_write(found.collection):
            raise PermissionDeniedError(f"this key may not change the collection {found.collection!r}")
        return found

    def forget(self, doc: StoredDocument) -> None:
        """Remove ``doc``; an uploaded file goes with it, or a re-run of its job would bring it back."""
        self.writer.delete_documents([doc.key])
        note(self.ws.store, written(self.writer))
        self.jobs.discard(doc.key)

    def close(self) -> None:
        self.gate.release()
        self.jobs.close()
        self.writer.close()
        self.ws.close()
