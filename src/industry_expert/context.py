"""The one small context every use-case service is built from: a workspace's folder, its settings
and store, and its models, loaded on first use.

The services (``answering.Answering``, ``ingest.service.Ingesting``, ``ingest.service.Maintenance``,
``evaluate.service.Evaluation``, ``evaluate.service.Advising``, ``finetune.service.Tuning``) each
take a ``Context``; ``Workspace`` builds one and the services over it. A server that shares one
model between workspaces, a test or a benchmark hands a model in with ``use_embedder`` or
``use_generator``; otherwise the configured one is built the first time something needs it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import Settings, load_settings, settings_to_toml
from .embed import Embedder, check_embedder, create_embedder, embedder_id
from .errors import ConfigError, EmbedderMismatchError, ExpertError, WorkspaceError
from .generate import Generator, check_generator, create_generator
from .store import STORE_FILE, Store, open_store
from .store.base import foreign_embedder
from .store.locked import locked

SETTINGS_FILE = "expert.toml"


def _not_a_file(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise WorkspaceError(f"{path} is a file, not a folder; a workspace is a folder (--workspace DIR)")


def check_models(settings: Settings) -> None:
    """Fail at once, one line each, when the settings name an embedder or a model that is not
    there (an unknown backend, a missing local folder or file); loads nothing."""
    problems = []
    checks: list[Callable[[], None]] = [
        lambda: check_embedder(settings.embedder),
        lambda: check_generator(settings.generator),
    ]
    for check in checks:
        try:
            check()
        except ExpertError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))


def is_workspace(path: Path) -> bool:
    return (path / SETTINGS_FILE).is_file() or (path / STORE_FILE).exists()


def write_settings(path: Path, settings: Settings) -> None:
    """``expert.toml`` in the workspace folder, readable by its owner only."""
    settings_file = path / SETTINGS_FILE
    settings_file.write_text(settings_to_toml(settings), encoding="utf-8")
    settings_file.chmod(0o600)


class Context:
    """A workspace's folder, settings and store, and its embedder and generator on first use."""

    def __init__(self, path: Path, settings: Settings, store: Store):
        self.path = path
        self.settings = settings
        self.store = store
        self._embedder: Embedder | None = None
        self._generator: Generator | None = None

    # -- a workspace folder, made or opened ------------------------------------------------------
    @classmethod
    def create(cls, path: Path, overrides: dict[str, Any] | None = None, load: bool = False) -> Context:
        """A new workspace at ``path`` (settings from ``overrides``); ``load``: the embedder is
        loaded first, so that one that cannot load leaves nothing behind. Nothing is left behind
        by a setting, a store or an embedder that does not work."""
        _not_a_file(path)
        if is_workspace(path):
            raise WorkspaceError(f"{path} is already a workspace; use it, or pick another folder")
        settings = load_settings(None, overrides)
        check_models(settings)  # before anything is written: a bad name leaves nothing behind
        embedder = create_embedder(settings.embedder) if load else None
        created = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)  # company data: the owner's only
        except OSError as exc:
            raise WorkspaceError(f"cannot create a workspace at {path}: {exc.strerror}") from None
        try:
            store = open_store(settings.store, path)  # before the settings file: a bad store leaves nothing
        except BaseException:
            if created:
                shutil.rmtree(path, ignore_errors=True)
            raise
        wanted = embedder_id(settings.embedder)
        if built_by := foreign_embedder(store, wanted):
            store.close()
            if created:
                shutil.rmtree(path, ignore_errors=True)
            raise EmbedderMismatchError(
                f"the store {settings.store.url or STORE_FILE} already holds vectors made by {built_by}; "
                f"init with that embedder (--embedder), or use another database"
            )
        try:
            write_settings(path, settings)
        except OSError as exc:
            store.close()
            raise WorkspaceError(f"cannot create a workspace at {path}: {exc.strerror}") from None
        store.set_meta("embedder", wanted)
        ctx = cls(path, settings, store)
        ctx.use_embedder(embedder)
        return ctx

    @classmethod
    def open(
        cls,
        path: Path,
        overrides: dict[str, Any] | None = None,
        allow_embedder_change: bool = False,
        shared: bool = False,
    ) -> Context:
        """The workspace at ``path``, refused if its vectors came from another embedder;
        ``shared``: its store is used by several threads (a server), one call at a time."""
        _not_a_file(path)
        if not is_workspace(path):
            raise WorkspaceError(f"no workspace at {path}; run `expert init` (or pass --workspace DIR)")
        settings = load_settings(path / SETTINGS_FILE, overrides)
        check_embedder(settings.embedder)
        store = open_store(settings.store, path)
        if shared:
            store = locked(store)
        built_by = store.get_meta("embedder")
        wanted = embedder_id(settings.embedder)
        if built_by and built_by != wanted and not allow_embedder_change:
            store.close()
            raise EmbedderMismatchError(
                f"this workspace's vectors were made by {built_by} but the settings name {wanted}; "
                f"set the embedder back in {path / SETTINGS_FILE}, or run `expert reindex` to re-embed "
                "every chunk with the new one"
            )
        return cls(path, settings, store)

    # -- the models, loaded on first use ---------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The configured embedder, loaded on first use (keyword search never loads it)."""
        if self._embedder is None:
            self._embedder = create_embedder(self.settings.embedder)
        return self._embedder

    def use_embedder(self, embedder: Embedder | None) -> None:
        """Use an already-built embedder (None: build the configured one when next needed)."""
        self._embedder = embedder

    @property
    def generator(self) -> Generator:
        """The configured generator, loaded on first use."""
        if self._generator is None:
            self._generator = create_generator(self.settings.generator)
        return self._generator

    def use_generator(self, generator: Generator) -> None:
        """Use an already-built generator (tests, servers, benchmarks that share one model)."""
        self._generator = generator

    def save_settings(self) -> None:
        """Write the settings in use to ``expert.toml`` (after a reindex or a store migration)."""
        write_settings(self.path, self.settings)
