"""Commands that fine-tune: dataset build and check, train, export, tune (retriever, fusion)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import InputError, TrainError
from ..evaluate.service import Evaluation
from ..finetune.service import RetrieverConfig, TrainConfig, Tuning
from ..workspace import Workspace
from .answers import generator_overrides
from .documents import workspace_path
from .output import (
    print_json,
    print_problems,
)
from .progress import progress


def held_out(named: list[str], workspace: Path) -> Any:
    """What training keeps out (``Evaluation.held_out``): the sets named, and every question
    set under this folder or the workspace; each part is said on stderr."""
    held = Evaluation.held_out(named, [Path.cwd(), workspace], "dataset build")
    for note in held.notes:
        print(note, file=sys.stderr)
    return held.chunks


def cmd_dataset_build(args: argparse.Namespace) -> int:
    with Workspace.open(workspace_path(args), generator_overrides(args)) as ws:
        exclude = held_out(args.exclude or [], ws.path)
        report = ws.build_dataset(
            args.out,
            n=args.n,
            distractors=args.distractors,
            oracle_share=args.oracle_share,
            val_fraction=args.val_fraction,
            seed=args.seed,
            source=args.source,
            exclude=exclude,
            progress=progress(args.json),
        )
    if args.json:
        print_json(report.to_dict())
    else:
        print(
            f"{report.train} training and {report.validation} validation example(s) in {args.out} "
            f"({report.duplicates} duplicate(s) dropped, {report.rejected} unusable generator repl(ies), "
            f"{report.ungrounded} answer(s) the passage does not support); "
            f"chunks used are listed in {Path(args.out).with_suffix('.chunks.json')}"
        )
    return 0


def cmd_dataset_check(args: argparse.Namespace) -> int:
    report = Tuning.check(args.path)
    if args.json:
        print_json(report.to_dict())
    else:
        print_problems(args.path, report.problems, report.more_problems)
        formats = ", ".join(f"{n} {f}" for f, n in sorted(report.formats.items())) or "none"
        verdict = "ok" if report.ok else "not usable"
        print(
            f"{verdict}: {report.examples} valid example(s) ({formats}), "
            f"{len(report.problems) + report.more_problems} problem(s), {report.duplicates} duplicate(s)"
        )
    return 0 if report.ok else 2


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        config = TrainConfig(data="", out=args.resume, max_steps=args.max_steps or -1)
    else:
        if not args.data or not args.out:
            raise TrainError("give --data FILE and --out RUN_DIR (or --resume RUN_DIR)")
        values = {
            "method": args.method,
            "base": args.base,
            "eval_data": args.eval_data,
            "r": args.r,
            "alpha": args.alpha,
            "targets": args.targets,
            "learning_rate": args.lr,
            "epochs": args.epochs,
            "max_steps": args.max_steps,
            "batch_size": args.batch_size,
            "grad_accum": args.grad_accum,
            "max_length": args.max_length,
            "packing": args.packing or None,
            "gradient_checkpointing": args.gradient_checkpointing,
            "precision": args.precision,
            "seed": args.seed,
            "processes": args.processes,
            "shard": args.shard or None,
        }
        config = TrainConfig(
            data=args.data, out=args.out, **{k: v for k, v in values.items() if v is not None}
        )
    result = Tuning.train(config, resume=bool(args.resume), progress=progress(args.json, json_lines=True))
    if args.json:
        print_json(result.to_dict())
    else:
        loss = result.metrics.get("eval_loss")
        print(
            f"trained {result.steps} steps in {result.seconds:.1f}s ({result.tokens_per_s:.0f} tokens/s); "
            f"train loss {result.metrics.get('train_loss', float('nan')):.4f}"
            + (f", validation loss {loss:.4f}" if loss is not None else "")
            + f"\nadapter in {result.run}/adapter, manifest and loss.png in {result.run}"
            + f'\nuse it: expert ask --adapter {result.run} "..."; export it: expert export {result.run} --merge --gguf'
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if not args.merge and not args.gguf:
        raise InputError(
            "say what to export: --merge (Hugging Face folder), --gguf (llama.cpp, Ollama), or both"
        )
    if not args.json:
        print(f"merging the adapter of {args.run} into its base ...", file=sys.stderr, flush=True)
    result = Tuning.export(args.run, merged=args.merge, gguf=args.gguf, outtype=args.outtype)
    if args.json:
        print_json(result.to_dict())
    else:
        if result.merged:
            print(f"merged model: {result.merged}")
        for path in result.gguf:
            print(f"GGUF: {path}")
        if result.modelfile:
            print(
                f"Ollama: cd {Path(result.modelfile).parent} && ollama create {Path(args.run).name} -f Modelfile"
            )
    return 0


def cmd_tune_retriever(args: argparse.Namespace) -> int:
    config = RetrieverConfig(
        out=Path(args.out),
        n=args.n,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        source=args.source,
    )
    with Workspace.open(workspace_path(args), generator_overrides(args)) as ws:
        exclude = held_out(args.exclude or [], ws.path)
        report = ws.tune_retriever(config, exclude, progress(args.json, json_lines=True))
    if args.json:
        print_json(report.to_dict())
        return 0

    def figures(scores: dict[str, float]) -> str:
        return f"MRR@10 {scores['MRR@10']}, R@1 {scores['R@1']}%, R@5 {scores['R@5']}%"

    print(
        f"tuned on {report.train} question(s), {report.validation} held out ({report.rejected} passage(s) gave "
        f"no usable question); questions {report.synth_seconds:.0f} s, training {report.train_seconds:.0f} s"
    )
    print(f"held-out questions, among {report.before['passages']} passages: before {figures(report.before)}")
    print(f"                                          after  {figures(report.after)}")
    print(f"use it: expert reindex --embedder {args.out}")
    return 0


def cmd_tune_fusion(args: argparse.Namespace) -> int:
    with Workspace.open(workspace_path(args)) as ws:
        if args.reset:
            had = ws.reset_fusion()
            if args.json:
                print_json({"reset": had})
            else:
                print(
                    "the fit is forgotten; searches use the configured weights" if had else "there was no fit"
                )
            return 0
        if not args.questions:
            raise InputError("give a question file to fit on (expert tune fusion QUESTIONS), or --reset")
        fit = ws.tune_fusion(args.questions, progress(args.json))
    if args.json:
        print_json(fit.to_dict())
        return 0
    n = fit.questions
    print(f"{n} questions with evidence in the workspace; the evidence in the top 5 / first:")
    print(f"  configured weights ({fit.configured}): {fit.r5['configured']}/{n} / {fit.r1['configured']}/{n}")
    print(f"  fitted weights     ({fit.weights}): {fit.r5['fitted']}/{n} / {fit.r1['fitted']}/{n}")
    print(
        f"  held out (each half fitted on the other): {fit.held_out_r5['fitted']} / {fit.held_out_r1['fitted']} "
        f"against {fit.held_out_r5['configured']} / {fit.held_out_r1['configured']} configured"
    )
    if fit.used:
        print(f"searches now use {fit.weights} (retrieval.fitted = false in expert.toml sets them aside)")
    elif fit.weights == fit.configured:
        print("the configured weights are already the best on these questions; they stay")
    else:
        print("the fit did not hold on held-out questions, so the configured weights stay")
    return 0
