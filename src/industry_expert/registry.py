"""One registry pattern for every part a user can add: embedders, generators, stores, loaders.

A ``Registry`` maps a name (a backend, a URL scheme, a file extension) to a factory. Built-ins
register with ``registry.register(name, factory, check)``, exactly as code outside the package
can; an installed package adds parts without any code of ours running first, through a Python
entry point in the registry's group::

    # the plugin's pyproject.toml
    [project.entry-points."industry_expert.embedders"]
    my-embedder = "my_package:create"        # create(settings: EmbedderSettings) -> Embedder

Entry points are read from the installed packages' metadata (no import) whenever names are
listed, so a plugin's name is a valid setting and a CLI choice at once; its code is imported on
first use. A name registered in code wins over an entry point of the same name. An unknown name
raises the registry's error class, one line, the same way in every registry::

    >>> from industry_expert.registry import STORES
    >>> STORES.unknown("mongodb").args[0].split(" (")[0]
    'store.url: unknown backend: no store backend for mongodb://'

The registries live here, below the settings, so that ``config.choices`` lists a setting's
plugins without importing the package that builds them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, EntryPoints, entry_points
from typing import Any, Generic, Protocol, TypeVar

from .errors import ConfigError, EmbedderError, ExpertError

F = TypeVar("F", bound=Callable[..., Any])

GROUP_PREFIX = "industry_expert."


class _Selectable(Protocol):
    def select(self, *, group: str) -> EntryPoints: ...


@cache
def installed() -> _Selectable:
    """Every installed package's entry points, read from their metadata once a process (one scan
    of the environment serves all the registries; ``Registry.refresh`` reads them again). Python
    3.11 gives them as groups, 3.12 as one list; both ``select`` a group."""
    return entry_points()


@dataclass
class Registry(MutableMapping[str, F], Generic[F]):
    """Names to factories, the registered ones first, then the installed plugins' entry points.

    ``kind`` names one entry in messages ("embedder backend"); ``setting`` is the dotted setting
    whose values are the names (empty when none is); ``group`` is the entry point group;
    ``shown`` formats a name in messages (``mongodb://`` for a scheme); ``role`` is what a name is
    ("backend", "file type"); ``error`` is raised for an unknown name or a plugin that does not load.
    """

    kind: str
    setting: str
    group: str
    error: type[ExpertError] = ConfigError
    shown: Callable[[str], str] = repr
    role: str = "backend"
    _factories: dict[str, F] = field(default_factory=dict, repr=False)
    _checks: dict[str, Callable[..., None]] = field(default_factory=dict, repr=False)
    _plugins: dict[str, EntryPoint] | None = field(default=None, repr=False)

    def register(self, name: str, factory: F, check: Callable[..., None] | None = None) -> None:
        """Make ``name`` build with ``factory``; ``check``, if given, raises at once (loading
        nothing) when the settings cannot work (``check_name``)."""
        self._factories[name] = factory
        if check is not None:
            self._checks[name] = check
        else:
            self._checks.pop(name, None)

    def plugins(self) -> dict[str, EntryPoint]:
        """The installed packages' entry points in this registry's group, by name: read from their
        metadata (no import) once a process, or again after ``refresh``."""
        if self._plugins is None:
            self._plugins = {ep.name: ep for ep in installed().select(group=self.group)}
        return self._plugins

    def refresh(self) -> None:
        """Read the installed plugins again (after a ``pip install`` in a running process)."""
        installed.cache_clear()
        self._plugins = None

    def names(self) -> tuple[str, ...]:
        """Every name this registry can build: registered ones, then plugins not registered."""
        registered = tuple(self._factories)
        return registered + tuple(sorted(n for n in self.plugins() if n not in self._factories))

    def find(self, name: str) -> F | None:
        """The factory for ``name``, importing its plugin on first use; None when there is none."""
        factory = self._factories.get(name)
        if factory is not None:
            return factory
        plugin = self.plugins().get(name)
        if plugin is None:
            return None
        try:
            loaded = plugin.load()
        except Exception as exc:  # a plugin's import failing is its package's fault, said in one line
            raise self.error(
                f"{self._where()}the plugin {plugin.value} for {self.shown(name)} "
                f"({plugin.dist.name if plugin.dist else 'an installed package'}) could not be loaded: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if not callable(loaded):
            raise self.error(
                f"{self._where()}the plugin {plugin.value} for {self.shown(name)} is not callable"
            )
        self._factories[name] = loaded
        return loaded  # type: ignore[no-any-return]

    def get_factory(self, name: str) -> F:
        """The factory for ``name``; the registry's error, in one line, when nothing builds it."""
        factory = self.find(name)
        if factory is None:
            raise self.unknown(name)
        return factory

    def check_name(self, name: str, *args: Any) -> None:
        """Raise now if nothing builds ``name``, or if its check refuses ``args``; imports a
        plugin's module but loads no model."""
        self.get_factory(name)
        if name in self._checks:
            self._checks[name](*args)

    def unknown(self, name: str) -> ExpertError:
        """The error for a name nothing builds, listing the names that are built."""
        return self.error(
            f"{self._where()}unknown {self.role}: no {self.kind} for {self.shown(name)} "
            f"(known: {', '.join(sorted(self.names()))}; an installed package adds one through "
            f"the entry point group {self.group})"
        )

    def _where(self) -> str:
        return f"{self.setting}: " if self.setting else ""

    # -- the mapping: reading lists plugins too; writing touches the registered names only ----------
    def __getitem__(self, name: str) -> F:
        factory = self.find(name)
        if factory is None:
            raise KeyError(name)
        return factory

    def __setitem__(self, name: str, factory: F) -> None:
        self.register(name, factory)

    def __delitem__(self, name: str) -> None:
        del self._factories[name]
        self._checks.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._factories or name in self.plugins())

    def clear(self) -> None:
        self._factories.clear()
        self._checks.clear()


def _scheme(name: str) -> str:
    return f"{name}://"


EMBEDDERS: Registry[Callable[..., Any]] = Registry(
    "embedder backend", "embedder.backend", GROUP_PREFIX + "embedders", EmbedderError
)
GENERATORS: Registry[Callable[..., Any]] = Registry(
    "generator backend", "generator.backend", GROUP_PREFIX + "generators", ConfigError
)
STORES: Registry[Callable[..., Any]] = Registry(
    "store backend", "store.url", GROUP_PREFIX + "stores", ConfigError, _scheme
)
LOADERS: Registry[Callable[..., Any]] = Registry(
    "loader", "", GROUP_PREFIX + "loaders", ConfigError, str, "file type"
)
# where documents come from beyond the local disk (ingest/sources.py): a URL scheme to a source
SOURCES: Registry[Callable[..., Any]] = Registry(
    "source", "", GROUP_PREFIX + "sources", ConfigError, _scheme, "source"
)

BY_SETTING: dict[str, Registry[Any]] = {r.setting: r for r in (EMBEDDERS, GENERATORS, STORES) if r.setting}


def setting_names(dotted: str) -> tuple[str, ...]:
    """The names a registry adds to the setting ``dotted`` (none when no registry extends it)."""
    registry = BY_SETTING.get(dotted)
    return registry.names() if registry is not None else ()


__all__ = [
    "BY_SETTING",
    "EMBEDDERS",
    "GENERATORS",
    "LOADERS",
    "SOURCES",
    "STORES",
    "Registry",
    "setting_names",
]
