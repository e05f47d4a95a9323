"""A workspace: one folder holding ``expert.toml`` (settings) and ``store.db`` (everything else).

This is the Python API the CLI and the server are thin layers over::

    from industry_expert import Workspace

    ws = Workspace.init("ws")                      # or Workspace.open("ws")
    report = ws.ingest(["docs/", "prices.xlsx"])
    for hit in ws.search("capital expenditure in FY2022", k=5):
        print(hit.source, hit.page, hit.score)

Ingest is incremental: a file whose size and modification time are unchanged is not read again,
one whose bytes are unchanged (same SHA-256) is not parsed again, and only changed files are
re-embedded. Each document is stored in one transaction, so an interrupted ingest loses at most
the document in flight and the next run finishes the job.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import retrieve
from .answer import AnswerStream
from .config import Settings, load_settings, settings_to_toml
from .embed import Embedder, create_embedder, embed_query, embedder_id
from .errors import EmbedderMismatchError, InputError, LoadError, WorkspaceError
from .generate import Generator, create_generator
from .ingest import LOADERS, chunk_document, document_label, load_document, read_bytes, walk
from .store import DocumentRecord, SearchFilter, SQLiteStore, StoredDocument
from .summarize import summarize_document
from .types import Answer, Chunk, Hit

SETTINGS_FILE = "expert.toml"
STORE_FILE = "store.db"

Progress = Callable[[dict[str, Any]], None]


@dataclass
class IngestReport:
    """What one ``ingest`` did; ``skipped`` holds ``(path, reason)`` for every file left out."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    pages: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": len(self.unchanged),
            "removed": self.removed,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "chunks": self.chunks,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
        }


@dataclass
class SummaryReport:
    written: list[str] = field(default_factory=list)
    skipped: int = 0  # documents that already had a summary
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"written": self.written, "already": self.skipped, "seconds": round(self.seconds, 2)}


