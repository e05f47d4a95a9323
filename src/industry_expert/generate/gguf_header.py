"""One string from a GGUF file's header, without reading the rest.

The server llama.cpp runs in this process falls back to a ChatML template when a GGUF file has
none, so whether a model is a chat model has to be read from the file itself. gguf-py's reader
parses every tensor and vocabulary entry first (3.6 s for the shipped 98 MB model); this reads
the key-value section only, up to the key asked for (a few milliseconds).

The layout (GGUF versions 2 and 3, little-endian): magic ``GGUF``, version u32, tensor count u64,
key count u64, then per key: its name (u64 length, UTF-8), its type u32 and its value.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

_STRING, _ARRAY = 8, 9
_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # fixed-size types


class NotGGUF(ValueError):
    """The file is not a GGUF file this reader understands."""


def read_string(path: str | Path, key: str) -> str | None:
    """The string value of ``key`` in the header of the GGUF file ``path``; None when absent."""
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise NotGGUF("it is not a GGUF file (it does not start with GGUF)")
        (version,) = _unpack(f, "<I")
        if version not in (2, 3):
            raise NotGGUF(f"it is GGUF version {version}, and versions 2 and 3 are read")
        _, count = _unpack(f, "<QQ")
        for _ in range(count):
            name = _string(f)
            (kind,) = _unpack(f, "<I")
            if name == key:
                return _string(f) if kind == _STRING else None
            _skip(f, kind)
    return None


def _unpack(f: BinaryIO, layout: str) -> tuple[int, ...]:
    size = struct.calcsize(layout)
    data = f.read(size)
    if len(data) != size:
        raise NotGGUF("it ends inside its GGUF header (truncated?)")
    return struct.unpack(layout, data)


def _string(f: BinaryIO) -> str:
    (length,) = _unpack(f, "<Q")
    data = f.read(length)
    if len(data) != length:
        raise NotGGUF("it ends inside its GGUF header (truncated?)")
    return data.decode("utf-8", "replace")


def _skip(f: BinaryIO, kind: int) -> None:
    if kind in _SIZES:
        f.seek(_SIZES[kind], 1)
    elif kind == _STRING:
        (length,) = _unpack(f, "<Q")
        f.seek(length, 1)
    elif kind == _ARRAY:
        item, count = _unpack(f, "<IQ")
        if item in _SIZES:
            f.seek(_SIZES[item] * count, 1)
        else:
            for _ in range(count):
                _skip(f, item)
    else:
        raise NotGGUF(f"its GGUF header holds a value of unknown type {kind}")
