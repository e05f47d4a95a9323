"""The `expert` command driven as a user would, with the real shipped embedder."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import make_pdf, make_xlsx

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "industry_expert" / "samples"
pytestmark = pytest.mark.slow


def expert(
    *args: str, ws: Path, check: bool = False, env_extra: dict[str, str] | None = None, **kw
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXPERT_WORKSPACE": str(ws), **(env_extra or {})}
    result = subprocess.run(
        [sys.executable, "-m", "industry_expert.cli", *args], capture_output=True, text=True, env=env, **kw
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sample_ws(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The samples ingested into a workspace on each store backend: the read-path tests below run
    once on SQLite and once on a real PostgreSQL (tests/postgres_server.py)."""
    ws = tmp_path_factory.mktemp("cli") / "ws"
    if request.param == "postgresql":
        from postgres_server import fresh_database

        expert("init", "--store", fresh_database(), ws=ws, check=True)
    else:
        expert("init", ws=ws, check=True)
    result = expert("ingest", "--json", str(SAMPLES), ws=ws, check=True)
    summary = json.loads(result.stdout)
    assert len(summary["added"]) == 3 and summary["skipped"] == []
    return ws


def test_search_json_names_source_page_and_passage(sample_ws: Path) -> None:
    result = expert(
        "search",
        "--json",
        "-k",
        "3",
        "What was Northwind's capital expenditure in fiscal 2023?",
        ws=sample_ws,
        check=True,
    )
    hits = json.loads(result.stdout)["hits"]
    top = hits[0]
    assert set(top) >= {"source", "page", "locator", "score", "text", "chunk_id"}
    assert top["source"].endswith("northwind_annual_report_2023.pdf") and top["page"] == 2
    assert "38.4" in top["text"]


def test_row_questions_find_the_row(sample_ws: Path) -> None:
    for mode in ("hybrid", "dense", "keyword"):
        result = expert(
            "search",
            "--json",
            "-k",
            "1",
            "--mode",
            mode,
            "How many employees work at the Pune plant?",
            ws=sample_ws,
            check=True,
        )
        hit = json.loads(result.stdout)["hits"][0]
        assert hit["source"].endswith("plants.csv") and hit["locator"] == "row 5", mode


