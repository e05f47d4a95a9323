"""The SQLite store's change log, read by the indexes kept beside its rows.

``chunk_log`` is filled by triggers in the same transaction as each write: a chunk named there
was added, deleted or given a new vector, and its row now says which. An index derived from the
rows (``derived.DerivedIndex``: the vector matrix, the keyword index, the dense index) remembers
the position it reflects and follows the log from there, reading only the chunks named since,
or loads every row again when the log no longer reaches back that far or names too many.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

# what the indexes are made of, for the chunk ids in the ``{}``
VECTOR_ROWS = "SELECT id, doc_id, vector FROM chunks WHERE id IN ({})"
ALL_VECTORS = "SELECT id, doc_id, vector FROM chunks ORDER BY id"
# the document's name and label, then the chunk's header and text (keyword_index.Row)
KEYWORD_ROWS = (
    "SELECT c.id, c.doc_id, d.source || ' ' || d.label, c.header || char(10) || c.text"
    " FROM chunks c JOIN documents d ON d.id = c.doc_id"
)
# SQLite's limit on bound parameters, with room to spare
BATCH = 500


class ChangeLog:
    """One connection's view of the log: its position, what changed since a position, the rows
    of chunks. ``logged`` is False for a read-only copy of a store from before the log (its
    readers load every row); ``read_only`` says that nothing beside the database may be written."""

    def __init__(self, db: sqlite3.Connection, logged: bool, read_only: bool):
        self.db = db
        self.logged = logged
        self.read_only = read_only

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: the position, the generation and the rows agree."""
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    def seq(self) -> int:
        """The number of the last log entry ever written (kept by SQLite even when the entries
        themselves have been cut)."""
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunk_log'").fetchone()
        return 0 if row is None else int(row[0])

    def generation(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row is not None else 0

    def chunk_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def vector_width(self) -> int:
        """The dimension of the widest stored vector (0 when there is none)."""
        (width,) = self.db.execute("SELECT MAX(length(vector)) FROM chunks").fetchone()
        return int(width or 0) // 4

    def all_rows(self, select: str) -> sqlite3.Cursor:
        return self.db.execute(select)

    def rows(self, select: str, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """The rows of ``select`` (whose ``IN ({})`` takes the ids) for ``ids``, a batch at a time."""
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), BATCH):
            part = list(ids[start : start + BATCH])
            found += self.db.execute(select.format(",".join("?" * len(part))), part).fetchall()
        return found

    def changed_since(self, since: int, limit: int) -> list[int] | None:
        """The chunk ids the log names after ``since``; None when it no longer reaches back that
        far (cut by optimize), or names more than ``limit`` (loading everything again is then as
        cheap)."""
        oldest = self.db.execute("SELECT MIN(seq) FROM chunk_log").fetchone()[0]
        if oldest is None or oldest > since + 1:
            return None
        changed = [
            int(r[0])
            for r in self.db.execute("SELECT DISTINCT chunk_id FROM chunk_log WHERE seq > ?", (since,))
        ]
        return None if len(changed) > limit else changed

    def rows_of(self, select: str, changed: Sequence[int]) -> tuple[list[tuple[Any, ...]], list[int]]:
        """The rows ``select`` gives for the chunk ids ``changed`` (first column: the id), and the
        ids among them that have no row any more (deleted)."""
        rows = self.rows(select, changed)
        present = {int(r[0]) for r in rows}
        return rows, [i for i in changed if i not in present]
