"""The PostgreSQL store driven as a user would: `expert init --store URL`, ingest, search, forget,
and one line for each way the database can be wrong. The server is real (tests/postgres_server.py);
the store contract itself runs on it in test_store_contract.py."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from postgres_server import fresh_database, server_url
from test_cli import SAMPLES, expert

from industry_expert.events import Event

pytestmark = pytest.mark.slow


@pytest.mark.long
def test_init_ingest_search_and_forget_on_postgresql(tmp_path: Path) -> None:
    url = fresh_database()
    ws = tmp_path / "ws"
    expert("init", "--store", url, ws=ws, check=True)
    assert url in (ws / "expert.toml").read_text() and not (ws / "store.db").exists()
    added = json.loads(expert("ingest", "--json", str(SAMPLES), ws=ws, check=True).stdout)
    assert len(added["added"]) == 3 and added["skipped"] == []
    again = json.loads(expert("ingest", "--json", str(SAMPLES), ws=ws, check=True).stdout)
    assert again["unchanged"] == 3 and again["added"] == []
    question = "What was Northwind's capital expenditure in fiscal 2023?"
    for mode in ("hybrid", "keyword", "dense"):
        hits = json.loads(
            expert("search", "--json", "--mode", mode, "-k", "3", question, ws=ws, check=True).stdout
        )
        top = hits["hits"][0]
        assert top["source"].endswith("northwind_annual_report_2023.pdf") and top["page"] == 2, mode
        assert "38.4" in top["text"]
    status = expert("status", ws=ws, check=True).stdout
    assert "documents        3" in status and "none (integrity check passed)" in status
    # a second workspace folder on the same database sees the same documents (a team's store)
    other = tmp_path / "other"
    expert("init", "--store", url, ws=other, check=True)
    listed = expert("sources", ws=other, check=True).stdout
    assert "northwind_annual_report_2023.pdf" in listed
    expert("forget", str(SAMPLES / "plants.csv"), ws=other, check=True)
    assert "plants.csv" not in expert("sources", ws=ws, check=True).stdout
    # the same embedder only: a folder asking for another one is refused, and nothing is made
    third = tmp_path / "third"
    refused = expert("init", "--store", url, "--embedder", "multilingual", ws=third)
    assert refused.returncode != 0 and "already holds vectors made by" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not third.exists()


def one_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.long
def test_each_way_the_database_can_be_wrong_is_one_line(tmp_path: Path) -> None:
    base = server_url()
    port = int(base.rsplit(":", 1)[1])
    # nothing listens on this port: say where, and what to do
    closed = f"postgresql://postgres@127.0.0.1:{port + 1 if port < 65535 else port - 1}/expert"
    line = one_line(expert("init", "--store", closed, ws=tmp_path / "a"))
    assert "cannot reach PostgreSQL at postgres@127.0.0.1" in line and "start the server" in line
    assert not (tmp_path / "a").exists()
    # a user the server does not know
    line = one_line(
        expert(
            "init", "--store", f"postgresql://nobody_here:secret@127.0.0.1:{port}/postgres", ws=tmp_path / "b"
        )
    )
    assert "refused the credentials" in line and "secret" not in line
    # a database that does not exist
    line = one_line(expert("init", "--store", f"{base}/no_such_database", ws=tmp_path / "c"))
    assert "has no such database" in line
    # no pgvector in the database, and a user without the right to create it
    url = fresh_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE ROLE plain LOGIN") if not conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = 'plain'"
        ).fetchone() else None
        conn.execute("GRANT CREATE ON SCHEMA public TO plain")
    plain = url.replace("postgres@", "plain@")
    line = one_line(expert("init", "--store", plain, ws=tmp_path / "d"))
    assert "no pgvector extension" in line and "CREATE EXTENSION vector" in line
    # an open workspace whose server went away: one line from search and status alike
    ws = tmp_path / "e"
    expert("init", "--store", fresh_database(), ws=ws, check=True)
    toml = ws / "expert.toml"
    toml.write_text(toml.read_text().replace(base, closed.rsplit("/", 1)[0]))
    for command in (["search", "capex"], ["status"]):
        assert "cannot reach PostgreSQL" in one_line(expert(*command, ws=ws))


def test_a_vector_of_another_dimension_is_one_line(tmp_path: Path) -> None:
    import numpy as np

    from industry_expert.errors import StoreError
    from industry_expert.store import SearchFilter
    from industry_expert.store.postgres import PostgresStore

    store = PostgresStore(fresh_database())
    try:
        with pytest.raises(StoreError, match="run `expert reindex`"):
            from test_store_contract import put, unit

            put(store, "/a", ["alpha"], [unit(1, 0)])
            store.dense_search(np.ones(3, dtype=np.float32), 2, SearchFilter())
    finally:
        store.close()


@pytest.mark.long
def test_migrate_a_sqlite_workspace_resumably(tmp_path: Path) -> None:
    import shutil

    from industry_expert import Workspace
    from industry_expert.store.migrate import migrate
    from industry_expert.store.postgres import PostgresStore

    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n garbage")
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    assert expert("ingest", str(docs), ws=ws).returncode == 1  # one file skipped, with its reason
    expert("keys", "create", "--name", "analysts", "--read", "*", ws=ws, check=True)
    with Workspace.open(ws) as opened:
        opened.store.set_summary(str((docs / "plants.csv").resolve()), "Four plants and their staff.")
        opened.set_language("contracts-fa", "fa")
    url = fresh_database()

    # a run that stops after its first document (as a kill would) leaves that document whole
    class Stop(Exception):
        pass

    def stop_after_one(happened: Event) -> None:
        event = happened.to_dict()
        if event["event"] == "progress":
            raise Stop

    with Workspace.open(ws) as opened:
        target = PostgresStore(url)
        with pytest.raises(Stop):
            migrate(opened.store, target, stop_after_one)
        assert target.stats().documents == 1 and target.check() == []
        target.close()
    # run again through the command: the rest is copied, checked, and the workspace switched
    done = json.loads(expert("store", "migrate", "--to", url, "--json", ws=ws, check=True).stdout)
    assert done["documents"] == 3 and done["already"] == 1 and done["copied"] == 2
    assert done["skipped_files"] == 1 and done["summaries"] == 1 and done["vectors_checked"] > 0
    assert url in (ws / "expert.toml").read_text()
    # the workspace answers from PostgreSQL now, with its keys, summaries and history
    (ws / "store.db").rename(tmp_path / "old.db")
    hits = json.loads(
        expert("search", "--json", "-k", "1", "Who manages the Tilburg plant?", ws=ws, check=True).stdout
    )
    assert "Joost" in hits["hits"][0]["text"]
    assert "analysts" in expert("keys", "list", ws=ws, check=True).stdout
    assert "broken.pdf" in expert("sources", ws=ws, check=True).stdout
    status = json.loads(expert("status", "--json", ws=ws, check=True).stdout)
    assert status["documents"] == 3 and status["problems"] == []
    assert status["languages"] == {"contracts-fa": "simple"}
    with Workspace.open(ws) as moved:
        assert (
            moved.store.get_document(str((docs / "plants.csv").resolve())).summary
            == "Four plants and their staff."
        )  # type: ignore[union-attr]
    # migrating into the store it uses already is refused in one line
    assert "the workspace's store is" in one_line(expert("store", "migrate", "--to", url, ws=ws))
    # and into a database holding another embedder's vectors, before anything is copied
    other = tmp_path / "other"
    expert("init", "--embedder", "sentence-transformers", ws=other, check=True)
    expert("ingest", str(SAMPLES / "plants.csv"), ws=other, check=True)
    line = one_line(expert("store", "migrate", "--to", url, ws=other))
    assert "already holds vectors made by onnx-int8/all-MiniLM-L6-v2" in line
    assert (
        "store.db" not in (other / "expert.toml").read_text()
        or url not in (other / "expert.toml").read_text()
    )


@pytest.mark.long
def test_two_ingests_and_searches_at_once_lose_and_repeat_nothing(tmp_path: Path) -> None:
    """Two workspace folders on one database ingest into two collections at the same time while
    this process searches: every document lands once, in its collection, and no search fails."""
    import subprocess
    import sys
    import time

    from industry_expert import Workspace

    url = fresh_database()
    folders = {}
    for name in ("a", "b"):
        docs = tmp_path / f"docs_{name}"
        docs.mkdir()
        for i in range(8):
            (docs / f"{name}{i}.md").write_text(
                f"# Plant {name.upper()}{i}\n\n"
                + f"The {name.upper()}{i} plant makes {i * 7} pumps a week. " * 40,
                encoding="utf-8",
            )
        folders[name] = docs
    expert("init", "--store", url, ws=tmp_path / "ws_a", check=True)
    expert("init", "--store", url, ws=tmp_path / "ws_b", check=True)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "industry_expert.cli",
                "-w",
                str(tmp_path / f"ws_{name}"),
                "ingest",
                "--collection",
                name,
                str(folders[name]),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name in ("a", "b")
    ]
    searches, failures = 0, []
    with Workspace.open(tmp_path / "ws_a") as ws:
        while any(p.poll() is None for p in procs):
            try:
                ws.search("How many pumps does the plant make?", k=3)
                searches += 1
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(exc))
            time.sleep(0.05)
        for p in procs:
            out, err = p.communicate()
            assert p.returncode == 0, err
        docs = ws.store.list_documents()
        assert sorted(d.collection for d in docs) == ["a"] * 8 + ["b"] * 8
        assert len({d.key for d in docs}) == 16 and all(d.chunks > 0 for d in docs)
        assert ws.store.check() == []
        hits = ws.search("How many pumps does the B3 plant make?", k=1, collection="b")
        assert hits and hits[0].collection == "b"
    assert failures == [] and searches > 0


def test_serve_answers_uploads_and_forgets_on_postgresql(tmp_path: Path) -> None:
    """`expert serve` over a PostgreSQL store: search, a cited answer, an upload ingested by the
    job's own process, and a forget, as on SQLite (tests/test_server.py)."""

    from conftest import FakeGenerator
    from serving import build_workspace, finished, serving

    ws = build_workspace(tmp_path, {"store.url": fresh_database()})
    gen = FakeGenerator(["Every employee receives 27 days of paid leave per year [1]."])
    with serving(ws, gen) as live, live.client() as http:
        found = http.get("/api/search", params={"q": "paid leave days", "k": 2}).json()
        assert found["hits"][0]["source"].endswith("leave.md")
        reply = http.post(
            "/v1/chat/completions",
            json={"model": "rag", "messages": [{"role": "user", "content": "How many days of paid leave?"}]},
        ).json()
        message = reply["choices"][0]["message"]
        assert "27 days" in message["content"] and message["annotations"][0]["type"] == "url_citation"
        files = [
            (
                "files",
                ("safety.md", b"# Safety\n\nThe Dayton plant had 3 lost-time incidents.\n", "text/markdown"),
            )
        ]
        job = http.post("/api/collections/ops/files", files=files).json()
        job = finished(http, job)
        assert job["status"] == "done", job
        hits = http.get("/api/search", params={"q": "lost-time incidents", "collection": "ops"}).json()[
            "hits"
        ]
        assert hits[0]["source"] == "uploads/ops/safety.md"
        doc = http.get("/api/documents", params={"collection": "ops"}).json()["data"][0]
        assert http.delete(f"/api/documents/{doc['id']}").json() == {"removed": ["uploads/ops/safety.md"]}
        names = {c["name"]: c["documents"] for c in http.get("/api/collections").json()["data"]}
        assert names == {"finance": 2, "hr": 1}
        assert http.get("/api/status").json()["documents"] == 3


