"""The CLI is built from its options: shared groups mean the same everywhere, and each default is
stated once, by the option that has it."""

from __future__ import annotations

import argparse
import re

import pytest

from industry_expert.cli.options import GENERATOR
from industry_expert.cli.parser import build_parser, commands


def _parsers() -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found[path] = parser
        for sub in subs:
            for name, child in sub.choices.items():
                walk(child, f"{path} {name}".strip())

    walk(build_parser(), "")
    return found


def test_every_command_is_built_and_helps(capsys: pytest.CaptureFixture[str]) -> None:
    parsers = _parsers()
    assert set(parsers) == {c.path for c in commands()}
    for path in parsers:
        with pytest.raises(SystemExit) as helped:
            build_parser().parse_args([*path.split(), "--help"])
        assert helped.value.code == 0 and capsys.readouterr().out.startswith(f"usage: expert {path}")


def test_the_generator_group_is_the_same_flags_with_the_same_help_in_every_command() -> None:
    declared = {o.flags[0]: o.help for o in GENERATOR.options}
    taking = {}
    for path, parser in _parsers().items():
        groups = [g for g in parser._action_groups if g.title == "generator"]
        if groups:
            taking[path] = {a.option_strings[0]: a.help for a in groups[0]._group_actions}
    assert {"ask", "chat", "serve", "eval run", "eval build", "dataset build", "advise"} <= set(taking)
    for path, flags in taking.items():
        assert set(flags) == set(declared), path
        for flag, help_text in flags.items():
            if not (path == "serve" and flag == "--adapter"):  # serve names several: [NAME=]RUN, repeatable
                assert help_text.split(" (default")[0] == declared[flag], (path, flag)


def test_each_default_is_stated_once_and_stated_where_there_is_one() -> None:
    for path, parser in _parsers().items():
        for action in parser._actions:
            text = (action.help or "").replace("%(default)s", "VALUE")
            assert len(re.findall(r"\bdefault\b", text)) <= 1, (path, action.option_strings, text)
            stated = action.default not in (None, False, argparse.SUPPRESS)
            if action.option_strings and stated and not isinstance(action, argparse._HelpAction):
                assert "default" in text, (path, action.option_strings)


def test_json_means_the_same_flag_everywhere() -> None:
    for path, parser in _parsers().items():
        for action in parser._actions:
            if "--json" in action.option_strings:
                assert isinstance(action, argparse._StoreTrueAction) and action.dest == "json", path
