"""The models a server offers, as OpenAI's ``model`` names: how to answer and with which weights.

``rag`` answers from the workspace's passages with the configured model, ``base`` asks that model
alone; for each adapter given to ``expert serve --adapter NAME=RUN``, ``rag+ft:NAME`` and
``ft:NAME`` do the same with the tuned model. With one adapter, ``rag+ft`` and ``ft`` name it too.
The tuned models run on the base's runtime (``create_base_and_tuned``) and load on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import GeneratorSettings
from ..errors import InputError, NotFoundError
from ..generate import Generator, create_generator
from ..models import base_and_tuned
from ..types import check_name


@dataclass(frozen=True)
class Mode:
    id: str
    retrieval: bool
    adapter: str = ""  # the adapter's name; empty for the configured model

    @property
    def description(self) -> str:
        model = f"the model tuned by adapter {self.adapter}" if self.adapter else "the configured model"
        how = "over the workspace's passages, with citations" if self.retrieval else "alone, no retrieval"
        return f"{model}, {how}"


def parse_adapters(specs: list[str]) -> dict[str, str]:
    """``NAME=PATH`` or ``PATH`` (named after its folder or file) -> {name: path}."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            path, name = spec, Path(spec.rstrip("/")).stem
        name = check_name(name.strip(), "adapter")
        if not Path(path).expanduser().exists():
            raise InputError(
                f"--adapter {spec}: {path} does not exist; give an `expert train` run or a LoRA file"
            )
        if name in out:
            raise InputError(f"two adapters are named {name!r}; name them with NAME=PATH")
        out[name] = path
    return out


class Modes:
    """The modes one server offers, and their generators (the base's is the workspace's)."""

    def __init__(
        self,
        base: Callable[[], Generator],
        settings: GeneratorSettings,
        adapters: Mapping[str, str] | None = None,
        tuned: Mapping[str, Generator] | None = None,
    ):
        self._base = base
        self.settings = settings
        self.adapters = dict(adapters or {})
        self._tuned: dict[str, Generator] = dict(tuned or {})
        for name in self._tuned:
            self.adapters.setdefault(name, name)
        self._lock = threading.Lock()

    def all(self) -> list[Mode]:
        modes = [Mode("rag", True), Mode("base", False)]
        names = sorted(self.adapters)
        if len(names) == 1:
            modes += [Mode("rag+ft", True, names[0]), Mode("ft", False, names[0])]
        for name in names:
            modes += [Mode(f"rag+ft:{name}", True, name), Mode(f"ft:{name}", False, name)]
        return modes

    def get(self, model: str) -> Mode:
        for mode in self.all():
            if mode.id == model:
                return mode
        known = ", ".join(m.id for m in self.all())
        hint = "" if self.adapters else " (tuned modes need `expert serve --adapter RUN`)"
        raise NotFoundError(f"the model {model!r} does not exist; this server offers {known}{hint}")

    def generator(self, mode: Mode) -> Generator:
        if not mode.adapter:
            return self._base()
        with self._lock:  # two first requests load the adapter once
            if mode.adapter not in self._tuned:
                settings = replace(self.settings, adapter=self.adapters[mode.adapter])
                self._tuned[mode.adapter] = create_generator(base_and_tuned(settings)[1])
            return self._tuned[mode.adapter]

    def load(self) -> None:
        """Load every model now, so that a broken one stops the server before it listens."""
        self._base()
        for mode in self.all():
            self.generator(mode)
