"""The ``expert`` command line: every command, its flags, and the function that runs it.

Choices and defaults come from the typed settings (``Literal`` fields, dataclass defaults), so
help never restates a value that lives elsewhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from typing import Any, get_args, get_type_hints

from ..config import Settings, choices
from ..evaluate.build import build_questions
from ..finetune.build import build_dataset
from ..finetune.export import export
from ..finetune.retriever import RetrieverConfig
from ..finetune.train import TrainConfig
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
from .serving import cmd_keys_create, cmd_keys_list, cmd_keys_revoke, cmd_serve
from .tuning import (
    cmd_dataset_build,
    cmd_dataset_check,
    cmd_export,
    cmd_train,
    cmd_tune_fusion,
    cmd_tune_retriever,
)

SETTINGS = Settings()


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("industry-expert")
    except PackageNotFoundError:  # run from a source tree
        return "unknown"


def positive(kind: type[int] | type[float]) -> Any:
    """An argparse type: a number above zero (``-k 0`` or ``--max-file-mb -1`` is refused)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a number above 0, found {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def default(owner: Any, name: str) -> Any:
    """The default of a dataclass field or of a function's parameter, read where it is defined."""
    if dataclasses.is_dataclass(owner):
        return next(f.default for f in dataclasses.fields(owner) if f.name == name)
    return inspect.signature(owner).parameters[name].default


def literal(owner: Any, name: str) -> list[str]:
    """The values of a ``Literal``-typed dataclass field or function parameter."""
    return list(get_args(get_type_hints(owner)[name]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="expert", description="Make a small model an expert on your documents."
    )
    where = f"workspace folder (env EXPERT_WORKSPACE; default {DEFAULT_WORKSPACE})"
    parser.add_argument("--workspace", "-w", help=where)
    parser.add_argument("--version", action="version", version=f"expert {version()}")
    # --workspace is also taken after the command (`expert search -w ws ...`), without overriding
    # one given before it when it is absent
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", "-w", default=argparse.SUPPRESS, help=where)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kw)

    p = command("init", help="create a workspace")
    p.add_argument(
        "--embedder",
        help="multilingual (the shipped multilingual-e5-small: 100 languages), minilm (the default), "
        "static (the shipped WordLlama token vectors: about 100x faster ingest, lower recall), or "
        f"BACKEND[:MODEL] with BACKEND one of {', '.join(choices('embedder.backend'))}, e.g. "
        "sentence-transformers:/models/e5, openai:text-embedding-3-small",
    )
    p.add_argument(
        "--chunk-tokens",
        type=positive(int),
        help=f"chunk size in embedder tokens (default {SETTINGS.chunking.max_tokens})",
    )
    p.add_argument(
        "--store",
        help="where documents and vectors live: a PostgreSQL URL (postgresql://user@host/db, "
        "with pgvector) shared by a team, or a SQLite file; default store.db in the workspace",
    )
    p.set_defaults(func=cmd_init)

    p = command("ingest", help="add or update files and folders")
    p.add_argument("paths", nargs="+", help="files and folders (recursive)")
    p.add_argument("--collection", default="default", help="collection name to file them under")
    p.add_argument(
        "--move",
        action="store_true",
        help="file documents the workspace holds in another collection under --collection instead "
        "(refused without it: keys scoped to either collection would change what they read)",
    )
    p.add_argument(
        "--language",
        help="the collection's language for keyword search, kept for later ingests: a code or name "
        "(de, german, fa, ...) or a PostgreSQL text-search configuration; default english. PostgreSQL "
        "stems some thirty languages and keeps the words of others whole (simple); SQLite takes "
        "english and the unstemmed ones",
    )
    p.add_argument(
        "--prune", action="store_true", help="remove documents whose files are gone from the given folders"
    )
    p.add_argument(
        "--max-file-mb",
        type=positive(float),
        help=f"skip files larger than this (default {SETTINGS.ingest.max_file_mb:g})",
    )
    p.add_argument(
        "--summarize",
        action="store_true",
        help="write a summary of each document that has none (uses the generator)",
    )
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="also ingest what links inside the folders point to outside them (skipped by default)",
    )
    p.add_argument(
        "--ocr",
        choices=choices("ingest.ocr"),
        help="read pages without a usable text layer (scans) and image files by OCR: auto, always "
        f"(every PDF page) or never (default: ingest.ocr, {SETTINGS.ingest.ocr})",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_ingest)

    p = command("search", help="find the passages that answer a question")
    p.add_argument("query", nargs="*")
    p.add_argument("-k", type=positive(int), default=5, help="number of hits (default 5)")
    p.add_argument("--mode", choices=choices("retrieval.mode"), help=f"default {SETTINGS.retrieval.mode}")
    p.add_argument("--source", help="only sources matching this path or glob, e.g. '*10K*'")
    p.add_argument("--collection", help="only this collection")
    p.add_argument("--batch", help="file with one query per line ('-' for stdin); one result per query")
    p.add_argument("--json", action="store_true", help="JSON output (one line per query)")
    p.set_defaults(func=cmd_search)

    def generator_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", help="a .gguf file, a model folder, or the server's model name")
        p.add_argument("--base-url", help="an OpenAI-compatible server, e.g. http://localhost:11434/v1")
        p.add_argument(
            "--backend",
            choices=choices("generator.backend"),
            help="default: follows from --model, --adapter or --base-url, else the settings'",
        )
        p.add_argument("--api-key-env", help="environment variable holding the API key")
        p.add_argument(
            "--adapter",
            help="an `expert train` run directory or a PEFT adapter folder (transformers), or a GGUF "
            "LoRA file (llama-cpp); with --backend llama-cpp a run is converted once",
        )
        p.add_argument(
            "--max-tokens",
            type=int,
            help=f"answer length limit in tokens (default {SETTINGS.generator.max_tokens})",
        )
        p.add_argument(
            "--context-window",
            type=int,
            help=f"tokens of prompt + answer (default {SETTINGS.generator.context_window})",
        )

    def holdout_flags(p: argparse.ArgumentParser, seed: int) -> None:
        """What commands that learn from the workspace's passages share (dataset build, tune)."""
        p.add_argument("--source", help="only passages of sources matching this path or glob")
        p.add_argument(
            "--exclude",
            action="append",
            metavar="FILE",
            help="keep out these passages: a question file (the pages its evidence cites) or a "
            ".chunks.json (repeatable); sets made by `eval build` here or in the workspace are kept out anyway",
        )
        p.add_argument("--seed", type=int, default=seed)
        p.add_argument("--json", action="store_true")
        generator_flags(p)

    def answer_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("-k", type=positive(int), help=f"passages to retrieve (default {SETTINGS.answer.k})")
        p.add_argument("--source", help="only sources matching this path or glob, e.g. '*10K*'")
        p.add_argument("--collection", help="only this collection")
        generator_flags(p)
        p.add_argument(
            "--min-relevance",
            type=float,
            help="below this question-passage similarity, say it is not there "
            f"(default {SETTINGS.answer.min_relevance}; 0: off)",
        )
        p.add_argument(
            "--no-retrieval", action="store_true", help="ask the model alone, without the workspace"
        )
        p.add_argument(
            "--json", action="store_true", help="answer, citations, hits, model, tokens and timings as JSON"
        )

    p = command("ask", help="answer a question from the workspace, with cited sources")
    p.add_argument("question", nargs="*")
    answer_flags(p)
    p.set_defaults(func=cmd_ask)

    p = command("chat", help="a conversation over the workspace; follow-up questions are understood")
    answer_flags(p)
    p.set_defaults(func=cmd_chat)

    p = command("dataset", help="training data: check a file (build comes with fine-tuning)")
    dsub = p.add_subparsers(dest="dataset_command", required=True)
    d = dsub.add_parser(
        "check", parents=[common], help="validate a JSONL file: messages, Alpaca or prompt/completion"
    )
    d.add_argument("path")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_dataset_check)
    d = dsub.add_parser(
        "build",
        parents=[common],
        help="synthesize question/answer examples from the workspace with the generator",
    )
    d.add_argument(
        "--out", required=True, help="training JSONL to write (also OUT.val.jsonl and OUT.chunks.json)"
    )
    d.add_argument(
        "-n",
        type=positive(int),
        default=default(build_dataset, "n"),
        help="examples to make (default %(default)s)",
    )
    d.add_argument(
        "--distractors",
        type=int,
        default=default(build_dataset, "distractors"),
        help="unrelated passages beside the source (default %(default)s)",
    )
    d.add_argument(
        "--oracle-share",
        type=float,
        default=default(build_dataset, "oracle_share"),
        help="share of examples that include the source passage (default %(default)s)",
    )
    d.add_argument(
        "--val-fraction",
        type=float,
        default=default(build_dataset, "val_fraction"),
        help="share held out for validation (default %(default)s)",
    )
    holdout_flags(d, default(build_dataset, "seed"))
    d.set_defaults(func=cmd_dataset_build)

    p = command("eval", help="measure base, RAG, fine-tuned and both on your own questions")
    esub = p.add_subparsers(dest="eval_command", required=True)
    e = esub.add_parser("check", parents=[common], help="validate a question file (JSONL)")
    e.add_argument("path")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval_check)
    e = esub.add_parser(
        "build",
        parents=[common],
        help="synthesize held-out questions with reference answers from passages no training set used",
    )
    e.add_argument("--out", required=True, help="question JSONL to write (also OUT.chunks.json)")
    e.add_argument(
        "-n",
        type=positive(int),
        default=default(build_questions, "n"),
        help="questions to make (default %(default)s)",
    )
    e.add_argument(
        "--exclude",
        action="append",
        metavar="FILE",
        help="keep out the passages of this training set (its .chunks.json; repeatable); sets made by "
        "`dataset build` under this folder or the workspace are kept out anyway",
    )
    e.add_argument("--source", help="only chunks of sources matching this path or glob")
    e.add_argument("--seed", type=int, default=default(build_questions, "seed"))
    e.add_argument("--json", action="store_true")
    generator_flags(e)
    e.set_defaults(func=cmd_eval_build)
    e = esub.add_parser(
        "run", parents=[common], help="answer a question file in each mode and score every answer"
    )
    e.add_argument("questions", help="JSONL: question, answer, optional evidence and kind")
    e.add_argument("--out", required=True, help="folder for answers.jsonl and the summary (resumable)")
    e.add_argument(
        "--modes",
        default="base,rag",
        help="comma-separated, of base, rag, ft, rag+ft (default %(default)s; ft modes need --adapter)",
    )
    e.add_argument(
        "-k", type=positive(int), help=f"passages per answer in the rag modes (default {SETTINGS.answer.k})"
    )
    e.add_argument(
        "--judge-url",
        metavar="URL",
        help="also grade each answer with a judge model at this OpenAI-compatible endpoint (off by default)",
    )
    e.add_argument("--judge-model", metavar="NAME", help="the judge model's name on that server")
    e.add_argument("--judge-key-env", metavar="VAR", help="environment variable holding the judge's API key")
    e.add_argument("--json", action="store_true")
    generator_flags(e)
    e.set_defaults(func=cmd_eval_run)
    e = esub.add_parser(
        "report", parents=[common], help="print an evaluation's summary (and write summary.md)"
    )
    e.add_argument("folder")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval_report)
    e = esub.add_parser(
        "compare",
        parents=[common],
        help="two runs of the same questions: what changed, and which differences are beyond noise",
    )
    e.add_argument("before", help="evaluation folder (eval run --out)")
    e.add_argument("after", help="evaluation folder of the same question file")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval_compare)

    p = command("advise", help="RAG, fine-tuning or both: a recommendation with the figures behind it")
    p.add_argument(
        "--eval", metavar="FOLDER", help="an `eval run` folder (default: the latest one found here)"
    )
    p.add_argument(
        "--no-novelty", action="store_true", help="skip measuring the model's perplexity on the workspace"
    )
    p.add_argument("--json", action="store_true")
    generator_flags(p)
    p.set_defaults(func=cmd_advise)

    p = command("train", help="fine-tune the model with LoRA or QLoRA on a dataset")
    p.add_argument("--data", help="training JSONL (messages, Alpaca or prompt/completion)")
    p.add_argument("--out", help="new run directory (never overwritten)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--base", help="model folder, .gguf file or hub id (default: the shipped SmolLM2)")
    p.add_argument(
        "--method",
        choices=literal(TrainConfig, "method"),
        help=f"default {default(TrainConfig, 'method')}; qlora: 4-bit NF4 base (bitsandbytes; CUDA or CPU)",
    )
    p.add_argument(
        "--eval-data",
        help=f"validation JSONL (default: hold out {round(100 * default(TrainConfig, 'val_fraction'))}%% of --data)",
    )
    p.add_argument("--r", type=int, help=f"LoRA rank (default {default(TrainConfig, 'r')})")
    p.add_argument("--alpha", type=int, help=f"LoRA alpha (default {default(TrainConfig, 'alpha')})")
    p.add_argument(
        "--targets",
        help=f"comma-separated module names (default {default(TrainConfig, 'targets')}: every linear layer)",
    )
    p.add_argument(
        "--lr", type=float, help=f"learning rate (default {default(TrainConfig, 'learning_rate'):g})"
    )
    p.add_argument(
        "--epochs", type=float, help=f"passes over the data (default {default(TrainConfig, 'epochs'):g})"
    )
    p.add_argument("--max-steps", type=int, help="stop after this many steps (overrides --epochs)")
    p.add_argument(
        "--batch-size",
        type=int,
        help=f"examples per step per device (default {default(TrainConfig, 'batch_size')})",
    )
    p.add_argument(
        "--grad-accum",
        type=int,
        help=f"gradient accumulation steps (default {default(TrainConfig, 'grad_accum')})",
    )
    p.add_argument(
        "--max-length",
        type=int,
        help=f"longest example in tokens; longer ones are dropped (default {default(TrainConfig, 'max_length')})",
    )
    p.add_argument("--packing", action="store_true", help="pack short examples into full-length sequences")
    p.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        help="recompute activations to save memory (default on; --no-gradient-checkpointing is faster)",
    )
    p.add_argument(
        "--precision",
        choices=literal(TrainConfig, "precision"),
        help=f"default {default(TrainConfig, 'precision')}: bf16 on CUDA and on CPUs with native bf16",
    )
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--json", action="store_true", help="result as JSON on stdout, progress as JSON lines on stderr"
    )
    p.set_defaults(func=cmd_train)

    p = command(
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
        "--outtype",
        default=default(export, "outtype"),
        choices=literal(export, "outtype"),
        help="GGUF tensor type (default %(default)s)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)

    p = command("sources", help="list the documents in the workspace")
    p.add_argument("pattern", nargs="?", help="only sources matching this path or glob")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sources)

    p = command("forget", help="remove a document, or the documents under a folder (--glob for a pattern)")
    p.add_argument("target", help="a document's path or a folder, as ingested or absolute")
    p.add_argument(
        "--glob",
        action="store_true",
        help="TARGET is a pattern: * and ? within one folder level, ** across levels, a name pattern matches file names",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.add_argument(
        "--yes", "-y", action="store_true", help=f"remove more than {ASK_ABOVE} documents without asking"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_forget)

    p = command("status", help="counts, embedder, sizes and an integrity check")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = command("reindex", help="re-embed every chunk with the configured embedder, or a new one")
    p.add_argument(
        "--embedder",
        help="switch to this embedder first: a tuned retriever (expert tune retriever --out), multilingual, "
        "minilm, static, a model folder, or BACKEND[:MODEL]; expert.toml is updated",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reindex)

    p = command("tune", help="fit part of the pipeline to the workspace: the retriever, the fusion weights")
    tsub = p.add_subparsers(dest="tune_command", required=True)
    t = tsub.add_parser(
        "retriever",
        parents=[common],
        help="questions written about the workspace's passages, hard negatives, a contrastive fine-tune of the embedder",
    )
    t.add_argument("--out", required=True, help="new folder for the tuned model, its pairs and manifest")
    t.add_argument(
        "-n", type=int, default=default(RetrieverConfig, "n"), help="questions to write (default %(default)s)"
    )
    t.add_argument(
        "--epochs", type=float, default=default(RetrieverConfig, "epochs"), help="default %(default)s"
    )
    t.add_argument(
        "--batch-size", type=int, default=default(RetrieverConfig, "batch_size"), help="default %(default)s"
    )
    t.add_argument(
        "--lr", type=float, default=default(RetrieverConfig, "learning_rate"), help="default %(default)s"
    )
    holdout_flags(t, default(RetrieverConfig, "seed"))
    t.set_defaults(func=cmd_tune_retriever)
    t = tsub.add_parser(
        "fusion",
        parents=[common],
        help="fit the keyword/dense/routing weights of search on your own questions with evidence",
    )
    t.add_argument(
        "questions", nargs="?", help="JSONL as `expert eval` reads: question, answer, evidence (file, pages)"
    )
    t.add_argument("--reset", action="store_true", help="forget the fit; the configured weights apply again")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_tune_fusion)

    serve = SETTINGS.serve
    p = command("serve", help="an HTTP server: OpenAI-compatible API, native API and a web page")
    p.add_argument(
        "--host", help=f"address to bind (default {serve.host}; beyond loopback a key is required)"
    )
    p.add_argument("--port", type=int, help=f"port (default {serve.port})")
    p.add_argument(
        "--adapter",
        action="append",
        metavar="[NAME=]RUN",
        help="serve this adapter as models ft:NAME and rag+ft:NAME (repeatable)",
    )
    p.add_argument(
        "--auth",
        choices=choices("serve.auth"),
        help="keys: auto (default) requires them beyond loopback and once any exists",
    )
    p.add_argument("--parallel", type=int, help=f"answers generated at once (default {serve.parallel})")
    p.add_argument(
        "--queue", type=int, help=f"requests that may wait for the model; beyond, 503 (default {serve.queue})"
    )
    p.add_argument(
        "--ingest-nice", type=int, help=f"CPU priority of ingest jobs, 0-19 (default {serve.ingest_nice})"
    )
    p.add_argument(
        "--max-upload-mb", type=float, help=f"largest upload request (default {serve.max_upload_mb:g})"
    )
    p.add_argument(
        "--evaluations", metavar="DIR", help="folder of `eval run` folders to serve (default: here)"
    )
    p.add_argument("--quiet", action="store_true", help="log warnings only, not each request")
    p.add_argument("--model", help="a .gguf file, a model folder, or the server's model name")
    p.add_argument(
        "--base-url", help="an OpenAI-compatible server to generate with, e.g. http://localhost:8080/v1"
    )
    p.add_argument(
        "--backend", choices=choices("generator.backend"), help="default: follows from --model or --base-url"
    )
    p.add_argument("--api-key-env", help="environment variable holding the generator server's API key")
    p.add_argument(
        "--max-tokens",
        type=int,
        help=f"default answer length limit (default {SETTINGS.generator.max_tokens})",
    )
    p.add_argument("--context-window", type=int, help="tokens of prompt + answer")
    p.set_defaults(func=cmd_serve)

    p = command("store", help="the workspace's store: move it to PostgreSQL")
    ssub = p.add_subparsers(dest="store_command", required=True)
    m = ssub.add_parser(
        "migrate",
        parents=[common],
        help="copy documents, chunks, vectors, summaries, keys and ingest history into another store "
        "(resumable; checked at the end), then use it",
    )
    m.add_argument("--to", required=True, help="the new store: postgresql://user@host/db (with pgvector)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_store_migrate)

    p = command("keys", help="API keys for `expert serve`: who may read and write which collections")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    k = ksub.add_parser("create", parents=[common], help="make a key (printed once; only its hash is kept)")
    k.add_argument("--name", required=True, help="who or what uses it, e.g. analysts")
    k.add_argument("--read", help="collections it may read, comma-separated, or '*'")
    k.add_argument("--write", help="collections it may upload to and forget from, or '*'")
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=cmd_keys_create)
    k = ksub.add_parser("list", parents=[common], help="the keys, active and revoked (never their secrets)")
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=cmd_keys_list)
    k = ksub.add_parser(
        "revoke", parents=[common], help="revoke a key by name or id; refused from the next request"
    )
    k.add_argument("name")
    k.set_defaults(func=cmd_keys_revoke)
    return parser
