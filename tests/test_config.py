from pathlib import Path

import pytest

from industry_expert.config import Settings, load_settings, settings_to_toml
from industry_expert.errors import ConfigError


def test_defaults_round_trip_through_toml(tmp_path: Path) -> None:
    path = tmp_path / "expert.toml"
    path.write_text(settings_to_toml(Settings()))
    assert load_settings(path) == Settings()


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "expert.toml"
    path.write_text(
        '[chunking]\nmax_tokens = "big"\n[retrieval]\nmode = "psychic"\nbogus = 1\n[nope]\nx = 1\n'
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert "chunking.max_tokens: expected int" in message
    assert "retrieval.mode: expected one of hybrid, dense, keyword" in message
    assert "unknown setting retrieval.bogus" in message
    assert "unknown section [nope]" in message


def test_malformed_toml_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "expert.toml"
    path.write_text("[chunking\nmax_tokens = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_environment_and_flags_override_file(tmp_path: Path) -> None:
    path = tmp_path / "expert.toml"
    path.write_text("[ingest]\nmax_file_mb = 5\n")
    assert load_settings(path, env={}).ingest.max_file_mb == 5
    assert load_settings(path, env={"EXPERT_MAX_FILE_MB": "7"}).ingest.max_file_mb == 7
    flagged = load_settings(path, {"ingest.max_file_mb": 9}, env={"EXPERT_MAX_FILE_MB": "7"})
    assert flagged.ingest.max_file_mb == 9


def test_embedder_batch_size_zero_is_the_backends_own(tmp_path: Path) -> None:
    assert Settings().embedder.batch_size == 0
    path = tmp_path / "expert.toml"
    path.write_text("[embedder]\nbatch_size = -1\n")
    with pytest.raises(ConfigError, match=r"embedder.batch_size: expected >= 0 \(0: the backend's own\)"):
        load_settings(path)


def test_excerpt_lines_below_zero_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "expert.toml"
    path.write_text("[answer]\nexcerpt_lines = -1\n")
    with pytest.raises(
        ConfigError, match=r"answer.excerpt_lines: expected 0 \(whole passages\) or more lines"
    ):
        load_settings(path)
    assert load_settings(path, {"answer.excerpt_lines": 2}).answer.excerpt_lines == 2
