"""Flags as typed data: each option and each group of options is declared once, here or beside its
command, and turned into argparse flags for every command that takes it.

An ``Option`` never writes its default into its help by hand: ``shows`` (a value read from the
settings or a config dataclass) or an argparse ``default`` is appended as ``(default X)`` by
``add_to``, so a default lives in one place. Choices are computed when the parser is built, so a
backend a plugin adds is a choice at once (``registry.py``). A ``Group`` (generator, filter) becomes
one titled section of ``--help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args, get_type_hints

from ..config import Settings, choices

SETTINGS = Settings()
_UNSET = object()


def setting(dotted: str) -> Any:
    """The default value of the setting ``dotted`` (``generator.max_tokens``)."""
    section, _, name = dotted.partition(".")
    return getattr(getattr(SETTINGS, section), name)


def default(owner: Any, name: str) -> Any:
    """The default of a dataclass field or of a function's keyword parameter."""
    if dataclasses.is_dataclass(owner):
        return next(f.default for f in dataclasses.fields(owner) if f.name == name)
    return inspect.signature(owner).parameters[name].default


def literal(owner: Any, name: str) -> list[str]:
    """The values of a ``Literal``-typed dataclass field or function parameter."""
    return list(get_args(get_type_hints(owner)[name]))


def positive(kind: type[int] | type[float]) -> Any:
    """An argparse type: a number above zero (``-k 0`` or ``--max-file-mb -1`` is refused)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a number above 0, found {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Option:
    """One flag or positional argument: argparse's keywords, and ``shows``, the default to print."""

    flags: tuple[str, ...]
    help: str | None = None
    convert: Callable[[str], Any] | None = None  # argparse's type
    default: Any = None
    choices: Callable[[], Sequence[str]] | Sequence[str] | None = None
    action: str | type[argparse.Action] | None = None
    metavar: str | None = None
    nargs: str | None = None
    required: bool = False
    shows: Any = _UNSET

    def but(self, **changes: Any) -> Option:
        """The same option with some keywords changed (a command's own wording)."""
        return dataclasses.replace(self, **changes)

    def add_to(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        help_text = self.help
        if self.shows is not _UNSET:
            help_text = (
                f"{help_text} (default {_shown(self.shows)})"
                if help_text
                else f"default {_shown(self.shows)}"
            )
        elif self.default not in (None, False) and self.action is None:
            help_text = f"{help_text} (default %(default)s)" if help_text else "default %(default)s"
        keywords: dict[str, Any] = {"help": help_text}
        if self.convert is not None:
            keywords["type"] = self.convert
        for name in ("action", "metavar", "nargs"):
            if getattr(self, name) is not None:
                keywords[name] = getattr(self, name)
        if self.default is not None:
            keywords["default"] = self.default
        if self.choices is not None:
            keywords["choices"] = list(self.choices() if callable(self.choices) else self.choices)
        if self.required:
            keywords["required"] = True
        parser.add_argument(*self.flags, **keywords)


@dataclass(frozen=True)
class Group:
    """Options that travel together, shown under one title in ``--help``."""

    title: str
    options: tuple[Option, ...]
    description: str | None = None

    def but(self, *replaced: Option) -> Group:
        """The group with some options replaced, matched by their first flag."""
        by_flag = {o.flags[0]: o for o in replaced}
        return dataclasses.replace(self, options=tuple(by_flag.get(o.flags[0], o) for o in self.options))

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        section = parser.add_argument_group(self.title, self.description)
        for option in self.options:
            option.add_to(section)


@dataclass(frozen=True)
class Command:
    """One command (``"eval run"`` is ``eval``'s subcommand ``run``), its options and its function."""

    path: str
    help: str
    run: Callable[[argparse.Namespace], Any]
    options: tuple[Option | Group, ...] = field(default_factory=tuple)


def opt(*flags: str, **keywords: Any) -> Option:
    return Option(flags, **keywords)


# -- the groups many commands share ------------------------------------------------------------------
JSON = opt("--json", action="store_true", help="print the result as JSON")

ADAPTER = opt(
    "--adapter",
    metavar="RUN",
    help="an `expert train` run directory or a PEFT adapter folder (transformers), or a GGUF LoRA "
    "file (llama-cpp); with --backend llama-cpp a run is converted once",
)
GENERATOR = Group(
    "generator",
    (
        opt("--model", help="a .gguf file, a model folder, or the server's model name"),
        opt("--base-url", help="an OpenAI-compatible server, e.g. http://localhost:11434/v1"),
        opt(
            "--backend",
            choices=lambda: choices("generator.backend"),
            help="default: follows from --model, --adapter or --base-url, else generator.backend",
        ),
        opt("--api-key-env", help="environment variable holding the server's API key"),
        ADAPTER,
        opt(
            "--max-tokens",
            convert=positive(int),
            help="answer length limit in tokens",
            shows=setting("generator.max_tokens"),
        ),
        opt(
            "--context-window",
            convert=positive(int),
            help="tokens of prompt + answer",
            shows=setting("generator.context_window"),
        ),
    ),
    "the model that answers; each flag overrides its [generator] setting for this run",
)
SOURCE = opt("--source", help="only sources matching this path or glob, e.g. '*10K*'")
FILTER = Group("filter", (SOURCE, opt("--collection", help="only this collection")))
