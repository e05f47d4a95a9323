"""The child process that runs one ingest job for the server of a SQLite workspace (``local``).

``python -m industry_expert.jobs.child --workspace WS --collection C FILE...`` ingests the
files with the workspace's own settings, printing each progress event as a JSON line, then a
``report`` line (the same report as ``expert ingest --json``) or an ``error`` line. It runs in
its own process so that parsing and embedding take neither the server's interpreter lock nor,
at its lower CPU priority, the cores an answer needs; and its memory goes when it ends.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import ExpertError, http_status
from ..events import Event, JobFailed, JobReport
from ..workspace import Workspace


def emit(event: Event) -> None:
    print(json.dumps(event.to_dict(), ensure_ascii=True), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="industry_expert.jobs.child")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--prune", action="store_true", help="a watched folder's sync: remove what is gone")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    try:
        with Workspace.open(args.workspace) as ws:
            report = ws.ingest(args.paths, collection=args.collection, prune=args.prune, progress=emit)
    except ExpertError as exc:
        emit(JobFailed(str(exc), http_status(exc)))
        return 2
    emit(JobReport(report.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
