"""The ``expert`` command: parse, call one library function, format.

Exit codes: 0 success; 1 ingest finished but skipped some files (or nothing was found); 2 the
user's input or settings are wrong; 3 something upstream failed (a model server, an embedding
API); errors are one line on stderr, never a traceback (``errors.STATUS``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .errors import ExpertError, InputError, exit_code
from .workspace import Workspace

DEFAULT_WORKSPACE = ".expert"


def _workspace_path(args: argparse.Namespace) -> Path:
    return Path(args.workspace or os.environ.get("EXPERT_WORKSPACE") or DEFAULT_WORKSPACE)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False))


class _Reporter:
    """Progress of long work: a bar on a terminal, plain log lines otherwise, silent with --json."""

    def __init__(self, json_mode: bool):
        self.quiet = json_mode
        self.bar: Any = None

    def begin(self, total: int, unit: str, desc: str, initial: int = 0) -> None:
        if not self.quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit=unit, desc=desc, file=sys.stderr)

    def log(self, line: str) -> None:
        """A line that is printed on a terminal too (above the bar)."""
        if not self.quiet:
            (self.bar.write if self.bar is not None else print)(line, file=sys.stderr)

    def advance(self, line: str, postfix: str = "", to: int | None = None, step: int = 1) -> None:
        """Move the bar (by ``step``, or to ``to``) with ``postfix``; without a bar, print ``line``."""
        if self.quiet:
            return
        if self.bar is None:
            print(line, file=sys.stderr, flush=True)
            return
        if to is not None:
            self.bar.n = to
        else:
            self.bar.update(step)
        if postfix:
            self.bar.set_postfix_str(postfix)
        self.bar.refresh()

    def end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _ingest_progress(json_mode: bool) -> Any:
    out = _Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            out.begin(event["files"] + event["skipped"], "file", "ingest")
        elif kind == "file":
            status = event["status"]
            detail = f" ({event['chunks']} chunks)" if event["chunks"] else ""
            reason = f": {event['reason']}" if event.get("reason") else ""
            out.advance(
                f"{status:9} {event['path']}{detail}{reason}",
                f"{status} {Path(event['path']).name}"[:40],
                step=0 if status == "removed" else 1,
            )
        elif kind == "done":
            out.end()

    return on


def _summary_progress(json_mode: bool) -> Any:
    out = _Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start" and event["documents"]:
            out.begin(event["documents"], "doc", "summarize")
            if out.bar is None:
                out.log(f"summarizing {event['documents']} document(s)")
        elif kind == "document":
            out.advance(f"summary   {event['path']} ({event['seconds']}s)")
        elif kind == "done":
            out.end()

    return on


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
            progress=_ingest_progress(args.json),
        )
        summaries = ws.summarize(progress=_summary_progress(args.json)) if args.summarize else None
    if args.json:
        _print_json({**report.to_dict(), **({"summaries": summaries.to_dict()} if summaries else {})})
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
        for path, reason in report.skipped:
            print(f"skipped {path}: {reason}")
    return 1 if report.skipped else 0


def _format_hit(rank: int, hit: Any) -> str:
    where = hit.source + (f" p.{hit.page}" if hit.page else "") + (f" [{hit.locator}]" if hit.locator else "")
    text = " ".join(hit.text.split())
    return f"{rank}. {where}  (score {hit.score:.4f})\n   {text[:300]}{'…' if len(text) > 300 else ''}"


def cmd_search(args: argparse.Namespace) -> int:
    if args.batch is None and not args.query:
        raise InputError("give a query, or --batch FILE with one query per line")
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
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


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
        if d.summary:
            print(f"         summary: {d.summary}")
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


def _generator_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings named by the generator and answer flags (the backend rule is the library's)."""
    from .models import generator_overrides

    out = generator_overrides(args.backend, args.model, args.base_url, args.api_key_env, args.adapter)
    if args.max_tokens:
        out["generator.max_tokens"] = args.max_tokens
    if args.context_window:
        out["generator.context_window"] = args.context_window
    if getattr(args, "min_relevance", None) is not None:
        out["answer.min_relevance"] = args.min_relevance
    return out


def _where(citation: Any) -> str:
    return (
        citation.source
        + (f", page {citation.page}" if citation.page else "")
        + (f", {citation.locator}" if citation.locator else "")
    )


