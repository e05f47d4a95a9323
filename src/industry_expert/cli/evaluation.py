"""Commands that evaluate: eval check, eval run, eval report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..evaluate.questions import check_questions, load_questions
from ..evaluate.report import format_summary, load_summary, write_markdown
from ..evaluate.run import parse_modes
from ..workspace import Workspace
from .answers import generator_overrides
from .documents import workspace_path
from .output import Reporter, print_json, print_problems


def cmd_eval_check(args: argparse.Namespace) -> int:
    report = check_questions(args.path)
    if args.json:
        print_json(report.to_dict())
    else:
        print_problems(args.path, report.problems, report.more_problems)
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.kinds.items())) or "none"
        verdict = "ok" if report.ok else "not usable"
        print(
            f"{verdict}: {report.questions} question(s) ({kinds}), {report.with_evidence} with evidence, "
            f"{len(report.problems) + report.more_problems} problem(s), {report.duplicates} duplicate(s)"
        )
    return 0 if report.ok else 2


def eval_progress(json_mode: bool) -> Any:
    out = Reporter(json_mode)

    def on(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            if event["resumed"]:
                out.log(f"resuming: {event['resumed']} answer(s) already scored")
            out.begin(event["answers"], "answer", "eval", initial=event["resumed"])
        elif kind == "answer":
            line = f"{event['done']}/{event['total']} {event['mode']}: score {event['score']:.2f}"
            out.advance(line, event["mode"])
        elif kind == "done":
            out.end()

    return on


def cmd_eval_run(args: argparse.Namespace) -> int:
    questions = load_questions(args.questions)
    modes = parse_modes(args.modes)
    overrides = generator_overrides(args)
    if args.k:
        overrides["answer.k"] = args.k
    with Workspace.open(workspace_path(args), overrides) as ws:
        run = ws.evaluate(questions, modes, args.out, progress=eval_progress(args.json))
    write_markdown(run.out, run.summary)
    if args.json:
        print_json({"out": str(run.out), "answered": run.answered, "resumed": run.resumed, **run.summary})
    else:
        print(format_summary(run.summary))
        print(f"\nanswers, scores and summary in {run.out}/ (summary.md, summary.json, answers.jsonl)")
    return 0


def cmd_eval_report(args: argparse.Namespace) -> int:
    summary = load_summary(args.folder)
    write_markdown(Path(args.folder), summary)
    if args.json:
        print_json(summary)
    else:
        print(format_summary(summary))
    return 0
