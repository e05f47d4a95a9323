"""`expert serve` when more people ask than one model can answer: 8 and 32 chat clients at once
while an upload's ingest job runs, on loopback, bounded in time and count.

Each client asks for answers for ``--seconds`` with a 60 s client timeout, as an OpenAI client
configured with a minute would; after a 503 it waits what ``Retry-After`` says (at most 10 s) and
asks again. The server is `expert serve` itself with its defaults (one answer at a time, 8
waiting, a 30 s bound on the wait). Reported per run: requests, answers and their latency,
refusals and whether each was well-formed (503, ``Retry-After``, OpenAI's error shape), how long a
refusal took, and client timeouts, which the bounded wait is there to make zero.

    .venv/bin/python benchmarks/serve_busy.py --clients 8,32 --seconds 90
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

import httpx
from common import OUT
from serve import ASKS, BIG, percentiles, start_server, upload, wait_job, wait_up


def clients(url: str, n: int, seconds: float) -> dict[str, Any]:
    answered: list[float] = []
    refused: list[float] = []
    malformed: list[str] = []
    timeouts = 0
    other: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        nonlocal timeouts
        with httpx.Client(base_url=url, timeout=60) as http:
            k = i
            while time.monotonic() < stop:
                body = {
                    "model": "rag",
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": ASKS[k % len(ASKS)]}],
                }
                k += 1
                started = time.perf_counter()
                try:
                    reply = http.post("/v1/chat/completions", json=body)
                except httpx.TimeoutException:
                    with lock:
                        timeouts += 1
                    continue
                elapsed = time.perf_counter() - started
                with lock:
                    if reply.status_code == 200:
                        answered.append(elapsed)
                        continue
                    if reply.status_code != 503:
                        other.append(f"HTTP {reply.status_code}")
                        continue
                    refused.append(elapsed)
                    try:
                        error = reply.json()["error"]
                        ok = {"message", "type", "param", "code"} <= set(error) and int(
                            reply.headers["retry-after"]
                        ) >= 1
                    except (ValueError, KeyError):
                        ok = False
                    if not ok:
                        malformed.append(reply.text[:200])
                wait = int(reply.headers.get("retry-after", "5"))
                time.sleep(min(wait, 10, max(0.0, stop - time.monotonic())))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "clients": n,
        "wall_s": round(time.perf_counter() - began, 1),
        "answers": len(answered),
        "answer_ms": {k: round(v) for k, v in percentiles(answered).items()},
        "refusals": len(refused),
        "refusal_ms": {k: round(v) for k, v in percentiles(refused).items()},
        "malformed_refusals": len(malformed),
        "client_timeouts": timeouts,
        "other_errors": other[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--port", type=int, default=8378)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    server = start_server(OUT / "serve-busy", args.port)
    try:
        wait_up(url)
        for i, n in enumerate(int(c) for c in args.clients.split(",")):
            job = upload(url, BIG[i * 2 : i * 2 + 2] or BIG[:2], f"busy{i}")  # an ingest runs meanwhile
            result = clients(url, n, args.seconds)
            result["ingest_job"] = wait_job(url, job)["status"]
            print(json.dumps(result), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
