"""Commands that serve the workspace: serve, and the keys that scope who may use it."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from ..workspace import Workspace
from .answers import generator_overrides
from .documents import workspace_path
from .output import print_json, safe

SERVE_FLAGS = {
    "host": "serve.host",
    "port": "serve.port",
    "auth": "serve.auth",
    "parallel": "serve.parallel",
    "queue": "serve.queue",
    "ingest_nice": "serve.ingest_nice",
    "max_upload_mb": "serve.max_upload_mb",
    "evaluations": "serve.evaluations",
}


def cmd_serve(args: argparse.Namespace) -> int:
    from ..server import ServerState, serve
    from ..server.modes import parse_adapters

    # adapters are modes here (--adapter NAME=RUN), not the generator's one adapter
    overrides: dict[str, Any] = generator_overrides(argparse.Namespace(**{**vars(args), "adapter": None}))
    for flag, dotted in SERVE_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[dotted] = value
    adapters = parse_adapters(args.adapter or [])
    ws = Workspace.open(workspace_path(args), overrides, shared=True)
    settings = ws.settings.serve
    from ..ingest.watch import parse_watch

    watched = [parse_watch(value, "default") for value in args.watch or []]
    try:
        state = ServerState(ws, settings.host, adapters, watch=watched)
    except BaseException:
        ws.close()
        raise

    def stage(name: str) -> None:
        if name == "loading":
            line = f"loading {ws.settings.generator.model} and the embedder"
        else:
            keys = "required" if state.auth_required() else "off (loopback, no key made)"
            line = (
                f"serving {safe(ws.path)} at http://{settings.host}:{settings.port}/ (web page; API at /v1 "
                f"and /api); keys {keys}; models: {', '.join(m.id for m in state.modes.all())}"
            )
        print(line, file=sys.stderr, flush=True)

    serve(state, settings.port, log_level="warning" if args.quiet else "info", stage=stage)
    print("stopped", file=sys.stderr)
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    """The workspace as an MCP server over stdio: stdout carries the protocol, nothing else."""
    from ..server.catalog import Catalog
    from ..server.mcp_server import build, local, one_at_a_time

    with Workspace.open(workspace_path(args), generator_overrides(args), shared=True) as ws:

        def ask(question: str, collection: str | None, collections: frozenset[str] | None) -> Any:
            return ws.ask_stream(question, collection=collection, collections=collections).run()

        with contextlib.suppress(KeyboardInterrupt):
            build(Catalog(ws), local, one_at_a_time(ask)).run("stdio")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from ..jobs.worker import line_log, run

    with contextlib.suppress(KeyboardInterrupt):
        run(workspace_path(args), line_log(args.json))
    print("stopped", file=sys.stderr)
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    with Workspace.open(workspace_path(args)) as ws:
        secret, record = ws.keys.create(args.name, read=args.read, write=args.write)
    if args.json:
        print_json({"key": secret, **record.public()})
        return 0
    print(secret)
    scopes = f"reads {', '.join(record.read) or 'nothing'}; writes {', '.join(record.write) or 'nothing'}"
    print(
        f"key {record.name!r} ({scopes}): shown once, keep it now; only its hash is stored", file=sys.stderr
    )
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    with Workspace.open(workspace_path(args)) as ws:
        records = ws.keys.records()
    if args.json:
        print_json([r.public() for r in records])
        return 0
    if not records:
        print("no keys; `expert keys create --name NAME --read COLLECTIONS` makes one")
    for r in records:
        state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
        print(
            f"{safe(r.name):16} {r.id}  read: {','.join(r.read) or '-':20} write: {','.join(r.write) or '-':20} "
            f"made {r.created_at}  {state}"
        )
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    with Workspace.open(workspace_path(args)) as ws:
        record = ws.keys.revoke(args.name)
    print(f"revoked key {safe(record.name)} ({record.id}); it is refused from the next request")
    return 0
