"""GGUF files from the Hugging Face hub: downloaded once, resumable, checked, then used offline.

A hub file is named ``hf://OWNER/REPO/FILE.gguf`` (a revision as ``hf://OWNER/REPO@REV/FILE.gguf``),
or by the address its page on huggingface.co shows. ``fetch`` returns a local path:

- a copy already on disk is used without touching the network: the Hugging Face cache
  (``huggingface-cli download`` put it there) or this package's own (``cache_dir()/hub``);
- otherwise the file is downloaded with huggingface_hub's HTTP client (its endpoint, token and
  proxy settings; ``HF_ENDPOINT`` names another hub) into a ``.partial`` file that a later run
  resumes from where it stopped, with progress events;
- the finished file is checked against the hub's checksum (the SHA-256 of an LFS file, the git
  blob hash of a small one) before it is renamed into place, so a truncated or altered download
  is never loaded; a mismatch deletes it and says so.

With no network (or ``HF_HUB_OFFLINE=1``) and no cached copy, the error says so in one line and
how to pass a local file instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from .errors import ModelError, UserError
from .events import Downloaded, Downloading, DownloadStarted, Progress

DEFAULT_ENDPOINT = "https://huggingface.co"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_WEB = re.compile(r"^https://huggingface\.co/([^/]+)/([^/]+)/(?:blob|resolve)/([^/]+)/(.+?)(?:\?.*)?$")
_REPORT: ContextVar[Progress | None] = ContextVar("hub_download_progress", default=None)


@contextmanager
def reporting(progress: Progress | None) -> Iterator[None]:
    """Send the progress of downloads started inside the block to ``progress`` (the CLI's bar or
    log lines), however deep the ``fetch`` call sits."""
    token = _REPORT.set(progress)
    try:
        yield
    finally:
        _REPORT.reset(token)


@dataclass(frozen=True)
class HubFile:
    """One file of a model repository on the hub."""

    repo: str  # OWNER/NAME
    filename: str  # path inside the repository
    revision: str = "main"

    @property
    def ref(self) -> str:
        rev = f"@{self.revision}" if self.revision != "main" else ""
        return f"hf://{self.repo}{rev}/{self.filename}"


def parse_hub_file(ref: str) -> HubFile | None:
    """The hub file ``ref`` names, or None when it names none.

    ``hf://OWNER/REPO/FILE`` (``OWNER/REPO@REV/FILE`` for a revision), or a file's address as the
    hub's web page shows it (``https://huggingface.co/OWNER/REPO/blob/REV/FILE``, or ``resolve``).
    A bare ``OWNER/REPO/FILE.gguf`` is not one: a mistyped local path must not start a download.
    """
    web = _WEB.match(ref)
    if web:
        owner, name, revision, path = web.groups()
    elif ref.startswith("hf://"):
        parts = ref[len("hf://") :].split("/")
        if len(parts) < 3:
            return None
        owner, name, path = parts[0], parts[1], "/".join(parts[2:])
        name, _, revision = name.partition("@")
        revision = revision or "main"
    else:
        return None
    if not (_NAME.match(owner) and _NAME.match(name) and revision and path):
        return None
    if any(part in ("", ".", "..") for part in path.split("/")):
        return None
    return HubFile(f"{owner}/{name}", path, revision)


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _offline() -> bool:
    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return flag.strip().lower() in {"1", "true", "yes", "on"}


def store_path(file: HubFile, root: Path) -> Path:
    """Where this package keeps ``file`` under ``root`` (its cache's ``hub`` folder)."""
    owner, name = file.repo.split("/")
    return root / f"{owner}--{name}" / file.revision / file.filename


def cached(file: HubFile, root: Path) -> Path | None:
    """A complete local copy of ``file``: in the Hugging Face cache, or in ``root``."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(file.repo, file.filename, revision=file.revision)
    except Exception:  # an unreadable HF cache is a cache miss, not an error
        found = None
    if isinstance(found, str) and Path(found).is_file():
        return Path(found)
    mine = store_path(file, root)
    if mine.is_file() and mine.with_name(mine.name + ".json").is_file():
        return mine
    return None


def _digest(path: Path, etag: str) -> tuple[str, str] | None:
    """``(kind, hex digest)`` of ``path`` comparable with the hub's ``etag``, or None when the
    etag is not a content hash."""
    if _SHA256.match(etag):
        digest = hashlib.sha256()
        kind = "sha256"
    elif _GIT_SHA1.match(etag):
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(f"blob {path.stat().st_size}\0".encode())
        kind = "git-sha1"
    else:
        return None
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return kind, digest.hexdigest()


def _bar_class(progress: Progress, file: HubFile) -> Any:
    """A stand-in for tqdm that huggingface_hub's ``http_get`` drives, turned into events."""

    class Bar:
        def __init__(self, total: int | None = None, initial: int = 0, **_: Any):
            self.total, self.n = total, initial
            progress(DownloadStarted(file.ref, total, initial))

        def update(self, n: int = 1) -> None:
            self.n += n
            progress(Downloading(file.ref, self.total, self.n))

        def close(self) -> None:
            pass

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    return Bar


def _no_network(file: HubFile, endpoint: str, why: str) -> str:
    return (
        f"cannot download {file.ref} from {endpoint} ({why}); where there is no network, download "
        f"the file elsewhere and pass its path: --model /path/to/{Path(file.filename).name}"
    )


def fetch(
    file: HubFile,
    root: Path,
    progress: Progress | None = None,
    error: type[UserError] = ModelError,
) -> Path:
    """A local path to ``file``: the cached copy, or the file downloaded into ``root`` (resumed
    from an earlier partial download, checked against the hub's checksum). Progress goes to
    ``progress``, else to the one set by ``reporting``."""
    found = cached(file, root)
    if found is not None:
        return found
    progress = progress or _REPORT.get()
    endpoint = _endpoint()
    if _offline():
        raise error(_no_network(file, endpoint, "HF_HUB_OFFLINE is set and no copy is cached"))
    try:
        import httpx2 as httpx  # huggingface_hub's HTTP client
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.errors import (
            EntryNotFoundError,
            GatedRepoError,
            HfHubHTTPError,
            OfflineModeIsEnabled,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
        from huggingface_hub.file_download import http_get
        from huggingface_hub.utils import build_hf_headers
    except ImportError:
        raise error("downloading from the hub needs huggingface_hub; pip install huggingface_hub") from None

    url = hf_hub_url(file.repo, file.filename, revision=file.revision, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url, endpoint=endpoint)
    except httpx.TransportError as exc:
        raise error(_no_network(file, endpoint, f"{type(exc).__name__}: {exc}")) from None
    except OfflineModeIsEnabled:
        raise error(_no_network(file, endpoint, "huggingface_hub is in offline mode")) from None
    except GatedRepoError:
        raise error(
            f"{file.repo} is gated on {endpoint}: accept its licence on the model page, then set HF_TOKEN"
        ) from None
    except RepositoryNotFoundError:
        raise error(f"no repository {file.repo} on {endpoint} (or it is private: set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise error(f"{file.repo} has no revision {file.revision} on {endpoint}") from None
    except EntryNotFoundError:
        raise error(f"{file.repo} has no file {file.filename}; see the repository's file list") from None
    except HfHubHTTPError as exc:
        raise error(f"the hub refused {file.ref}: {str(exc).splitlines()[0]}") from None
    etag = (meta.etag or "").lower()
    dest = store_path(file, root)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # a partial download belongs to one version of the file: another etag starts afresh
    partial = dest.with_name(f"{dest.name}.{etag[:16] or 'unknown'}.partial")
    for stale in dest.parent.glob(f"{dest.name}.*.partial"):
        if stale != partial:
            stale.unlink(missing_ok=True)
    done = partial.stat().st_size if partial.is_file() else 0
    if meta.size is not None and done > meta.size:
        partial.unlink()
        done = 0
    headers = build_hf_headers()
    if urlsplit(meta.location).netloc != urlsplit(url).netloc:
        headers.pop("authorization", None)  # a signed CDN address: the token stays with the hub
    try:
        with open(partial, "ab") as fh:
            http_get(
                meta.location,
                fh,
                resume_size=done,
                headers=headers,
                expected_size=meta.size,
                displayed_filename=Path(file.filename).name,
                tqdm_class=cast(Any, _bar_class(progress, file) if progress else None),
            )
    except (httpx.HTTPError, HfHubHTTPError, OSError) as exc:
        kept = partial.stat().st_size if partial.is_file() else 0
        raise error(
            f"downloading {file.ref} stopped at {kept} of {meta.size or '?'} bytes "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no message'}); "
            "run the same command again to resume"
        ) from None
    checked = _digest(partial, etag)
    if checked is not None and checked[1] != etag:
        partial.unlink(missing_ok=True)
        raise error(
            f"the download of {file.ref} does not match the hub's {checked[0]} checksum "
            f"({checked[1][:12]}… instead of {etag[:12]}…); it was deleted, run the command again"
        )
    record = {
        "repo": file.repo,
        "filename": file.filename,
        "revision": file.revision,
        "commit": meta.commit_hash,
        "etag": etag,
        "checksum": checked[0] if checked else None,
        "bytes": partial.stat().st_size,
    }
    dest.with_name(dest.name + ".json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    partial.replace(dest)
    if progress:
        progress(Downloaded(file.ref, str(dest), record))
    return dest
