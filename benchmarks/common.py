"""Helpers shared by the benchmark scripts: where the data is, the machine, building workspaces."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILINGS = ROOT.parent / "shared" / "data" / "filings"
# the second industry's documents: a software vendor's product manual (apt-get install postgresql-doc-15)
POSTGRES_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")
QUESTIONS = Path(__file__).resolve().parent / "data" / "filings_questions.jsonl"
OUT = ROOT / "bench-out"
KG_RAG = ROOT.parent / "shared" / "data" / "kg-rag"
# question sets over Docugami's KG-RAG documents: name -> (documents, questions, absent questions);
# the sec-10-q questions were written by others (kg-rag's qna_data.csv, benchmarks/kg_questions.py)
INDUSTRIES = {
    "aviation": (
        KG_RAG / "ntsb-aviation-incident-accident-reports/data/v1/docs",
        "aviation_questions",
        "aviation_absent",
    ),
    "clinical": (
        KG_RAG / "nih-clinical-trial-protocols/data/v1/docs",
        "clinical_questions",
        "clinical_absent",
    ),
    "federal": (KG_RAG / "us-fed-agency-reports/data/v1/docs", "federal_questions", "federal_absent"),
    "sec10q": (KG_RAG / "sec-10-q/data/v1/docs", "sec10q_questions", ""),
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}"


def require(path: Path) -> Path:
    if not path.exists():
        raise SystemExit(f"{path} not found: the benchmarks read ../shared/data beside the repository")
    return path


def questions(name: str = "filings_questions") -> list[dict]:
    """A question set in benchmarks/data: the 50 filings questions, ``analyst_questions`` (both
    with evidence pages), or ``postgres_questions`` (evidence: a passage of the file holding
    the answer)."""
    path = QUESTIONS.parent / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


_postgres: str | None = None


def local_postgres(database: str) -> str:
    """The URL of ``database`` (created if missing) on a PostgreSQL with pgvector kept in
    ``bench-out/pg`` (tools/local_postgres.py), started for this process and stopped at its exit."""
    global _postgres
    sys.path.insert(0, str(ROOT / "tools"))
    import atexit

    import local_postgres as pg

    if _postgres is None:
        _postgres, stop = pg.start(OUT / "pg", settings={"shared_buffers": "512MB", "max_wal_size": "4GB"})
        atexit.register(stop)
    return pg.ensure_database(_postgres, database)


def build_workspace(name: str, overrides: dict, paths: list[Path]):  # type: ignore[no-untyped-def]
    """Open the cached workspace ``bench-out/NAME``, building it (ingest) on first use."""
    from industry_expert import Workspace

    path = OUT / name
    if (path / "expert.toml").exists():
        return Workspace.open(path, overrides), None
    ws = Workspace.init(path, overrides)
    report = ws.ingest(paths)
    return ws, report
