"""What OpenAI's format has no word for: search, collections, documents, uploads and their ingest
jobs, forgetting, status, and the evaluation reports.

Every listing shows only what the request's key may read; a document of another collection is
"not found", never "forbidden", so a key cannot learn what it may not see. Uploaded files are
kept under ``WORKSPACE/uploads/COLLECTION/`` (a re-upload of the same name is an update) and
ingested by a job (``jobs``) with the same per-file reasons as ``expert ingest``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.datastructures import UploadFile

from .. import __version__
from ..config import RetrievalMode
from ..errors import InputError, NotFoundError, PermissionDeniedError, TooLargeError
from ..evaluate.service import Evaluation
from ..jobs import Upload
from ..keys import Access
from ..store import StoredDocument
from ..types import check_name
from .deps import Key, State
from .guard import document_headers
from .state import ServerState

router = APIRouter(tags=["native"])
MAX_FILES = 100


def _links(status: int = 200, **targets: tuple[str, str, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI links from an operation's response: ``name=(operationId, parameter, where in the
    body)``, so that a client (or a stateful fuzzer) knows which id leads where."""
    links = {
        name: {"operationId": op, "parameters": {param: f"$response.body#{where}"}}
        for name, (op, param, where) in targets.items()
    }
    return {status: {"description": "Successful Response", "links": links}}


DOCUMENT_LINKS = _links(
    GetDocument=("getDocument", "doc_id", "/data/0/id"),
    GetOriginal=("getOriginal", "doc_id", "/data/0/id"),
    ForgetDocument=("forgetDocument", "doc_id", "/data/0/id"),
)


def document_dict(doc: StoredDocument, request: Request) -> dict[str, Any]:
    return {**doc.to_dict(), "url": f"{str(request.base_url).rstrip('/')}/documents/{doc.id}"}


@router.get("/api/search", summary="The passages that best answer a query (as `expert search --json`)")
def search(
    state: State,
    access: Key,
    q: str = Query(..., description="the question or search terms"),
    k: int = Query(5, ge=1, le=100),
    mode: Annotated[RetrievalMode | None, Query(description="default: the workspace's")] = None,
    collection: str | None = None,
    source: str | None = Query(None, description="only sources matching this path or glob"),
) -> dict[str, Any]:
    if len(q) > state.settings.max_message_chars:
        raise TooLargeError(
            f"the query is {len(q):,} characters; at most {state.settings.max_message_chars:,}"
        )
    collections = state.catalog.readable(access, collection)
    hits = state.ws.search(q, k=k, mode=mode, source=source, collection=collection, collections=collections)
    return {"query": q, "hits": [h.to_dict() for h in hits]}


@router.get("/api/collections", summary="The collections this key may read, with their sizes")
def collections(state: State, access: Key) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"name": n, **v} for n, v in state.catalog.collections(access).items()],
    }


@router.get(
    "/api/documents",
    summary="The documents this key may read (as `expert sources --json`)",
    operation_id="listDocuments",
    responses=DOCUMENT_LINKS,
)
def documents(
    state: State,
    access: Key,
    request: Request,
    collection: str | None = None,
    pattern: str | None = Query(None, description="only sources matching this path or glob"),
) -> dict[str, Any]:
    docs = state.catalog.documents(access, collection, pattern)
    body: dict[str, Any] = {"object": "list", "data": [document_dict(d, request) for d in docs]}
    if access.reads_all and collection is None:  # skip records carry no collection
        body["skipped"] = [{"source": s, "reason": r} for s, r in state.ws.skipped(pattern)]
    return body


@router.get(
    "/api/documents/{doc_id}",
    summary="One document, with its passages in reading order",
    operation_id="getDocument",
)
def document(doc_id: int, request: Request, state: State, access: Key) -> dict[str, Any]:
    doc = state.catalog.document(doc_id, access)
    chunks = state.ws.store.document_chunks(doc.key)
    return {**document_dict(doc, request), "passages": [{"page": p, "text": t} for p, t in chunks]}


@router.delete(
    "/api/documents/{doc_id}",
    summary="Forget a document (and its uploaded file)",
    operation_id="forgetDocument",
)
def forget(doc_id: int, state: State, access: Key) -> dict[str, Any]:
    doc = state.catalog.document(doc_id, access, write=True)
    state.forget(doc)
    return {"removed": [doc.source]}


@router.get(
    "/documents/{doc_id}",
    summary="The original file of a document (citation links point here)",
    operation_id="getOriginal",
)
def original(doc_id: int, state: State, access: Key) -> Any:
    doc = state.catalog.document(doc_id, access)
    path = Path(doc.key)
    if not path.is_file():
        raise NotFoundError(
            f"the file of document {doc_id} is no longer at {doc.source}; its passages are at /api/documents/{doc_id}"
        )
    media, disposition, headers = document_headers(path)
    return FileResponse(
        path, media_type=media, filename=path.name, content_disposition_type=disposition, headers=headers
    )


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["files"],
                }
            }
        },
    }
}


def upload_name(name: str | None) -> str:
    """``name`` if it is a plain file name; a path, a hidden or odd name is refused."""
    bad = (
        not name
        or name in (".", "..")
        or name.startswith(".")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or len(name.encode("utf-8", "surrogateescape")) > 255
    )
    if bad:
        raise InputError(
            f"the file name {name!r} is not allowed: send a plain file name, without folders, not starting with '.'"
        )
    return str(name)