@dataclass(frozen=True)
class _Prepared:
    path: Path
    key: str
    source: str
    record: DocumentRecord | None = None
    chunks: tuple[Chunk, ...] = ()
    pages: int = 0
    unchanged: bool = False
    touch_mtime: int | None = None
    problem: str | None = None
    existed: bool = False  # the workspace held an earlier version (an update, not an addition)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Workspace:
    """A folder of settings and one store; open it with ``Workspace.open`` or ``Workspace.init``."""

    def __init__(self, path: Path, settings: Settings, store: SQLiteStore):
        self.path = path
        self.settings = settings
        self.store = store
        self._embedder: Embedder | None = None
        self._generator: Generator | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def init(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> Workspace:
        """Create a workspace at ``path`` (settings from ``overrides``, e.g. ``{"embedder.backend": "onnx"}``)."""
        path = Path(path)
        if (path / STORE_FILE).exists():
            raise WorkspaceError(f"{path} is already a workspace; use it, or pick another folder")
        settings = load_settings(None, overrides)
        try:
            path.mkdir(parents=True, exist_ok=True)
            (path / SETTINGS_FILE).write_text(settings_to_toml(settings), encoding="utf-8")
        except OSError as exc:
            raise WorkspaceError(f"cannot create a workspace at {path}: {exc.strerror}") from None
        store = SQLiteStore(path / STORE_FILE)
        store.set_meta("embedder", embedder_id(settings.embedder))
        return cls(path, settings, store)

    @classmethod
    def open(
        cls, path: str | Path, overrides: dict[str, Any] | None = None, allow_embedder_change: bool = False
    ) -> Workspace:
        """Open the workspace at ``path``; refuse it if its vectors came from another embedder."""
        path = Path(path)
        if not (path / STORE_FILE).exists():
            raise WorkspaceError(f"no workspace at {path}; run `expert init` (or pass --workspace DIR)")
        settings = load_settings(path / SETTINGS_FILE, overrides)
        store = SQLiteStore(path / STORE_FILE)
        built_by = store.get_meta("embedder")
        wanted = embedder_id(settings.embedder)
        if built_by and built_by != wanted and not allow_embedder_change:
            store.close()
            raise EmbedderMismatchError(
                f"this workspace's vectors were made by {built_by} but the settings name {wanted}; "
                f"set the embedder back in {path / SETTINGS_FILE}, or run `expert reindex` to re-embed "
                "every chunk with the new one"
            )
        return cls(path, settings, store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder:
        """The configured embedder, loaded on first use (keyword search never loads it)."""
        if self._embedder is None:
            self._embedder = create_embedder(self.settings.embedder)
        return self._embedder

    def use_embedder(self, embedder: Embedder) -> None:
        """Use an already-built embedder (tests, servers that share one model)."""
        self._embedder = embedder

    # -- ingest -------------------------------------------------------------------------------
    def _prepare(
        self, path: Path, collection: str, max_bytes: int, stored: StoredDocument | None
    ) -> _Prepared:
        """Read, parse and chunk one file (runs in a worker thread; never touches the store)."""
        source = os.path.normpath(str(path))
        key = str(path.resolve())
        try:
            st = path.stat()
            same_place = stored is not None and stored.collection == collection
            if same_place and stored and stored.size == st.st_size and stored.mtime_ns == st.st_mtime_ns:
                return _Prepared(path, key, source, unchanged=True)
            data = read_bytes(path, max_bytes)
            digest = _sha256(data)
            if same_place and stored and stored.sha256 == digest:
                return _Prepared(path, key, source, unchanged=True, touch_mtime=st.st_mtime_ns)
            doc = load_document(path, data, source)
            c = self.settings.chunking
            max_tokens = min(c.max_tokens, self.embedder.max_tokens)
            chunks = chunk_document(doc, self.embedder.count_tokens, max_tokens, c.overlap, c.header)
        except LoadError as exc:
            return _Prepared(path, key, source, problem=str(exc))
        except OSError as exc:
            return _Prepared(path, key, source, problem=f"cannot read ({exc.strerror})")
        record = DocumentRecord(
            key=key,
            source=source,
            collection=collection,
            sha256=digest,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            title=doc.title,
            label=document_label(doc),
            metadata=doc.metadata,
        )
        pages = len({b.page for b in doc.blocks if b.page is not None})
        return _Prepared(path, key, source, record, tuple(chunks), pages, existed=stored is not None)

    def ingest(
        self,
        paths: Iterable[str | Path],
        collection: str = "default",
        prune: bool = False,
        max_file_mb: float | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Load, chunk, embed and store every file under ``paths``; return what happened.

        Files that cannot be used are listed in ``report.skipped`` with a reason; the rest are
        stored. With ``prune``, documents under the given folders whose files are gone are removed.
        """
        started = time.perf_counter()
        roots = [Path(p) for p in paths]
        emit = progress or (lambda event: None)
        report = IngestReport()
        max_bytes = int((max_file_mb or self.settings.ingest.max_file_mb) * 1_000_000)
        found = list(walk(roots, LOADERS))
        # A file named twice (a folder and a file in it, or through a link) is ingested once.
        unique: dict[str, Path] = {}
        for f in found:
            if f.problem is None:
                unique.setdefault(str(f.path.resolve()), f.path)
        todo = list(unique.values())
        for f in found:
            if f.problem is not None:
                report.skipped.append((os.path.normpath(str(f.path)), f.problem))
                self.store.record_skipped(str(f.path.absolute()), os.path.normpath(str(f.path)), f.problem)
        emit({"event": "start", "files": len(todo), "skipped": len(report.skipped)})
        for source, reason in report.skipped:
            emit({"event": "file", "path": source, "status": "skipped", "reason": reason, "chunks": 0})
        seen: set[str] = set()
        # Parsing the next files overlaps embedding: PDFium and the tokenizer release the GIL.
        with ThreadPoolExecutor(max_workers=1) as pool:

            def submit(path: Path) -> Future[_Prepared]:
                stored = self.store.get_document(str(path.resolve()))
                return pool.submit(self._prepare, path, collection, max_bytes, stored)

            pending = [submit(p) for p in todo[:2]]
            next_index = len(pending)
            group: list[_Prepared] = []
            while pending:
                prepared = pending.pop(0).result()
                if next_index < len(todo):
                    pending.append(submit(todo[next_index]))
                    next_index += 1
                seen.add(prepared.key)
                if prepared.record is not None:
                    group.append(prepared)
                    if sum(len(p.chunks) for p in group) >= self.settings.ingest.embed_group or not pending:
                        self._store_group(group, report, emit)
                        group = []
                else:
                    self._report(prepared, self._store_unchanged_or_skipped(prepared, report), emit)
            if group:
                self._store_group(group, report, emit)
        if prune:
            report.removed = self._prune(roots, seen)
            for source in report.removed:
                emit({"event": "file", "path": source, "status": "removed", "reason": None, "chunks": 0})
        report.seconds = time.perf_counter() - started
        emit({"event": "done", **report.to_dict()})
        return report

    @staticmethod
    def _report(prepared: _Prepared, status: str, emit: Progress) -> None:
        emit(
            {
                "event": "file",
                "path": prepared.source,
                "status": status,
                "reason": prepared.problem,
                "chunks": len(prepared.chunks),
            }
        )

    def _store_unchanged_or_skipped(self, prepared: _Prepared, report: IngestReport) -> str:
        self.store.record_skipped(prepared.key, prepared.source, prepared.problem)
        if prepared.problem is not None:
            report.skipped.append((prepared.source, prepared.problem))
            return "skipped"
        if prepared.touch_mtime is not None:
            self.store.touch_document(prepared.key, prepared.source, prepared.touch_mtime)
        report.unchanged.append(prepared.source)
        return "unchanged"

    def _store_group(self, group: list[_Prepared], report: IngestReport, emit: Progress) -> None:
        """Embed a group of documents in one call, then write each in its own transaction."""
        t0 = time.perf_counter()
        vectors = self._embed([c.indexed_text for p in group for c in p.chunks])
        report.embed_seconds += time.perf_counter() - t0
        start = 0
        for prepared in group:
            assert prepared.record is not None
            end = start + len(prepared.chunks)
            self.store.put_document(prepared.record, prepared.chunks, vectors[start:end])
            start = end
            (report.updated if prepared.existed else report.added).append(prepared.source)
            report.chunks += len(prepared.chunks)
            report.pages += prepared.pages
            self._report(prepared, "updated" if prepared.existed else "added", emit)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self.embedder.embed_batch(texts)
        dim = self.store.get_meta("embedder_dim")
        if dim is None:
            self.store.set_meta("embedder_dim", str(vectors.shape[1]))
        elif int(dim) != vectors.shape[1]:
            raise WorkspaceError(
                f"embedder returned {vectors.shape[1]}-dimensional vectors; the workspace holds {dim}"
            )
        return vectors

    def _prune(self, paths: Sequence[Path], seen: set[str]) -> list[str]:
        roots = [str(p.resolve()) + os.sep for p in paths if p.is_dir()]
        gone = [
            d
            for d in self.store.list_documents()
            if d.key not in seen and any(d.key.startswith(r) for r in roots) and not Path(d.key).exists()
        ]
        self.store.delete_documents([d.key for d in gone])
        return [d.source for d in gone]

    # -- search -------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 5,
        mode: str | None = None,
        source: str | None = None,
        collection: str | None = None,
    ) -> list[Hit]:
        """The ``k`` passages that best answer ``query``; ``source`` is a glob over file paths."""
        return self.retrieve(query, k, mode, source, collection)[0]

    def retrieve(
        self,
        query: str,
        k: int = 5,
        mode: str | None = None,
        source: str | None = None,
        collection: str | None = None,
    ) -> tuple[list[Hit], float | None]:
        """``search``, plus the cosine similarity of the closest passage (None without vectors),
        which ``ask`` compares with ``answer.min_relevance``."""
        if not query.strip():
            raise InputError("empty query; ask a question or give search terms")
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        mode = mode or self.settings.retrieval.mode
        if mode not in ("hybrid", "dense", "keyword"):
            raise InputError(f"unknown mode {mode!r}; use hybrid, dense or keyword")
        needs_vectors = mode != "keyword" and self.store.get_meta("embedder_dim") is not None
        embed = (lambda q: embed_query(self.embedder, q)) if needs_vectors else None
        if mode != "keyword" and embed is None:
            mode = "keyword"  # an empty workspace has no vectors to search
        return retrieve.search_scored(
            self.store, query, k, self.settings.retrieval, embed, mode, SearchFilter(collection, source)
        )

    # -- answers ------------------------------------------------------------------------------
    @property
    def generator(self) -> Generator:
        """The configured generator, loaded on first use."""
        if self._generator is None:
            self._generator = create_generator(self.settings.generator)
        return self._generator

    def use_generator(self, generator: Generator) -> None:
        """Use an already-built generator (tests, servers, benchmarks that share one model)."""
        self._generator = generator

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        source: str | None = None,
        collection: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        retrieval: bool = True,
    ) -> AnswerStream:
        """Start answering ``question``: iterate the result for text, then read its ``answer``.

        ``history`` holds a chat's earlier ``(question, answer)`` turns; ``retrieval=False`` asks
        the model alone (a fine-tuned model without the workspace's passages).
        """
        return AnswerStream(self, self.generator, question, k, source, collection, history, retrieval)

    def ask(
        self,
        question: str,
        k: int | None = None,
        source: str | None = None,
        collection: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        retrieval: bool = True,
    ) -> Answer:
        """Answer ``question`` from the workspace, citing the passages it used."""
        return self.ask_stream(question, k, source, collection, history, retrieval).run()

    def summaries(self, sources: Iterable[str]) -> dict[str, str]:
        """The stored summary of each of ``sources`` that has one."""
        found: dict[str, str] = {}
        for source in sources:
            for doc in self.store.list_documents(source):
                if doc.summary and doc.source == source:
                    found[source] = doc.summary
        return found

    def summarize(self, force: bool = False, progress: Progress | None = None) -> SummaryReport:
        """Write a summary for every document that has none (all of them with ``force``).

        Each summary is stored as soon as it is written, so an interrupted run loses at most the
        document in flight and the next run carries on. See ``summarize.summarize_document``.
        """
        emit = progress or (lambda event: None)
        started = time.perf_counter()
        documents = self.store.list_documents()
        todo = [d for d in documents if force or not d.summary]
        report = SummaryReport(skipped=len(documents) - len(todo))
        emit({"event": "start", "documents": len(todo), "already": report.skipped})
        generator = self.generator if todo else None
        for doc in todo:
            assert generator is not None
            t = time.perf_counter()
            texts = [text for _, text in self.store.document_chunks(doc.key)]
            summary = summarize_document(generator, doc.title or doc.source, texts, self.settings.summary)
            self.store.set_summary(doc.key, summary)
            report.written.append(doc.source)
            emit({"event": "document", "path": doc.source, "seconds": round(time.perf_counter() - t, 2)})
        report.seconds = time.perf_counter() - started
        emit({"event": "done", **report.to_dict()})
        return report

    # -- inspection and maintenance -----------------------------------------------------------
    def sources(self, pattern: str | None = None) -> list[StoredDocument]:
        return self.store.list_documents(pattern)

    def skipped(self, pattern: str | None = None) -> list[tuple[str, str]]:
        """``(source, reason)`` of files that could not be ingested and have not loaded since."""
        return [(source, reason) for _, source, reason in self.store.list_skipped(pattern)]

    def forget(self, pattern: str) -> list[str]:
        """Remove the documents whose source or absolute path matches ``pattern`` (a path or glob)."""
        resolved = str(Path(pattern).resolve())
        matches: dict[str, str] = {}
        for candidate in (pattern, resolved, resolved + os.sep + "*"):
            matches.update({d.key: d.source for d in self.store.list_documents(candidate)})
            for key, _, _ in self.store.list_skipped(candidate):  # and forget why it was skipped
                self.store.record_skipped(key, "", None)
        self.store.delete_documents(list(matches))
        return sorted(matches.values())

    def status(self, check: bool = True) -> dict[str, Any]:
        stats = self.store.stats()
        documents = self.store.list_documents()
        collections: dict[str, int] = {}
        for doc in documents:
            collections[doc.collection] = collections.get(doc.collection, 0) + 1
        return {
            "workspace": str(self.path),
            **stats,
            "collections": collections,
            "embedder": self.store.get_meta("embedder"),
            "embedder_dim": int(self.store.get_meta("embedder_dim") or 0) or None,
            "chunk_tokens": self.settings.chunking.max_tokens,
            "retrieval_mode": self.settings.retrieval.mode,
            "generator": f"{self.settings.generator.backend}/{self.settings.generator.model}",
            "summaries": sum(1 for d in documents if d.summary),
            "problems": self.store.check() if check else None,
        }

    def reindex(self, progress: Progress | None = None, batch: int = 512) -> int:
        """Re-embed every chunk with the configured embedder and record it as the workspace's."""
        emit = progress or (lambda event: None)
        rows = self.store.all_chunks()
        emit({"event": "start", "chunks": len(rows)})
        ids: list[int] = []
        parts: list[np.ndarray] = []
        for start in range(0, len(rows), batch):
            part = rows[start : start + batch]
            parts.append(self.embedder.embed_batch([t for _, t in part]))
            ids.extend(i for i, _ in part)
            emit({"event": "progress", "done": len(ids)})
        if parts:
            self.store.replace_vectors(ids, np.concatenate(parts))
            self.store.set_meta("embedder_dim", str(parts[0].shape[1]))
        self.store.set_meta("embedder", embedder_id(self.settings.embedder))
        emit({"event": "done", "chunks": len(ids)})
        return len(ids)


def with_settings(ws: Workspace, **changes: Any) -> Workspace:
    """A view of ``ws`` with retrieval settings changed (benchmarks compare fusion choices)."""
    return Workspace(
        ws.path, replace(ws.settings, retrieval=replace(ws.settings.retrieval, **changes)), ws.store
    )
