"""What a key may see of a workspace: its collections, the collections a search may read, and
one document, for the HTTP API and the MCP server alike (``mcp_server.py``)."""

from __future__ import annotations

from ..errors import NotFoundError, PermissionDeniedError
from ..keys import Access
from ..store import StoredDocument
from ..workspace import Workspace


class Catalog:
    def __init__(self, ws: Workspace):
        self.ws = ws

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
                known = ", ".join(self.collections(access)) or "none yet"
                raise NotFoundError(f"there is no collection {collection!r}; the collections are: {known}")
        return access.read

    def documents(
        self, access: Access, collection: str | None = None, pattern: str | None = None
    ) -> list[StoredDocument]:
        """The documents ``access`` may read (of ``collection`` if named, checked; matching
        ``pattern``, a path or glob, if given)."""
        if collection is not None:
            self.readable(access, collection)
        return [
            d
            for d in self.ws.sources(pattern)
            if access.can_read(d.collection) and collection in (None, d.collection)
        ]

    def document(self, doc_id: int, access: Access, write: bool = False) -> StoredDocument:
        """The document ``doc_id``, if ``access`` may read it (``write``: change it); a document
        of a collection the key cannot read is reported as missing, not as forbidden."""
        found = next((d for d in self.ws.sources() if d.id == doc_id), None)
        visible = found is not None and (
            access.can_read(found.collection) or (write and access.can_write(found.collection))
        )
        if found is None or not visible:
            raise NotFoundError(f"there is no document {doc_id}; the list of documents gives the ids")
        if write and not access.can_write(found.collection):
            raise PermissionDeniedError(f"this key may not change the collection {found.collection!r}")
        return found
