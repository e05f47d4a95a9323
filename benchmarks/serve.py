"""`expert serve` under load, on loopback. Two parts, each bounded in time and count:

1. Throughput: --clients clients doing searches (/api/search, hybrid, k=5) and retrieval-only
   requests (/v1/embeddings of 8 texts), then the same beside one client asking for answers,
   each while idle and while an upload's ingest job runs: requests/s, p50/p95/p99, errors.
2. One answer's latency while idle, during the server's own ingest job, and during an `expert
   ingest` of the same files in another process: yielding to answers (the default), at CPU
   priority 10 without yielding, and at normal priority without yielding (the contention the
   design is there to avoid). Ingest time is reported too: what yielding costs it.

The server is `expert serve` itself (the shipped SmolLM2 and embedder), started and stopped by the
script; it reports documents lost (expected against found) and the server's resident memory
before and after.

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
SMALL = [
    "EBAY_2023Q2_8K.pdf",
    "SALESFORCE_2024Q1_EARNINGS.pdf",
    "INTEL_2023Q1_EARNINGS.pdf",
    "MCDONALDS_2023Q1_EARNINGS.pdf",
]
BIG = ["APPLE_2020_10K.pdf", "INTEL_2020_10K.pdf", "FEDEX_2023_10K.pdf", "SALESFORCE_2023_10K.pdf"]
SEARCHES = [
    "What was Apple's total net sales in fiscal 2022?",
    "Intel revenue fourth quarter 2022",
    "McDonald's systemwide sales growth",
    "Oracle cloud services and license support revenues",
    "capital expenditure",
    "share repurchases",
]
ASKS = [
    "What was Apple's total net sales in fiscal 2022?",
    "What was Intel's revenue in the fourth quarter of 2022?",
    "How many restaurants did McDonald's operate at the end of 2022?",
]


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
    body = {"model": "rag", "max_tokens": 64, "messages": [{"role": "user", "content": ASKS[n % len(ASKS)]}]}
    return http.post("/v1/chat/completions", json=body).status_code


def ask_once(url: str, question: str, timeout: float = 600) -> float:
    body = {"model": "rag", "max_tokens": 64, "messages": [{"role": "user", "content": question}]}
    started = time.perf_counter()
    try:
        httpx.post(f"{url}/v1/chat/completions", json=body, timeout=timeout).raise_for_status()
    except httpx.TimeoutException:
        return float("inf")
    return time.perf_counter() - started


def answers(url: str, busy: Callable[[], bool] = lambda: True) -> dict[str, Any]:
    """One answer at a time to each of ASKS while ``busy()``: the median and each latency (s)."""
    times = []
    for question in ASKS:
        if not busy():
            break
        times.append(ask_once(url, question))
    return {
        "median_s": round(statistics.median(times), 2) if times else None,
        "each_s": [round(t, 2) for t in times],
    }


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


def mixed(url: str, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` search and embedding clients beside one client asking for answers."""
    out: dict[str, Any] = {}

    def asker() -> None:
        out["answers"] = load(url, 1, seconds, {"answer": answer})

    thread = threading.Thread(target=asker)
    thread.start()
    out["retrieval"] = load(url, clients, seconds, {"search": search, "embed": embed})
    thread.join()
    return {
        **out["retrieval"],
        "answer": out["answers"]["answer"],
        "errors": out["retrieval"]["errors"] + out["answers"]["errors"],
    }


