"""Scoped keys on the real server: every endpoint with no key, a wrong key, a revoked key and a key
for another collection; nothing of a collection a key cannot read ever reaches it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeGenerator
from serving import copy_workspace, serving

from industry_expert import Workspace
from industry_expert.errors import ConfigError
from industry_expert.keys import KeyRing
from industry_expert.server import ServerState
from industry_expert.store import SQLiteStore


def make_keys(served_ws: Path) -> dict[str, str]:
    with Workspace.open(served_ws) as ws:
        keys = {
            "admin": ws.keys.create("admin", read="*", write="*")[0],
            "finance": ws.keys.create("analysts", read="finance")[0],
            "pipeline": ws.keys.create("pipeline", write="hr")[0],
            "revoked": ws.keys.create("former", read="*", write="*")[0],
        }
        ws.keys.revoke("former")
    keys["wrong"] = keys["admin"][:-4] + "AAAA"
    return keys


def ids(served_ws: Path) -> dict[str, int]:
    with Workspace.open(served_ws) as ws:
        return {Path(d.source).name: d.id for d in ws.sources()}


LEAVE = "How many days of paid leave does an employee receive?"


def test_without_a_valid_key_every_endpoint_but_the_page_says_401(served_ws: Path) -> None:
    keys = make_keys(served_ws)
    doc = ids(served_ws)["capex.md"]
    chat = {"model": "rag", "messages": [{"role": "user", "content": LEAVE}]}
    endpoints = [
        ("get", "/v1/models", {}),
        ("post", "/v1/chat/completions", {"json": chat}),
        ("post", "/v1/chat/completions", {"json": {**chat, "stream": True}}),
        ("post", "/v1/embeddings", {"json": {"model": "all-MiniLM-L6-v2", "input": "x"}}),
        ("get", "/api/search", {"params": {"q": "leave"}}),
        ("get", "/api/collections", {}),
        ("get", "/api/documents", {}),
        ("get", f"/api/documents/{doc}", {}),
        ("delete", f"/api/documents/{doc}", {}),
        ("get", f"/documents/{doc}", {}),
        (
            "post",
            "/api/collections/hr/files",
            {"files": [("files", ("a.md", b"# A\n\nText.\n", "text/markdown"))]},
        ),
        ("get", "/api/jobs", {}),
        ("get", "/api/status", {}),
        ("get", "/api/evaluations", {}),
    ]
    gen = FakeGenerator()
    with serving(served_ws, gen) as live:
        for who in (None, "wrong", "revoked", "malformed"):
            token = {"malformed": "Basic abc"}.get(who or "", keys.get(who or "", ""))
            headers = {"Authorization": token if who == "malformed" else f"Bearer {token}"} if who else {}
            with live.client() as http:
                for method, path, kw in endpoints:
                    response = getattr(http, method)(path, headers=headers, **kw)
                    assert response.status_code == 401, (who, method, path, response.text)
                    assert response.headers["www-authenticate"] == "Bearer"
                    assert "key" in response.json()["error"]["message"]
                assert (
                    http.get("/").status_code == 200 and http.get("/healthz").json()["keys_required"] is True
                )
        assert gen.calls == [] and live.state.jobs.all() == []
    assert ids(served_ws)["capex.md"] == doc  # nothing was forgotten


def test_a_key_sees_and_changes_only_its_collections(served_ws: Path) -> None:
    keys = make_keys(served_ws)
    doc = ids(served_ws)
    gen = FakeGenerator(["Employees receive 27 days [1]."])
    with serving(served_ws, gen, evaluations=served_ws) as live:
        with live.client(keys["finance"]) as http:
            assert http.get("/v1/models").status_code == 200
            assert [c["name"] for c in http.get("/api/collections").json()["data"]] == ["finance"]
            assert {Path(d["source"]).name for d in http.get("/api/documents").json()["data"]} == {
                "capex.md",
                "revenue.md",
            }
            hits = http.get("/api/search", params={"q": "paid leave days employee", "k": 10}).json()["hits"]
            assert hits and all(h["collection"] == "finance" for h in hits)
            assert http.get("/api/search", params={"q": "leave", "collection": "hr"}).status_code == 403
            # the chat never sees an hr passage: the question about leave finds none
            reply = http.post(
                "/v1/chat/completions",
                json={"model": "rag", "sources": True, "messages": [{"role": "user", "content": LEAVE}]},
            ).json()
            assert all(s["source"].endswith(("capex.md", "revenue.md")) for s in reply["sources"])
            assert not any("27 days" in m["content"] for call in gen.calls for m in call)
            body = {"model": "rag", "collection": "hr", "messages": [{"role": "user", "content": LEAVE}]}
            assert http.post("/v1/chat/completions", json=body).status_code == 403
            for path in (f"/api/documents/{doc['leave.md']}", f"/documents/{doc['leave.md']}"):
                assert http.get(path).status_code == 404  # not even that it exists
            assert http.get(f"/documents/{doc['capex.md']}").status_code == 200
            assert http.delete(f"/api/documents/{doc['capex.md']}").status_code == 403  # reads, may not write
            upload = [("files", ("a.md", b"# A\n\nText.\n", "text/markdown"))]
            assert http.post("/api/collections/finance/files", files=upload).status_code == 403
            status = http.get("/api/status").json()
            assert status["documents"] == 2 and status["key"] == "analysts" and "workspace" not in status
            assert http.get("/api/evaluations").status_code == 403
        with live.client(keys["pipeline"]) as http:  # writes hr, reads nothing
            assert http.get("/api/documents").json()["data"] == []
            assert http.post("/api/collections/finance/files", files=upload).status_code == 403
            job = http.post("/api/collections/hr/files", params={"wait": True}, files=upload).json()
            assert job["status"] == "done" and http.get(f"/api/jobs/{job['id']}").status_code == 200
            assert http.delete(f"/api/documents/{doc['capex.md']}").status_code == 404
            removed = http.delete(f"/api/documents/{doc['leave.md']}").json()["removed"]
            assert [Path(r).name for r in removed] == ["leave.md"]  # a write-only key may forget in hr
        with live.client(keys["finance"]) as http:
            assert http.get(f"/api/jobs/{job['id']}").status_code == 404
        with live.client(keys["admin"]) as http:
            assert len(http.get("/api/collections").json()["data"]) == 2
            assert http.get("/api/evaluations").json()["data"] == []
            # revoked in another process: refused from the next request
            KeyRing(SQLiteStore(served_ws / "store.db")).revoke("admin")
            assert http.get("/api/collections").status_code == 401


def test_binding_beyond_loopback_needs_a_key(served_ws: Path) -> None:
    ws = Workspace.open(served_ws, shared=True)
    state = ServerState(ws, "0.0.0.0")
    try:
        with pytest.raises(ConfigError, match="no API key"):
            state.check_bind()
        ws.keys.create("team", read="*")
        state.check_bind()  # a key exists: it may start, and keys are required
        assert state.auth_required()
        with pytest.raises(ConfigError, match="refused when binding 0.0.0.0"):
            ServerState.check_bind(_with_auth(state, "off"))
    finally:
        state.close()
    # the command says so in one line, before loading any model
    fresh = copy_workspace(served_ws, served_ws.parent / "again")
    with Workspace.open(fresh) as other:
        other.keys.revoke("team")
    done = subprocess.run(
        [sys.executable, "-m", "industry_expert.cli", "-w", str(fresh), "serve", "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "expert keys create" in done.stderr


def _with_auth(state: ServerState, auth: str) -> ServerState:
    from dataclasses import replace

    state.settings = replace(state.settings, auth=auth)  # type: ignore[arg-type]
    return state


@pytest.mark.long
def test_keys_commands_make_list_and_revoke(served_ws: Path) -> None:
    def expert(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "industry_expert.cli", "-w", str(served_ws), "keys", *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    made = expert("create", "--name", "analysts", "--read", "finance,hr")
    assert made.returncode == 0 and made.stdout.startswith("ie_") and "shown once" in made.stderr
    secret = made.stdout.strip()
    listed = json.loads(expert("list", "--json").stdout)
    assert (
        listed[0]["name"] == "analysts"
        and listed[0]["read"] == ["finance", "hr"]
        and secret not in json.dumps(listed)
    )
    assert expert("create", "--name", "analysts", "--read", "x").returncode == 2
    bad = expert("create", "--name", "x", "--read", "../etc")
    assert bad.returncode == 2 and "not valid" in bad.stderr and bad.stderr.count("\n") == 1
    assert expert("revoke", "analysts").returncode == 0
    assert "revoked" in expert("list").stdout
    assert expert("revoke", "analysts").returncode == 2
