"""The ``expert`` command line: every command as data (its path, help, options and function),
built into argparse by ``build_parser``.

Options and option groups come from ``options.py``: the generator and filter flags and ``--json``
are declared once and mean the same in every command that takes them; choices and defaults come
from the typed settings and config dataclasses, so help never restates a value that lives elsewhere.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..config import choices
from ..evaluate.service import build_questions
from ..finetune.service import RetrieverConfig, TrainConfig, build_dataset, export
from .answers import cmd_ask, cmd_chat
from .documents import (
    ASK_ABOVE,
    DEFAULT_WORKSPACE,
    cmd_forget,
    cmd_ingest,
    cmd_init,
    cmd_reindex,
    cmd_search,
    cmd_sources,
    cmd_status,
    cmd_store_migrate,
)
from .evaluation import (
    cmd_advise,
    cmd_eval_build,
    cmd_eval_check,
    cmd_eval_compare,
    cmd_eval_report,
    cmd_eval_run,
)
from .options import (
    ADAPTER,
    FILTER,
    GENERATOR,
    JSON,
    SOURCE,
    Command,
    Group,
    Option,
    default,
    literal,
    opt,
    positive,
    setting,
)
from .serving import cmd_keys_create, cmd_keys_list, cmd_keys_revoke, cmd_mcp, cmd_serve, cmd_worker
from .tuning import (
    cmd_dataset_build,
    cmd_dataset_check,
    cmd_export,
    cmd_train,
    cmd_tune_fusion,
    cmd_tune_retriever,
)

__all__ = ["build_parser", "commands", "version"]


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("industry-expert")
    except PackageNotFoundError:  # run from a source tree
        return "unknown"


# The commands that only group subcommands, with their help.
GROUPS = {
    "dataset": "training data: check a file (build comes with fine-tuning)",
    "eval": "measure base, RAG, fine-tuned and both on your own questions",
    "tune": "fit part of the pipeline to the workspace: the retriever, the fusion weights",
    "store": "the workspace's store: move it to PostgreSQL",
    "keys": "API keys for `expert serve`: who may read and write which collections",
}


def _holdout(seed: int) -> tuple[Option | Group, ...]:
    """What commands that learn from the workspace's passages share (dataset build, tune retriever)."""
    return (
        SOURCE.but(help="only passages of sources matching this path or glob"),
        opt(
            "--exclude",
            action="append",
            metavar="FILE",
            help="keep out these passages: a question file (the pages its evidence cites) or a "
            ".chunks.json (repeatable); sets made by `eval build` here or in the workspace are kept out anyway",
        ),
        opt("--seed", convert=int, default=seed),
        JSON,
        GENERATOR,
    )


def _answer() -> tuple[Option | Group, ...]:
    """What ask and chat share: retrieval, the generator, the refusal threshold."""
    return (
        opt("-k", convert=positive(int), help="passages to retrieve", shows=setting("answer.k")),
        FILTER,
        GENERATOR,
        opt(
            "--min-relevance",
            convert=float,
            help="below this question-passage similarity, say it is not there (0: off)",
            shows=setting("answer.min_relevance"),
        ),
        opt("--no-retrieval", action="store_true", help="ask the model alone, without the workspace"),
        JSON.but(help="answer, citations, hits, model, tokens and timings as JSON"),
    )


