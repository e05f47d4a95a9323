"""The ingest pipeline: find files, parse and chunk them, embed the chunks, write each document.

Ingest is incremental: a file whose size and modification time are unchanged is not read again,
one whose bytes are unchanged (same SHA-256) is not parsed again, and only changed files are
re-embedded. Chunks of several small documents are embedded in one call (``ingest.embed_group``),
then each document is stored in its own transaction, so an interrupted ingest loses at most the
documents of the group in flight and the next run finishes the job. Parsing the next files
overlaps embedding (PDFium and the tokenizer release the GIL).

``Ingestor`` needs a store that keeps the ``Store`` contract and an embedder, and nothing else::

    ingestor = Ingestor(store, lambda: embedder, ChunkSettings(), IngestSettings())
    report = ingestor.ingest(["docs/"])
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ChunkSettings, IngestSettings
from ..embed import Embedder
from ..errors import InputError, LoadError, StoreError
from ..events import (
    FileDone,
    Finished,
    IngestStarted,
    OcrPage,
    Progress,
    ReindexDone,
    Reindexed,
    ReindexStarted,
    Waiting,
    ignore,
)
from ..store import DocumentRecord, Store, StoredDocument
from ..types import Document, check_name
from . import LOADERS, LoadOptions, chunk_document, document_label, load_document, read_bytes, walk
from .ahead import ParseAhead, Prepared
from .files import Found
from .images import IMAGE_EXTENSIONS
from .naming import LOCAL, Naming
from .ocr import OcrMode
from .pdf import pages_for_ocr

OCR_FORMATS = {"pdf", *(e.lstrip(".") for e in IMAGE_EXTENSIONS)}


@dataclass
class IngestReport:
    """What one ``ingest`` did; ``skipped`` holds ``(path, reason)`` for every file left out."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (source, the collection it left)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    pages: int = 0
    seconds: float = 0.0
    # where the time went: embedding, the parsing worker (overlapped with embedding), waiting for
    # it, writing documents to the store, and the store's optimize at the end (its indexes)
    embed_seconds: float = 0.0
    parse_seconds: float = 0.0
    wait_seconds: float = 0.0
    store_seconds: float = 0.0
    index_seconds: float = 0.0
    # the fusion weights fitted again on their questions after a large change (Workspace.ingest)
    fusion_refit: str = ""
    read_after: str = ""  # with a read replica: the WAL position a reader waits for to see this ingest

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "moved": [{"path": p, "from": c} for p, c in self.moved],
            "unchanged": len(self.unchanged),
            "removed": self.removed,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "chunks": self.chunks,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "parse_seconds": round(self.parse_seconds, 3),
            "wait_seconds": round(self.wait_seconds, 3),
            "store_seconds": round(self.store_seconds, 3),
            "index_seconds": round(self.index_seconds, 3),
            **({"fusion_refit": self.fusion_refit} if self.fusion_refit else {}),
            **({"read_after": self.read_after} if self.read_after else {}),
        }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Ingestor:
    """Ingests files into one store with one embedder (called for it on first need)."""

    def __init__(
        self,
        store: Store,
        embedder: Callable[[], Embedder],
        chunking: ChunkSettings,
        settings: IngestSettings,
    ):
        self.store = store
        self.embedder = embedder
        self.chunking = chunking
        self.settings = settings

    def _prepare(
        self,
        path: Path,
        collection: str,
        max_bytes: int,
        stored: StoredDocument | None,
        emit: Progress,
        ocr: OcrMode,
        naming: Naming = LOCAL,
    ) -> Prepared:
        """Read, parse and chunk one file (runs in a worker thread; never touches the store).

        A PDF stored under another OCR mode (``metadata["ocr"]``; documents from before OCR read
        as ``never``) is looked at again even when its bytes are unchanged: re-parsed if the new
        mode would read a page by OCR, else only its mode is recorded (no re-embedding).
        """
        source = naming.source(path)

        def ocr_progress(done: int, total: int) -> None:
            emit(OcrPage(source, done, total))

        key = naming.key(path)
        try:
            st = path.stat()
            same_place = stored is not None and stored.collection == collection
            pdf = path.suffix.lower() == ".pdf"
            new_mode = pdf and stored is not None and stored.metadata.get("ocr", "never") != ocr
            same_file = stored is not None and stored.size == st.st_size and stored.mtime_ns == st.st_mtime_ns
            if same_place and same_file and not new_mode:
                return Prepared(path, key, source, unchanged=True)
            data = read_bytes(path, max_bytes)
            digest = _sha256(data)
            if same_place and stored and stored.sha256 == digest:
                if not new_mode:
                    return Prepared(path, key, source, unchanged=True, touch_mtime=st.st_mtime_ns)
                if not pages_for_ocr(data, ocr):  # the new mode changes nothing in this file
                    metadata = {**stored.metadata, "ocr": ocr}
                    return Prepared(
                        path, key, source, unchanged=True, touch_mtime=st.st_mtime_ns, metadata=metadata
                    )
            doc = load_document(path, data, source, LoadOptions(ocr, ocr_progress))
            c = self.chunking
            max_tokens = min(c.max_tokens, self.embedder().max_tokens)
            chunks = chunk_document(doc, self.embedder().count_tokens, max_tokens, c.overlap, c.header)
        except LoadError as exc:
            return Prepared(path, key, source, problem=str(exc))
        except OSError as exc:
            return Prepared(path, key, source, problem=f"cannot read ({exc.strerror})")
        except RecursionError:
            return Prepared(path, key, source, problem="could not be chunked: nested too deeply")
        except Exception as exc:  # chunking or counting failed: this file is skipped, the run goes on
            return Prepared(
                path, key, source, problem=f"could not be processed ({type(exc).__name__}: {exc})"
            )
        record = DocumentRecord(
            key=key,
            source=source,
            collection=collection,
            sha256=digest,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            title=doc.title,
            label=document_label(doc),
            metadata={**doc.metadata, **self._ocr_metadata(doc, ocr)},
        )
        pages = len({b.page for b in doc.blocks if b.page is not None})
        moved_from = stored.collection if stored is not None and not same_place else None
        return Prepared(
            path, key, source, record, tuple(chunks), pages, existed=stored is not None, moved_from=moved_from
        )

    @staticmethod
    def _ocr_metadata(doc: Document, mode: str) -> dict[str, str]:
        """For a PDF or image: the OCR mode it was parsed under, and the pages OCR read."""
        if doc.metadata.get("format") not in OCR_FORMATS:
            return {}
        pages = {b.page for b in doc.blocks if b.locator == "OCR"}
        return {"ocr": mode, **({"ocr_pages": str(len(pages))} if pages else {})}

    def ingest(
        self,
        paths: Iterable[str | Path],
        collection: str = "default",
        prune: bool = False,
        max_file_mb: float | None = None,
        progress: Progress | None = None,
        follow_symlinks: bool = False,
        ocr: OcrMode | None = None,
        move: bool = False,
        naming: Naming = LOCAL,
    ) -> IngestReport:
        """Load, chunk, embed and store every file under ``paths``; return what happened.

        Files that cannot be used are listed in ``report.skipped`` with a reason; the rest are
        stored. With ``prune``, documents under the given folders whose files are gone are removed.
        ``ocr`` (``auto``, ``always``, ``never``) overrides ``ingest.ocr``; pages read by OCR are
        reported as ``ocr`` events, one per page. A file the workspace holds in another collection
        is refused, before any work, unless ``move`` says to file it under ``collection`` instead
        (``report.moved``): a key scoped to a collection would otherwise lose or gain documents
        that nobody meant to move. ``naming`` says what the files are called in the store
        (``naming.Copy``: a local copy of documents that live elsewhere).
        """
        check_name(collection)
        emit = progress or ignore
        roots = [Path(p) for p in paths]
        found = list(walk(roots, LOADERS, follow_symlinks))
        # the documents this run writes; a prune may remove any under its folders, so it holds the store
        keys = None if prune else {naming.key(f.path) for f in found if f.problem is None}
        with self._one_writer(emit, keys):
            return self._ingest(roots, found, collection, prune, max_file_mb, emit, ocr, move, naming)

    @contextlib.contextmanager
    def _one_writer(self, emit: Progress, keys: set[str] | None, poll: float = 0.5) -> Iterator[None]:
        """Hold the store's ingest lock on ``keys`` (None: the whole store), waiting (and saying
        so, once) while another ingest has them: the files it is embedding are then unchanged
        here, and each run reports what it did."""
        said = False
        while True:
            with self.store.ingest_lock(keys) as held:
                if held:
                    yield
                    return
            if not said:
                emit(Waiting("another ingest is writing to this workspace's store"))
                said = True
            time.sleep(poll)

    def _ingest(
        self,
        roots: list[Path],
        found: list[Found],
        collection: str,
        prune: bool,
        max_file_mb: float | None,
        emit: Progress,
        ocr: OcrMode | None,
        move: bool,
        naming: Naming,
    ) -> IngestReport:
        ocr_mode = ocr or self.settings.ocr
        started = time.perf_counter()
        report = IngestReport()
        max_bytes = int((max_file_mb or self.settings.max_file_mb) * 1_000_000)
        # A file named twice (a folder and a file in it, or through a link) is ingested once.
        unique: dict[str, Path] = {}
        for f in found:
            if f.problem is None:
                unique.setdefault(str(f.path.resolve()), f.path)
        todo = list(unique.values())
        if todo:
            self.embedder()  # an embedder that cannot load fails the run now, not every file
        for f in found:
            if f.problem is not None:
                report.skipped.append((naming.source(f.path), f.problem))
                self.store.record_skipped(naming.key(f.path), naming.source(f.path), f.problem)
        emit(IngestStarted(len(todo), len(report.skipped)))
        for source, reason in report.skipped:
            emit(FileDone(source, "skipped", reason, 0))
        seen: set[str] = set()

        def prepare(path: Path, stored: StoredDocument | None) -> Prepared:
            t0 = time.perf_counter()
            try:
                return self._prepare(path, collection, max_bytes, stored, emit, ocr_mode, naming)
            finally:
                report.parse_seconds += time.perf_counter() - t0

        jobs = [(path, self.store.get_document(naming.key(path))) for path in todo]
        elsewhere = [(p, d.collection) for p, d in jobs if d is not None and d.collection != collection]
        if elsewhere and not move:
            path, held = elsewhere[0]
            named = naming.source(path)
            which = f"{named} and {len(elsewhere) - 1} more are" if len(elsewhere) > 1 else f"{named} is"
            raise InputError(
                f"{which} already in collection {held!r}; nothing was ingested. "
                f"Pass --move to move them to {collection!r}, or ingest them with --collection {held}"
            )
        with ParseAhead(jobs, prepare, self.settings.embed_group) as ahead:
            group: list[Prepared] = []
            while True:
                if group and not ahead.ready():  # rather than wait for the parser, embed what is here
                    self._store_group(group, report, emit)
                    group = []
                t0 = time.perf_counter()
                prepared = ahead.take()
                report.wait_seconds += time.perf_counter() - t0
                if prepared is None:
                    break
                seen.add(prepared.key)
                if prepared.record is not None:
                    group.append(prepared)
                    if sum(len(p.chunks) for p in group) >= self.settings.embed_group:
                        self._store_group(group, report, emit)
                        group = []
                else:
                    self._report(prepared, self._store_unchanged_or_skipped(prepared, report), emit)
            if group:
                self._store_group(group, report, emit)
        if prune:
            report.removed = self._prune(roots, seen, naming)
            for source in report.removed:
                emit(FileDone(source, "removed", None, 0))
        if report.added or report.updated or report.removed:
            t0 = time.perf_counter()
            self.store.optimize()  # after the bulk load: the stores' indexes are built or caught up here
            report.index_seconds = time.perf_counter() - t0
        report.seconds = time.perf_counter() - started
        emit(Finished(report.to_dict()))
        return report

    @staticmethod
    def _report(prepared: Prepared, status: str, emit: Progress) -> None:
        emit(FileDone(prepared.source, status, prepared.problem, len(prepared.chunks)))

    def _store_unchanged_or_skipped(self, prepared: Prepared, report: IngestReport) -> str:
        self.store.record_skipped(prepared.key, prepared.source, prepared.problem)
        if prepared.problem is not None:
            report.skipped.append((prepared.source, prepared.problem))
            return "skipped"
        if prepared.touch_mtime is not None:
            self.store.touch_document(prepared.key, prepared.source, prepared.touch_mtime, prepared.metadata)
        report.unchanged.append(prepared.source)
        return "unchanged"

    def _store_group(self, group: list[Prepared], report: IngestReport, emit: Progress) -> None:
        """Embed a group of documents in one call, then write each in its own transaction."""
        t0 = time.perf_counter()
        vectors = self._embed([c.indexed_text for p in group for c in p.chunks])
        report.embed_seconds += time.perf_counter() - t0
        start = 0
        for prepared in group:
            assert prepared.record is not None
            end = start + len(prepared.chunks)
            t0 = time.perf_counter()
            self.store.put_document(prepared.record, prepared.chunks, vectors[start:end])
            report.store_seconds += time.perf_counter() - t0
            start = end
            if prepared.moved_from is not None:
                report.moved.append((prepared.source, prepared.moved_from))
            (report.updated if prepared.existed else report.added).append(prepared.source)
            report.chunks += len(prepared.chunks)
            report.pages += prepared.pages
            status = (
                "moved" if prepared.moved_from is not None else "updated" if prepared.existed else "added"
            )
            self._report(prepared, status, emit)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self.embedder().embed_batch(texts)
        dim = self.store.get_meta("embedder_dim")
        if dim is None:
            self.store.set_meta("embedder_dim", str(vectors.shape[1]))
        elif int(dim) != vectors.shape[1]:
            raise StoreError(
                f"embedder returned {vectors.shape[1]}-dimensional vectors; the workspace holds {dim}"
            )
        return vectors

    def _prune(self, paths: Sequence[Path], seen: set[str], naming: Naming) -> list[str]:
        scopes = [naming.scope(p) for p in paths if p.is_dir()]
        gone = [
            d
            for d in self.store.list_documents()
            if d.key not in seen and any(d.key.startswith(s) for s in scopes) and not naming.exists(d.key)
        ]
        self.store.delete_documents([d.key for d in gone])
        return [d.source for d in gone]

    def reindex(self, embedder_name: str, progress: Progress | None = None, batch: int = 512) -> int:
        """Re-embed every chunk with the embedder and record ``embedder_name`` as the store's.

        Resumable: each batch of new vectors is staged in its own transaction, aside from the
        vectors searches use, and they all take over in one transaction at the end (with the
        meta entries saying which embedder made them). A reindex that is killed leaves the
        workspace searchable as before; run again, it embeds only what was not staged yet.
        Chunks an ingest added meanwhile are embedded before the switch."""
        emit = progress or ignore
        staged = self.store.staged(embedder_name)
        total = self.store.stats().chunks
        emit(ReindexStarted(total, len(staged)))
        done = len(staged)
        dim: int | None = None
        # staged vectors go with their chunks, so fewer staged than stored means chunks to embed
        # (the rest of a killed run's, or chunks an ingest added meanwhile)
        while len(staged) < self.store.stats().chunks:
            rows = [(i, t) for i, t in self.store.all_chunks() if i not in staged]
            for start in range(0, len(rows), batch):
                part = rows[start : start + batch]
                vectors = self.embedder().embed_batch([t for _, t in part])
                dim = int(vectors.shape[1])
                self.store.stage_vectors(embedder_name, [i for i, _ in part], vectors)
                done += len(part)
                emit(Reindexed(done))
            staged = self.store.staged(embedder_name)
        if dim is None and total:  # everything was staged by an earlier run
            dim = int(self.embedder().embed_batch(["x"]).shape[1])
        meta = {"embedder": embedder_name, **({"embedder_dim": str(dim)} if total else {})}
        changed = self.store.commit_staged(embedder_name, meta)  # vectors and their maker at once
        self.store.optimize()
        emit(ReindexDone(changed))
        return changed
