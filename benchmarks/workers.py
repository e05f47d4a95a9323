"""Ingest through a PostgreSQL store's job queue with 1 and 2 `expert worker` processes, the
embedder an OpenAI-compatible embedding server on loopback (issue 32, point 5).

The embedding server is `expert serve` on a workspace of its own: its `/v1/embeddings` runs the
default MiniLM model. The store's workspace embeds through it (`embedder.backend = "openai"`), as
a team embedding on a GPU server would. For each round, on a fresh database: start the workers,
queue `--jobs` upload jobs of `--files` synthetic documents each (through `DatabaseJobs.submit`,
what the server calls), and wait for all of them. It prints:

- `wall_s`: from the first job queued to the last one done;
- `ingest_s`: the sum over jobs of the ingest's own time (`report.seconds`: parse, embed, store),
  and `embed_s` its embedding part;
- `queue_overhead_s` (1 worker only, where the jobs run one after another): `wall_s - ingest_s`,
  what the queue adds around the ingests: procrastinate taking the job, reading the uploads from
  the database into a folder, the rows updated per file, the job closed; and that as a share of
  `embed_s`.

Everything shares the machine's cores (the database, the embedding server, the workers), so the
2-worker row shows whether two workers contend or overlap here, not added capacity: that needs
the embedding server and the workers on machines of their own.

    python benchmarks/workers.py --jobs 16 --files 4 --rounds 3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from common import OUT, ROOT, machine

sys.path.insert(0, str(ROOT / "tools"))
import local_postgres  # noqa: E402

from industry_expert import Workspace  # noqa: E402
from industry_expert.jobs import Upload  # noqa: E402
from industry_expert.jobs.database import DatabaseJobs  # noqa: E402

HERE = OUT / "workers"


def document(job: int, n: int, paragraphs: int) -> bytes:
    words = "pump impeller bearing seal casing motor valve flow pressure plant line shift".split()
    body = "".join(
        f"Paragraph {p} of report {job}-{n}: the {words[p % 12]} on line {p % 9} ran {p * 7 % 97} hours; "
        f"{' '.join(words[(p + k) % 12] for k in range(30))}.\n\n"
        for p in range(paragraphs)
    )
    return f"# Report {job}-{n}\n\n{body}".encode()


def embedding_server(port: int) -> subprocess.Popen[bytes]:
    ws = HERE / "embedder"
    if not (ws / "expert.toml").exists():
        Workspace.init(ws).close()
    env = {**os.environ, "EXPERT_WORKSPACE": str(ws)}
    child = subprocess.Popen(
        [sys.executable, "-m", "industry_expert.cli", "serve", "--port", str(port), "--quiet"],
        env=env,
        stderr=subprocess.PIPE,
    )
    assert child.stderr is not None
    for line in child.stderr:
        if b"serving" in line:
            return child
    raise RuntimeError("the embedding server did not start")


def worker(ws: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "EXPERT_WORKSPACE": str(ws)}
    child = subprocess.Popen(
        [sys.executable, "-m", "industry_expert.cli", "worker", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None and '"ready"' in child.stdout.readline()
    return child


def one_round(
    server: str, workers: int, jobs: int, files: int, paragraphs: int, port: int
) -> dict[str, object]:
    url = local_postgres.ensure_database(server, f"workers_{workers}_{time.time_ns()}")
    ws = HERE / f"ws-{workers}"
    shutil.rmtree(ws, ignore_errors=True)
    overrides = {
        "store.url": url,
        "embedder.backend": "openai",
        "embedder.model": "all-MiniLM-L6-v2",
        "embedder.base_url": f"http://127.0.0.1:{port}/v1",
        "serve.ingest_workers": 0,
    }
    Workspace.init(ws, overrides).close()
    children = [worker(ws) for _ in range(workers)]
    try:
        with Workspace.open(ws) as opened:
            queue = DatabaseJobs(url, opened.store, max_queued=jobs + 1)
            try:
                t0 = time.time()  # the rows' finished times are the workers' clocks: the same machine
                ids = [
                    queue.submit(
                        "bench",
                        [
                            Upload(f"r{j}-{n}.md", io.BytesIO(document(j, n, paragraphs)))
                            for n in range(files)
                        ],
                    ).id
                    for j in range(jobs)
                ]
                done = [queue.wait(i) for i in ids]
                wall = max(j.finished or 0 for j in done) - t0  # not when this loop saw it
            finally:
                queue.close()
    finally:
        logs = []
        for child in children:
            child.send_signal(signal.SIGINT)
            out, _ = child.communicate(timeout=30)
            logs += [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    runner = sum(float(e["seconds"]) for e in logs if e.get("status") == "done")
    assert all(j.status == "done" for j in done), [j.error for j in done if j.status != "done"]
    reports = [j.report or {} for j in done]
    ingest = sum(float(r["seconds"]) for r in reports)
    embed = sum(float(r["embed_seconds"]) for r in reports)
    row: dict[str, object] = {
        "workers": workers,
        "jobs": jobs,
        "documents": jobs * files,
        "chunks": sum(int(r["chunks"]) for r in reports),
        "wall_s": round(wall, 2),
        "ingest_s": round(ingest, 2),
        "embed_s": round(embed, 2),
        "chunks_per_s": round(sum(int(r["chunks"]) for r in reports) / wall, 1),
    }
    if workers == 1:
        row["queue_overhead_s"] = round(wall - ingest, 3)
        row["overhead_of_embedding"] = f"{(wall - ingest) / embed:.1%}"
        # of which: the job runner around the ingest (uploads read, rows written), and the rest:
        # procrastinate handing the job over, and the first job's wake-up
        row["runner_s"] = round(runner - ingest, 3)
        row["handoff_s"] = round(wall - runner, 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--paragraphs", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args()
    HERE.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(HERE / "pg", ignore_errors=True)
    server, stop = local_postgres.start(HERE / "pg")
    embedder = embedding_server(args.port)
    rows = []
    try:
        for r in range(args.rounds):
            for workers in (1, 2) if r % 2 == 0 else (2, 1):  # alternate, the machine is shared and noisy
                row = one_round(server, workers, args.jobs, args.files, args.paragraphs, args.port)
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        embedder.send_signal(signal.SIGINT)
        embedder.wait(30)
        stop()
    print(json.dumps({"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
