"""The ``expert`` command: parse, call one library function, format.

Exit codes: 0 success; 1 ingest finished but skipped some files; 2 a usage, input or settings
error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .errors import ExpertError
from .workspace import Workspace

DEFAULT_WORKSPACE = ".expert"


def _workspace_path(args: argparse.Namespace) -> Path:
    return Path(args.workspace or os.environ.get("EXPERT_WORKSPACE") or DEFAULT_WORKSPACE)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False))


class _IngestProgress:
    """A progress bar on a terminal, plain log lines otherwise; silent with --json."""

    def __init__(self, json_mode: bool):
        self.json_mode = json_mode
        self.bar: Any = None
        self.tty = sys.stderr.isatty()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start" and self.tty and not self.json_mode:
            from tqdm import tqdm

            total = event["files"] + event["skipped"]
            self.bar = tqdm(total=total, unit="file", desc="ingest", file=sys.stderr)
        elif kind == "file":
            status = event["status"]
            if self.bar is not None:
                if status != "removed":
                    self.bar.update(1)
                self.bar.set_postfix_str(f"{status} {Path(event['path']).name}"[:40])
            elif not self.json_mode:
                detail = f" ({event['chunks']} chunks)" if event["chunks"] else ""
                reason = f": {event['reason']}" if event.get("reason") else ""
                print(f"{status:9} {event['path']}{detail}{reason}", file=sys.stderr, flush=True)
        elif kind == "done" and self.bar is not None:
            self.bar.close()


def cmd_init(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.embedder:
        backend, _, model = args.embedder.partition(":")
        overrides["embedder.backend"] = backend
        if model:
            overrides["embedder.model"] = model
    if args.chunk_tokens:
        overrides["chunking.max_tokens"] = args.chunk_tokens
    ws = Workspace.init(_workspace_path(args), overrides)
    print(f"initialised workspace {ws.path} (embedder {ws.store.get_meta('embedder')})")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    with Workspace.open(_workspace_path(args)) as ws:
        report = ws.ingest(
            args.paths,
            collection=args.collection,
            prune=args.prune,
            max_file_mb=args.max_file_mb,
            progress=_IngestProgress(args.json),
        )
    if args.json:
        _print_json(report.to_dict())
    else:
        print(
            f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
            f"{len(report.removed)} removed, {len(report.skipped)} skipped; {report.chunks} chunks "
            f"in {report.seconds:.1f}s"
        )
        for path, reason in report.skipped:
            print(f"skipped {path}: {reason}")
    return 1 if report.skipped else 0


def _format_hit(rank: int, hit: Any) -> str:
    where = hit.source + (f" p.{hit.page}" if hit.page else "") + (f" [{hit.locator}]" if hit.locator else "")
    text = " ".join(hit.text.split())
    return f"{rank}. {where}  (score {hit.score:.4f})\n   {text[:300]}{'…' if len(text) > 300 else ''}"


def cmd_search(args: argparse.Namespace) -> int:
    if args.batch is None and not args.query:
        raise ExpertError("give a query, or --batch FILE with one query per line")
    with Workspace.open(_workspace_path(args)) as ws:
        if args.batch is not None:
            source = sys.stdin if args.batch == "-" else _open_text(args.batch)
            for line in source:
                query = line.strip()
                if not query:
                    continue
                hits = ws.search(
                    query, k=args.k, mode=args.mode, source=args.source, collection=args.collection
                )
                if args.json:
                    _print_json({"query": query, "hits": [h.to_dict() for h in hits]})
                else:
                    print(f"# {query}")
                    for i, h in enumerate(hits, 1):
                        print(_format_hit(i, h))
            return 0
        query = " ".join(args.query)
        hits = ws.search(query, k=args.k, mode=args.mode, source=args.source, collection=args.collection)
    if args.json:
        _print_json({"query": query, "hits": [h.to_dict() for h in hits]})
    elif not hits:
        print("no matching passages")
    else:
        for i, hit in enumerate(hits, 1):
            print(_format_hit(i, hit))
    return 0


def _open_text(path: str) -> Any:
    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise ExpertError(f"cannot read {path}: {exc.strerror}") from None


def cmd_sources(args: argparse.Namespace) -> int:
    with Workspace.open(_workspace_path(args)) as ws:
        docs = ws.sources(args.pattern)
        skipped = ws.skipped(args.pattern)
    if args.json:
        rows: list[dict[str, Any]] = [
            {
                "source": d.source,
                "status": "ok",
                "collection": d.collection,
                "chunks": d.chunks,
                "title": d.title,
                "ingested_at": d.ingested_at,
                "size": d.size,
                "sha256": d.sha256,
                "metadata": d.metadata,
                "summary": d.summary,
            }
            for d in docs
        ]
        rows += [{"source": source, "status": "skipped", "reason": reason} for source, reason in skipped]
        _print_json(rows)
        return 0
    if not docs and not skipped:
        print("no documents; add some with `expert ingest PATH`")
    for d in docs:
        print(f"ok       {d.chunks:6d} chunks  {d.collection:10}  {d.source}  — {d.title}")
    for source, reason in skipped:
        print(f"skipped                              {source}: {reason}")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    with Workspace.open(_workspace_path(args)) as ws:
        removed = ws.forget(args.pattern)
    if args.json:
        _print_json({"removed": removed})
    else:
        print(f"removed {len(removed)} document(s)" + "".join(f"\n  {s}" for s in removed))
    return 0 if removed else 1


def cmd_status(args: argparse.Namespace) -> int:
    with Workspace.open(_workspace_path(args)) as ws:
        status = ws.status()
    if args.json:
        _print_json(status)
    else:
        for key, value in status.items():
            if key == "problems":
                value = "none (integrity check passed)" if not value else "; ".join(value)
            print(f"{key:16} {value}")
    return 0 if not status["problems"] else 1


def cmd_reindex(args: argparse.Namespace) -> int:
    with Workspace.open(_workspace_path(args), allow_embedder_change=True) as ws:
        done = ws.reindex()
        name = ws.store.get_meta("embedder")
    print(f"re-embedded {done} chunks with {name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="expert", description="Make a small model an expert on your documents."
    )
    parser.add_argument(
        "--workspace", "-w", help=f"workspace folder (env EXPERT_WORKSPACE; default {DEFAULT_WORKSPACE})"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create a workspace")
    p.add_argument(
        "--embedder",
        help="BACKEND[:MODEL], e.g. onnx, sentence-transformers:/models/e5, openai:text-embedding-3-small",
    )
    p.add_argument("--chunk-tokens", type=int, help="chunk size in embedder tokens")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("ingest", help="add or update files and folders")
    p.add_argument("paths", nargs="+", help="files and folders (recursive)")
    p.add_argument("--collection", default="default", help="collection name to file them under")
    p.add_argument(
        "--prune", action="store_true", help="remove documents whose files are gone from the given folders"
    )
    p.add_argument(
        "--max-file-mb", type=float, help="skip files larger than this (default from settings: 100)"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="find the passages that answer a question")
    p.add_argument("query", nargs="*")
    p.add_argument("-k", type=int, default=5, help="number of hits (default 5)")
    p.add_argument("--mode", choices=["hybrid", "dense", "keyword"])
    p.add_argument("--source", help="only sources matching this glob, e.g. '*10K*'")
    p.add_argument("--collection", help="only this collection")
    p.add_argument("--batch", help="file with one query per line ('-' for stdin); one result per query")
    p.add_argument("--json", action="store_true", help="JSON output (one line per query)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("sources", help="list the documents in the workspace")
    p.add_argument("pattern", nargs="?", help="only sources matching this glob")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("forget", help="remove documents by path or glob")
    p.add_argument("pattern")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser("status", help="counts, embedder, sizes and an integrity check")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("reindex", help="re-embed every chunk with the configured embedder")
    p.set_defaults(func=cmd_reindex)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ExpertError as exc:
        print(f"expert: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("expert: interrupted; re-run the same command to finish", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