def _print_sources(answer: Any) -> None:
    if answer.removed_citations:
        numbers = ", ".join(f"[{n}]" for n in answer.removed_citations)
        print(f"note: removed citation(s) {numbers}: no such source", file=sys.stderr)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            passage = " ".join(c.passage.split())
            how = "  (matched to the answer's figures and words)" if c.n in answer.attributed else ""
            print(f"  [{c.n}] {_where(c)}{how}\n      {passage[:200]}{'…' if len(passage) > 200 else ''}")
    elif not answer.found and answer.hits:
        print("\nClosest passages (not close enough to answer from):")
        for h in answer.hits[:3]:
            print(f"  - {_where(h)}")
    elif answer.hits:
        print("\n(no sources cited; the passages given to the model are in --json output)")


def _answer_once(
    ws: Workspace, args: argparse.Namespace, question: str, history: list[tuple[str, str]]
) -> Any:
    stream = ws.ask_stream(
        question,
        k=args.k,
        source=args.source,
        collection=args.collection,
        history=history,
        retrieval=not args.no_retrieval,
    )
    if args.json:
        answer = stream.run()
        _print_json(answer.to_dict())
        return answer
    for piece in stream:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    assert stream.answer is not None
    _print_sources(stream.answer)
    return stream.answer


def cmd_ask(args: argparse.Namespace) -> int:
    question = " ".join(args.question).strip()
    if not question:
        raise InputError('give a question, e.g. expert ask "What was revenue in 2023?"')
    with Workspace.open(_workspace_path(args), _generator_overrides(args)) as ws:
        answer = _answer_once(ws, args, question, [])
    return 0 if answer.found else 1


def cmd_chat(args: argparse.Namespace) -> int:
    tty = sys.stdin.isatty()
    history: list[tuple[str, str]] = []
    with Workspace.open(_workspace_path(args), _generator_overrides(args)) as ws:
        _ = ws.generator  # load the model before the first prompt, so errors come first
        if tty and not args.json:
            print(f"chatting with {ws.generator.name} over {ws.path}; /reset forgets, /exit or Ctrl-D quits")
        while True:
            try:
                line = input("you> " if tty else "")
            except EOFError:
                break
            question = line.strip()
            if not question:
                continue
            if question in ("/exit", "/quit"):
                break
            if question == "/reset":
                history.clear()
                print("(history cleared)")
                continue
            try:
                answer = _answer_once(ws, args, question, history)
            except ExpertError as exc:  # one bad turn does not end the chat
                print(f"expert: error: {exc}", file=sys.stderr)
                continue
            if answer.found:
                history.append((question, answer.text))
            if not args.json:
                print()
    return 0


