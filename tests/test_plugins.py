"""Parts added from outside the package: the one registry pattern, and plugins through entry points.

``tests/plugin/expert_mailbox`` is a package a user could write: an ``.eml`` loader and an embedder,
declared as entry points and nothing else. It is installed with pip (offline, into a folder of its
own) and used from ``expert``, which never imports it by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint, EntryPoints
from pathlib import Path

import pytest

from industry_expert import registry
from industry_expert.config import choices, load_settings
from industry_expert.errors import ConfigError, EmbedderError
from industry_expert.registry import EMBEDDERS, GENERATORS, LOADERS, STORES, Registry

PLUGIN = Path(__file__).resolve().parent / "plugin" / "expert_mailbox"
MAIL = "Subject: Pump P-7 failure\n\nThe impeller of pump P-7 cracked on 3 March.\n"


def test_the_four_registries_say_an_unknown_name_the_same_way() -> None:
    import industry_expert.ingest  # noqa: F401  (registers the built-in loaders)
    import industry_expert.store  # noqa: F401

    messages = {
        "embedder": str(EMBEDDERS.unknown("word2vec")),
        "generator": str(GENERATORS.unknown("vllm")),
        "store": str(STORES.unknown("mongodb")),
        "loader": str(LOADERS.unknown(".heic")),
    }
    assert messages["store"].startswith(
        "store.url: unknown backend: no store backend for mongodb:// (known: "
    )
    assert messages["embedder"].startswith(
        "embedder.backend: unknown backend: no embedder backend for 'word2vec'"
    )
    assert messages["generator"].startswith(
        "generator.backend: unknown backend: no generator backend for 'vllm'"
    )
    assert messages["loader"].startswith("unknown file type: no loader for .heic (known: .bmp, .csv, ")
    for message in messages.values():
        assert "\n" not in message and "through the entry point group industry_expert." in message
    assert isinstance(EMBEDDERS.unknown("x"), EmbedderError) and isinstance(STORES.unknown("x"), ConfigError)


@pytest.fixture
def fake_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry[object]]:
    """A registry whose group holds two entry points: one that loads, one whose module is missing."""
    found = [
        EntryPoint("dumps", "json:dumps", "industry_expert.tests"),
        EntryPoint("broken", "no_such_module_for_expert:make", "industry_expert.tests"),
        EntryPoint("built", "json:loads", "industry_expert.tests"),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda: EntryPoints(found))
    registry.installed.cache_clear()
    made: Registry[object] = Registry("widget", "widget.backend", "industry_expert.tests")
    made.register("built", len)
    yield made
    monkeypatch.undo()
    registry.installed.cache_clear()  # later tests read the environment's own entry points


def test_entry_points_are_names_at_once_and_code_on_first_use(fake_plugins: Registry[object]) -> None:
    assert fake_plugins.names() == ("built", "broken", "dumps")  # registered first, then plugins
    assert "dumps" in fake_plugins and "nothing" not in fake_plugins
    assert fake_plugins.get_factory("dumps") is json.dumps
    assert fake_plugins.get_factory("built") is len  # a name registered in code wins over a plugin
    with pytest.raises(ConfigError) as broken:
        fake_plugins.get_factory("broken")
    message = str(broken.value)
    assert message.startswith("widget.backend: the plugin no_such_module_for_expert:make for 'broken'")
    assert "ModuleNotFoundError" in message and "\n" not in message
    with pytest.raises(
        ConfigError, match="unknown backend: no widget for 'other' .known: broken, built, dumps"
    ):
        fake_plugins.check_name("other")


def test_a_registry_reads_like_a_mapping_and_checks_run_before_anything_loads() -> None:
    made: Registry[object] = Registry("widget", "", "industry_expert.none")
    refused: list[str] = []
    made.register("a", str, check=lambda value: refused.append(value))
    made["b"] = repr
    assert dict(made) == {"a": str, "b": repr} and len(made) == 2
    made.check_name("a", "settings")
    assert refused == ["settings"]
    del made["a"]
    assert list(made) == ["b"]


def test_a_setting_accepts_the_names_its_registry_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="embedder.backend: expected one of"):
        load_settings(None, {"embedder.backend": "letters"})
    monkeypatch.setattr(
        registry, "entry_points", lambda: EntryPoints([EntryPoint("letters", "json:dumps", EMBEDDERS.group)])
    )
    EMBEDDERS.refresh()
    try:
        assert "letters" in choices("embedder.backend")
        assert load_settings(None, {"embedder.backend": "letters"}).embedder.backend == "letters"
    finally:
        monkeypatch.undo()
        EMBEDDERS.refresh()
    assert "letters" not in choices("embedder.backend")


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin package installed by pip, offline, into a folder of its own."""
    site = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build") / "expert_mailbox"
    import shutil

    shutil.copytree(PLUGIN, build)  # setuptools writes egg-info beside the sources: not in the repo
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(site), str(build)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return site


def _expert(ws: Path, site: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXPERT_WORKSPACE": str(ws)}
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "industry_expert.cli", *args], capture_output=True, text=True, env=env
    )


@pytest.mark.long
def test_an_installed_plugin_adds_a_format_and_an_embedder_to_expert(
    plugin_site: Path, tmp_path: Path
) -> None:
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "pump.eml").write_text(MAIL)
    ws = tmp_path / "ws"

    without = _expert(ws, None, "init", "--embedder", "letters:plain")
    assert without.returncode == 2 and len(without.stderr.strip().splitlines()) == 1
    assert "letters" in without.stderr and not ws.exists()

    help_text = _expert(ws, plugin_site, "init", "--help").stdout
    assert "letters" in help_text  # the plugin's embedder is one of the flag's choices
    for args in (("init", "--embedder", "letters:plain"), ("ingest", "--json", str(mail))):
        done = _expert(ws, plugin_site, *args)
        assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == [str(mail / "pump.eml")]
    found = _expert(ws, plugin_site, "search", "--json", "-k", "1", "impeller cracked")
    assert found.returncode == 0, found.stderr
    hit = json.loads(found.stdout)["hits"][0]
    assert hit["title"] == "Pump P-7 failure" and "P-7 cracked" in hit["text"]
    status = json.loads(_expert(ws, plugin_site, "status", "--json").stdout)
    assert "letters/plain" in json.dumps(status)

    gone = _expert(ws, None, "search", "impeller")  # the plugin uninstalled under a workspace built on it
    assert gone.returncode == 2 and len(gone.stderr.strip().splitlines()) == 1
    assert "letters" in gone.stderr
