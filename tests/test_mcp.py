"""The workspace as an MCP server (server/mcp_server.py), driven by the official SDK's own client:
over streamable HTTP at /mcp of a real `expert serve` app (uvicorn on loopback), with scoped keys,
and over stdio from `expert mcp`, started as the documentation's desktop-assistant snippet says."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import FakeGenerator
from serving import serving

from industry_expert import Workspace

pytestmark = pytest.mark.slow
DOCS = Path(__file__).resolve().parents[1] / "docs" / "mcp.md"


def http_client(url: str, key: str | None) -> Any:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=60)))


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return dict(result.structured_content)


def error(result: Any) -> str:
    assert result.is_error, result
    return " ".join(c.text for c in result.content if getattr(c, "text", None))


def test_over_http_each_key_sees_only_its_collections(served_ws: Path) -> None:
    with Workspace.open(served_ws) as ws:
        finance, _ = ws.keys.create("finance-only", read="finance")
        everything, _ = ws.keys.create("all", read="*")
    generator = FakeGenerator(["Capital expenditure was $38.4 million in fiscal 2023 [1]."])
    with serving(served_ws, generator) as live:
        url = f"{live.url}/mcp"

        async def as_finance() -> None:
            async with http_client(url, finance) as client:
                tools = {t.name for t in (await client.list_tools()).tools}
                assert tools == {"search", "ask", "list_documents", "read_document"}
                hits = structured(await client.call_tool("search", {"query": "capital expenditure", "k": 3}))
                top = hits["hits"][0]
                assert top["source"].endswith("capex.md") and top["collection"] == "finance"
                assert top["url"] == f"{live.url}/documents/{top['document_id']}"
                assert all(h["collection"] == "finance" for h in hits["hits"])  # never hr's leave policy
                answer = structured(
                    await client.call_tool("ask", {"question": "What was capital expenditure?"})
                )
                assert "$38.4 million" in answer["answer"]
                [citation] = answer["citations"]
                assert citation["source"].endswith("capex.md") and citation["url"].startswith(live.url)
                docs = structured(await client.call_tool("list_documents", {}))["documents"]
                assert {d["collection"] for d in docs} == {"finance"} and len(docs) == 2
                text = structured(
                    await client.call_tool("read_document", {"document_id": top["document_id"]})
                )
                assert "38.4 million" in text["passages"][0]["text"] and text["next_offset"] is None
                resource = await client.read_resource(f"document://{top['document_id']}")
                assert "38.4 million" in resource.contents[0].text
                # the other collection, through every door: one line each, nothing of it shown
                hr = next(d for d in all_docs if d["collection"] == "hr")
                assert "no document" in error(
                    await client.call_tool("read_document", {"document_id": hr["id"]})
                )
                assert "may not read the collection 'hr'" in error(
                    await client.call_tool("search", {"query": "paid leave", "collection": "hr"})
                )
                assert "may not read" in error(
                    await client.call_tool("ask", {"question": "x", "collection": "hr"})
                )
                with pytest.raises(Exception, match="no document"):
                    await client.read_resource(f"document://{hr['id']}")
                # arguments the tool does not take, or of another type: the protocol's validation error
                bad = await client.call_tool("search", {"query": "x", "limit": 3})
                assert bad.is_error and "limit" in error(bad)
                assert (await client.call_tool("read_document", {"document_id": True})).is_error
                for odd in ("²", "", "9" * 5000):
                    with pytest.raises(Exception, match="no document"):
                        await client.read_resource(f"document://{odd}")

        async def as_everyone() -> list[dict[str, Any]]:
            async with http_client(url, everything) as client:
                return list(structured(await client.call_tool("list_documents", {}))["documents"])

        all_docs = anyio.run(as_everyone)
        assert {d["collection"] for d in all_docs} == {"finance", "hr"}
        anyio.run(as_finance)
        # no key, or a wrong one: refused before the protocol, in one line
        with httpx.Client(base_url=live.url) as http:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            for headers in ({}, {"Authorization": "Bearer nope"}):
                response = http.post("/mcp", json=body, headers={"Accept": "application/json", **headers})
                assert response.status_code == 401 and "API key" in response.json()["error"]["message"]
            # stateless: a GET for a stream from the server is answered at once, not held open
            listen = http.get(
                "/mcp", headers={"Authorization": f"Bearer {finance}", "Accept": "text/event-stream"}
            )
            assert listen.status_code == 405 and "POST" in listen.json()["error"]["message"]


def desktop_snippet(workspace: Path) -> dict[str, Any]:
    """The docs' configuration for a desktop assistant, with this test's workspace and Python."""
    block = re.search(r"```json\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert block, "docs/mcp.md shows the desktop assistant's configuration"
    entry = json.loads(block.group(1))["mcpServers"]["industry-expert"]
    assert entry["command"] == "expert" and entry["args"][0] == "mcp"
    args = [a if a != "/path/to/workspace" else str(workspace) for a in entry["args"]]
    return {"command": sys.executable, "args": ["-m", "industry_expert.cli", *args], "env": entry.get("env")}


def test_over_stdio_as_the_docs_configure_a_desktop_assistant(served_ws: Path) -> None:
    from mcp import Client, StdioServerParameters

    launch = desktop_snippet(served_ws)

    async def main() -> None:
        async with Client(StdioServerParameters(**launch)) as client:
            hits = structured(await client.call_tool("search", {"query": "paid leave days"}))
            assert hits["hits"][0]["source"].endswith("leave.md") and hits["hits"][0]["url"] is None
            docs = structured(await client.call_tool("list_documents", {}))["documents"]
            assert {d["collection"] for d in docs} == {"finance", "hr"}  # the local user's own workspace
            leave = next(d for d in docs if d["source"].endswith("leave.md"))
            page = structured(await client.call_tool("read_document", {"document_id": leave["id"]}))
            assert "27 days" in page["passages"][0]["text"]
            assert "no document 999" in error(await client.call_tool("read_document", {"document_id": 999}))
            templates = await client.list_resource_templates()
            assert [t.uri_template for t in templates.resource_templates] == ["document://{document_id}"]

    anyio.run(main)