@router.post(
    "/api/collections/{collection}/files",
    status_code=202,
    operation_id="uploadFiles",
    responses=_links(202, GetJob=("getJob", "job_id", "/id")),
    summary="Upload files into a collection and ingest them (multipart field `files`)",
    openapi_extra=UPLOAD_BODY,
)
async def upload(
    state: State,
    access: Key,
    collection: str,
    request: Request,
    wait: bool = Query(False, description="answer when the ingest is done, with its report"),
) -> JSONResponse:
    check_name(collection)
    if not access.can_write(collection):
        raise PermissionDeniedError(f"this key may not write the collection {collection!r}")
    # its size against serve.max_upload_mb is checked before the body is read (guard.py)
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise InputError("send the upload with a Content-Length header (a multipart/form-data body)")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InputError("send the files as multipart/form-data in the field 'files'")
    form = await request.form(max_files=MAX_FILES, max_fields=10)
    try:
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise InputError("the upload holds no file; send them in the multipart field 'files'")
        names = [upload_name(f.filename) for f in files]
        if len(set(names)) != len(names):
            raise InputError("the upload names one file twice; send each file once")
        uploads = [Upload(name, f.file) for f, name in zip(files, names, strict=True)]
        job = await run_in_threadpool(state.jobs.submit, collection, uploads)
    finally:
        await form.close()
    if wait:
        job = await run_in_threadpool(state.jobs.wait, job.id)
    return JSONResponse(job.to_dict(), status_code=200 if wait else 202)


@router.get(
    "/api/jobs",
    summary="Ingest jobs of the collections this key may write or read",
    operation_id="listJobs",
    responses=_links(GetJob=("getJob", "job_id", "/data/0/id")),
)
def jobs(state: State, access: Key) -> dict[str, Any]:
    visible = [j for j in state.jobs.all() if access.can_write(j.collection) or access.can_read(j.collection)]
    return {"object": "list", "data": [j.to_dict() for j in visible]}


@router.get(
    "/api/jobs/{job_id}", summary="One ingest job: its status and a result per file", operation_id="getJob"
)
def job(job_id: str, state: State, access: Key) -> dict[str, Any]:
    found = state.jobs.get(job_id)
    if found is None or not (access.can_write(found.collection) or access.can_read(found.collection)):
        raise NotFoundError(f"there is no ingest job {job_id}")
    return found.to_dict()


@router.get("/api/status", summary="What the server holds and is doing")
def status(
    state: State,
    access: Key,
    check: bool = Query(False, description="also run the store's integrity check (slow on a big store)"),
) -> dict[str, Any]:
    ws = state.ws
    visible = state.catalog.collections(access)
    body: dict[str, Any] = {
        "version": __version__,
        "documents": sum(c["documents"] for c in visible.values()),
        "chunks": sum(c["chunks"] for c in visible.values()),
        "collections": visible,
        "embedder": ws.store.get_meta("embedder"),
        "generator": f"{ws.settings.generator.backend}/{ws.settings.generator.model}",
        "models": [m.id for m in state.modes.all()],
        "queue": state.queue.status(),
        "jobs": {s: sum(1 for j in state.jobs.all() if j.status == s) for s in ("queued", "running")},
        "keys_required": state.auth_required(),
        "key": access.name or None,
    }
    if access.reads_all:
        full = ws.status(check=check)
        body.update({k: full[k] for k in ("workspace", "tokens", "database_bytes", "summaries", "problems")})
    return body


def _evaluation(state: ServerState, access: Access, name: str | None = None) -> list[tuple[str, Path]]:
    if not access.reads_all:
        raise PermissionDeniedError(
            "evaluation reports quote passages of every collection; they need a key that reads '*'"
        )
    found = Evaluation.runs(state.evaluations)
    if name is None:
        return found
    match = [(n, p) for n, p in found if n == name]
    if not match:
        raise NotFoundError(f"there is no evaluation {name!r}; GET /api/evaluations lists them")
    return match


@router.get("/api/evaluations", summary="The finished `expert eval run` folders the server can see")
def evaluations(state: State, access: Key) -> dict[str, Any]:
    data = []
    for name, folder in _evaluation(state, access):
        summary = Evaluation.summary(folder)
        data.append(
            {
                "name": name,
                "questions": summary.questions,
                "modes": sorted(summary.modes),
                "summary": f"/api/evaluations/{name}",
                "report": f"/api/evaluations/{name}/report",
            }
        )
    return {"object": "list", "data": data}


@router.get("/api/evaluations/{name:path}/report", response_class=HTMLResponse, summary="report.html")
def evaluation_report(name: str, state: State, access: Key) -> Any:
    folder = _evaluation(state, access, name)[0][1]
    return FileResponse(Evaluation.report_page(folder), media_type="text/html")


@router.get("/api/evaluations/{name:path}", summary="An evaluation's summary.json")
def evaluation(name: str, state: State, access: Key) -> dict[str, Any]:
    return Evaluation.summary(_evaluation(state, access, name)[0][1]).to_dict()
