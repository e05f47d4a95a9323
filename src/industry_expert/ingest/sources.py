"""Documents from beyond the local disk: ``expert ingest s3://bucket/prefix``, ``expert ingest
https://intranet/handbook/`` (and any scheme a ``SOURCES`` entry adds, in code or by an installed
package's entry point).

A source keeps a **mirror** of what it reads in a folder of the workspace (``WORKSPACE/sources/``,
one folder a URL) and brings it to the remote state on each ingest: what is new or changed is
fetched (an object's ETag, a page's ETag or Last-Modified says so, without fetching it), what is
gone is deleted. The mirror is then ingested like a folder, with prune, under keys that name the
remote place (``ingest.naming.Copy``: ``s3://bucket/key``), so that an ingest only reads what
changed and a document removed remotely leaves the store. Credentials come from the environment
(or the client library's own configuration files), and are never written to the workspace or
printed: the stored key is the URL without them.

A source is ``factory(url) -> Source``::

    class Source(Protocol):
        prefix: str                      # the documents' key prefix, e.g. "s3://bucket/"
        def mirror(self, files, state, emit, max_bytes) -> tuple[Path, Copy]: ...
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..events import Progress
from ..registry import SOURCES
from .naming import Copy

MIRRORS = "sources"  # WORKSPACE/sources/<hash of the URL>/
FILES = "files"  # the mirrored files, by their remote path: WORKSPACE/sources/<hash>/files/


class Source(Protocol):
    prefix: str

    def mirror(self, files: Path, state: Path, emit: Progress, max_bytes: int = ...) -> tuple[Path, Copy]:
        """Bring ``files`` (the remote files by their remote paths) to the remote state, keeping
        the source's own records in ``state`` and passing over what is larger than ``max_bytes``
        (``ingest.max_file_mb``) without fetching it whole; return the folder to ingest (``files``
        or one in it) and what its files are called in the store."""
        ...


def is_remote(path: str | Path) -> bool:
    """Whether ``path`` is a URL a source reads (``scheme://...``), not a local path."""
    text = str(path)
    return "://" in text and text.split("://", 1)[0].isidentifier()


def open_source(url: str) -> Source:
    scheme = url.split("://", 1)[0].lower()
    factory: Callable[[str], Any] = SOURCES.get_factory(scheme)
    return factory(url)  # type: ignore[no-any-return]


def mirror_folder(workspace: Path, url: str) -> Path:
    return workspace / MIRRORS / hashlib.sha256(url.encode()).hexdigest()[:16]


def _s3(url: str) -> Source:
    from .s3 import S3Source

    return S3Source(url)


def _web(url: str) -> Source:
    from .web import WebSource

    return WebSource(url)


SOURCES.register("s3", _s3)
SOURCES.register("http", _web)
SOURCES.register("https", _web)
