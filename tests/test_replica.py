"""Reads from a streaming replica (``[store] read_url``): routing with fakes, then a real primary
and a real streaming replica started on loopback (``pg_basebackup -R`` from the PostgreSQL the
dev install brings): a document ingested on the primary is searched on the replica, a writer
reads its own write by the setting's rule, a replica that goes down is read around, lag is in
``expert status``, and a read_url that is no replica is one line."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import FakeEmbedder
from postgres_server import START_ERRORS, cannot_start, local_postgres, unavailable
from test_cli import expert

from industry_expert import Workspace
from industry_expert.errors import ConfigError, StoreUnreachableError
from industry_expert.store import SearchFilter, Store
from industry_expert.store.replica import PRIMARY, READS, ReplicatedStore, lsn_int, note, writing


# -- routing, with fakes --------------------------------------------------------------------------
class FakeStore:
    """Records the calls it gets; a replica replays up to ``replayed_to``."""

    def __init__(self, name: str, wal: list[int]):
        self.name = name
        self.calls: list[str] = []
        self.wal = wal  # the primary's position, shared
        self.replayed_to = 0
        self.down = False

    def wal_position(self) -> str:
        return f"0/{self.wal[0]:X}"

    def replayed(self, lsn: str) -> bool:
        return self.replayed_to >= lsn_int(lsn)

    def replay_state(self) -> tuple[str, float | None]:
        return f"0/{self.replayed_to:X}", 1.5

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreUnreachableError("cannot reach PostgreSQL at replica (connection refused)")
            self.calls.append(name)
            if name == "put_document":
                self.wal[0] += 100
            return []

        return call


def replicated(
    after_write: str = "wait", wait_s: float = 0.05
) -> tuple[ReplicatedStore, FakeStore, FakeStore]:
    wal = [1000]
    primary, replica = FakeStore("primary", wal), FakeStore("replica", wal)
    replica.replayed_to = 1000
    return ReplicatedStore(primary, lambda: replica, "replica:5432/x", after_write, wait_s), primary, replica  # type: ignore[arg-type]


def test_every_contract_method_has_one_place() -> None:
    contract = {n for n in dir(Store) if not n.startswith("_")} - {"close"}
    assert contract == READS | PRIMARY and not READS & PRIMARY


def test_reads_go_to_the_replica_and_writes_to_the_primary() -> None:
    store, primary, replica = replicated()
    store.keyword_search("capex", 5, SearchFilter())
    store.list_documents()
    store.put_document(None, [], None)
    store.ingest_lock()
    assert replica.calls == ["keyword_search", "list_documents"]
    assert primary.calls == ["put_document", "ingest_lock"]


def test_a_writer_reads_its_own_write_by_the_rule(caplog: pytest.LogCaptureFixture) -> None:
    # "wait": the replica has not replayed the write in wait_s, so the primary answers, said once
    store, primary, replica = replicated("wait")
    store.put_document(None, [], None)
    with caplog.at_level(logging.WARNING):
        store.get_chunks([1])
        store.get_chunks([2])
    assert primary.calls[-2:] == ["get_chunks", "get_chunks"] and replica.calls == []
    assert len([r for r in caplog.records if "has not replayed a write" in r.getMessage()]) == 1
    replica.replayed_to = 1100  # replayed: the replica again, and the write is forgotten
    store.get_chunks([3])
    assert replica.calls == ["get_chunks"] and store.written() is None
    # "replica": reads as it is; "primary": the primary until the replica has it, without waiting
    store, primary, replica = replicated("replica")
    store.put_document(None, [], None)
    store.get_chunks([1])
    assert replica.calls == ["get_chunks"]
    store, primary, replica = replicated("primary", wait_s=10)
    store.put_document(None, [], None)
    started = time.monotonic()
    store.get_chunks([1])
    assert primary.calls[-1] == "get_chunks" and time.monotonic() - started < 1
    # a position given by a client that wrote through another process
    store, primary, replica = replicated("wait")
    with store.read_after("0/7D0"):  # 2000, beyond what the replica replayed
        store.get_chunks([1])
    assert primary.calls == ["get_chunks"]
    store.get_chunks([1])
    assert replica.calls == ["get_chunks"]


def test_a_write_job_reads_and_writes_on_the_primary_then_the_rule_holds() -> None:
    store, primary, replica = replicated("primary")
    with writing(store):  # type: ignore[arg-type]
        store.get_document("/a")
        store.put_document(None, [], None)
        store.get_document("/a")
    assert primary.calls == ["get_document", "put_document", "get_document"] and replica.calls == []
    assert store.written() == "0/44C"  # noted once, at the end
    store.get_document("/a")
    assert primary.calls[-1] == "get_document"


def test_a_replica_down_is_read_around_with_one_line(caplog: pytest.LogCaptureFixture) -> None:
    store, primary, replica = replicated()
    replica.down = True
    with caplog.at_level(logging.WARNING):
        store.list_documents()
        store.list_documents()
    assert primary.calls == ["list_documents", "list_documents"]
    assert [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()] == [
        "the replica replica:5432/x is unreachable (cannot reach PostgreSQL at replica (connection refused)); "
        "reads go to the primary"
    ]
    assert store.replication().state == "down"


# -- a real primary and a real streaming replica --------------------------------------------------
@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, Any]]:
    """A primary with the database ``expert``, and a streaming replica of it."""
    roots = [
        Path(tempfile.mkdtemp(prefix="expert-primary-")),
        Path(tempfile.mkdtemp(prefix="expert-replica-")),
    ]
    stops: list[Callable[[], None]] = []
    try:
        try:
            base, stop = local_postgres.start(roots[0], settings={"fsync": "off"})
            stops.append(stop)
            primary = local_postgres.ensure_database(base, "expert")
            replica_base, stop_replica = local_postgres.start_replica(
                roots[1], base, settings={"fsync": "off"}
            )
            stops.append(stop_replica)
        except START_ERRORS as exc:
            unavailable(cannot_start(exc))
        yield {
            "primary": primary,
            "base": base,
            "replica": f"{replica_base}/expert",
            "replica_base": replica_base,
            "stop_replica": stop_replica,
            "restart_replica": lambda: local_postgres.start(roots[1], int(replica_base.rsplit(":", 1)[1])),
        }
    finally:
        for stop in reversed(stops):
            stop()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def shown_place(url: str) -> str:
    from industry_expert.store.postgres import where_to

    return where_to(url)


def replay(cluster: dict[str, Any], on: bool) -> None:
    with psycopg.connect(f"{cluster['replica_base']}/postgres", autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_resume()" if on else "SELECT pg_wal_replay_pause()")


def until(check: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def workspace(cluster: dict[str, Any], path: Path, **store: Any) -> Workspace:
    settings = {
        "store.url": cluster["primary"],
        "store.read_url": cluster["replica"],
        "chunking.max_tokens": 120,
    }
    settings.update({f"store.{k}": v for k, v in store.items()})
    if not (path / "expert.toml").exists():
        Workspace.init(path, {"store.url": cluster["primary"], "chunking.max_tokens": 120}).close()
    ws = Workspace.open(path, settings)
    ws.use_embedder(FakeEmbedder())
    return ws


def sources(ws: Workspace) -> set[str]:
    return {Path(h.source).name for h in ws.search("valve", k=10)}


@pytest.mark.slow
@pytest.mark.long
def test_what_the_primary_takes_the_replica_serves(cluster: dict[str, Any], tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Valves\n\nThe valve plant in Tulsa opened in 2019.\n")
    ws = workspace(cluster, tmp_path / "ws")
    report = ws.ingest([docs])
    assert sources(ws) == {"a.md"}  # the writer reads its own write ("wait")
    assert lsn_int(report.read_after) > 0 and report.to_dict()["read_after"] == report.read_after
    # the replica holds it on its own
    with psycopg.connect(cluster["replica"]) as conn:
        assert conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 1
    status = ws.status()["replication"]
    assert status["state"] in ("streaming", "behind") and status["replica"].endswith("/expert")
    ws.close()

    # replay paused: a new document is on the primary only, and each rule shows it or not
    replay(cluster, on=False)
    try:
        (docs / "b.md").write_text("# Valves\n\nThe valve plant in Lyon opened in 2021.\n")
        writer = workspace(cluster, tmp_path / "ws", replica_wait_s=0.3)
        writer_position = writer.ingest([docs]).read_after
        assert sources(writer) == {"a.md", "b.md"}  # waited 0.3 s, then read the primary
        behind = writer.status()["replication"]
        assert behind["state"] == "behind" and behind["lag_bytes"] > 0
        writer.close()
        other = workspace(cluster, tmp_path / "ws", read_after_write="replica")
        assert sources(other) == {"a.md"}  # another process, reading the replica as it is
        other.close()
        # told where the write stood (a server, when its ingest job ends), it waits, then the primary
        told = workspace(cluster, tmp_path / "ws", replica_wait_s=0.2)
        note(told.ctx.store, writer_position)
        assert sources(told) == {"a.md", "b.md"}
        told.close()
        on_primary = workspace(cluster, tmp_path / "ws", read_after_write="primary")
        (docs / "b.md").write_text("# Valves\n\nThe valve plant in Lyon opened in 2022.\n")
        on_primary.ingest([docs])
        assert sources(on_primary) == {"a.md", "b.md"}
        on_primary.close()
    finally:
        replay(cluster, on=True)
    reader = workspace(cluster, tmp_path / "ws", read_after_write="replica")
    assert until(lambda: sources(reader) == {"a.md", "b.md"})  # replayed
    assert until(lambda: reader.status()["replication"]["state"] == "streaming")
    reader.close()


@pytest.mark.slow
def test_a_replica_that_goes_down_is_read_around(
    cluster: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "c.md").write_text("# Valves\n\nThe valve plant in Oslo opened in 2020.\n")
    ws = workspace(cluster, tmp_path / "ws")
    ws.ingest([docs])
    cluster["stop_replica"]()
    try:
        with caplog.at_level(logging.WARNING, logger="industry_expert.store.replica"):
            assert "c.md" in sources(ws)
            assert "c.md" in sources(ws)
        said = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(said) == 1 and "reads go to the primary" in said[0]
        assert ws.status()["replication"]["state"] == "down"
        ws.close()
        # opened while the replica is down: the commands work, status says so
        shown = expert("status", ws=tmp_path / "ws", env_extra={"EXPERT_STORE_READ_URL": cluster["replica"]})
        assert shown.returncode == 0, shown.stderr
        assert "reads go to the primary" in shown.stdout and "Traceback" not in shown.stderr
        port = cluster["replica_base"].rsplit(":", 1)[1]
        assert [line for line in shown.stderr.splitlines() if "unreachable" in line] == [
            f"the replica {shown_place(cluster['replica'])} is unreachable (connection failed: connection to "
            f'server at "127.0.0.1", port {port} failed: Connection refused Is the server running on that host '
            "and accepting TCP/IP connections?); reads go to the primary"
        ]
    finally:
        cluster["restart_replica"]()


@pytest.mark.slow
def test_a_read_url_that_is_no_replica_is_one_line(cluster: dict[str, Any], tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws", {"store.url": cluster["primary"]}).close()
    result = expert("status", ws=tmp_path / "ws", env_extra={"EXPERT_STORE_READ_URL": cluster["primary"]})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a replica (pg_is_in_recovery() is false)" in lines[0]
    # the same from the Python API
    with pytest.raises(ConfigError, match="is not a replica"):
        Workspace.open(tmp_path / "ws", {"store.read_url": f"{cluster['base']}/postgres"})
    # a read_url beside a SQLite store
    with pytest.raises(ConfigError, match="needs a PostgreSQL store.url"):
        Workspace.init(tmp_path / "lite", {"store.read_url": cluster["replica"]})


def test_a_rule_that_does_not_exist_is_refused() -> None:
    from industry_expert.config import load_settings

    with pytest.raises(ConfigError, match="store.read_after_write") as caught:
        load_settings(overrides={"store.read_after_write": "sometimes", "store.replica_wait_s": -1})
    assert "store.replica_wait_s: expected >= 0" in str(caught.value)
