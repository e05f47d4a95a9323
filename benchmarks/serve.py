"""`expert serve` under load, on loopback: searches and embeddings from N concurrent clients, then a
mix with answers, each while idle and while an upload's ingest job runs; and the latency of one
answer while idle, during the server's own ingest job (CPU priority 10), and during an `expert
ingest` of the same files in another process at normal priority (the contention the job's
priority is there to avoid).

Everything is bounded: each phase runs --seconds (requests in flight finish), with --clients
clients. The server is `expert serve` itself (the shipped SmolLM2 and embedder), started and
stopped by the script. Reports requests/s, p50/p95/p99 latency, errors, documents lost, and the
server's resident memory before and after.

    .venv/bin/python benchmarks/serve.py --clients 8 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from common import FILINGS, OUT, machine, require

ROOT = Path(__file__).resolve().parents[1]
BASE = ["APPLE_2022_10K.pdf", "INTEL_2022Q4_EARNINGS.pdf", "MCDONALDS_2022_10K.pdf", "ORACLE_2023_10K.pdf"]
UPLOAD = [
    "EBAY_2023Q2_8K.pdf",
    "SALESFORCE_2024Q1_EARNINGS.pdf",
    "INTEL_2023Q1_EARNINGS.pdf",
    "MCDONALDS_2023Q1_EARNINGS.pdf",
]
SEARCHES = [
    "What was Apple's total net sales in fiscal 2022?",
    "Intel revenue fourth quarter 2022",
    "McDonald's systemwide sales growth",
    "Oracle cloud services and license support revenues",
    "capital expenditure",
    "share repurchases",
]
ASK = "What was Apple's total net sales in fiscal 2022?"


def expert(*args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([str(ROOT / ".venv" / "bin" / "expert"), *args], text=True, **kw)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


def load(
    url: str, clients: int, seconds: float, kinds: dict[str, Callable[[httpx.Client, int], int]]
) -> dict[str, Any]:
    """``clients`` threads, each cycling through ``kinds`` for ``seconds``; latencies per kind."""
    results: dict[str, list[float]] = {k: [] for k in kinds}
    errors: list[str] = []
    stop = time.monotonic() + seconds
    names = list(kinds)

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=600) as http:
            n = i
            while time.monotonic() < stop:
                kind = names[n % len(names)]
                started = time.perf_counter()
                status = kinds[kind](http, n)
                elapsed = time.perf_counter() - started
                if status != 200:
                    errors.append(f"{kind}: HTTP {status}")
                else:
                    results[kind].append(elapsed)
                n += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    out: dict[str, Any] = {"wall_s": round(wall, 1), "errors": len(errors), "error_samples": errors[:3]}
    for kind, values in results.items():
        out[kind] = {
            "n": len(values),
            "rps": round(len(values) / wall, 2),
            **{k: round(v, 1) for k, v in percentiles(values).items()},
        }
    return out


def search(http: httpx.Client, n: int) -> int:
    return http.get("/api/search", params={"q": SEARCHES[n % len(SEARCHES)], "k": 5}).status_code


def embed(http: httpx.Client, n: int) -> int:
    texts = [SEARCHES[(n + i) % len(SEARCHES)] for i in range(8)]
    return http.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": texts}).status_code


def answer(http: httpx.Client, n: int) -> int:
    body = {"model": "rag", "max_tokens": 64, "messages": [{"role": "user", "content": SEARCHES[n % 4]}]}
    return http.post("/v1/chat/completions", json=body).status_code


def ask_once(url: str) -> float:
    body = {"model": "rag", "max_tokens": 64, "messages": [{"role": "user", "content": ASK}]}
    started = time.perf_counter()
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=1200)
    response.raise_for_status()
    return time.perf_counter() - started


def upload(url: str, names: list[str], collection: str) -> str:
    files = [("files", (n, (FILINGS / n).read_bytes(), "application/pdf")) for n in names]
    job = httpx.post(f"{url}/api/collections/{collection}/files", files=files, timeout=300).json()
    return str(job["id"])


def wait_job(url: str, job: str) -> dict[str, Any]:
    while True:
        state = httpx.get(f"{url}/api/jobs/{job}", timeout=60).json()
        if state["status"] in ("done", "failed"):
            return dict(state)
        time.sleep(0.5)


def documents(url: str) -> int:
    return len(httpx.get(f"{url}/api/documents", timeout=60).json()["data"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=8377)
    args = parser.parse_args()
    require(FILINGS)
    work = OUT / "serve"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ws = str(work / "ws")
    subprocess.run([str(ROOT / ".venv/bin/expert"), "-w", ws, "init"], check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv/bin/expert"), "-w", ws, "ingest", "--collection", "base", *(str(FILINGS / n) for n in BASE)],
        check=True, capture_output=True,
    )  # fmt: skip
    print(
        f"# {machine()}\n# base workspace: {len(BASE)} filings in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    url = f"http://127.0.0.1:{args.port}"
    server = expert("-w", ws, "serve", "--port", str(args.port), "--quiet", "--queue", "64",
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        report: dict[str, Any] = {"machine": machine(), "clients": args.clients, "seconds": args.seconds}
        ask_once(url)  # warm: the first answer loads caches
        report["rss_before_mb"] = round(rss_mb(server.pid), 1)
        idle = [ask_once(url) for _ in range(3)]
        report["answer_idle_s"] = round(statistics.median(idle), 2)

        report["search_idle"] = load(url, args.clients, args.seconds, {"search": search, "embed": embed})
        print(json.dumps({"search_idle": report["search_idle"]}), flush=True)

        job = upload(url, UPLOAD[:2], "upload1")
        report["search_during_ingest"] = load(
            url, args.clients, args.seconds, {"search": search, "embed": embed}
        )
        report["job1"] = {k: wait_job(url, job)[k] for k in ("status", "report")}
        print(json.dumps({"search_during_ingest": report["search_during_ingest"]}), flush=True)

        report["mix_idle"] = load(
            url, args.clients, args.seconds, {"search": search, "embed": embed, "answer": answer}
        )
        print(json.dumps({"mix_idle": report["mix_idle"]}), flush=True)
        job = upload(url, UPLOAD[2:], "upload2")
        report["mix_during_ingest"] = load(
            url, args.clients, args.seconds, {"search": search, "embed": embed, "answer": answer}
        )
        report["job2"] = {k: wait_job(url, job)[k] for k in ("status", "report")}
        print(json.dumps({"mix_during_ingest": report["mix_during_ingest"]}), flush=True)

        # one answer at a time, during the server's own (niced) job and during a plain CLI ingest
        job = upload(url, UPLOAD, "upload3")
        time.sleep(3)  # the child has started embedding
        during_job = [ask_once(url) for _ in range(3)]
        report["job3"] = {k: wait_job(url, job)[k] for k in ("status", "report")}
        report["answer_during_job_s"] = round(statistics.median(during_job), 2)
        cli = expert("-w", ws, "ingest", "--collection", "cli", *(str(FILINGS / n) for n in UPLOAD),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(5)
        during_cli = []
        while cli.poll() is None and len(during_cli) < 3:
            during_cli.append(ask_once(url))
        cli.wait()
        report["answer_during_cli_ingest_s"] = round(statistics.median(during_cli), 2) if during_cli else None
        expected = len(BASE) + 2 + 2 + len(UPLOAD) + len(UPLOAD)
        report["documents"] = {"expected": expected, "found": documents(url)}
        report["rss_after_mb"] = round(rss_mb(server.pid), 1)
        print(json.dumps(report, indent=1))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if os.environ.get("KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
