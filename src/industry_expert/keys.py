"""API keys for the server: which collections a caller may read and which it may write.

A key is shown once, when it is made (``ie_<id>_<secret>``, 32 random bytes of secret). The store
keeps, under the meta entry ``api_keys``, each key's id, name, scopes, a random salt and
HMAC-SHA256(salt, secret), never the secret itself; a presented key is checked with
``hmac.compare_digest``, in constant time. A slow password hash (scrypt, Argon2) protects secrets a
person chose; a 256-bit random secret cannot be guessed, so one HMAC per request is enough and
costs microseconds. Keys live in the store, so every server on one store (and ``expert keys`` in
another process) sees the same keys, and a revocation counts from the next request.

Scopes name collections, or ``*`` for all of them::

    ring = KeyRing(store)
    secret, record = ring.create("analysts", read=["finance", "hr"])
    ring.verify(secret).can_read("finance")      # True
    ring.revoke("analysts"); ring.verify(secret)  # None

Left out: expiry dates and per-key rate limits (a reverse proxy does the latter well).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from .errors import InputError
from .store import Store
from .types import check_name

META_KEY = "api_keys"
ALL = "*"
_TOKEN = re.compile(r"ie_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def parse_scope(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Collections from ``"finance,hr"`` or a list; ``*`` means every collection."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [item.strip() for item in items if item.strip()]
    if ALL in names:
        return (ALL,)
    return tuple(dict.fromkeys(check_name(n) for n in names))


@dataclass(frozen=True)
class Access:
    """What one request may do: ``read`` and ``write`` are sets of collections, None for all."""

    read: frozenset[str] | None = None
    write: frozenset[str] | None = None
    name: str = ""  # the key's name; empty when keys are off

    def can_read(self, collection: str) -> bool:
        return self.read is None or collection in self.read

    def can_write(self, collection: str) -> bool:
        return self.write is None or collection in self.write

    @property
    def reads_all(self) -> bool:
        return self.read is None


OPEN = Access()  # keys are off: everything is allowed


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    read: tuple[str, ...]
    write: tuple[str, ...]
    salt: str
    digest: str
    created_at: str
    revoked_at: str = ""

    @property
    def active(self) -> bool:
        return not self.revoked_at

    def access(self) -> Access:
        def scope(names: tuple[str, ...]) -> frozenset[str] | None:
            return None if ALL in names else frozenset(names)

        return Access(scope(self.read), scope(self.write), self.name)

    def public(self) -> dict[str, object]:
        """What ``expert keys list`` shows: everything but the salt and the digest."""
        return {
            "id": self.id,
            "name": self.name,
            "read": list(self.read),
            "write": list(self.write),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at or None,
        }


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class KeyRing:
    """The keys kept in one store (read afresh on each call, so other processes' changes count)."""

    def __init__(self, store: Store):
        self.store = store
        self._cache: tuple[str, list[KeyRecord]] = ("", [])

    def records(self) -> list[KeyRecord]:
        raw = self.store.get_meta(META_KEY) or ""
        if raw != self._cache[0]:
            rows = json.loads(raw) if raw else []
            records = [KeyRecord(**{**r, "read": tuple(r["read"]), "write": tuple(r["write"])}) for r in rows]
            self._cache = (raw, records)
        return list(self._cache[1])

    def _save(self, records: list[KeyRecord]) -> None:
        self.store.set_meta(META_KEY, json.dumps([asdict(r) for r in records]))

    def any_active(self) -> bool:
        return any(r.active for r in self.records())

    def create(
        self, name: str, read: str | Iterable[str] | None = None, write: str | Iterable[str] | None = None
    ) -> tuple[str, KeyRecord]:
        """A new key named ``name``: returns the secret (shown once) and what is stored."""
        check_name(name, "key")
        reads, writes = parse_scope(read), parse_scope(write)
        if not reads and not writes:
            raise InputError("a key needs --read and/or --write: collections, or '*' for all")
        records = self.records()
        if any(r.name == name and r.active for r in records):
            raise InputError(f"a key named {name!r} exists; revoke it first, or pick another name")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        record = KeyRecord(key_id, name, reads, writes, salt, _digest(salt, secret), _now())
        self._save([*records, record])
        return f"ie_{key_id}_{secret}", record

    def revoke(self, name: str) -> KeyRecord:
        """Revoke the active key named ``name`` (or with that id); it fails from the next request."""
        records = self.records()
        for i, r in enumerate(records):
            if r.active and name in (r.name, r.id):
                records[i] = replace(r, revoked_at=_now())
                self._save(records)
                return records[i]
        raise InputError(f"no active key named {name!r}; `expert keys list` shows them")

    def verify(self, token: str) -> Access | None:
        """The access ``token`` grants, or None for a malformed, unknown or revoked key."""
        m = _TOKEN.fullmatch(token.strip())
        if m is None:
            return None
        key_id, secret = m.groups()
        for r in self.records():
            if r.id == key_id and r.active:
                if hmac.compare_digest(_digest(r.salt, secret), r.digest):
                    return r.access()
                return None
        return None