def test_batch_search_one_json_line_per_query(sample_ws: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text("What does error code E42 mean?\n\nWho manages the Tilburg plant?\n")
    result = expert("search", "--batch", str(questions), "--json", "-k", "2", ws=sample_ws, check=True)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == [
        "What does error code E42 mean?",
        "Who manages the Tilburg plant?",
    ]
    assert "E42" in lines[0]["hits"][0]["text"] and "Joost" in lines[1]["hits"][0]["text"]


@pytest.mark.long
def test_filters_sources_status(sample_ws: Path) -> None:
    result = expert("search", "--json", "--source", "*.md", "capital expenditure", ws=sample_ws, check=True)
    assert all(h["source"].endswith(".md") for h in json.loads(result.stdout)["hits"])
    sources = json.loads(expert("sources", "--json", ws=sample_ws, check=True).stdout)
    assert {Path(s["source"]).name for s in sources} == {
        "northwind_annual_report_2023.pdf",
        "plants.csv",
        "flowsense_manual.md",
    }
    status = json.loads(expert("status", "--json", ws=sample_ws, check=True).stdout)
    assert status["documents"] == 3 and status["problems"] == []
    assert status["embedder"] == "onnx-int8/all-MiniLM-L6-v2" and status["embedder_dim"] == 384
    again = json.loads(expert("ingest", "--json", str(SAMPLES), ws=sample_ws, check=True).stdout)
    assert again["unchanged"] == 3 and again["chunks"] == 0


# Questions about the samples with their evidence, as a user would write them for `expert eval`.
FUSION_QUESTIONS = [
    ("What was Northwind's capital expenditure in fiscal 2023?", "northwind_annual_report_2023.pdf", [2]),
    ("How much did Northwind's revenue grow in 2023?", "northwind_annual_report_2023.pdf", [1]),
    (
        "Which suppliers do Northwind's plants depend on for castings?",
        "northwind_annual_report_2023.pdf",
        [3],
    ),
    ("How often should a FlowSense valve be inspected?", "flowsense_manual.md", []),
    ("What do the FlowSense error codes mean?", "flowsense_manual.md", []),
    ("How many employees work at the Dayton plant?", "plants.csv", []),
    ("Who manages the Tilburg plant?", "plants.csv", []),
]


@pytest.mark.long
def test_tune_fusion_fits_shows_in_status_and_resets(sample_ws: Path, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [
        {
            "id": str(i),
            "question": q + f" ({i})",
            "answer": "-",
            "evidence": [{"source": f, **({"pages": p} if p else {})}],
        }
        for i, (q, f, p) in enumerate(FUSION_QUESTIONS * 3)
    ]
    questions.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = expert("tune", "fusion", str(questions), ws=sample_ws, check=True)
    assert "21 questions with evidence" in result.stdout
    fit = json.loads(expert("tune", "fusion", "--json", str(questions), ws=sample_ws, check=True).stdout)
    assert fit["questions"] == 21 and fit["r5"]["configured"] <= 21 and fit["chunks"] > 0
    status = json.loads(expert("status", "--json", ws=sample_ws, check=True).stdout)
    assert "21 questions" in status["fusion"]
    assert expert("tune", "fusion", "--reset", ws=sample_ws, check=True).stdout.startswith(
        "the fit is forgotten"
    )
    assert "expert tune fusion QUESTIONS" in expert("status", ws=sample_ws, check=True).stdout
    few = expert("tune", "fusion", str(SAMPLES / "plants.csv"), ws=sample_ws)
    assert few.returncode != 0 and "Traceback" not in few.stderr and len(few.stderr.strip().splitlines()) == 1
    missing = expert("tune", "fusion", ws=sample_ws)
    assert missing.returncode != 0 and "question file" in missing.stderr


@pytest.mark.long
def test_a_collection_in_another_language(sample_ws: Path, tmp_path: Path) -> None:
    """``--language`` is kept with the collection: PostgreSQL stems German; SQLite, one index for
    all, refuses it in one line and takes the languages it keeps word for word."""
    docs = tmp_path / "de"
    docs.mkdir()
    (docs / "verkauf.txt").write_text("Die Häuser am Hafen wurden im Jahr 2023 verkauft.\n")
    result = expert("ingest", str(docs), "--collection", "de", "--language", "german", ws=sample_ws)
    status = json.loads(expert("status", "--json", ws=sample_ws, check=True).stdout)
    if sample_ws.joinpath("store.db").exists():
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "PostgreSQL" in result.stderr
        assert "de" not in status["collections"] and status["languages"] == {}
        expert("ingest", str(docs), "--collection", "de", "--language", "fa", ws=sample_ws, check=True)
        assert json.loads(expert("status", "--json", ws=sample_ws, check=True).stdout)["languages"] == {
            "de": "simple"
        }
    else:
        assert result.returncode == 0, result.stderr
        assert status["collections"]["de"] == 1 and status["languages"] == {"de": "german"}
        assert "de: german; others english" in expert("status", ws=sample_ws, check=True).stdout
        hits = json.loads(
            expert("search", "--json", "--mode", "keyword", "Haus", ws=sample_ws, check=True).stdout
        )
        assert [Path(h["source"]).name for h in hits["hits"]] == ["verkauf.txt"]
        bad = expert("ingest", str(docs), "--collection", "de", "--language", "klingon", ws=sample_ws)
        assert bad.returncode != 0 and "no text-search configuration 'klingon'" in bad.stderr
    expert("forget", str(docs / "verkauf.txt"), ws=sample_ws, check=True)


def test_bad_input_exit_codes_and_one_line_errors(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    missing = expert("status", ws=ws)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "expert init" in missing.stderr
    expert("init", ws=ws, check=True)
    (tmp_path / "docs").mkdir()
    make_xlsx(tmp_path / "docs" / "prices.xlsx")
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"%PDF-1.7\n garbage")
    result = expert("ingest", str(tmp_path / "docs"), ws=ws)
    assert result.returncode == 1
    assert "skipped" in result.stdout and "broken.pdf: not a valid PDF" in result.stdout
    assert "Traceback" not in result.stderr
    (ws / "expert.toml").write_text("[retrieval]\nmode = 'psychic'\n")
    bad = expert("search", "x", ws=ws)
    assert bad.returncode == 2 and "retrieval.mode" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.long
def test_forget_by_glob(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    expert("ingest", str(SAMPLES), ws=ws, check=True)
    result = expert("forget", "--json", "--glob", "*.csv", ws=ws, check=True)
    assert [Path(p).name for p in json.loads(result.stdout)["removed"]] == ["plants.csv"]
    assert expert("forget", "--glob", "*.nothing", ws=ws).returncode == 1
    missed = expert("forget", "*.md", ws=ws)  # a path by default: says how to use a pattern
    assert missed.returncode == 1 and "add --glob" in missed.stderr
    # more than a few documents: a run without a terminal must say --yes, and removes nothing
    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(5):
        (docs / f"n{i}.md").write_text(f"# Note {i}\n\nValve {i} was serviced.\n", encoding="utf-8")
    expert("ingest", str(docs), ws=ws, check=True)
    refused = expert("forget", str(docs), ws=ws)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    listed = expert("forget", "--dry-run", str(docs), ws=ws, check=True)
    assert "would remove 5 document(s)" in listed.stdout
    assert len(json.loads(expert("sources", "--json", ws=ws, check=True).stdout)) == 7
    assert "removed 5 document(s)" in expert("forget", "--yes", str(docs), ws=ws, check=True).stdout
    assert expert("forget", "", ws=ws).returncode == 2


def kill_ingest_when(ws: Path, docs: Path, embed_group: int, ready: Callable[[list[str]], bool]) -> list[str]:
    """Start `expert ingest DOCS`, SIGKILL it once the stored sources make ``ready`` true (or it
    ends); returns the sources stored when it was killed."""
    settings = (ws / "expert.toml").read_text().replace("embed_group = 2048", f"embed_group = {embed_group}")
    (ws / "expert.toml").write_text(settings)
    env = {**os.environ, "EXPERT_WORKSPACE": str(ws)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "industry_expert.cli", "ingest", str(docs)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    stored: list[str] = []
    while time.time() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(ws / "store.db", timeout=1) as db:
                stored = [r[0] for r in db.execute("SELECT source FROM documents")]
        except sqlite3.OperationalError:
            stored = []
        if ready(stored):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return stored


@pytest.mark.long
def test_kill_9_mid_ingest_then_rerun_finishes_cleanly(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(40):
        make_pdf(docs / f"report_{i:02d}.pdf", [f"Plant {i} produced {i * 100} pumps. " * 40] * 3)
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    # Each document is written as soon as it is embedded, so the kill lands between documents.
    stored = len(kill_ingest_when(ws, docs, embed_group=1, ready=lambda sources: len(sources) >= 5))
    assert 0 < stored < 40, "ingest finished before it could be killed"
    status = json.loads(expert("status", "--json", ws=ws, check=True).stdout)
    assert status["problems"] == [] and status["documents"] < 40
    rerun = json.loads(expert("ingest", "--json", str(docs), ws=ws, check=True).stdout)
    assert len(rerun["added"]) + rerun["unchanged"] == 40
    final = json.loads(expert("status", "--json", ws=ws, check=True).stdout)
    assert final["documents"] == 40 and final["problems"] == []
    with sqlite3.connect(ws / "store.db") as db:
        assert (
            db.execute(
                "SELECT COUNT(*) FROM (SELECT source FROM documents GROUP BY source HAVING COUNT(*) > 1)"
            ).fetchone()[0]
            == 0
        )


@pytest.mark.long
def test_text_from_documents_and_file_names_never_drives_the_terminal(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    docs = tmp_path / "docs"
    docs.mkdir()
    hostile = docs / "evil\x1b[2Jname\nnext.md"  # clears the screen; breaks line-oriented output
    hostile.write_text(
        "# Pumps\x1b]0;owned\x07\n\nThe impeller \x1b[31mcracked\x1b[0m on pump P-7.\n", encoding="utf-8"
    )
    expert("init", ws=ws, check=True)
    ingest = expert("ingest", str(docs), ws=ws, check=True)
    for result in (
        ingest,
        expert("search", "impeller", ws=ws, check=True),
        expert("sources", ws=ws, check=True),
        expert("status", ws=ws, check=True),
    ):
        assert "\x1b" not in result.stdout + result.stderr and "\x07" not in result.stdout
    listing = expert("sources", ws=ws, check=True).stdout
    assert "evil\\x1b[2Jname\\nnext.md" in listing and len(listing.strip().splitlines()) == 1
    # --json stays exact
    hit = json.loads(expert("search", "--json", "impeller", ws=ws, check=True).stdout)["hits"][0]
    assert hit["source"] == str(hostile) and "\x1b[31mcracked" in hit["text"]
    status = expert("status", ws=ws, check=True).stdout
    assert "collections      default (1)" in status and "{" not in status


def test_workspace_flag_after_the_command_and_version(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    cli = [sys.executable, "-m", "industry_expert.cli"]
    assert subprocess.run([*cli, "init", "-w", str(ws)], capture_output=True, text=True).returncode == 0
    status = subprocess.run(
        [*cli, "status", "--workspace", str(ws), "--json"], capture_output=True, text=True
    )
    assert json.loads(status.stdout)["workspace"] == str(ws)
    version = subprocess.run([*cli, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("expert ")


@pytest.mark.long
def test_a_damaged_store_is_one_line_from_status_search_and_ingest(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    expert("ingest", str(SAMPLES), ws=ws, check=True)
    db = ws / "store.db"
    data = bytearray(db.read_bytes())
    for offset in range(4096, len(data), 997):  # flip bytes all through the pages after the header
        data[offset] ^= 0xFF
    db.write_bytes(bytes(data))
    for args in (("status",), ("search", "capital expenditure"), ("ingest", str(SAMPLES))):
        result = expert(*args, ws=ws)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, (
            result.stderr
        )
        assert "restore it from a backup" in result.stderr, result.stderr


@pytest.mark.long
def test_kill_9_inside_a_large_documents_embedding_redoes_only_the_work_in_flight(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(2):
        make_pdf(docs / f"a_small_{i}.pdf", [f"Plant {i} produced {i * 100} pumps."])
    make_pdf(
        docs / "b_large.pdf",
        [f"Section {p}. " + "Valve inspection records and pump tests. " * 60 for p in range(60)],
    )
    for i in range(2):
        make_pdf(docs / f"c_small_{i}.pdf", [f"Depot {i} holds {i * 7} spare seals."])
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    # one document a group: the small ones are in, and the large one is being embedded (seconds)
    stored = kill_ingest_when(ws, docs, embed_group=1, ready=lambda sources: len(sources) >= 2)
    assert not any("b_large" in s for s in stored), "the large document was stored before the kill"
    with sqlite3.connect(ws / "store.db") as db:
        kept = {r[0] for r in db.execute("SELECT source FROM documents")}
    rerun = json.loads(expert("ingest", "--json", str(docs), ws=ws, check=True).stdout)
    assert rerun["unchanged"] == len(kept)  # nothing that was written before the kill is redone
    assert len(rerun["added"]) == 5 - len(kept) and any("b_large" in p for p in rerun["added"])
    final = json.loads(expert("status", "--json", ws=ws, check=True).stdout)
    assert final["documents"] == 5 and final["problems"] == []
