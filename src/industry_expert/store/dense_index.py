"""The SQLite store's dense index for large stores: faiss IVF-PQ picks candidates, and an exact
re-score from a float16 copy of the vectors, read row by row, orders them.

Exact search reads every float32 vector for every query: 1.5 GB and 74-86 ms at a million chunks,
all of it resident. ``benchmarks/dense_index.py`` measured the alternatives on real vectors; this
one kept recall@10 at 0.996 against exact in 3-5 ms with about 60 MB resident (48-byte codes, the
chunk ids, and 800 rows of 768 bytes read with ``os.pread`` per query: a mapped file became
resident whole within 100 queries). Below ``MIN_CHUNKS`` the exact matrix is as fast and needs
no build, so the store keeps it there.

On disk, in a folder beside the database:

- ``vectors-<n>.f16``: the vectors in float16, one row per line of ``ids``, only ever appended to
  (rows past the recorded count are a crashed writer's and are cut before the next append). A
  rebuild writes a new file, so a reader holding the old one open still reads what it expects.
- ``g<seq>/``: the faiss index (codes and chunk ids), and per row its chunk id (-1 once gone) and
  document id, as of change-log position ``seq``.
- ``state.json``: the store it belongs to, the position, the current generation and file, the
  row count. It is written last, atomically: ``kill -9`` anywhere before leaves the previous
  generation in force, and the log brings it forward again.

A reader applies the changes written since that position in memory (new and re-embedded chunks
searched exactly beside the index, gone ones masked); ``persist``, run by ``optimize`` after an
ingest, folds them into a new generation under a lock only one process holds at a time.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import derived
from .change_log import ALL_VECTORS, VECTOR_ROWS, ChangeLog
from .vectors import VectorMatrix

FORMAT = 1
MIN_CHUNKS = 50_000  # below this the exact matrix answers (see docs/benchmarks.md)
RESCORE = 1200  # candidates re-scored exactly (docs/benchmarks.md: 800 left recall@10 at 0.991 at 1M)
PROBE_SHARE = 0.048  # of the lists searched: 192 of 4,000 at 1M
EXACT_INSIDE = 20_000  # a filter leaving at most this many rows is searched exactly


def _faiss() -> Any:
    import faiss

    return faiss


def _subquantizers(dim: int) -> int:
    """PQ sub-vectors: the fewest that divide ``dim`` into pieces of at most 8 dimensions
    (48 for 384: 48-byte codes)."""
    return next(m for m in range(math.ceil(dim / 8), dim + 1) if dim % m == 0)


class DenseIndex:
    """The IVF-PQ index in folder ``path``, for the store named ``store_id``."""

    def __init__(self, path: Path, store_id: str):
        self.path = path
        self.store_id = store_id
        self.index: Any = None
        self.ids = np.zeros(0, dtype=np.int64)  # chunk id per row of the file, -1 once gone
        self.docs = np.zeros(0, dtype=np.int64)
        self.order = np.zeros(0, dtype=np.int64)  # rows by chunk id, for the re-score's lookups
        self.state: dict[str, Any] = {}  # the recorded state of the generation loaded
        self.handle: Any = None  # the float16 file, read with pread
        # changes since ``seq``, held in memory: new and re-embedded chunks searched exactly
        self.extra = VectorMatrix()
        self.masked = np.zeros(0, dtype=np.int64)  # chunk ids whose row in the index is stale
        self.applied: int | None = None  # the position index + extra reflect
        self.verified = False
        self.unusable_at: int | None = None  # the store's log position it was found unusable at

    @property
    def seq(self) -> int | None:
        """The log position the loaded generation reflects."""
        return self.state.get("seq")

    @property
    def dim(self) -> int:
        return int(self.state.get("dim", 0))

    # -- state ---------------------------------------------------------------------------------
    def recorded(self) -> dict[str, Any] | None:
        return derived.read_state(self.path, self.store_id, FORMAT)

    @property
    def opened(self) -> bool:
        return self.index is not None

    def open(self) -> bool:
        """Load the recorded generation; False when there is none usable."""
        state = self.recorded()
        if state is None:
            return False
        try:
            faiss = _faiss()
            generation = self.path / state["generation"]
            index = faiss.read_index(str(generation / "ivfpq.faiss"))
            ids = np.load(generation / "ids.npy")
            docs = np.load(generation / "docs.npy")
            handle = open(self.path / state["vectors"], "rb")  # noqa: SIM115 (kept open: pread)
        except (OSError, ValueError, KeyError, RuntimeError):
            return False
        if (
            len(ids) != state["rows"]
            or len(docs) != state["rows"]
            or os.fstat(handle.fileno()).st_size < (state["rows"] * state["dim"] * 2)
        ):
            handle.close()
            return False
        index.nprobe = max(1, math.ceil(index.nlist * PROBE_SHARE))
        faiss.omp_set_num_threads(1)  # one query at a time: threads cost more than they give
        self.close()
        self.index, self.ids, self.docs, self.handle = index, ids, docs, handle
        self.order = np.argsort(ids, kind="stable")
        self.state = state
        self.reset_changes()
        return True

    def reset_changes(self) -> None:
        self.extra = VectorMatrix()
        self.extra.load([], 0, self.dim, 0, self.seq)
        self.masked = np.zeros(0, dtype=np.int64)
        self.applied = self.seq

    # -- following the store (derived.DerivedIndex) ----------------------------------------------
    def follow(self, log: ChangeLog) -> bool:
        """The index with the changes since its generation applied; False (the exact matrix
        answers) when it is not usable: below its size, behind a log cut, or unreadable."""
        seq = log.seq()
        if self.opened and self.applied == seq:
            return True
        if self.unusable_at == seq:
            return False  # found unusable at this position already: not loaded again per search
        with log.snapshot():  # one snapshot for the log position and the rows
            try:
                seq = log.seq()
                self.unusable_at = seq  # until it is found usable below
                recorded = self.recorded()
                if recorded is None:
                    self.close()
                    return False
                if (not self.opened or recorded["seq"] != self.seq) and not self.open():
                    return False
                if not self._catch_up(log, seq):
                    self.close()
                    return False
                if not self.verified:  # first use in this process: one count
                    self.verified = self.live() == log.chunk_count()
                    if not self.verified:
                        self.close()
                        return False
                self.unusable_at = None
            except (OSError, ValueError, RuntimeError):
                self.close()  # unreadable: the exact matrix answers, and maintain builds it again
                return False
        return True

    def _catch_up(self, log: ChangeLog, seq: int) -> bool:
        since = self.applied
        if since is None or since > seq:
            return False
        if since == seq:
            return True
        changed = log.changed_since(since, max(1000, int(self.index.ntotal) // 4))
        return changed is not None and self.apply(*log.rows_of(VECTOR_ROWS, changed), seq)

    def maintain(self, log: ChangeLog) -> None:
        """After a bulk load: fold the changes into the index, or build it when there is none
        usable and the store has reached ``MIN_CHUNKS`` (remove it when the store fell below)."""
        with self.locked() as mine:
            if not mine:
                return  # another process is at it
            with log.snapshot():
                seq = log.seq()
                count = log.chunk_count()
                usable = self.open() and self._catch_up(log, seq)
                # else rows were written behind the log's back, or the store outgrew its lists
                usable = usable and self.live() == count and not self.outgrown(count)
                if usable and self.pending() == 0:
                    pass  # up to date
                elif usable and self.pending() <= max(1000, count // 4):
                    self.persist(seq)
                elif count >= MIN_CHUNKS:
                    self.build(log.all_rows(ALL_VECTORS), count, log.vector_width(), seq)
                    self.open()
                else:
                    self.close()
                    derived.remove(self.path)  # too small now: the exact matrix answers
                self.verified = True
                self.unusable_at = None  # built or brought up to date: searches may use it

    def outgrown(self, chunks: int) -> bool:
        """Whether the store has grown four times past what the lists were trained for (a build
        makes 4·√N lists; adds after it reuse them), so that a rebuild is due."""
        return 4 * math.sqrt(chunks) >= 2 * int(self.index.nlist)

    def live(self) -> int:
        """How many chunks this view answers for."""
        return int(self.index.ntotal) - len(self.masked) + self.extra.live

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.index, self.handle = None, None

    # -- changes held in memory ----------------------------------------------------------------
    def apply(self, rows: Sequence[tuple[int, int, bytes]], deleted: Sequence[int], seq: int) -> bool:
        """Bring this view to ``seq``: ``rows`` (chunk id, document id, float32 bytes) are new or
        re-embedded, ``deleted`` are gone. False when a vector is of another size."""
        if any(len(r[2]) != self.dim * 4 for r in rows):
            return False
        touched = np.array([int(r[0]) for r in rows] + [int(i) for i in deleted], dtype=np.int64)
        if not self.extra.apply(rows, deleted, seq):
            return False
        self.masked = np.union1d(self.masked, touched[np.isin(touched, self.ids)])
        self.applied = seq
        return True

    def pending(self) -> int:
        return len(self.masked) + self.extra.live

    # -- searching -----------------------------------------------------------------------------
    def _rows(self, chunk_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The float16 rows of ``chunk_ids`` (all in the index) as float32, in file order, and
        their chunk ids in that order."""
        at = self.order[np.searchsorted(self.ids[self.order], chunk_ids)]
        at.sort()  # in file order
        width = self.dim * 2
        fd = self.handle.fileno()
        data = b"".join(os.pread(fd, width, int(r) * width) for r in at)
        return np.frombuffer(data, dtype=np.float16).reshape(-1, self.dim).astype(np.float32), self.ids[at]

    def search(self, vector: np.ndarray, n: int, allowed_docs: np.ndarray | None) -> list[tuple[int, float]]:
        query = np.ascontiguousarray(vector, dtype=np.float32)
        faiss = _faiss()
        candidates: np.ndarray
        if allowed_docs is not None:
            inside = self.ids[np.isin(self.docs, allowed_docs) & (self.ids >= 0)]
            if len(inside) <= EXACT_INSIDE:
                candidates = inside
            else:
                params = faiss.SearchParametersIVF(
                    sel=faiss.IDSelectorBatch(inside), nprobe=self.index.nprobe
                )
                _, found = self.index.search(query[None, :], RESCORE, params=params)
                candidates = found[0]
        else:
            _, found = self.index.search(query[None, :], RESCORE)
            candidates = found[0]
        candidates = candidates[candidates >= 0]
        if len(self.masked):
            candidates = candidates[~np.isin(candidates, self.masked)]
        results: list[tuple[int, float]] = []
        if len(candidates):
            rows, ids = self._rows(candidates)
            scores = rows @ query
            top = np.argsort(-scores)[:n]
            results = [(int(ids[i]), float(scores[i])) for i in top]
        results += self.extra.search(query, n, allowed_docs)
        return sorted(results, key=lambda hit: -hit[1])[:n]

    # -- writing -------------------------------------------------------------------------------
    def locked(self) -> contextlib.AbstractContextManager[bool]:
        return derived.write_lock(self.path)

    def _commit(
        self, index: Any, ids: np.ndarray, docs: np.ndarray, vectors: str, seq: int, dim: int
    ) -> None:
        """Write a generation and then the state naming it; drop what it replaces. Under the lock."""
        name = f"g{seq}"
        folder = self.path / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        _faiss().write_index(index, str(folder / "ivfpq.faiss"))
        np.save(folder / "ids.npy", ids)
        np.save(folder / "docs.npy", docs)
        with open(self.path / vectors, "rb+") as handle:
            os.fsync(handle.fileno())
        state = {
            "format": FORMAT,
            "store": self.store_id,
            "seq": seq,
            "generation": name,
            "vectors": vectors,
            "rows": len(ids),
            "dim": dim,
        }
        derived.write_state(self.path, state)
        for old in self.path.iterdir():
            if old.name not in (name, vectors, "state.json"):
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink(missing_ok=True)

    def build(self, rows: Iterable[tuple[int, int, bytes]], count: int, dim: int, seq: int) -> None:
        """Index ``count`` rows of ``(chunk id, document id, float32 bytes)`` from nothing, as of
        ``seq``: the float16 file first (streamed), then k-means on a sample of it, then the
        codes, a batch at a time so memory stays at the index's size. Under the lock."""
        faiss = _faiss()
        self.path.mkdir(mode=0o700, exist_ok=True)  # private, as the workspace's other files
        vectors = f"vectors-{seq}.f16"
        ids = np.full(count, -1, dtype=np.int64)
        docs = np.full(count, -1, dtype=np.int64)
        with open(self.path / vectors, "wb") as out:
            batch: list[bytes] = []
            for n, (chunk_id, doc_id, blob) in enumerate(rows):
                ids[n], docs[n] = chunk_id, doc_id
                vector = np.frombuffer(blob, dtype=np.float32) if len(blob) == dim * 4 else np.zeros(dim)
                batch.append(vector.astype(np.float16).tobytes())
                if len(batch) == 8192:
                    out.write(b"".join(batch))
                    batch = []
            out.write(b"".join(batch))
        lists = max(1, int(4 * math.sqrt(count)))
        index = faiss.IndexIVFPQ(
            faiss.IndexFlatIP(dim), dim, lists, _subquantizers(dim), 8, faiss.METRIC_INNER_PRODUCT
        )
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        try:
            with open(self.path / vectors, "rb") as handle:
                sample = np.sort(
                    np.random.default_rng(0).choice(count, min(count, 50 * lists), replace=False)
                )
                width = dim * 2
                fd = handle.fileno()
                training = np.frombuffer(
                    b"".join(os.pread(fd, width, int(r) * width) for r in sample), dtype=np.float16
                ).reshape(-1, dim)
                index.train(training.astype(np.float32))
                del training
                step = 65_536
                for start in range(0, count, step):
                    part = np.fromfile(
                        handle, dtype=np.float16, count=min(step, count - start) * dim, offset=0
                    )
                    index.add_with_ids(
                        part.reshape(-1, dim).astype(np.float32), ids[start : start + len(part) // dim]
                    )
        finally:
            faiss.omp_set_num_threads(threads)
        self._commit(index, ids, docs, vectors, seq, dim)

    def persist(self, seq: int) -> None:
        """Fold the changes held in memory into a new generation at ``seq`` (opened; under the
        lock): gone rows leave the index, new ones are encoded with the trained code book and
        appended to the float16 file."""
        faiss = _faiss()
        state = self.state
        vectors = state["vectors"]
        ids, docs = self.ids.copy(), self.docs.copy()
        if len(self.masked):
            self.index.remove_ids(faiss.IDSelectorBatch(self.masked))
            ids[np.isin(ids, self.masked)] = -1
        added = self.extra
        live = np.flatnonzero(added.ids >= 0)
        new_vectors = (
            np.concatenate([added.matrix[live], added.extra]) if added.matrix is not None else added.extra
        )
        new_ids = np.concatenate([added.ids[live], added.extra_ids])
        new_docs = np.concatenate([added.doc_ids[live], added.extra_doc_ids])
        with open(self.path / vectors, "rb+") as handle:
            handle.truncate(state["rows"] * self.dim * 2)  # a crashed writer's rows, never recorded
            handle.seek(0, os.SEEK_END)
            handle.write(np.ascontiguousarray(new_vectors, dtype=np.float16).tobytes())
        if len(new_ids):
            self.index.add_with_ids(np.ascontiguousarray(new_vectors, dtype=np.float32), new_ids)
        self._commit(
            self.index,
            np.concatenate([ids, new_ids]),
            np.concatenate([docs, new_docs]),
            vectors,
            seq,
            self.dim,
        )
        self.open()
