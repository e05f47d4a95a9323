"""Commands over the workspace's documents: init, ingest, search, sources, forget, status, reindex."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import Any

from ..errors import ExpertError, InputError
from ..ingest import LOADERS
from ..workspace import Workspace
from .output import (
    format_hit,
    print_json,
    safe,
)
from .progress import progress

DEFAULT_WORKSPACE = ".expert"


def workspace_path(args: argparse.Namespace) -> Path:
    return Path(args.workspace or os.environ.get("EXPERT_WORKSPACE") or DEFAULT_WORKSPACE)


# names for the shipped embedders, as `expert init --embedder NAME` takes them
EMBEDDER_ALIASES = {
    "multilingual": ("onnx", "multilingual-e5-small"),
    "minilm": ("onnx", "all-MiniLM-L6-v2"),
    "static": ("static", "wordllama-l2-supercat"),
}


def cmd_init(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = embedder_overrides(args.embedder) if args.embedder else {}
    if args.chunk_tokens:
        overrides["chunking.max_tokens"] = args.chunk_tokens
    if args.store:
        overrides["store.url"] = args.store
    ws = Workspace.init(workspace_path(args), overrides, load=True)
    print(f"initialised workspace {ws.path} (embedder {ws.store.get_meta('embedder')})")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    if args.watch:
        return watch_folders(args)
    with Workspace.open(workspace_path(args)) as ws:
        if args.language:
            redone = ws.set_language(args.collection, args.language)
            if redone and not args.json:
                config = ws.store.languages().get(args.collection)
                print(f"collection {safe(args.collection)}: {redone} chunks indexed again as {config}")
        report = ws.ingest(
            args.paths,
            collection=args.collection,
            prune=args.prune,
            max_file_mb=args.max_file_mb,
            progress=progress(args.json),
            follow_symlinks=args.follow_symlinks,
            ocr=args.ocr,
            move=args.move,
        )
        summaries = ws.summarize(progress=progress(args.json)) if args.summarize else None
    found = report.added or report.updated or report.unchanged or report.skipped or report.removed
    if args.json:
        print_json({**report.to_dict(), **({"summaries": summaries.to_dict()} if summaries else {})})
    elif not found:
        named = ", ".join(safe(p) for p in args.paths)
        kinds = " ".join(sorted(LOADERS))
        print(f"nothing to ingest: no files under {named}; the formats read are {kinds}")
        return 1
    else:
        print(
            f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
            f"{len(report.removed)} removed, {len(report.skipped)} skipped; {report.chunks} chunks "
            f"in {report.seconds:.1f}s"
        )
        if summaries is not None:
            print(
                f"{len(summaries.written)} summaries written ({summaries.skipped} documents already had one) "
                f"in {summaries.seconds:.1f}s"
            )
        if report.fusion_refit:
            print(safe(report.fusion_refit))
        for path, held in report.moved:
            print(f"moved {safe(path)} from collection {safe(held)} to {safe(args.collection)}")
        for path, reason in report.skipped:
            print(f"skipped {safe(path)}: {safe(reason)}")
    return 1 if report.skipped or not found else 0


def cmd_search(args: argparse.Namespace) -> int:
    if args.batch is None and not args.query:
        raise InputError("give a query, or --batch FILE with one query per line")
    with Workspace.open(workspace_path(args)) as ws:
        if args.batch is not None:
            for line in batch_lines(args.batch):
                query = line.strip()
                if not query:
                    continue
                hits = ws.search(
                    query, k=args.k, mode=args.mode, source=args.source, collection=args.collection
                )
                if args.json:
                    print_json({"query": query, "hits": [h.to_dict() for h in hits]})
                else:
                    print(f"# {safe(query)}")
                    for i, h in enumerate(hits, 1):
                        print(format_hit(i, h))
            return 0
        query = " ".join(args.query)
        hits = ws.search(query, k=args.k, mode=args.mode, source=args.source, collection=args.collection)
    if args.json:
        print_json({"query": query, "hits": [h.to_dict() for h in hits]})
    elif not hits:
        print("no matching passages")
    else:
        for i, hit in enumerate(hits, 1):
            print(format_hit(i, hit))
    return 0


def batch_lines(path: str) -> list[str]:
    """The lines of a --batch file (``-``: standard input), read whole so that a file that is not
    UTF-8 is one clear error before any query runs."""
    name = "standard input" if path == "-" else path
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name} is not UTF-8 text (byte {exc.start}); save it as UTF-8, one query per line"
        ) from None


def cmd_sources(args: argparse.Namespace) -> int:
    with Workspace.open(workspace_path(args)) as ws:
        docs = ws.sources(args.pattern)
        skipped = ws.skipped(args.pattern)
    if args.json:
        rows: list[dict[str, Any]] = [{"status": "ok", **d.to_dict()} for d in docs]
        rows += [{"source": source, "status": "skipped", "reason": reason} for source, reason in skipped]
        print_json(rows)
        return 0
    if not docs and not skipped:
        print("no documents; add some with `expert ingest PATH`")
    for d in docs:
        print(f"ok       {d.chunks:6d} chunks  {safe(d.collection):10}  {safe(d.source)}  — {safe(d.title)}")
        if d.summary:
            print(f"         summary: {safe(d.summary)}")
    for source, reason in skipped:
        print(f"skipped                              {safe(source)}: {safe(reason)}")
    return 0


ASK_ABOVE = 3  # forgetting more documents than this asks first (or needs --yes)


def cmd_forget(args: argparse.Namespace) -> int:
    with Workspace.open(workspace_path(args)) as ws:
        named = ws.forget(args.target, glob=args.glob, dry_run=True)
        if args.dry_run or not named:
            removed: list[str] = []
        elif len(named) > ASK_ABOVE and not args.yes and not confirm(f"remove {len(named)} documents?"):
            raise InputError(
                f"{args.target} names {len(named)} documents; re-run with --yes to remove them "
                "(or --dry-run to list them)"
            )
        else:
            removed = ws.forget(args.target, glob=args.glob)
    if args.json:
        print_json({"removed": removed, "would_remove": named if args.dry_run else []})
    elif args.dry_run:
        print(f"would remove {len(named)} document(s)" + "".join(f"\n  {safe(s)}" for s in named))
    else:
        if not named:
            hint = (
                "; the target is a path: to use it as a pattern, add --glob"
                if not args.glob and any(c in args.target for c in "*?[")
                else "; `expert sources` lists the documents by the path they were ingested as"
            )
            print(f"no document matches {safe(args.target)}, nothing removed{hint}", file=sys.stderr)
        else:
            print(f"removed {len(removed)} document(s)" + "".join(f"\n  {safe(s)}" for s in removed))
    return 0 if named else 1


def confirm(question: str) -> bool:
    """Ask on a terminal; without one there is nobody to ask, so the answer is no."""
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_status(args: argparse.Namespace) -> int:
    with Workspace.open(workspace_path(args)) as ws:
        status = ws.status()
    if args.json:
        print_json(status)
    else:
        for key, value in status.items():
            if key == "problems":
                value = "none (integrity check passed)" if not value else "; ".join(value)
            elif key == "collections":
                value = ", ".join(f"{name} ({count})" for name, count in value.items()) or "none"
            elif key == "languages":
                recorded = ", ".join(f"{name}: {config}" for name, config in value.items())
                value = f"{recorded}; others english" if recorded else "english"
            elif key == "replication":
                value = replication_line(value)
            elif key == "database_bytes" and value is not None:
                value = f"{value:,} ({value / 1e6:.1f} MB)"
            elif isinstance(value, int):
                value = f"{value:,}"
            print(f"{key.replace('_', ' '):16} {safe(value)}")
    return 0 if not status["problems"] else 1


def replication_line(state: dict[str, Any]) -> str:
    """``replica db2:5432/expert: streaming, 0 bytes behind`` and the like."""
    where = f"replica {state['replica']}: {state['state']}"
    if state["state"] == "down":
        return f"{where} ({state['reason']}); reads go to the primary"
    lag = f"{state['lag_bytes']:,} bytes of WAL behind"
    return f"{where}, {lag}" + (f", {state['lag_s']:.1f} s" if state["lag_bytes"] else "")


def embedder_overrides(value: str) -> dict[str, Any]:
    """Settings for ``--embedder``: a shipped alias, a tuned-retriever run, a model folder, or
    BACKEND[:MODEL]."""
    from ..config import choices
    from ..finetune.service import tuned_model_dir

    if value in EMBEDDER_ALIASES:
        backend, model = EMBEDDER_ALIASES[value]
        return {"embedder.backend": backend, "embedder.model": model}
    tuned = tuned_model_dir(value)
    if tuned is not None:
        return {"embedder.backend": "onnx", "embedder.model": str(tuned.resolve())}
    if Path(value).expanduser().is_dir():
        return {"embedder.backend": "onnx", "embedder.model": str(Path(value).expanduser().resolve())}
    backend, _, model = value.partition(":")
    if backend not in choices("embedder.backend"):
        raise InputError(
            f"--embedder {value}: not a model folder, a tuned retriever (expert tune retriever --out) "
            f"or BACKEND[:MODEL] with BACKEND one of {', '.join(choices('embedder.backend'))}"
        )
    return {"embedder.backend": backend, **({"embedder.model": model} if model else {})}


def cmd_reindex(args: argparse.Namespace) -> int:
    overrides = embedder_overrides(args.embedder) if args.embedder else None
    with Workspace.open(workspace_path(args), overrides, allow_embedder_change=True) as ws:
        done = ws.reindex(progress=progress(args.json))
        if overrides:
            ws.save_settings()  # the workspace now embeds questions with it too
        name = ws.store.get_meta("embedder")
    if args.json:
        print_json({"chunks": done, "embedder": name})
    else:
        print(f"re-embedded {done} chunks with {name}")
    return 0


def cmd_store_migrate(args: argparse.Namespace) -> int:
    from ..store import store_scheme

    shown = args.to
    if store_scheme(args.to).startswith("postgres"):
        from ..store.postgres import where_to

        shown = where_to(args.to)  # without its password
    with Workspace.open(workspace_path(args)) as ws:
        report = ws.migrate_store(args.to, progress=progress(args.json))
    if args.json:
        print_json({"to": shown, **report.to_dict()})
    else:
        print(
            f"copied {report.copied} documents ({report.already} were there from an earlier run), "
            f"{report.chunks} chunks, {report.summaries} summaries and {report.skipped_files} skip records "
            f"in {report.seconds:.1f}s; counts match and {report.vectors_checked} sampled vectors are "
            f"identical. The workspace now uses {shown}."
        )
    return 0


def watch_folders(args: argparse.Namespace) -> int:
    """``expert ingest --watch``: one line (or JSON object) a sync, until Ctrl-C."""
    from ..ingest.watch import Watched, checked, watch

    folders = [checked(Watched(Path(p).expanduser().resolve(), args.collection)) for p in args.paths]
    with Workspace.open(workspace_path(args)) as ws:
        synced: set[Watched] = set()  # each folder's first sync is always shown: the state at start
        syncing: set[Watched] = set()

        def sync(w: Watched) -> None:
            syncing.add(w)
            try:
                report = ws.ingest(
                    [w.folder], collection=w.collection, prune=True, max_file_mb=args.max_file_mb,
                    follow_symlinks=args.follow_symlinks, ocr=args.ocr, move=args.move,
                )  # fmt: skip
            except ExpertError as exc:  # this sync failed; the watch goes on, the next change tries again
                say(f"{w.folder}: {exc}")
                return
            finally:
                syncing.discard(w)
            if synced and not (report.added or report.updated or report.removed):
                return  # a change that changed nothing here (a file saved as it was, an ignored format)
            synced.add(w)
            if args.json:
                print_json({"folder": str(w.folder), "collection": w.collection, **report.to_dict()})
                sys.stdout.flush()  # one line a sync, as it happens
                return
            print(
                f"{safe(w.folder)}: {len(report.added)} added, {len(report.updated)} updated, "
                f"{len(report.removed)} removed, {len(report.skipped)} skipped; {report.chunks} chunks "
                f"in {report.seconds:.1f}s",
                flush=True,
            )

        def say(line: str) -> None:
            print(safe(line), file=sys.stderr, flush=True)

        say(f"watching {', '.join(safe(w.folder) for w in folders)} (Ctrl-C stops)")
        try:
            watch(folders, sync, threading.Event(), say)
        except KeyboardInterrupt:
            if syncing:  # the documents finished so far are stored; the next start does the rest
                say(
                    f"interrupted while syncing {', '.join(safe(w.folder) for w in syncing)}; the next start catches up"
                )
    say("stopped")
    return 0
