"""The ingest and maintenance services: files into the store, and what keeps the store in order
(forget, reindex, migrate, status), over one ``context.Context``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..context import Context
from ..embed import Embedder, embedder_id
from ..errors import InputError
from ..events import Progress
from ..store import StoredDocument, open_store
from ..store.migrate import MigrationReport, migrate
from ..store.replica import replication, writing, written
from ..types import check_name
from .naming import LOCAL, Naming
from .ocr import OcrMode
from .pipeline import Ingestor, IngestReport
from .sources import FILES, is_remote, mirror_folder, open_source
from .yielding import AnswerGate, YieldingEmbedder, answering_flag


class Ingesting:
    """Files into the store with the context's embedder and settings; ``after`` runs when an
    ingest is done and says in one line what it did (the fusion weights fitted again)."""

    def __init__(self, ctx: Context, after: Callable[[], str] = lambda: ""):
        self.ctx = ctx
        self.after = after
        self._yielding: YieldingEmbedder | None = None
        self.ingestor = Ingestor(ctx.store, self.embedder, ctx.settings.chunking, ctx.settings.ingest)

    def embedder(self) -> Embedder:
        """The embedder for ingest: one that waits while a server here answers
        (``ingest.yield_to_answers``, ``ingest/yielding.py``)."""
        embedder = self.ctx.embedder
        if not self.ctx.settings.ingest.yield_to_answers:
            return embedder
        if self._yielding is None or self._yielding.inner is not embedder:
            self._yielding = YieldingEmbedder(embedder, AnswerGate(answering_flag(self.ctx.path)))
        return self._yielding

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
        """``Ingestor.ingest`` with the context's embedder and settings (``ocr`` overrides
        ``ingest.ocr``: ``auto``, ``always`` or ``never``; ``move`` lets a file change collection;
        ``naming``: what the files are called in the store). A URL a source reads
        (``s3://bucket/prefix``; ``sources``) is mirrored into the workspace first, then ingested
        with prune under keys that name the remote place."""
        paths = list(paths)
        remote = [str(p) for p in paths if is_remote(p)]
        if remote:
            if len(paths) != 1:
                raise InputError("ingest one URL at a time, apart from local files and folders")
            source = open_source(remote[0])
            folder = mirror_folder(self.ctx.path, remote[0])
            max_bytes = int((max_file_mb or self.ctx.settings.ingest.max_file_mb) * 1_000_000)
            root, naming = source.mirror(folder / FILES, folder, progress or (lambda event: None), max_bytes)
            paths, prune = [root], True
        with writing(self.ctx.store):
            report = self.ingestor.ingest(
                paths, collection, prune, max_file_mb, progress, follow_symlinks, ocr, move, naming
            )
            report.fusion_refit = self.after()
        # where the primary's WAL stood: a reader elsewhere waits for its replica to reach it
        report.read_after = written(self.ctx.store) or ""
        return report

    def set_language(self, collection: str, language: str) -> int:
        """Index ``collection``'s words as ``language`` from now on (``store.languages``: a code,
        a name or a text-search configuration; PostgreSQL stems some thirty languages and keeps
        the words of the others whole), its stored chunks included; returns how many chunks were
        indexed again. Raises ``StoreError`` for a language the store cannot index."""
        with writing(self.ctx.store):
            return self.ctx.store.set_language(check_name(collection), language)


class Maintenance:
    """What keeps the store in order and says how it is: forget, reindex, migrate, sources,
    status; ``fusion_status`` says which fusion weights searches use."""

    def __init__(self, ctx: Context, ingestor: Ingestor, fusion_status: Callable[[int], str]):
        self.ctx = ctx
        self.ingestor = ingestor
        self.fusion_status = fusion_status

    def reindex(self, progress: Progress | None = None, batch: int = 512) -> int:
        """Re-embed every chunk with the configured embedder and record it as the workspace's."""
        with writing(self.ctx.store):
            return self.ingestor.reindex(embedder_id(self.ctx.settings.embedder), progress, batch)

    def migrate_store(self, url: str, progress: Progress | None = None) -> MigrationReport:
        """Copy the store into the store ``url`` names (``store.migrate``: resumable, checked),
        then make it the workspace's store: ``expert.toml`` names it from now on."""
        ctx = self.ctx
        if url == ctx.settings.store.url:
            raise InputError(f"the workspace's store is {url} already")
        # the new store has no replica yet: a read_url names one of the old primary
        target_settings = replace(ctx.settings, store=replace(ctx.settings.store, url=url, read_url=""))
        target = open_store(target_settings.store, ctx.path)
        try:
            with writing(ctx.store):
                report = migrate(ctx.store, target, progress)
        finally:
            target.close()
        ctx.settings = target_settings
        ctx.save_settings()
        return report

    def sources(self, pattern: str | None = None) -> list[StoredDocument]:
        return self.ctx.store.list_documents(pattern)

    def skipped(self, pattern: str | None = None) -> list[tuple[str, str]]:
        """``(source, reason)`` of files that could not be ingested and have not loaded since."""
        return [(source, reason) for _, source, reason in self.ctx.store.list_skipped(pattern)]

    def forget(self, target: str, glob: bool = False, dry_run: bool = False) -> list[str]:
        """Remove the documents ``target`` names and return their sources (with ``dry_run``, only
        return them). By default ``target`` is a path: that document, or the documents under that
        folder, by the path as ingested or its absolute form; never a pattern, so a file named
        ``report[1].pdf`` removes itself only. With ``glob`` it is a pattern (``path_matches``:
        ``*`` within one folder level, ``**`` across levels). Their skip records go with them."""
        store = self.ctx.store
        if not target.strip():
            raise InputError("give the path of a document or folder to forget (an empty one names nothing)")
        resolved = str(Path(target).resolve())
        folder = resolved.rstrip(os.sep) + os.sep

        def named(source: str, key: str) -> bool:
            return target in (source, key) or key == resolved or key.startswith(folder)

        with writing(store):  # what it finds and removes, on the primary of a replicated store
            if glob:  # the store matches its own patterns
                matches = {d.key: d.source for d in store.list_documents(target)}
                skipped = [key for key, _, _ in store.list_skipped(target)]
            else:
                matches = {d.key: d.source for d in store.list_documents() if named(d.source, d.key)}
                skipped = [key for key, source, _ in store.list_skipped() if named(source, key)]
            if not dry_run:
                for key in skipped:
                    store.record_skipped(key, "", None)
                store.delete_documents(list(matches))
                if matches:
                    store.optimize()  # as after an ingest: the store's indexes fold the change in
        return sorted(matches.values())

    def status(self, check: bool = True) -> dict[str, Any]:
        store, settings = self.ctx.store, self.ctx.settings
        stats = store.stats()
        documents = store.list_documents()
        collections: dict[str, int] = {}
        for doc in documents:
            collections[doc.collection] = collections.get(doc.collection, 0) + 1
        return {
            "workspace": str(self.ctx.path),
            "documents": stats.documents,
            "chunks": stats.chunks,
            "tokens": stats.tokens,
            "database_bytes": stats.bytes,
            "collections": collections,
            # the keyword index's language of each collection that has one recorded (else english)
            "languages": store.languages(),
            "embedder": store.get_meta("embedder"),
            "embedder_dim": int(store.get_meta("embedder_dim") or 0) or None,
            "chunk_tokens": settings.chunking.max_tokens,
            "retrieval_mode": settings.retrieval.mode,
            "fusion": self.fusion_status(stats.chunks),
            "generator": f"{settings.generator.backend}/{settings.generator.model}",
            "summaries": sum(1 for d in documents if d.summary),
            "problems": store.check() if check else None,
            **({"replication": state.to_dict()} if (state := replication(store)) is not None else {}),
        }