def cmd_dataset_build(args: argparse.Namespace) -> int:
    from .finetune.build import build_dataset

    out = _Reporter(args.json)

    def progress(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            if event["resumed"]:
                out.log(f"resuming with {event['resumed']} example(s) already made")
            out.begin(event["examples"], "example", "dataset", initial=event["resumed"])
        elif kind == "example":
            out.advance(f"{event['done']}/{event['total']} {event['question']}")
        elif kind == "done":
            out.end()

    with Workspace.open(_workspace_path(args), _generator_overrides(args)) as ws:
        report = build_dataset(
            ws.store,
            ws.generator,
            args.out,
            n=args.n,
            distractors=args.distractors,
            oracle_share=args.oracle_share,
            val_fraction=args.val_fraction,
            seed=args.seed,
            source=args.source,
            progress=progress,
        )
    if args.json:
        _print_json(report.to_dict())
    else:
        print(
            f"{report.train} training and {report.validation} validation example(s) in {args.out} "
            f"({report.duplicates} duplicate(s) dropped, {report.rejected} unusable generator repl(ies), "
            f"{report.ungrounded} answer(s) the passage does not support); "
            f"chunks used are listed in {Path(args.out).with_suffix('.chunks.json')}"
        )
    return 0


def cmd_dataset_check(args: argparse.Namespace) -> int:
    from .finetune import check_dataset

    report = check_dataset(args.path)
    if args.json:
        _print_json(report.to_dict())
    else:
        for line, problem in report.problems:
            print(f"{args.path}:{line}: {problem}")
        if report.more_problems:
            print(f"... and {report.more_problems} more problem(s)")
        formats = ", ".join(f"{n} {f}" for f, n in sorted(report.formats.items())) or "none"
        verdict = "ok" if report.ok else "not usable"
        print(
            f"{verdict}: {report.examples} valid example(s) ({formats}), "
            f"{len(report.problems) + report.more_problems} problem(s), {report.duplicates} duplicate(s)"
        )
    return 0 if report.ok else 2


def _train_progress(json_mode: bool) -> Any:
    """Loss, validation loss, learning rate and tokens/s; with --json, each event as a JSON line."""
    out = _Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "loading":
            out.log(f"loading {event['base']}")
        elif kind == "start":
            share = 100 * event["trainable"] / max(1, event["total"])
            out.log(
                f"training {event['steps']} steps on {event['train']} examples ({event['validation']} held out, "
                f"{event['dropped']} dropped as too long); LoRA on {', '.join(event['targets'])}: "
                f"{event['trainable']:,} trainable parameters of {event['total']:,} ({share:.2f}%)"
            )
            out.begin(event["steps"], "step", "train")
        elif kind == "log":
            if json_mode:
                print(json.dumps(event), file=sys.stderr, flush=True)
                return
            parts = [f"step {event['step']}/{event['total']}"]
            if "loss" in event:
                parts.append(f"loss {event['loss']:.4f}")
            if "eval_loss" in event:
                parts.append(f"val_loss {event['eval_loss']:.4f}")
            if "learning_rate" in event:
                parts.append(f"lr {event['learning_rate']:.2e}")
            if "tokens_per_s" in event:
                parts.append(f"{event['tokens_per_s']:.0f} tok/s")
            out.advance(" ".join(parts), " ".join(parts[1:]), to=event["step"])
        elif kind == "done":
            out.end()

    return on


def _quiet_ml_libraries() -> None:
    """Keep library chatter out of the user's output: deprecation notes, transformers' weight-loading
    bar (our own progress says what is loading), and bitsandbytes' note on an optional CPU inference
    kernel from the hub, which training does not use."""
    import logging
    import warnings

    warnings.simplefilter("ignore", FutureWarning)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    # read by huggingface_hub and transformers when first imported (which may not happen at all)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def cmd_train(args: argparse.Namespace) -> int:
    from .finetune.train import TrainConfig, TrainError, train

    if args.resume:
        config = TrainConfig(data="", out=args.resume, max_steps=args.max_steps or -1)
    else:
        if not args.data or not args.out:
            raise TrainError("give --data FILE and --out RUN_DIR (or --resume RUN_DIR)")
        values = {
            "method": args.method,
            "base": args.base,
            "eval_data": args.eval_data,
            "r": args.r,
            "alpha": args.alpha,
            "targets": args.targets,
            "learning_rate": args.lr,
            "epochs": args.epochs,
            "max_steps": args.max_steps,
            "batch_size": args.batch_size,
            "grad_accum": args.grad_accum,
            "max_length": args.max_length,
            "packing": args.packing or None,
            "gradient_checkpointing": args.gradient_checkpointing,
            "precision": args.precision,
            "seed": args.seed,
        }
        config = TrainConfig(
            data=args.data, out=args.out, **{k: v for k, v in values.items() if v is not None}
        )
    result = train(config, resume=bool(args.resume), progress=_train_progress(args.json))
    if args.json:
        _print_json(result.to_dict())
    else:
        loss = result.metrics.get("eval_loss")
        print(
            f"trained {result.steps} steps in {result.seconds:.1f}s ({result.tokens_per_s:.0f} tokens/s); "
            f"train loss {result.metrics.get('train_loss', float('nan')):.4f}"
            + (f", validation loss {loss:.4f}" if loss is not None else "")
            + f"\nadapter in {result.run}/adapter, manifest and loss.png in {result.run}"
            + f'\nuse it: expert ask --adapter {result.run} "..."; export it: expert export {result.run} --merge --gguf'
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .finetune.export import export

    if not args.merge and not args.gguf:
        raise InputError(
            "say what to export: --merge (Hugging Face folder), --gguf (llama.cpp, Ollama), or both"
        )
    if not args.json:
        print(f"merging the adapter of {args.run} into its base ...", file=sys.stderr, flush=True)
    result = export(args.run, merged=args.merge, gguf=args.gguf, outtype=args.outtype)
    if args.json:
        _print_json(result.to_dict())
    else:
        if result.merged:
            print(f"merged model: {result.merged}")
        for path in result.gguf:
            print(f"GGUF: {path}")
        if result.modelfile:
            print(
                f"Ollama: cd {Path(result.modelfile).parent} && ollama create {Path(args.run).name} -f Modelfile"
            )
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
    p.add_argument(
        "--summarize",
        action="store_true",
        help="write a summary of each document that has none (uses the generator)",
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

    def generator_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", help="a .gguf file, a model folder, or the server's model name")
        p.add_argument("--base-url", help="an OpenAI-compatible server, e.g. http://localhost:11434/v1")
        p.add_argument("--backend", choices=["llama-cpp", "transformers", "openai", "azure"])
        p.add_argument("--api-key-env", help="environment variable holding the API key")
        p.add_argument(
            "--adapter",
            help="an `expert train` run directory or a LoRA adapter folder (runs on transformers)",
        )
        p.add_argument("--max-tokens", type=int, help="answer length limit in tokens")
        p.add_argument("--context-window", type=int, help="tokens of prompt + answer")

    def answer_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("-k", type=int, help="passages to retrieve (default from settings: 6)")
        p.add_argument("--source", help="only sources matching this glob, e.g. '*10K*'")
        p.add_argument("--collection", help="only this collection")
        generator_flags(p)
        p.add_argument(
            "--min-relevance",
            type=float,
            help="below this question-passage similarity, say it is not there (0: off)",
        )
        p.add_argument(
            "--no-retrieval", action="store_true", help="ask the model alone, without the workspace"
        )
        p.add_argument(
            "--json", action="store_true", help="answer, citations, hits, model, tokens and timings as JSON"
        )

    p = sub.add_parser("ask", help="answer a question from the workspace, with cited sources")
    p.add_argument("question", nargs="*")
    answer_flags(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="a conversation over the workspace; follow-up questions are understood")
    answer_flags(p)
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("dataset", help="training data: check a file (build comes with fine-tuning)")
    dsub = p.add_subparsers(dest="dataset_command", required=True)
    d = dsub.add_parser("check", help="validate a JSONL file: messages, Alpaca or prompt/completion")
    d.add_argument("path")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_dataset_check)
    d = dsub.add_parser(
        "build", help="synthesize question/answer examples from the workspace with the generator"
    )
    d.add_argument(
        "--out", required=True, help="training JSONL to write (also OUT.val.jsonl and OUT.chunks.json)"
    )
    d.add_argument("-n", type=int, default=200, help="examples to make (default 200)")
    d.add_argument(
        "--distractors", type=int, default=3, help="unrelated passages beside the source (default 3)"
    )
    d.add_argument(
        "--oracle-share", type=float, default=0.8, help="share of examples that include the source passage"
    )
    d.add_argument("--val-fraction", type=float, default=0.1, help="share held out for validation")
    d.add_argument("--source", help="only chunks of sources matching this glob")
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--json", action="store_true")
    generator_flags(d)
    d.set_defaults(func=cmd_dataset_build)

    p = sub.add_parser("train", help="fine-tune the model with LoRA or QLoRA on a dataset")
    p.add_argument("--data", help="training JSONL (messages, Alpaca or prompt/completion)")
    p.add_argument("--out", help="new run directory (never overwritten)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--base", help="model folder, .gguf file or hub id (default: the shipped SmolLM2)")
    p.add_argument(
        "--method", choices=["lora", "qlora"], help="qlora: 4-bit NF4 base (bitsandbytes; CUDA or CPU)"
    )
    p.add_argument("--eval-data", help="validation JSONL (default: hold out 10%% of --data)")
    p.add_argument("--r", type=int, help="LoRA rank (default 16)")
    p.add_argument("--alpha", type=int, help="LoRA alpha (default 32)")
    p.add_argument("--targets", help="comma-separated module names (default: every linear layer)")
    p.add_argument("--lr", type=float, help="learning rate (default 2e-4)")
    p.add_argument("--epochs", type=float, help="passes over the data (default 1)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (overrides --epochs)")
    p.add_argument("--batch-size", type=int, help="examples per step per device (default 4)")
    p.add_argument("--grad-accum", type=int, help="gradient accumulation steps (default 1)")
    p.add_argument(
        "--max-length", type=int, help="longest example in tokens; longer ones are dropped (default 1024)"
    )
    p.add_argument("--packing", action="store_true", help="pack short examples into full-length sequences")
    p.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        help="recompute activations to save memory (default on; --no-gradient-checkpointing is faster)",
    )
    p.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp32"],
        help="auto: bf16 on CUDA and on CPUs with native bf16",
    )
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--json", action="store_true", help="result as JSON on stdout, progress as JSON lines on stderr"
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "export", help="merge a run's adapter into its base; convert to GGUF for llama.cpp and Ollama"
    )
    p.add_argument("run", help="a run directory written by `expert train`")
    p.add_argument(
        "--merge", action="store_true", help="write RUN/export/merged, a Hugging Face model folder"
    )
    p.add_argument(
        "--gguf", action="store_true", help="write RUN/export/*.gguf (model and adapter) and a Modelfile"
    )
    p.add_argument(
        "--outtype", default="f16", choices=["f32", "f16", "bf16", "q8_0"], help="GGUF tensor type"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)

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
    _quiet_ml_libraries()
    try:
        return int(args.func(args))
    except ExpertError as exc:
        print(f"expert: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("expert: interrupted; re-run the same command to finish", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