def test_the_hnsw_index_is_built_after_a_bulk_load_and_follows_the_dimension() -> None:
    import numpy as np

    from industry_expert.store import DocumentRecord, SearchFilter
    from industry_expert.store.postgres import PostgresStore
    from industry_expert.types import Chunk

    store = PostgresStore(fresh_database())
    store.hnsw_min_chunks = 100
    rng = np.random.default_rng(0)
    try:
        store.set_meta("embedder_dim", "16")
        for d in range(3):
            vectors = rng.standard_normal((50, 16)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            chunks = [Chunk(f"passage {d}-{i}", "hdr", i) for i in range(50)]
            record = DocumentRecord(
                f"/d{d}", f"d{d}.md", "even" if d % 2 == 0 else "odd", str(d), 1, 1, "t", "t"
            )
            store.put_document(record, chunks, vectors)
        query = rng.standard_normal(16).astype(np.float32)
        query /= np.linalg.norm(query)
        exact = store.dense_search(query, 10, SearchFilter())
        store.optimize()
        with store.pool.connection() as conn:
            assert set(store._hnsw_indexes(conn)) == {"chunks_hnsw_16"}
        indexed = store.dense_search(query, 10, SearchFilter())
        assert indexed[0][0] == exact[0][0] and len({i for i, _ in indexed} & {i for i, _ in exact}) >= 9
        assert all(a[1] >= b[1] for a, b in zip(indexed, indexed[1:], strict=False))  # best first
        assert abs(indexed[0][1] - exact[0][1]) < 1e-2  # half precision
        odd = store.dense_search(query, 10, SearchFilter(collection="odd"))
        assert len(odd) == 10 and {h.source for h in store.get_chunks([i for i, _ in odd])} == {"d1.md"}
        assert store.check() == []
        # a reindex to vectors of another size drops the index with the switch; optimize builds anew
        ids = [i for i, _ in store.all_chunks()]
        store.stage_vectors("small", ids, np.eye(8, dtype=np.float32)[np.arange(len(ids)) % 8])
        store.commit_staged("small", {"embedder_dim": "8"})
        assert store.dense_search(np.eye(8, dtype=np.float32)[3], 1, SearchFilter())[0][1] == pytest.approx(1)
        store.optimize()
        with store.pool.connection() as conn:
            assert set(store._hnsw_indexes(conn)) == {"chunks_hnsw_8"}
    finally:
        store.close()
