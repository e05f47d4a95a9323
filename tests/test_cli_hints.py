"""Every hint the product prints names a command and flags that exist.

The package's source is read for string literals (f-strings with their fields as placeholders)
that name ``expert COMMAND``; each command path is looked up in the real parser, its ``--help``
is run, and every flag the hint gives must be one of that command's options.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from industry_expert.cli.parser import build_parser

SRC = Path(__file__).resolve().parents[1] / "src" / "industry_expert"
HINT = re.compile(r"(?<![\w./-])expert ((?:[^`'\"(),;<]|\([^)]*\))*)")
NOT_A_COMMAND = {"on"}  # prose: "an expert on your documents"


def _literals(tree: ast.AST) -> list[str]:
    """String constants, and f-strings with each field as ``X``; adjacent literals are one node."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            found.append("".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values))
    return found


def _hints() -> list[tuple[str, str]]:
    hints = []
    for path in sorted(SRC.rglob("*.py")):
        for text in _literals(ast.parse(path.read_text(encoding="utf-8"))):
            for match in HINT.finditer(text):
                hints.append((f"{path.relative_to(SRC)}", match.group(1).strip()))
    return hints


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _resolve(words: list[str]) -> tuple[list[str], argparse.ArgumentParser, list[str]]:
    """The command path the words begin with, its parser, and the words after it."""
    parser, path = build_parser(), []
    while words and words[0] in _subcommands(parser):
        parser = _subcommands(parser)[words[0]]
        path.append(words.pop(0))
    return path, parser, words


def test_the_source_gives_hints_to_walk() -> None:
    commands = {" ".join(_resolve(hint.split())[0]) for _, hint in _hints()}
    assert len(_hints()) >= 40 and {"ingest", "tune fusion", "eval run", "keys create", "train"} <= commands


@pytest.mark.parametrize("where, hint", _hints(), ids=lambda v: v if "/" in v or v.endswith(".py") else None)
def test_each_hint_names_a_command_and_flags_that_exist(
    where: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    words = hint.split()
    if not words or not re.fullmatch(r"[a-z][a-z-]*", words[0]) or words[0] in NOT_A_COMMAND:
        return  # "expert " closing a sentence, or the version string's "expert X"
    path, parser, rest = _resolve(list(words))
    assert path, f"{where}: `expert {hint}` names no command"
    if _subcommands(parser) and rest:  # the group alone is a name (`expert keys`); a word after it
        pytest.fail(f"{where}: `expert {hint}`: {' '.join(path)} has no subcommand {rest[:1]}")
    with pytest.raises(SystemExit) as helped:
        build_parser().parse_args([*path, "--help"])
    assert helped.value.code == 0 and f"expert {' '.join(path)}" in capsys.readouterr().out
    options = {o for action in parser._actions for o in action.option_strings}
    for word in rest:
        flag = word.split("=", 1)[0].rstrip(".:")
        if re.fullmatch(r"--?[a-z][a-z-]*", flag):
            assert flag in options, f"{where}: `expert {hint}`: {' '.join(path)} has no {flag}"
