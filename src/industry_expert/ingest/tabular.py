"""Loaders for CSV/TSV, JSON and JSON Lines.

Each record becomes a ``row`` block of ``column: value`` pairs, so a value travels with the name of
its column and the question "what was X for Y" can match the one row that holds it. Nested JSON is
flattened to dotted keys (``address.city: Paris``); a JSON document that is not a list of records
becomes one block per top-level key.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ..errors import LoadError
from ..types import Block
from .files import decode_text
from .text import row_text

csv.field_size_limit(16 * 1024 * 1024)


def load_csv(path: Path, data: bytes) -> tuple[str, list[Block]]:
    text = decode_text(data)
    if path.suffix.lower() == ".tsv":
        dialect: Any = csv.excel_tab
    else:
        try:
            dialect = csv.Sniffer().sniff(text[:16384], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect, strict=True))
    except csv.Error as exc:
        raise LoadError(f"malformed CSV ({exc}); check quoting") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise LoadError("CSV has no data rows (needs a header row and at least one record)")
    columns = rows[0]
    width = len(columns)
    ragged = sum(1 for r in rows[1:] if len(r) != width)
    if ragged > max(1, len(rows) // 2):
        raise LoadError(
            f"malformed CSV: {ragged} of {len(rows) - 1} rows do not have the header's {width} columns"
        )
    blocks = [
        Block(row_text(columns, r), kind="row", locator=f"row {n}")
        for n, r in enumerate(rows[1:], start=2)
        if any(c.strip() for c in r)
    ]
    return "", blocks


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested JSON into ``(dotted.key, text)`` pairs."""
    if isinstance(value, dict):
        pairs: list[tuple[str, str]] = []
        for key, sub in value.items():
            pairs.extend(flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return pairs
    if isinstance(value, list) and value and all(not isinstance(v, (dict, list)) for v in value):
        return [(prefix, ", ".join(str(v) for v in value))]
    if isinstance(value, list):
        pairs = []
        for i, sub in enumerate(value):
            pairs.extend(flatten(sub, f"{prefix}[{i}]"))
        return pairs
    return [(prefix or "value", "" if value is None else str(value))]


def _record_block(record: Any, locator: str) -> Block:
    pairs = [(k, v) for k, v in flatten(record) if v != ""]
    return Block("; ".join(f"{k}: {v}" for k, v in pairs), kind="row", locator=locator)


def load_json(path: Path, data: bytes) -> tuple[str, list[Block]]:
    try:
        value = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise LoadError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if isinstance(value, list):
        return "", [_record_block(r, f"item {i}") for i, r in enumerate(value, start=1)]
    if isinstance(value, dict):
        blocks = []
        for key, sub in value.items():
            if isinstance(sub, list) and sub and all(isinstance(r, dict) for r in sub):
                blocks += [_record_block(r, f"{key}[{i}]") for i, r in enumerate(sub, start=1)]
            else:
                blocks.append(_record_block({key: sub}, str(key)))
        return str(value.get("title", "")) if isinstance(value.get("title"), str) else "", blocks
    return "", [Block(str(value))]


def load_jsonl(path: Path, data: bytes) -> tuple[str, list[Block]]:
    blocks = []
    bad: list[int] = []
    for number, line in enumerate(decode_text(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:  # one bad line (malformed, or nested too deep to read) costs that line only
            blocks.append(_record_block(json.loads(line), f"line {number}"))
        except (json.JSONDecodeError, RecursionError):
            bad.append(number)
    if bad and not blocks:
        raise LoadError(f"invalid JSON Lines: no line parses (first bad line {bad[0]})")
    if len(bad) > len(blocks):
        raise LoadError(f"invalid JSON Lines: {len(bad)} bad lines, first at line {bad[0]}")
    return "", blocks