def start_server(work: Path, port: int, *options: str) -> subprocess.Popen[str]:
    """A fresh workspace in ``work`` with the BASE filings (collection ``base``), served by
    `expert serve` on ``port`` with ``options``; prints the machine and the ingest time."""
    require(FILINGS)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ws = str(work / "ws")
    bin_expert = str(ROOT / ".venv/bin/expert")
    subprocess.run([bin_expert, "-w", ws, "init"], check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(
        [bin_expert, "-w", ws, "ingest", "--collection", "base", *(str(FILINGS / n) for n in BASE)],
        check=True, capture_output=True,
    )  # fmt: skip
    print(
        f"# {machine()}\n# base workspace: {len(BASE)} filings in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return expert("-w", ws, "serve", "--port", str(port), "--quiet", *options,
                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def wait_up(url: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=8377)
    args = parser.parse_args()
    work = OUT / "serve"
    ws, bin_expert = str(work / "ws"), str(ROOT / ".venv/bin/expert")
    url = f"http://127.0.0.1:{args.port}"
    server = start_server(work, args.port, "--queue", "64")
    report: dict[str, Any] = {"machine": machine(), "clients": args.clients, "seconds": args.seconds}

    rss: list[tuple[str, float]] = []

    def show(key: str) -> None:
        rss.append((key, round(rss_mb(server.pid), 1)))
        print(json.dumps({key: report[key], "rss_mb": rss[-1][1]}), flush=True)

    try:
        wait_up(url)
        answers(url)  # warm caches
        report["rss_before_mb"] = round(rss_mb(server.pid), 1)

        # 1. throughput, idle and during an upload's ingest job
        report["retrieval_idle"] = load(url, args.clients, args.seconds, {"search": search, "embed": embed})
        show("retrieval_idle")
        job = upload(url, SMALL[:2], "upload1")
        report["retrieval_during_ingest"] = load(
            url, args.clients, args.seconds, {"search": search, "embed": embed}
        )
        report["retrieval_during_ingest"]["job"] = wait_job(url, job)["report"]
        show("retrieval_during_ingest")
        report["mix_idle"] = mixed(url, args.clients, args.seconds)
        show("mix_idle")
        job = upload(url, SMALL[2:], "upload2")
        report["mix_during_ingest"] = mixed(url, args.clients, args.seconds)
        report["mix_during_ingest"]["job"] = wait_job(url, job)["report"]
        show("mix_during_ingest")

        # 2. one answer at a time: idle, during the server's job, during a CLI ingest
        report["answer_idle"] = answers(url)
        show("answer_idle")
        job = upload(url, BIG, "job")
        time.sleep(5)  # the child is embedding
        report["answer_during_job"] = answers(
            url, lambda: httpx.get(f"{url}/api/jobs/{job}").json()["status"] == "running"
        )
        done = wait_job(url, job)
        report["answer_during_job"]["ingest_s"] = done["report"]["seconds"] if done["report"] else None
        show("answer_during_job")
        for name, collection, env, prefix in (
            ("answer_during_cli_ingest", "cli1", {}, []),
            (
                "answer_during_cli_ingest_nice10_no_yield",
                "cli2",
                {"EXPERT_INGEST_YIELD": "0"},
                ["nice", "-n", "10"],
            ),
            ("answer_during_cli_ingest_no_yield", "cli3", {"EXPERT_INGEST_YIELD": "0"}, []),
        ):
            began = time.perf_counter()
            cli = subprocess.Popen(
                [*prefix, bin_expert, "-w", ws, "ingest", "--collection", collection, *(str(FILINGS / n) for n in BIG)],
                env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(8)  # parsed, embedding
            report[name] = answers(url, lambda cli=cli: cli.poll() is None)  # type: ignore[misc]
            cli.wait()
            report[name]["ingest_s"] = round(time.perf_counter() - began, 1)
            show(name)
        # the first load again, after everything: memory should have stopped growing
        report["retrieval_again"] = load(url, args.clients, args.seconds, {"search": search, "embed": embed})
        show("retrieval_again")
        # uploads are copies; the three CLI ingests move one set of files between collections
        expected = len(BASE) + len(SMALL) + len(BIG) + len(BIG)
        report["documents"] = {"expected": expected, "found": documents(url)}
        report["rss_after_mb"] = round(rss_mb(server.pid), 1)
        report["rss_by_phase_mb"] = rss
        print(json.dumps(report, indent=1))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if os.environ.get("KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
