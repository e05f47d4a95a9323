"""What the command refuses, and how: one rule for names, a move between collections only when
asked, settings that fail at once, two ingests that do not embed the same files twice, and the
smaller defects found by trying the product as an attacker would. Each ends in one clear line."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_cli import expert

from industry_expert import Workspace
from industry_expert.errors import InputError
from industry_expert.generate.citations import attribute_citations, split_sentences
from industry_expert.keys import KeyRing, parse_scope
from industry_expert.types import Hit, check_name

pytestmark = pytest.mark.slow


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# Pumps\n\nThe pump runs at 40 bar.\n", encoding="utf-8")
    (folder / "b.md").write_text("# Valves\n\nThe valve closes in 2 seconds.\n", encoding="utf-8")
    return folder


def test_one_rule_for_collection_names_on_the_command_line_and_in_keys(tmp_path: Path, docs: Path) -> None:
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    line = one_line_error(expert("ingest", "--collection", "bad name!", str(docs), ws=ws))
    with pytest.raises(InputError) as refused:
        parse_scope("bad name!")  # a key's scope: the same rule, the same words
    assert str(refused.value) in line and "collection name 'bad name!' is not valid" in line
    with Workspace.open(ws) as opened:
        for name in ("../../x", "", ".hidden", "a/b", "x" * 65, "naïve space"):
            with pytest.raises(InputError, match="is not valid"):
                opened.ingest([docs], collection=name)
            with pytest.raises(InputError, match="is not valid"):
                check_name(name)
        assert opened.sources() == []  # nothing was ingested under a bad name


@pytest.mark.long
def test_moving_a_document_to_another_collection_needs_move(tmp_path: Path, docs: Path) -> None:
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    expert("ingest", "--collection", "finance", str(docs), ws=ws, check=True)
    with Workspace.open(ws) as opened:
        ring = KeyRing(opened.store)
        secret, _ = ring.create("fin", read=["finance"])
    line = one_line_error(expert("ingest", "--collection", "hr", str(docs / "a.md"), ws=ws))
    assert "already in collection 'finance'" in line and "--move" in line and "nothing was ingested" in line
    with Workspace.open(ws) as opened:
        assert {d.collection for d in opened.sources()} == {"finance"}
    moved = expert("ingest", "--collection", "hr", "--move", str(docs / "a.md"), ws=ws)
    assert moved.returncode == 0, moved.stderr
    assert f"moved {docs / 'a.md'} from collection finance to hr" in moved.stdout
    report = json.loads(expert("ingest", "--json", "--collection", "hr", "--move", str(docs), ws=ws).stdout)
    assert report["moved"] == [{"path": str(docs / "b.md"), "from": "finance"}]
    with Workspace.open(ws) as opened:
        assert {d.collection for d in opened.sources()} == {"hr"}
        assert KeyRing(opened.store).verify(secret).can_read("hr") is False  # the key did not follow


def test_settings_that_name_nothing_fail_at_init_and_leave_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    line = one_line_error(expert("init", "--embedder", "onnx:nosuchmodel", ws=ws))
    assert "nosuchmodel" in line and "not a local directory" in line
    assert not ws.exists()
    line = one_line_error(expert("init", "--embedder", "nosuchbackend:model", ws=ws))
    assert "nosuchbackend" in line
    assert not ws.exists()
    with pytest.raises(Exception) as failed:
        Workspace.init(ws, {"generator.model": str(tmp_path / "missing.gguf")})
    assert "not found" in str(failed.value) and not ws.exists()


def test_a_workspace_that_is_a_file_is_said_so(tmp_path: Path) -> None:
    afile = tmp_path / "afile.txt"
    afile.write_text("x")
    for args in (("status",), ("init",)):
        line = one_line_error(expert("--workspace", str(afile), *args, ws=afile))
        assert "is a file, not a folder" in line


def test_numbers_that_make_no_sense_are_refused(tmp_path: Path, docs: Path) -> None:
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    for args in (
        ("ingest", "--max-file-mb", "-1", str(docs)),
        ("ask", "-k", "0", "x"),
        ("search", "-k", "0", "x"),
    ):
        result = expert(*args, ws=ws)
        assert result.returncode == 2 and "above 0" in result.stderr, (args, result.stderr)


def test_an_empty_folder_and_a_forget_of_nothing_say_why(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = expert("ingest", str(empty), ws=ws)
    assert result.returncode == 1 and "nothing to ingest: no files under" in result.stdout
    assert ".pdf" in result.stdout
    result = expert("forget", "nothing/here.pdf", ws=ws)
    assert result.returncode == 1 and "no document matches nothing/here.pdf" in result.stderr


@pytest.mark.long
def test_two_ingests_of_one_folder_embed_it_once_and_each_tells_the_truth(tmp_path: Path, docs: Path) -> None:
    ws = tmp_path / "ws"
    expert("init", ws=ws, check=True)
    for i in range(30):
        (docs / f"note{i}.md").write_text(
            f"# Note {i}\n\n" + f"Line {i} about pumps. " * 200, encoding="utf-8"
        )
    reports: list[dict] = []

    def run() -> None:
        result = expert("ingest", "--json", str(docs), ws=ws)
        assert result.returncode == 0, result.stderr
        reports.append(json.loads(result.stdout))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.3)
    for t in threads:
        t.join()
    added = sorted(len(r["added"]) for r in reports)
    assert added == [0, 32], reports  # one embedded every file; the other found them unchanged
    assert sorted(r["unchanged"] for r in reports) == [0, 32]
    with Workspace.open(ws) as opened:
        assert len(opened.sources()) == 32 and opened.store.check() == []


def test_a_citation_marker_never_lands_inside_an_abbreviation() -> None:
    assert split_sentences("Sales were in U.S. dollars. The rest, e.g. euros, was small.") == [
        "Sales were in U.S. dollars.",
        " ",
        "The rest, e.g. euros, was small.",
    ]
    hits = [Hit(1, "a.pdf", 2, None, 1.0, "Revenue was 81.8 billion in U.S. dollars in 2023.")]
    text, added = attribute_citations("Revenue was 81.8 billion in U.S. dollars in 2023.", hits)
    assert text == "Revenue was 81.8 billion in U.S. dollars in 2023 [1]." and added == [1]
