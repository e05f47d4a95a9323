"""The server under requests nobody would write by hand, and under a key that reads one collection.

1. schemathesis generates requests for every operation in ``/openapi.json`` (the upload endpoint
   aside: each valid upload starts an ingest process; ``test_server.py`` covers it) and, following
   the schema's OpenAPI links (a document list leads to its documents, originals and forgetting),
   sequences of them. No request may break the server (a 5xx), and every error is OpenAI's shape
   in one line.
2. Every operation that can return document content is called with a key that reads ``finance``
   only, aimed at the ``hr`` collection's document and job: nothing of ``hr`` comes back. The test
   lists the operations it checks and fails when the schema has one it does not know, so a new
   endpoint is classified before it ships.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeGenerator
from serving import copy_workspace, serving

pytestmark = pytest.mark.slow
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from industry_expert import Workspace  # noqa: E402
from industry_expert.server import ServerState, create_app  # noqa: E402

REPLY = "Northwind's capital expenditure in fiscal 2023 was $38.4 million [1]."
HR_MARKERS = ("27 days", "leave.md", "policy.md")


def one_line_openai_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is ``{"error": {"message", "type", "param", "code"}}`` with a one-line message."""
    if response.status_code < 400 or response.status_code == 499:
        return None
    body = json.loads(response.content)
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code"}, body
    assert error["message"] and "\n" not in error["message"] and "Traceback" not in error["message"], body
    return None


CHECKS = [not_a_server_error, one_line_openai_error]


@pytest.fixture(scope="module")
def api(served_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path = copy_workspace(served_template, tmp_path_factory.mktemp("fuzz"))
    ws = Workspace.open(path, shared=True)
    ws.use_generator(FakeGenerator([REPLY]))
    state = ServerState(ws, "127.0.0.1")
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(state))
    yield schema.exclude(path="/api/collections/{collection}/files")
    state.close()


@pytest.mark.long
def test_no_generated_request_breaks_the_server(api: Any) -> None:
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def fuzz(case: Any) -> None:
            response = case.call()
            statuses.append(response.status_code)
            case.validate_response(response, checks=CHECKS)

        fuzz()
    assert len(statuses) >= 200 and any(s < 300 for s in statuses) and any(s >= 400 for s in statuses)


def test_no_sequence_of_linked_requests_breaks_the_server(api: Any) -> None:
    calls: list[str] = []

    class Machine(api.as_state_machine()):  # type: ignore[misc]
        def after_call(self, response: Any, case: Any) -> None:
            calls.append(f"{case.method} {case.path}")

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kw: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    Machine.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )
    followed = {c for c in calls if "{" in c}  # operations reached through a link, with an id from a response
    assert {"GET /api/documents/{doc_id}", "GET /documents/{doc_id}"} <= followed, sorted(set(calls))


# (method, path) -> how a key that reads "finance" only aims the call at "hr"; None: the operation
# returns no document content (checked for the same markers anyway)
SCOPED: dict[tuple[str, str], dict[str, Any] | None] = {
    ("get", "/v1/models"): None,
    ("post", "/v1/chat/completions"): {
        "json": {
            "model": "rag",
            "sources": True,
            "messages": [{"role": "user", "content": "How many days of paid leave?"}],
        }
    },  # fmt: skip
    ("post", "/v1/embeddings"): None,
    ("get", "/api/search"): {"params": {"q": "how many days off does an employee get", "k": 20}},
    ("get", "/api/collections"): {},
    ("get", "/api/documents"): {},
    ("get", "/api/documents/{doc_id}"): {"path": "hr_doc"},
    ("delete", "/api/documents/{doc_id}"): {"path": "hr_doc"},
    ("get", "/documents/{doc_id}"): {"path": "hr_doc"},
    ("post", "/api/collections/{collection}/files"): {"path": "hr", "files": True},
    ("get", "/api/jobs"): {},
    ("get", "/api/jobs/{job_id}"): {"path": "hr_job"},
    ("get", "/api/status"): {},
    ("get", "/api/evaluations"): {},
    ("get", "/api/evaluations/{name}/report"): {"path": "any"},
    ("get", "/api/evaluations/{name}"): {"path": "any"},
    ("get", "/healthz"): None,
}


def test_a_key_for_one_collection_never_sees_another_through_any_endpoint(
    served_template: Path, tmp_path: Path
) -> None:
    path = copy_workspace(served_template, tmp_path)
    with Workspace.open(path) as ws:
        finance, _ = ws.keys.create("finance-reader", read="finance")
        admin, _ = ws.keys.create("admin", read="*", write="*")
        hr_doc = next(d.id for d in ws.sources() if d.collection == "hr")
    with serving(path, FakeGenerator([REPLY])) as live:
        schema = live.client().get("/openapi.json").json()
        operations = {
            (method, route.replace("{name:path}", "{name}"))
            for route, item in schema["paths"].items()
            for method in item
        }
        assert operations == set(SCOPED), f"classify the new operations: {operations ^ set(SCOPED)}"
        with live.client(admin) as http:  # an hr job exists, made by someone allowed to
            upload = {"files": ("policy.md", b"# Leave\n\nEvery employee receives 27 days of paid leave.\n")}
            hr_job = http.post("/api/collections/hr/files", params={"wait": True}, files=upload).json()["id"]
        ids = {"hr_doc": str(hr_doc), "hr_job": hr_job, "hr": "hr", "any": "x"}
        with live.client(finance) as http:
            for (method, route), how in sorted(SCOPED.items()):
                how = dict(how or {})
                url = route
                if "path" in how:
                    url = route.split("{")[0] + ids[how.pop("path")] + route.split("}", 1)[1]
                if how.pop("files", False):
                    how["files"] = {"files": ("x.md", b"# x\n\nx\n")}
                if method == "post" and not how.get("json") and "files" not in how:
                    how["json"] = {"model": "all-MiniLM-L6-v2", "input": "paid leave"}
                response = http.request(method.upper(), url, **how)
                text = response.text
                assert not any(marker in text for marker in HR_MARKERS), (
                    method,
                    route,
                    response.status_code,
                    text[:300],
                )
                if "hr_doc" in str(SCOPED[(method, route)]) or "hr_job" in str(SCOPED[(method, route)]):
                    assert response.status_code == 404, (
                        method,
                        route,
                        response.status_code,
                    )  # not "forbidden"
        with Workspace.open(path) as ws:
            assert any(d.id == hr_doc for d in ws.sources())  # the finance key could not forget it
