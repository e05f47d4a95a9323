"""A web site as a source (``https://host/start``), through httpx: the pages reachable from the
start page by links on the same host, as the site's ``robots.txt`` allows.

Each run walks the site again from the start page. A page the mirror holds is asked for with its
validators (``If-None-Match`` with its ETag, ``If-Modified-Since`` with its Last-Modified): a 304
keeps the mirrored copy, so neither the page nor the ingest that follows reads it again. Pages are
stored as HTML; linked documents in a format the product reads (PDF, Word, ...) are fetched as
files. A page no longer linked, or answering 404 or 410, leaves the mirror and the store; one that
fails for a moment (5xx, a timeout) keeps its last copy. Links to other hosts are not followed.
Documents are keyed and cited by their URL.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from ..errors import InputError, UpstreamError
from ..events import Progress, Waiting
from .naming import Copy

PAGES = "pages.json"
MAX_PAGES = 2_000  # a run stops walking after this many pages (docs/sources.md)
AGENT = "industry-expert"  # the name robots.txt rules may address
HTML = ("text/html", "application/xhtml+xml")
# content types of the documents a page may link to, by the extension their file gets
DOCUMENTS = {
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/csv": ".csv",
}


@dataclass(frozen=True)
class Mapped(Copy):
    """A mirror whose files are named after URLs they cannot spell (``/`` is ``index.html``):
    each file is keyed and cited by the URL it was fetched from."""

    urls: dict[str, str] = field(default_factory=dict)  # file (under root) -> URL

    def key(self, path: Path) -> str:
        inside = self._inside(path)
        return self.urls.get(inside, self.prefix + inside)

    def source(self, path: Path) -> str:
        return self.key(path)


def file_for(url: str, html: bool, suffix: str = "") -> str:
    """Where ``url``'s copy lies in the mirror: a name made from the URL's hash, so that no two
    URLs share a file and no URL (a NUL, a path too long, ``a`` and ``a/x``) can fail to have one.
    The document is keyed and cited by the URL itself (``Mapped``)."""
    return hashlib.sha256(url.encode()).hexdigest()[:32] + (".html" if html else suffix)


class WebSource:
    def __init__(self, url: str):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"{url} is not a web address; write https://HOST/PATH")
        self.start = urldefrag(url)[0]
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.prefix = self.origin + "/"

    def mirror(
        self, files: Path, state: Path, emit: Progress, max_bytes: int = 100_000_000
    ) -> tuple[Path, Mapped]:
        import httpx

        files.mkdir(parents=True, exist_ok=True)
        pages_file = state / PAGES
        held: dict[str, dict[str, Any]] = json.loads(pages_file.read_text()) if pages_file.exists() else {}
        kept: dict[str, dict[str, Any]] = {}
        with httpx.Client(timeout=30, headers={"User-Agent": AGENT}, follow_redirects=False) as client:
            robots = self._robots(client)
            queue, seen = deque([self.start]), set[str]()
            while queue and len(seen) < MAX_PAGES:
                url = queue.popleft()
                if url in seen:
                    continue
                seen.add(url)
                if not robots.can_fetch(AGENT, url):
                    continue
                before = held.get(url)
                headers = {}
                if before and (files / before["file"]).exists():
                    if before.get("etag"):
                        headers["If-None-Match"] = before["etag"]
                    if before.get("last_modified"):
                        headers["If-Modified-Since"] = before["last_modified"]
                try:
                    status, kind, body, validators, target_url = self._get(client, url, headers, max_bytes)
                except httpx.HTTPError as exc:
                    if url == self.start:
                        raise UpstreamError(f"cannot fetch {url} ({exc}); nothing was changed") from None
                    self._keep(url, before, kept, queue, files)  # a moment's failure: the last copy stays
                    continue
                if status in (301, 302, 303, 307, 308):
                    target = urldefrag(urljoin(url, target_url))[0]
                    if self._here(target):
                        queue.appendleft(target)
                    elif url == self.start:
                        raise InputError(
                            f"{url} redirects to {target}, outside {self.origin}; start from a page of the "
                            "site itself (only its own host is read)"
                        )
                    continue
                if status == 304 and before:
                    self._keep(url, before, kept, queue, files)
                    continue
                if status != 200:
                    if url == self.start:
                        raise InputError(f"{url} answered {status}; nothing was changed")
                    if status not in (404, 410):  # refused, rate-limited, failing: not gone
                        self._keep(url, before, kept, queue, files)
                    continue  # gone, or never held: not kept, so pruned
                if body is None:
                    continue  # larger than ingest.max_file_mb: passed over, as the ingest would
                html = kind in HTML
                suffix = DOCUMENTS.get(kind) or posixpath.splitext(urlsplit(url).path)[1].lower()
                if not html and url == self.start:
                    raise InputError(
                        f"{url} is not an HTML page ({kind or 'no content type'}); start from a page"
                    )
                if not html and suffix not in DOCUMENTS.values():
                    continue  # an image, an archive: not a document here
                if not kept and not before:
                    emit(Waiting(f"fetching {self.origin}"))
                name = file_for(url, html, suffix)
                (files / name).write_bytes(body)
                kept[url] = {"file": name, "html": html, **validators}
                if html:
                    queue.extend(self._links(url, body))
        names = {entry["file"] for entry in kept.values()}
        for path in list(files.iterdir()):
            if path.name not in names:
                path.unlink()  # no longer on the site: pruned from the store by the ingest
        pages_file.write_text(json.dumps(kept))
        urls = {entry["file"]: url for url, entry in kept.items()}
        return files, Mapped(files, self.prefix, self.prefix, urls)

    @staticmethod
    def _get(
        client: Any, url: str, headers: dict[str, str], max_bytes: int
    ) -> tuple[int, str, bytes | None, dict[str, Any], str]:
        """(status, content type, body or None when over ``max_bytes``, validators, Location)."""
        with client.stream("GET", url, headers=headers) as response:
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            validators = {
                "etag": response.headers.get("etag"),
                "last_modified": response.headers.get("last-modified"),
            }
            body: bytes | None = None
            if response.status_code == 200:
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        break
                    chunks.append(chunk)
                else:
                    body = b"".join(chunks)
            return response.status_code, kind, body, validators, response.headers.get("location", "")

    def _keep(
        self, url: str, before: dict[str, Any] | None, kept: dict[str, Any], queue: deque[str], files: Path
    ) -> None:
        """Keep the last copy of a page that could not be read now, and follow its links as they were."""
        if before is None or not (files / before["file"]).exists():
            return
        kept[url] = before
        if before.get("html"):
            queue.extend(self._links(url, (files / before["file"]).read_bytes()))

    def _here(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    def _links(self, base: str, html: bytes) -> list[str]:
        import lxml.html

        try:
            tree = lxml.html.fromstring(html)
        except (ValueError, lxml.etree.ParserError):
            return []
        out = []
        for href in tree.xpath("//a/@href"):
            url = urldefrag(urljoin(base, str(href).strip()))[0]
            if url.startswith(("http://", "https://")) and self._here(url):
                out.append(url)
        return out

    def _robots(self, client: Any) -> RobotFileParser:
        robots = RobotFileParser()
        try:
            response = client.get(self.origin + "/robots.txt")
        except Exception:  # noqa: BLE001 - the start page's own fetch says what is wrong
            response = None
        if response is not None and response.status_code == 200:
            robots.parse(response.text.splitlines())
        else:
            robots.parse([])  # none (404): everything may be read
        return robots
