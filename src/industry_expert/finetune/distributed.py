"""``expert train --processes N``: the same training in N processes, data-parallel.

The launcher runs ``torch.distributed.run`` (what ``accelerate launch`` runs for one machine)
with N copies of this module's ``main``; each runs ``train.train`` as it runs in one process. The
Trainer (accelerate underneath) sees the launcher's environment and trains with
DistributedDataParallel: NCCL between GPUs, gloo between CPU processes. Each process takes
``batch_size`` examples a step, so the global batch is N times that; rank 0 alone writes the run
folder (manifest, checkpoints, adapter, loss curve) and reports progress, as JSON lines this
launcher reads and hands on. A run is resumed the same way (``--resume``), with its processes.

Several machines: run ``python -m torch.distributed.run --nnodes M --node-rank R
--rdzv-endpoint HOST:PORT --nproc-per-node N -m industry_expert.finetune.distributed --config
JSON`` on each (docs/training.md, "Several devices").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import ExpertError, TrainError, http_status
from ..events import (
    Downloaded,
    Downloading,
    DownloadStarted,
    Event,
    Finished,
    JobFailed,
    Loading,
    Progress,
    TrainLog,
    TrainStarted,
    ignore,
    parse,
)
from . import train as training


def _events() -> tuple[type[Event], ...]:
    from .. import events

    return tuple(
        c for c in vars(events).values() if isinstance(c, type) and issubclass(c, Event) and c is not Event
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _follow(lines: Any, emit: Progress) -> tuple[dict[str, Any] | None, str | None]:
    """Hand on the events rank 0 prints; its report, or its error."""
    result: dict[str, Any] | None = None
    failed: str | None = None
    # what a training run reports (tags are unique among these, not among every event)
    kinds = (Loading, DownloadStarted, Downloading, Downloaded, TrainStarted, TrainLog, Finished, JobFailed)
    for line in lines:
        try:
            event = parse(json.loads(line), kinds)
        except ValueError:
            continue
        match event:
            case Finished(report=report):
                result = dict(report)
                emit(event)
            case JobFailed(message=message):
                failed = message
            case None:
                pass
            case _:
                emit(event)
    return result, failed


def launch(
    config: training.TrainConfig, resume: bool = False, progress: Progress | None = None
) -> training.TrainResult:
    """Train in ``config.processes`` processes on this machine; the result rank 0 reports."""
    emit = progress or ignore
    config = training.resolve_config(config, resume)  # checked once, here, before any process starts
    processes = config.processes
    fresh = not Path(config.out).exists()
    env = dict(os.environ)
    # the cores shared out: N processes each with all of them would fight over them
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
        "-m", "industry_expert.finetune.distributed", "--config", json.dumps(asdict(config)),
        *(["--resume"] if resume else []),
    ]  # fmt: skip
    # stderr to a file: N processes' warnings would fill a pipe no one reads while stdout is read
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        assert child.stdout is not None
        result, failed = _follow(child.stdout, emit)
        code = child.wait()
        stderr.seek(0)
        errors = stderr.read()
    if failed or code != 0 or result is None:
        run = Path(config.out)
        started = any((run / "checkpoints").glob("checkpoint-*"))
        if fresh and not started and run.is_dir():
            shutil.rmtree(run, ignore_errors=True)  # nothing to resume from: leave nothing behind
        if failed:
            raise TrainError(failed)
        last = [line for line in errors.strip().splitlines() if line.strip()][-1:] or [f"exit code {code}"]
        again = f"continue it with --resume {run}" if run.is_dir() else "run it again"
        raise TrainError(f"training in {processes} processes stopped ({last[0][:300]}); {again}")
    return training.TrainResult(**result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m industry_expert.finetune.distributed")
    parser.add_argument("--config", required=True, help="the TrainConfig as JSON")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))

    def emit(event: Event) -> None:
        print(json.dumps(event.to_dict(), ensure_ascii=True), flush=True)

    config = training.TrainConfig(**json.loads(args.config))
    try:
        training.train(config, args.resume, emit if rank == 0 else None, launched=True)
    except ExpertError as exc:
        if rank == 0:
            emit(JobFailed(str(exc), http_status(exc)))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
