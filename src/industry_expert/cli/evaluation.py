"""Commands that evaluate: eval build, check, run and report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from ..evaluate.report import format_summary
from ..evaluate.run import parse_modes
from ..evaluate.service import Evaluation
from ..workspace import Workspace
from .answers import generator_overrides
from .documents import workspace_path
from .output import print_json, print_problems
from .progress import progress


def cmd_eval_check(args: argparse.Namespace) -> int:
    report = Evaluation.check(args.path)
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


def cmd_eval_build(args: argparse.Namespace) -> int:
    with Workspace.open(workspace_path(args), generator_overrides(args)) as ws:
        held = Evaluation.held_out(args.exclude or [], [Path.cwd(), ws.path], "eval build")
        for note in held.notes:
            print(note, file=sys.stderr)
        report = ws.build_questions(
            args.out,
            n=args.n,
            exclude=held.chunks,
            seed=args.seed,
            source=args.source,
            progress=progress(args.json),
        )
    if args.json:
        print_json(report.to_dict())
        return 0
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.kinds.items()))
    print(f"{report.questions} question(s) ({kinds}) in {args.out}, from {report.tried} passage(s) tried")
    dropped = {
        "unusable replies": report.rejected,
        "questions off their passage": report.off_passage,
        "answers the passage does not support": report.ungrounded,
        "answers that changed when asked again": report.inconsistent,
        "duplicates": report.duplicates,
    }
    print("dropped: " + ", ".join(f"{n} {what}" for what, n in dropped.items()))
    if report.held_out:
        print(f"{report.held_out} passage(s) skipped because a training set used them")
    if report.short:
        short = ", ".join(f"{n} {k}" for k, n in report.short.items())
        why = (
            "the workspace has no more passages to ask about"
            if report.exhausted
            else "the generator rarely wrote such questions (try --model or --base-url)"
        )
        print(f"short of the mix by {short}: {why}")
    print(f"read them before trusting them; `expert eval check {args.out}` validates the file")
    return 0


def cmd_eval_run(args: argparse.Namespace) -> int:
    questions = Evaluation.questions(args.questions)
    modes = parse_modes(args.modes)
    overrides = generator_overrides(args)
    if args.k:
        overrides["answer.k"] = args.k
    judge = None
    if args.judge_url:
        judge = Evaluation.judge(args.judge_url, args.judge_model or "", args.judge_key_env or "")
    elif args.judge_model:
        raise InputError("--judge-model needs --judge-url: the OpenAI-compatible endpoint that serves it")
    with Workspace.open(workspace_path(args), overrides) as ws:
        run = ws.evaluate(questions, modes, args.out, progress=progress(args.json), judge=judge)
    if args.json:
        print_json(
            {"out": str(run.out), "answered": run.answered, "resumed": run.resumed, **run.summary.to_dict()}
        )
    else:
        print(format_summary(run.summary))
        print(
            f"\nanswers, scores and summary in {run.out}/ (report.html, summary.md, summary.json, answers.jsonl)"
        )
    return 0


def cmd_eval_compare(args: argparse.Namespace) -> int:
    from ..evaluate.compare import format_comparison

    result = Evaluation.compare(args.before, args.after)
    if args.json:
        print_json(result)
    else:
        print(format_comparison(result))
    return 0


def cmd_advise(args: argparse.Namespace) -> int:
    with Workspace.open(workspace_path(args), generator_overrides(args)) as ws:
        folder = Path(args.eval) if args.eval else Evaluation.latest([Path.cwd(), ws.path])
        if folder is not None and not args.eval and not args.json:
            print(f"using the latest evaluation, {folder} (--eval FOLDER picks another)", file=sys.stderr)
        advice = ws.advise(folder, novelty=not args.no_novelty)
    if args.json:
        print_json(advice.to_dict())
        return 0
    print(f"Recommendation: {advice.recommendation}")
    if advice.tied and len(advice.tied) > 1:
        print(f"Tied within the noise: {', '.join(advice.tied)}")
    if advice.reasons:
        print("\nWhy:")
        for reason in advice.reasons:
            print(f"- {reason}")
    if advice.next_steps:
        print("\nWhat to try next:")
        for step in advice.next_steps:
            print(f"- {step}")
    return 0


def cmd_eval_report(args: argparse.Namespace) -> int:
    report = Evaluation.report(args.folder)
    if args.json:
        print_json(report.summary.to_dict())
    else:
        print(format_summary(report.summary))
        print(f"\nthe page with plots and every answer: {report.page}")
    return 0
