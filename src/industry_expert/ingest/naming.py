"""What a file is called in the store: its key (the one name a document is known by) and its
source (the name citations show).

A file ingested where it lives is keyed by its absolute path and shown by the path it was named
by (``LOCAL``). A file read from a local copy of something that lives elsewhere, an upload
fetched from the job queue's database for one, is named after where it lives (``Copy``): its key
is then the same whichever machine, and whichever folder on it, reads the copy, so a second run of
the job on another worker finds the document the first one stored instead of adding it again::

    >>> copy = Copy(Path("/tmp/job-1"), "upload:")
    >>> copy.key(Path("/tmp/job-1/uploads/filings/report.pdf"))
    'upload:uploads/filings/report.pdf'
    >>> copy.source(Path("/tmp/job-1/uploads/filings/report.pdf"))
    'uploads/filings/report.pdf'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class Naming:
    """Files named where they are: the key is the absolute path, the source the path as given."""

    def key(self, path: Path) -> str:
        try:
            return str(path.resolve())
        except (OSError, RuntimeError):  # a link loop: the file is skipped, under the name it was given
            return str(path.absolute())

    def source(self, path: Path) -> str:
        return os.path.normpath(str(path))

    def scope(self, folder: Path) -> str:
        """The start of the key of everything under ``folder`` (what a prune of it may remove)."""
        return str(folder.resolve()) + os.sep

    def exists(self, key: str) -> bool:
        """Whether the file ``key`` names is still there (a prune keeps it then)."""
        return Path(key).exists()


LOCAL = Naming()


@dataclass(frozen=True)
class Copy(Naming):
    """Files under ``root`` are a copy: each is keyed ``prefix`` + its path under ``root``
    (a prefix such as ``upload:`` that no absolute path starts with)."""

    root: Path
    prefix: str
    shown: str = ""  # what citations show before the path: "" for uploads, the prefix for a bucket

    def _inside(self, path: Path) -> str:
        return path.resolve().relative_to(self.root.resolve()).as_posix()

    def key(self, path: Path) -> str:
        return self.prefix + self._inside(path)

    def source(self, path: Path) -> str:
        return self.shown + self._inside(path)

    def scope(self, folder: Path) -> str:
        inside = self._inside(folder)
        return self.prefix + ("" if inside == "." else inside + "/")

    def exists(self, key: str) -> bool:
        return False  # the copy is whole: what the walk did not see is gone
