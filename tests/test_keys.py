"""API keys: made once, stored as salted hashes, scoped to collections, revoked at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from industry_expert.errors import InputError
from industry_expert.keys import META_KEY, KeyRing, check_name, parse_scope
from industry_expert.store import SQLiteStore


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(SQLiteStore(tmp_path / "store.db"))


def test_a_key_grants_its_scopes_and_only_its_hash_is_stored(ring: KeyRing) -> None:
    secret, record = ring.create("analysts", read="finance,hr")
    assert secret.startswith(f"ie_{record.id}_") and len(secret) == 3 + 12 + 1 + 43
    stored = ring.store.get_meta(META_KEY) or ""
    assert secret.split("_", 2)[2] not in stored and record.digest in stored and record.salt in stored
    access = ring.verify(secret)
    assert access is not None and access.name == "analysts"
    assert access.can_read("finance") and access.can_read("hr") and not access.can_read("ops")
    assert not access.can_write("finance")
    everything, _ = ring.create("admin", read="*", write="*")
    full = ring.verify(everything)
    assert full is not None and full.reads_all and full.can_write("anything")


def test_wrong_malformed_and_revoked_keys_grant_nothing(ring: KeyRing) -> None:
    secret, record = ring.create("pipeline", write=["finance"])
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for bad in ["", "Bearer x", "ie_000000000000_" + "a" * 43, tampered, secret + "x"]:
        assert ring.verify(bad) is None, bad
    assert ring.verify(secret) is not None
    # a second ring on the same store (another process) sees the revocation at once
    other = KeyRing(SQLiteStore(Path(ring.store.path)))  # type: ignore[attr-defined]
    other.revoke("pipeline")
    assert ring.verify(secret) is None
    listed = ring.records()[0].public()
    assert listed["revoked_at"] and "digest" not in listed and "salt" not in listed
    with pytest.raises(InputError, match="no active key"):
        ring.revoke("pipeline")
    again, _ = ring.create("pipeline", write="finance")  # the name is free again
    assert ring.verify(again) is not None and ring.verify(secret) is None
    assert record.id != ring.records()[-1].id


def test_names_and_scopes_are_checked(ring: KeyRing) -> None:
    assert parse_scope("finance, hr,finance") == ("finance", "hr")
    assert parse_scope("hr,*") == ("*",)
    for bad in ["../etc", "a/b", "", " ", "x" * 65, "-lead"]:
        with pytest.raises(InputError, match="not valid"):
            check_name(bad)
    with pytest.raises(InputError, match="needs --read and/or --write"):
        ring.create("empty")
    with pytest.raises(InputError, match="not valid"):
        ring.create("ok", read="fin/ance")
    ring.create("dup", read="*")
    with pytest.raises(InputError, match="exists"):
        ring.create("dup", read="*")
