"""Copy a workspace's store into another (SQLite into PostgreSQL), resumable, checked at the end.

``migrate(source, target)`` copies, through the ``Store`` contract only, so any two backends work:

1. the metadata (the embedder and its dimension, the server's API keys, ...), after checking that
   the target holds no vectors of another embedder, and each collection's language;
2. every document as it was put (``export_document``: record, chunks, vectors; nothing is parsed
   or embedded again), one transaction per document, then its summary;
3. the ingest history (files skipped and why).

A document already in the target with the same content hash and chunk count is not copied again,
so a killed migration run again copies only the rest. At the end the counts are compared, and the
vectors of a sample of chunks are read back from both stores and must match exactly.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import StoreError
from ..events import Finished, Migrated, MigrationStarted, Progress, ignore
from . import languages
from .base import Store, foreign_embedder

_NOT_COPIED = frozenset({"generation", "schema_version"})  # each store keeps its own


@dataclass
class MigrationReport:
    documents: int = 0  # in the source
    copied: int = 0  # written by this run
    already: int = 0  # found in the target from an earlier run
    chunks: int = 0
    summaries: int = 0
    skipped_files: int = 0  # ingest history records
    vectors_checked: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def migrate(
    source: Store, target: Store, progress: Progress | None = None, sample: int = 200
) -> MigrationReport:
    """Copy ``source`` into ``target`` (see the module); raises ``StoreError`` when the target holds
    another embedder's vectors or when the check at the end finds a difference."""
    emit = progress or ignore
    started = time.perf_counter()
    embedder = source.get_meta("embedder")
    if theirs := foreign_embedder(target, embedder):
        raise StoreError(
            f"the target already holds vectors made by {theirs}, and this workspace's are {embedder}; "
            "migrate into an empty database, or reindex one of them first"
        )
    documents = source.list_documents()
    report = MigrationReport(documents=len(documents))
    emit(MigrationStarted(len(documents)))
    for key, value in source.all_meta().items():
        if key not in _NOT_COPIED and not key.startswith(languages.META_PREFIX):
            target.set_meta(key, value)
    for collection, config in source.languages().items():
        target.set_language(collection, config)  # checked by the target: it may not index it
    for doc in documents:
        there = target.get_document(doc.key)
        if there is not None and there.sha256 == doc.sha256 and there.chunks == doc.chunks:
            report.already += 1
        else:
            exported = source.export_document(doc.key)
            if exported is None:  # forgotten by another process meanwhile
                continue
            target.put_document(*exported)
            report.copied += 1
            there = None
        report.chunks += doc.chunks
        if doc.summary is not None and (there is None or there.summary != doc.summary):
            target.set_summary(doc.key, doc.summary)
            report.summaries += 1
        emit(Migrated(report.copied + report.already, doc.source))
    for key, src, reason in source.list_skipped():
        target.record_skipped(key, src, reason)
        report.skipped_files += 1
    target.optimize()
    report.vectors_checked = _check(source, target, sample)
    report.seconds = round(time.perf_counter() - started, 1)
    emit(Finished(report.to_dict()))
    return report


def _check(source: Store, target: Store, sample: int) -> int:
    """Every source document in the target with as many chunks; ``sample`` chunks' vectors equal."""
    theirs = {d.key: d for d in target.list_documents()}
    mine = source.list_documents()
    missing = [d.source for d in mine if d.key not in theirs]
    if missing:
        raise StoreError(
            f"{len(missing)} documents did not reach the target (first: {missing[0]}); run it again"
        )
    short = [d.source for d in mine if theirs[d.key].chunks != d.chunks]
    if short:
        raise StoreError(f"{len(short)} documents differ in chunk count (first: {short[0]}); run it again")
    keys = [d.key for d in mine if d.chunks]
    checked = 0
    rng = random.Random(0)
    for key in rng.sample(keys, min(len(keys), max(1, sample // 4))) if keys else []:
        original, copy = source.export_document(key), target.export_document(key)
        if original is None or copy is None:
            continue
        rows = rng.sample(range(len(original[2])), min(4, len(original[2])))
        if not np.array_equal(original[2][rows], copy[2][rows]) or [original[1][i] for i in rows] != [
            copy[1][i] for i in rows
        ]:
            raise StoreError(f"the copy of {original[0].source} differs from the original; run it again")
        checked += len(rows)
    return checked
