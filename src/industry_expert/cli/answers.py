"""Commands that answer: ask and chat."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ExpertError, InputError
from ..models import generator_overrides as library_overrides
from ..workspace import Workspace
from .documents import workspace_path
from .output import print_json, print_sources, safe


def generator_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings named by the generator and answer flags (the backend rule is the library's)."""
    out = library_overrides(args.backend, args.model, args.base_url, args.api_key_env, args.adapter)
    if args.max_tokens:
        out["generator.max_tokens"] = args.max_tokens
    if args.context_window:
        out["generator.context_window"] = args.context_window
    if getattr(args, "min_relevance", None) is not None:
        out["answer.min_relevance"] = args.min_relevance
    return out


def answer_once(
    ws: Workspace, args: argparse.Namespace, question: str, history: list[tuple[str, str]]
) -> Any:
    stream = ws.ask_stream(
        question,
        k=args.k,
        source=args.source,
        collection=args.collection,
        history=history,
        retrieval=not args.no_retrieval,
    )
    if args.json:
        answer = stream.run()
        print_json(answer.to_dict())
        return answer
    for piece in stream:
        sys.stdout.write(safe(piece, lines=True))
        sys.stdout.flush()
    sys.stdout.write("\n")
    assert stream.answer is not None
    print_sources(stream.answer)
    return stream.answer


def cmd_ask(args: argparse.Namespace) -> int:
    question = " ".join(args.question).strip()
    if not question:
        raise InputError('give a question, e.g. expert ask "What was revenue in 2023?"')
    with Workspace.open(workspace_path(args), generator_overrides(args)) as ws:
        answer = answer_once(ws, args, question, [])
    return 0 if answer.found else 1


def cmd_chat(args: argparse.Namespace) -> int:
    tty = sys.stdin.isatty()
    history: list[tuple[str, str]] = []
    with Workspace.open(workspace_path(args), generator_overrides(args)) as ws:
        _ = ws.generator  # load the model before the first prompt, so errors come first
        if tty and not args.json:
            print(f"chatting with {ws.generator.name} over {ws.path}; /reset forgets, /exit or Ctrl-D quits")
        while True:
            try:
                line = input("you> " if tty else "")
            except EOFError:
                break
            question = line.strip()
            if not question:
                continue
            if question in ("/exit", "/quit"):
                break
            if question == "/reset":
                history.clear()
                print("(history cleared)")
                continue
            try:
                answer = answer_once(ws, args, question, history)
            except ExpertError as exc:  # one bad turn does not end the chat
                print(f"expert: error: {exc}", file=sys.stderr)
                continue
            if answer.found:
                history.append((question, answer.text))
            if not args.json:
                print()
    return 0
