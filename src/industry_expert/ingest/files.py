"""Finding the files to ingest and reading their bytes safely.

Inside a folder, a symbolic link that resolves outside the folder being ingested is skipped with
its reason (a link to ``/etc`` must not make the system's files searchable) unless
``follow_symlinks``; links inside it are followed. Each directory entered is remembered (by device
and inode), so a link loop is reported once instead of recursing forever. Hidden files and folders
(``.git``, ``.expert``) and the files operating systems leave behind (``Thumbs.db``,
``desktop.ini``) are passed over silently, as tools like ripgrep do; devices, sockets and pipes
inside a folder too.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer

from ..errors import LoadError


@dataclass(frozen=True)
class Found:
    """A path the walk produced: a file to load, or one it could not use and why."""

    path: Path
    problem: str | None = None


def printable(name: str) -> str:
    """A file name for titles and headers: bytes that were not UTF-8 written as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


JUNK = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini"})  # left by file managers, never data


def _inside(path: Path, root: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(root)


def walk(
    paths: Iterable[str | Path], supported: Iterable[str], follow_symlinks: bool = False
) -> Iterator[Found]:
    """Yield every file under ``paths``; files with an unsupported extension come with a problem.

    A file named directly is always yielded, so the user hears why it was not ingested; inside a
    folder, files of unsupported types are yielded with a problem too (they are the user's data),
    and so are links that lead out of the folder (see the module doc).
    """
    exts = {e.lower() for e in supported}
    seen_dirs: set[tuple[int, int]] = set()

    def check_file(path: Path) -> Found:
        if path.suffix.lower() not in exts:
            kind = path.suffix or "(no extension)"
            return Found(path, f"unsupported file type {kind}; supported: {', '.join(sorted(exts))}")
        return Found(path)

    def visit(path: Path, named: bool, root: Path) -> Iterator[Found]:
        if not named and not follow_symlinks and path.is_symlink() and not _inside(path, root):
            target = os.path.realpath(path)
            yield Found(
                path,
                f"symbolic link to {target}, outside the folder being ingested; skipped "
                "(--follow-symlinks to include it)",
            )
            return
        try:
            st = path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                yield Found(path, "symbolic link loop; remove or fix the link")
            elif exc.errno == errno.ENOENT:
                what = "broken symbolic link" if path.is_symlink() else "no such file or folder"
                yield Found(path, f"{what}; check the path")
            else:
                yield Found(path, f"cannot read ({exc.strerror}); check its permissions")
            return
        if path.is_dir():
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                if path.is_symlink():
                    yield Found(path, "symbolic link loop (folder already visited); skipped")
                return
            seen_dirs.add(key)
            try:
                entries = sorted(os.scandir(path), key=lambda e: e.name)
            except OSError as exc:
                yield Found(path, f"cannot list folder ({exc.strerror}); check its permissions")
                return
            for entry in entries:
                if entry.name.startswith(".") or entry.name.lower() in JUNK:
                    continue
                yield from visit(Path(entry.path), named=False, root=root)
        elif path.is_file():
            yield check_file(path)
        elif named:
            yield Found(path, "not a regular file or folder; skipped")

    for p in paths:
        path = Path(p)
        real = Path(os.path.realpath(path))  # never raises, also on a link loop
        yield from visit(path, named=True, root=real if path.is_dir() else real.parent)


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """Read a whole file, refusing one over ``max_bytes`` or one that is empty or unreadable."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(
                f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit; "
                "raise ingest.max_file_mb or --max-file-mb to ingest it"
            )
        if size == 0:
            raise LoadError("empty file (0 bytes)")
        with open(path, "rb") as fh:
            return fh.read()
    except PermissionError:
        raise LoadError("permission denied; make the file readable (chmod +r)") from None
    except OSError as exc:
        raise LoadError(f"cannot read ({exc.strerror})") from None


def _looks_western(text: str) -> bool:
    letters = [c for c in text[:20000] if c.isalpha()]
    accented = [c for c in letters if ord(c) > 127]
    if not letters or len(accented) > 0.3 * len(letters):
        return False
    return all("\u00c0" <= c <= "\u00ff" or c in "ŒœŠšŽžŸ" for c in accented)


def decode_text(data: bytes) -> str:
    """Decode text in any common encoding; refuse binary data.

    UTF-8 (with or without BOM) and UTF-16 with BOM are taken as they are; anything else is
    detected by charset-normalizer (Latin-1, Windows-1252, Shift-JIS, ...).
    """
    if not data.strip():
        raise LoadError("empty file (no text)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    head = data[:8192]
    if b"\x00" in head:
        raise LoadError("binary data, not text; give it the right extension or leave it out")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Detectors often misread short Western European text (cp1250 for French); Windows-1252 is
    # by far the most common legacy encoding of company files, so it is tried first, and kept
    # only if its non-ASCII letters are Latin-1 letters and a minority (accents, not mojibake).
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        western = ""
    if western and _looks_western(western):
        return western
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise LoadError("binary data or unknown text encoding; convert it to UTF-8")
    text = str(best)
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\t\r\n\f")
    if controls > len(text[:4096]) * 0.05:
        raise LoadError("binary data, not text; give it the right extension or leave it out")
    return text