def commands() -> list[Command]:
    """Every command, in the order ``expert --help`` lists them."""
    train, retriever = TrainConfig, RetrieverConfig
    return [
        Command("init", "create a workspace", cmd_init, (
            opt("--embedder", help="multilingual (the shipped multilingual-e5-small: 100 languages), minilm "
                "(the default), static (the shipped WordLlama token vectors: about 100x faster ingest, lower "
                f"recall), or BACKEND[:MODEL] with BACKEND one of {', '.join(choices('embedder.backend'))}, "
                "e.g. sentence-transformers:/models/e5, openai:text-embedding-3-small"),
            opt("--chunk-tokens", convert=positive(int), help="chunk size in embedder tokens",
                shows=setting("chunking.max_tokens")),
            opt("--store", help="where documents and vectors live: a PostgreSQL URL (postgresql://user@host/db, "
                "with pgvector) shared by a team, or a SQLite file; default store.db in the workspace"),
        )),
        Command("ingest", "add or update files and folders", cmd_ingest, (
            opt("paths", nargs="+", help="files and folders (recursive), or one URL: s3://BUCKET/PREFIX/, https://HOST/START (docs/sources.md)"),
            opt("--collection", default="default", help="collection to file them under"),
            opt("--move", action="store_true", help="file documents the workspace holds in another collection "
                "under --collection instead (refused without it: keys scoped to either collection would change "
                "what they read)"),
            opt("--language", help="the collection's language for keyword search, kept for later ingests: a code "
                "or name (de, german, fa, ...) or a PostgreSQL text-search configuration; default english. "
                "PostgreSQL stems some thirty languages and keeps the words of others whole (simple); SQLite takes "
                "english and the unstemmed ones"),
            opt("--prune", action="store_true", help="remove documents whose files are gone from the given folders"),
            opt("--watch", action="store_true", help="keep the folders in sync until Ctrl-C: each is synced now "
                "(what changed while nothing watched), then again a moment after its files change (prune included; "
                "a folder that disappears keeps its documents)"),
            opt("--max-file-mb", convert=positive(float), help="skip files larger than this",
                shows=setting("ingest.max_file_mb")),
            opt("--summarize", action="store_true",
                help="write a summary of each document that has none (uses the generator)"),
            opt("--follow-symlinks", action="store_true",
                help="also ingest what links inside the folders point to outside them (skipped by default)"),
            opt("--ocr", choices=lambda: choices("ingest.ocr"), shows=setting("ingest.ocr"),
                help="read pages without a usable text layer (scans) and image files by OCR: auto, always "
                "(every PDF page) or never"),
            JSON.but(help="print the summary as JSON"),
        )),
        Command("search", "find the passages that answer a question", cmd_search, (
            opt("query", nargs="*"),
            opt("-k", convert=positive(int), default=5, help="number of hits"),
            opt("--mode", choices=lambda: choices("retrieval.mode"), shows=setting("retrieval.mode")),
            FILTER,
            opt("--batch", help="file with one query per line ('-' for stdin); one result per query"),
            JSON.but(help="JSON output (one line per query)"),
        )),
        Command("ask", "answer a question from the workspace, with cited sources", cmd_ask,
                (opt("question", nargs="*"), *_answer())),
        Command("chat", "a conversation over the workspace; follow-up questions are understood", cmd_chat,
                _answer()),
        Command("dataset check", "validate a JSONL file: messages, Alpaca or prompt/completion",
                cmd_dataset_check, (opt("path"), JSON)),
        Command("dataset build", "synthesize question/answer examples from the workspace with the generator",
                cmd_dataset_build, (
            opt("--out", required=True, help="training JSONL to write (also OUT.val.jsonl and OUT.chunks.json)"),
            opt("-n", convert=positive(int), default=default(build_dataset, "n"), help="examples to make"),
            opt("--distractors", convert=int, default=default(build_dataset, "distractors"),
                help="unrelated passages beside the source"),
            opt("--oracle-share", convert=float, default=default(build_dataset, "oracle_share"),
                help="share of examples that include the source passage"),
            opt("--val-fraction", convert=float, default=default(build_dataset, "val_fraction"),
                help="share held out for validation"),
            *_holdout(default(build_dataset, "seed")),
        )),
        Command("eval check", "validate a question file (JSONL)", cmd_eval_check, (opt("path"), JSON)),
        Command("eval build", "synthesize held-out questions with reference answers from passages no "
                "training set used", cmd_eval_build, (
            opt("--out", required=True, help="question JSONL to write (also OUT.chunks.json)"),
            opt("-n", convert=positive(int), default=default(build_questions, "n"), help="questions to make"),
            opt("--exclude", action="append", metavar="FILE",
                help="keep out the passages of this training set (its .chunks.json; repeatable); sets made by "
                "`dataset build` under this folder or the workspace are kept out anyway"),
            SOURCE.but(help="only chunks of sources matching this path or glob"),
            opt("--seed", convert=int, default=default(build_questions, "seed")),
            JSON,
            GENERATOR,
        )),
        Command("eval run", "answer a question file in each mode and score every answer", cmd_eval_run, (
            opt("questions", help="JSONL: question, answer, optional evidence and kind"),
            opt("--out", required=True, help="folder for answers.jsonl and the summary (resumable)"),
            opt("--modes", default="base,rag",
                help="comma-separated, of base, rag, ft, rag+ft; ft modes need --adapter"),
            opt("-k", convert=positive(int), help="passages per answer in the rag modes", shows=setting("answer.k")),
            opt("--judge-url", metavar="URL",
                help="also grade each answer with a judge model at this OpenAI-compatible endpoint (off by default)"),
            opt("--judge-model", metavar="NAME", help="the judge model's name on that server"),
            opt("--judge-key-env", metavar="VAR", help="environment variable holding the judge's API key"),
            JSON,
            GENERATOR,
        )),
        Command("eval report", "print an evaluation's summary (and write summary.md)", cmd_eval_report,
                (opt("folder"), JSON)),
        Command("eval compare", "two runs of the same questions: what changed, and which differences are "
                "beyond noise", cmd_eval_compare, (
            opt("before", help="evaluation folder (eval run --out)"),
            opt("after", help="evaluation folder of the same question file"),
            JSON,
        )),
        Command("advise", "RAG, fine-tuning or both: a recommendation with the figures behind it", cmd_advise, (
            opt("--eval", metavar="FOLDER", help="an `eval run` folder (default: the latest one found here)"),
            opt("--no-novelty", action="store_true",
                help="skip measuring the model's perplexity on the workspace"),
            JSON,
            GENERATOR,
        )),
        Command("train", "fine-tune the model with LoRA or QLoRA on a dataset", cmd_train, (
            opt("--data", help="training JSONL (messages, Alpaca or prompt/completion)"),
            opt("--out", help="new run directory (never overwritten)"),
            opt("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint"),
            opt("--base", help="model folder, .gguf file or hub id (default: the shipped SmolLM2)"),
            opt("--method", choices=literal(train, "method"), shows=default(train, "method"),
                help="qlora: 4-bit NF4 base (bitsandbytes; CUDA or CPU)"),
            opt("--eval-data", help="validation JSONL (default: hold out "
                f"{round(100 * default(train, 'val_fraction'))}%% of --data)"),
            opt("--r", convert=int, help="LoRA rank", shows=default(train, "r")),
            opt("--alpha", convert=int, help="LoRA alpha", shows=default(train, "alpha")),
            opt("--targets", help="comma-separated module names; all-linear: every linear layer",
                shows=default(train, "targets")),
            opt("--lr", convert=float, help="learning rate", shows=default(train, "learning_rate")),
            opt("--epochs", convert=float, help="passes over the data", shows=default(train, "epochs")),
            opt("--max-steps", convert=int, help="stop after this many steps (overrides --epochs)"),
            opt("--batch-size", convert=int, help="examples per step per device", shows=default(train, "batch_size")),
            opt("--grad-accum", convert=int, help="gradient accumulation steps", shows=default(train, "grad_accum")),
            opt("--max-length", convert=int, help="longest example in tokens; longer ones are dropped",
                shows=default(train, "max_length")),
            opt("--packing", action="store_true", help="pack short examples into full-length sequences"),
            opt("--gradient-checkpointing", action=argparse.BooleanOptionalAction,
                help="recompute activations to save memory (default on; --no-gradient-checkpointing is faster)"),
            opt("--precision", choices=literal(train, "precision"), shows=default(train, "precision"),
                help="bf16 on CUDA and on CPUs with native bf16"),
            opt("--seed", convert=int),
            opt("--processes", convert=positive(int), help="data-parallel processes on this machine (one per "
                "GPU; on CPU they share the cores); the global batch is processes x batch size",
                shows=default(train, "processes")),
            opt("--shard", action="store_true", help="with --processes: shard weights, gradients and "
                "optimizer state across them (FSDP2) instead of a copy in each (DDP), for a model too "
                "large for one device"),
            JSON.but(help="result as JSON on stdout, progress as JSON lines on stderr"),
        )),
        Command("export", "merge a run's adapter into its base; convert to GGUF for llama.cpp and Ollama",
                cmd_export, (
            opt("run", help="a run directory written by `expert train`"),
            opt("--merge", action="store_true", help="write RUN/export/merged, a Hugging Face model folder"),
            opt("--gguf", action="store_true", help="write RUN/export/*.gguf (model and adapter) and a Modelfile"),
            opt("--outtype", default=default(export, "outtype"), choices=literal(export, "outtype"),
                help="GGUF tensor type"),
            JSON,
        )),
        Command("sources", "list the documents in the workspace", cmd_sources, (
            opt("pattern", nargs="?", help="only sources matching this path or glob"),
            JSON,
        )),
        Command("forget", "remove a document, or the documents under a folder (--glob for a pattern)",
                cmd_forget, (
            opt("target", help="a document's path or a folder, as ingested or absolute"),
            opt("--glob", action="store_true", help="TARGET is a pattern: * and ? within one folder level, ** "
                "across levels, a name pattern matches file names"),
            opt("--dry-run", action="store_true", help="list what would be removed, remove nothing"),
            opt("--yes", "-y", action="store_true", help=f"remove more than {ASK_ABOVE} documents without asking"),
            JSON,
        )),
        Command("status", "counts, embedder, sizes and an integrity check", cmd_status, (JSON,)),
        Command("reindex", "re-embed every chunk with the configured embedder, or a new one", cmd_reindex, (
            opt("--embedder", help="switch to this embedder first: a tuned retriever (expert tune retriever "
                "--out), multilingual, minilm, static, a model folder, or BACKEND[:MODEL]; expert.toml is updated"),
            JSON,
        )),
        Command("tune retriever", "questions written about the workspace's passages, hard negatives, a "
                "contrastive fine-tune of the embedder", cmd_tune_retriever, (
            opt("--out", required=True, help="new folder for the tuned model, its pairs and manifest"),
            opt("-n", convert=int, default=default(retriever, "n"), help="questions to write"),
            opt("--epochs", convert=float, default=default(retriever, "epochs"), help="passes over the pairs"),
            opt("--batch-size", convert=int, default=default(retriever, "batch_size"), help="pairs per step"),
            opt("--lr", convert=float, default=default(retriever, "learning_rate"), help="learning rate"),
            *_holdout(default(retriever, "seed")),
        )),
        Command("tune fusion", "fit the keyword/dense/routing weights of search on your own questions with "
                "evidence", cmd_tune_fusion, (
            opt("questions", nargs="?",
                help="JSONL as `expert eval` reads: question, answer, evidence (file, pages)"),
            opt("--reset", action="store_true", help="forget the fit; the configured weights apply again"),
            JSON,
        )),
        Command("serve", "an HTTP server: OpenAI-compatible API, native API and a web page", cmd_serve, (
            opt("--host", help="address to bind; beyond loopback a key is required", shows=setting("serve.host")),
            opt("--port", convert=int, help="port", shows=setting("serve.port")),
            opt("--auth", choices=lambda: choices("serve.auth"),
                help="keys: auto requires them beyond loopback and once any exists", shows=setting("serve.auth")),
            opt("--parallel", convert=int, help="answers generated at once", shows=setting("serve.parallel")),
            opt("--queue", convert=int, help="requests that may wait for the model; beyond, 503",
                shows=setting("serve.queue")),
            opt("--ingest-nice", convert=int, help="CPU priority of ingest jobs, 0-19", shows=setting("serve.ingest_nice")),
            opt("--max-upload-mb", convert=float, help="largest upload request", shows=setting("serve.max_upload_mb")),
            opt("--evaluations", metavar="DIR", help="folder of `eval run` folders to serve (default: here)"),
            opt("--watch", action="append", metavar="DIR[=COLLECTION]", help="keep this folder in sync (a job "
                "for each change, shown in /api/jobs); repeatable; COLLECTION defaults to default"),
            opt("--quiet", action="store_true", help="log warnings only, not each request"),
            GENERATOR.but(ADAPTER.but(action="append", metavar="[NAME=]RUN", help="serve this adapter (an "
                          "`expert train` run, a PEFT folder or a GGUF LoRA) as the models ft:NAME and "
                          "rag+ft:NAME; repeatable; NAME defaults to its folder or file name")),
        )),
        Command("mcp", "the workspace as a Model Context Protocol server over stdio, for a desktop "
                "assistant or an IDE (tools: search, ask, list_documents, read_document)", cmd_mcp, (GENERATOR,)),
        Command("worker", "run the upload jobs of a PostgreSQL store, beside any number of servers and "
                "workers on any machine (until Ctrl-C)", cmd_worker, (JSON,)),
        Command("store migrate", "copy documents, chunks, vectors, summaries, keys and ingest history into "
                "another store (resumable; checked at the end), then use it", cmd_store_migrate, (
            opt("--to", required=True, help="the new store: postgresql://user@host/db (with pgvector)"),
            JSON,
        )),
        Command("keys create", "make a key (printed once; only its hash is kept)", cmd_keys_create, (
            opt("--name", required=True, help="who or what uses it, e.g. analysts"),
            opt("--read", help="collections it may read, comma-separated, or '*'"),
            opt("--write", help="collections it may upload to and forget from, or '*'"),
            JSON,
        )),
        Command("keys list", "the keys, active and revoked (never their secrets)", cmd_keys_list, (JSON,)),
        Command("keys revoke", "revoke a key by name or id; refused from the next request", cmd_keys_revoke,
                (opt("name"),)),
    ]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``commands()``; ``--workspace`` is taken before or after the command."""
    parser = argparse.ArgumentParser(
        prog="expert", description="Make a small model an expert on your documents."
    )
    where = f"workspace folder (env EXPERT_WORKSPACE; default {DEFAULT_WORKSPACE})"
    parser.add_argument("--workspace", "-w", help=where)
    parser.add_argument("--version", action="version", version=f"expert {version()}")
    # after the command (`expert search -w ws ...`) it must not override one given before it when absent
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", "-w", default=argparse.SUPPRESS, help=where)
    top = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, Any] = {}
    for command in commands():
        first, _, second = command.path.partition(" ")
        if second:
            if first not in groups:
                group = top.add_parser(first, parents=[common], help=GROUPS[first])
                groups[first] = group.add_subparsers(dest=f"{first}_command", required=True)
            p = groups[first].add_parser(second, parents=[common], help=command.help)
        else:
            p = top.add_parser(first, parents=[common], help=command.help)
        for option in command.options:
            option.add_to(p)
        p.set_defaults(func=command.run)
    return parser
