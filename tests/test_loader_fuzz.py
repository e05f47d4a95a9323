"""Every loader, fed truncated, mutated and pathological versions of its own format (Hypothesis):
each file is either loaded or refused with a one-line ``LoadError``, never another exception, so
one bad file can only ever cost itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import make_docx, make_pdf, make_pptx, make_xlsx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from industry_expert.errors import LoadError
from industry_expert.ingest import chunk_document, load_document


def _text(suffix: str, content: str) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        path = path.with_suffix(suffix)
        path.write_text(content, encoding="utf-8")
        return path

    return write


SEEDS: dict[str, Callable[[Path], Path]] = {
    ".pdf": lambda p: make_pdf(
        p.with_suffix(".pdf"), ["Capital expenditure was $38.4 million.", "Page two."]
    ),
    ".docx": lambda p: make_docx(p.with_suffix(".docx")),
    ".pptx": lambda p: make_pptx(p.with_suffix(".pptx")),
    ".xlsx": lambda p: make_xlsx(p.with_suffix(".xlsx")),
    ".md": _text(".md", "# Pumps\n\n| Part | Stock |\n|---|---|\n| IM-7 | 14 |\n\nText.\n"),
    ".html": _text(
        ".html",
        "<html><head><title>T</title></head><body><h1>A</h1><table><tr><td>1</td></tr></table></body></html>",
    ),
    ".csv": _text(".csv", "sku,price\nNW-100,1250\nNW-200,310.5\n"),
    ".json": _text(".json", json.dumps({"plants": [{"name": "Dayton", "employees": 410}], "year": 2023})),
    ".jsonl": _text(".jsonl", '{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n'),
    ".txt": _text(".txt", "Plain notes about valve V-3.\n"),
}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("seeds")
    return {suffix: make(folder / "seed").read_bytes() for suffix, make in SEEDS.items()}


def mutate(data: bytes, draw: st.DataObject) -> bytes:
    kind = draw.draw(st.sampled_from(["truncate", "flip", "insert", "repeat"]))
    at = draw.draw(st.integers(0, max(0, len(data) - 1)))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        out = bytearray(data)
        for offset in draw.draw(st.lists(st.integers(0, max(0, len(data) - 1)), min_size=1, max_size=16)):
            if out:
                out[offset] ^= draw.draw(st.integers(1, 255))
        return bytes(out)
    if kind == "insert":
        return data[:at] + draw.draw(st.binary(min_size=1, max_size=64)) + data[at:]
    return data[:at] + data[at : at + 32] * draw.draw(st.integers(2, 2000)) + data[at:]


def loads_or_refuses(path: Path, data: bytes) -> None:
    try:
        doc = load_document(path, data)
    except LoadError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    chunk_document(doc, lambda texts: [len(t.split()) for t in texts], 120, 16, True)


@pytest.mark.parametrize("suffix", sorted(SEEDS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(draw=st.data())
def test_a_mutated_file_loads_or_is_refused_in_one_line(
    suffix: str, seeds: dict[str, bytes], tmp_path: Path, draw: st.DataObject
) -> None:
    loads_or_refuses(tmp_path / f"f{suffix}", mutate(seeds[suffix], draw))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("deep.json", b"[" * 200_000 + b"]" * 200_000),
        ("deep.jsonl", b'{"a": 1}\n' + b"{" * 100_000 + b"\n"),
        ("nul.txt", b"\0" * 10_000),
        ("bom-only.md", b"\xef\xbb\xbf"),
        ("wide.csv", b",".join([b"c"] * 100_000) + b"\n" + b",".join([b"1"] * 100_000)),
        ("nested.html", b"<div>" * 50_000 + b"text" + b"</div>" * 50_000),
        ("empty.pdf", b""),
        ("zip.docx", b"PK\x03\x04" + b"\0" * 100),
    ],
)
def test_pathological_files_load_or_are_refused_in_one_line(name: str, data: bytes, tmp_path: Path) -> None:
    loads_or_refuses(tmp_path / name, data)
