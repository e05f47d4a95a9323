"""The Python API end to end with a fake embedder: incremental, crash-safe, bad input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import FakeEmbedder, make_docx, make_encrypted_pdf, make_pdf, make_xlsx

from industry_expert import Workspace
from industry_expert.errors import EmbedderMismatchError, ExpertError, WorkspaceError
from industry_expert.ingest.naming import Copy


def corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    make_pdf(
        root / "northwind_2023.pdf",
        ["Capital expenditure was $38.4 million in fiscal 2023.", "Risk: castings supply."],
    )
    make_docx(root / "policy.docx")
    make_xlsx(root / "prices.xlsx")
    (root / "notes.md").write_text("# Notes\n\nThe Tilburg plant opened a machining line.\n")
    return root


def test_ingest_search_and_provenance(workspace: Workspace, tmp_path: Path) -> None:
    docs = corpus(tmp_path / "docs")
    report = workspace.ingest([docs])
    assert len(report.added) == 4 and not report.skipped
    hit = workspace.search("capital expenditure fiscal 2023", k=1)[0]
    assert hit.source.endswith("northwind_2023.pdf") and hit.page == 1
    row = workspace.search("Gate valve price", k=1, mode="keyword")[0]
    assert row.locator == "sheet Prices row 3" and row.page is None
    assert set(row.to_dict()) >= {"source", "page", "locator", "score", "text", "chunk_id"}


def test_reingest_is_incremental(workspace: Workspace, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    docs = corpus(tmp_path / "docs")
    workspace.ingest([docs])
    before = fake_embedder.embedded
    again = workspace.ingest([docs])
    assert len(again.unchanged) == 4 and fake_embedder.embedded == before
    (docs / "notes.md").write_text("# Notes\n\nThe Dayton plant added test benches.\n")
    changed = workspace.ingest([docs])
    assert changed.updated == [str(docs / "notes.md")] and len(changed.unchanged) == 3
    assert workspace.search("Dayton test benches", k=1, mode="keyword")[0].source.endswith("notes.md")
    assert not workspace.search("Tilburg machining", k=5, mode="keyword") or all(
        "Tilburg" not in h.text for h in workspace.search("Tilburg machining", k=5, mode="keyword")
    )
    os.utime(docs / "policy.docx", (1, 1))  # touched, same bytes: not re-embedded
    count = fake_embedder.embedded
    assert len(workspace.ingest([docs]).unchanged) == 4 and fake_embedder.embedded == count


def test_a_copy_is_keyed_by_where_it_came_from_not_where_it_lies(
    workspace: Workspace, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    """Two workers fetch the same upload into folders of their own: one document, embedded once."""
    for n, worker in enumerate(("one", "two")):
        copy = tmp_path / worker / "uploads" / "filings"
        copy.mkdir(parents=True)
        (copy / "notes.md").write_text("# Notes\n\nThe Tilburg plant opened a machining line.\n")
        calls = len(fake_embedder.calls)
        report = workspace.ingest([copy], collection="filings", naming=Copy(tmp_path / worker, "upload:"))
        assert (report.added, len(report.unchanged)) == (
            (["uploads/filings/notes.md"], 0) if n == 0 else ([], 1)
        )
        assert len(fake_embedder.calls) == calls + (1 if n == 0 else 0)
    [doc] = workspace.sources()
    assert (doc.key, doc.source) == ("upload:uploads/filings/notes.md", "uploads/filings/notes.md")
    assert workspace.search("machining line", k=1)[0].source == "uploads/filings/notes.md"


def test_a_file_named_twice_is_ingested_once(workspace: Workspace, tmp_path: Path) -> None:
    docs = corpus(tmp_path / "docs")
    os.symlink(docs / "notes.md", tmp_path / "link.md")
    report = workspace.ingest([docs, docs / "notes.md", tmp_path / "link.md"])
    assert len(report.added) == 4 and workspace.status()["documents"] == 4


def test_prune_and_forget(workspace: Workspace, tmp_path: Path) -> None:
    docs = corpus(tmp_path / "docs")
    workspace.ingest([docs])
    (docs / "notes.md").unlink()
    assert workspace.ingest([docs]).removed == []
    assert workspace.ingest([docs], prune=True).removed == [str(docs / "notes.md")]
    assert workspace.forget("*.xlsx") == []  # a path by default, never a pattern
    assert workspace.forget("*.xlsx", glob=True) == [str(docs / "prices.xlsx")]
    assert workspace.forget(str(docs)) and workspace.sources() == []  # a folder: what is under it
    assert workspace.status()["problems"] == []


def test_forget_removes_only_what_was_named(workspace: Workspace, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    for name in ("report[1].md", "report1.md", "a.md", "sub/x.md"):
        (docs / name).write_text(f"# {name}\n\nPump inventory notes for {name}.\n", encoding="utf-8")
    workspace.ingest([docs])
    everything = sorted(d.source for d in workspace.sources())
    for empty in ("", "   "):
        with pytest.raises(ExpertError, match="empty one names nothing"):
            workspace.forget(empty)
    # an exact path with brackets removes that file, not its look-alike sibling
    assert workspace.forget(str(docs / "report[1].md")) == [str(docs / "report[1].md")]
    # * stays in one folder level; ** crosses levels
    assert workspace.forget(f"{docs}/*.md", glob=True, dry_run=True) == [
        str(docs / "a.md"),
        str(docs / "report1.md"),
    ]
    assert workspace.forget(f"{docs}/**/x.md", glob=True, dry_run=True) == [str(docs / "sub" / "x.md")]
    # a dry run removes nothing
    assert sorted(d.source for d in workspace.sources()) == [s for s in everything if "[1]" not in s]


def test_bad_inputs_are_skipped_with_reasons_and_the_rest_ingested(
    workspace: Workspace, tmp_path: Path
) -> None:
    docs = corpus(tmp_path / "docs")
    good = (docs / "northwind_2023.pdf").read_bytes()
    (docs / "corrupt.pdf").write_bytes(good[:200])
    make_encrypted_pdf(docs / "locked.pdf")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (docs / "latin1.txt").write_bytes("Le débit nominal de la pompe est 40 m³/h.".encode("latin-1"))
    (docs / "huge.txt").write_text("word " * 300_000)
    (docs / "archive.rar").write_bytes(b"Rar!")
    (docs / "bad.csv").write_text('a,b\n"1,2\n3,4,5,6\n7\n8,9,10\n')
    os.symlink(docs / "loop", docs / "loop")
    report = workspace.ingest([docs], max_file_mb=1)
    reasons = dict(report.skipped)
    assert set(reasons) == {
        str(docs / n)
        for n in [
            "corrupt.pdf",
            "locked.pdf",
            "empty.txt",
            "binary.txt",
            "huge.txt",
            "archive.rar",
            "bad.csv",
            "loop",
        ]
    }
    assert "not a valid PDF" in reasons[str(docs / "corrupt.pdf")]
    assert "encrypted" in reasons[str(docs / "locked.pdf")]
    assert "over the 1 MB limit" in reasons[str(docs / "huge.txt")]
    assert all("\n" not in r for r in reasons.values())
    assert len(report.added) == 5  # the four good files and the Latin-1 one
    assert "débit" in workspace.search("débit pompe", k=1, mode="keyword")[0].text
    assert workspace.status()["problems"] == []
    assert dict(workspace.skipped()) == reasons  # `expert sources` shows them until fixed
    (docs / "empty.txt").write_text("Now it has text.")
    workspace.ingest([docs], max_file_mb=1)
    assert str(docs / "empty.txt") not in dict(workspace.skipped())
    assert workspace.forget(str(docs / "binary.txt")) == []
    assert str(docs / "binary.txt") not in dict(workspace.skipped())


def test_a_failed_update_keeps_the_previous_version(workspace: Workspace, tmp_path: Path) -> None:
    docs = corpus(tmp_path / "docs")
    workspace.ingest([docs])
    (docs / "northwind_2023.pdf").write_bytes(b"%PDF-1.4 garbage")
    report = workspace.ingest([docs])
    assert [p for p, _ in report.skipped] == [str(docs / "northwind_2023.pdf")]
    assert workspace.search("capital expenditure", k=1, mode="keyword")[0].source.endswith(
        "northwind_2023.pdf"
    )


def test_embedder_mismatch_is_refused_with_the_fix(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws").close()
    toml = tmp_path / "ws" / "expert.toml"
    toml.write_text(toml.read_text().replace('backend = "onnx"', 'backend = "openai"'))
    with pytest.raises(EmbedderMismatchError, match="expert reindex"):
        Workspace.open(tmp_path / "ws")


def test_reindex_re_embeds_everything(
    workspace: Workspace, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    workspace.ingest([corpus(tmp_path / "docs")])
    chunks = workspace.status()["chunks"]
    before = fake_embedder.embedded
    assert workspace.reindex() == chunks and fake_embedder.embedded == before + chunks


def test_errors_for_missing_workspace_and_bad_queries(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="expert init"):
        Workspace.open(tmp_path / "nowhere")
    with pytest.raises(WorkspaceError, match="already a workspace"):
        Workspace.init(workspace.path)
    with pytest.raises(ExpertError, match="empty query"):
        workspace.search("  ")
    assert workspace.search("anything") == []  # empty workspace: no error, no hits


def test_rtl_text_is_stored_unchanged(workspace: Workspace, tmp_path: Path) -> None:
    text = "داده‌ها در پایگاه داده برداری ذخیره می‌شوند.\n\nהנתונים נשמרים במסד נתונים וקטורי."
    (tmp_path / "rtl.md").write_text(text)
    workspace.ingest([tmp_path / "rtl.md"])
    hit = workspace.search("برداری", k=1, mode="keyword")[0]
    assert hit.text == text.replace("\n\n", "\n") and "\u200c" in hit.text  # ZWNJ kept
    assert workspace.search("וקטורי", k=1, mode="keyword")[0].chunk_id == hit.chunk_id


def test_workspace_survives_being_copied(workspace: Workspace, tmp_path: Path) -> None:
    workspace.ingest([corpus(tmp_path / "docs")])
    workspace.close()
    shutil.copytree(workspace.path, tmp_path / "copy")
    with Workspace.open(tmp_path / "copy") as ws:
        assert ws.status()["problems"] == []


def test_the_store_comes_from_the_store_setting(tmp_path: Path) -> None:
    from industry_expert.errors import ConfigError

    with pytest.raises(
        ConfigError, match="no store backend for mongodb:// .known: postgres, postgresql, sqlite"
    ):
        Workspace.init(tmp_path / "ws", {"store.url": "mongodb://db.internal/expert"})
    assert not (tmp_path / "ws").exists()  # nothing half-made: a corrected re-run starts clean
    elsewhere = tmp_path / "shared" / "team.db"
    elsewhere.parent.mkdir()
    ws = Workspace.init(tmp_path / "ws", {"store.url": f"sqlite://{elsewhere}"})
    ws.close()
    assert elsewhere.is_file() and not (tmp_path / "ws" / "store.db").exists()
    with Workspace.open(tmp_path / "ws") as again:  # the setting was written with the workspace
        assert again.status(check=True)["problems"] == []


def test_a_workspace_is_private_to_its_owner(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    import stat

    ws = Workspace.init(tmp_path / "ws")
    ws.use_embedder(fake_embedder)
    docs = corpus(tmp_path / "docs")
    ws.ingest([docs])  # the write-ahead log exists while the store is open
    files = [p for p in (tmp_path / "ws").iterdir()]
    assert {p.name for p in files} >= {"expert.toml", "store.db", "store.db-wal"}
    assert stat.S_IMODE((tmp_path / "ws").stat().st_mode) == 0o700
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p
    ws.close()


def test_ingest_stays_inside_the_folder_it_was_given(workspace: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Salaries\n\nThe CFO earns a great deal.\n", encoding="utf-8")
    docs = tmp_path / "docs"
    (docs / "inner").mkdir(parents=True)
    (docs / "inner" / "notes.md").write_text("# Notes\n\nPump P-7 was serviced.\n", encoding="utf-8")
    (docs / "secret-link.md").symlink_to(outside / "secret.md")
    (docs / "etc-link").symlink_to(outside)
    (docs / "notes-link.md").symlink_to(docs / "inner" / "notes.md")  # inside: followed (the same file, once)
    for junk in ("Thumbs.db", "desktop.ini", ".DS_Store"):
        (docs / junk).write_bytes(b"\0\1junk")
    report = workspace.ingest([docs])
    assert [Path(p).name for p in report.added] == ["notes.md"]
    reasons = dict(report.skipped)
    assert sorted(Path(p).name for p in reasons) == ["etc-link", "secret-link.md"]  # junk is not even listed
    assert all("outside the folder" in r and "--follow-symlinks" in r for r in reasons.values())
    assert workspace.search("salaries CFO", k=3, mode="keyword") == []
    followed = workspace.ingest([docs], follow_symlinks=True)
    assert len(followed.added) == 1 and not followed.skipped  # link and folder link: one file
    assert workspace.search("salaries CFO", k=3, mode="keyword")


def test_a_pathological_file_costs_only_itself(workspace: Workspace, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (docs / "deep.jsonl").write_text('{"a": 1}\n' + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    (docs / "ok.md").write_text("# Fine\n\nPump P-7 is fine.\n", encoding="utf-8")
    report = workspace.ingest([docs])
    assert [Path(p).name for p in report.added] == ["deep.jsonl", "ok.md"]  # the good line of deep.jsonl
    assert {Path(p).name: r for p, r in report.skipped} == {
        "deep.json": "could not parse: nested too deeply to read (RecursionError)",
    }
    assert workspace.status()["problems"] == []


def test_a_read_only_workspace_searches_and_refuses_writes_in_one_line(
    tmp_path: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.use_embedder(fake_embedder)
    ws.ingest([corpus(tmp_path / "docs")])
    ws.close()
    store = tmp_path / "ws" / "store.db"
    real_access = os.access
    # a shared copy this process may not write (the tests run as root, who may write anything)
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == store and mode == os.W_OK else real_access(p, mode)
    )
    with Workspace.open(tmp_path / "ws") as shared:
        shared.use_embedder(fake_embedder)
        assert shared.store.read_only  # type: ignore[attr-defined]
        assert shared.search("pump inspection", k=2)
        assert shared.status()["problems"] == []
        with pytest.raises(WorkspaceError, match="is read-only: it can be searched but not changed"):
            shared.forget(str(tmp_path / "docs"))


def test_a_file_name_that_is_not_utf8_is_stored_losslessly(workspace: Workspace, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    raw = os.fsencode(docs) + b"/caf\xe9.txt"  # Latin-1, made on another system
    with open(raw, "wb") as fh:
        fh.write(b"Notes about pump P-9 and its impeller.\n")
    name = os.fsdecode(raw)  # Python's view: a lone surrogate for the byte
    report = workspace.ingest([docs])
    assert report.added == [name] and not report.skipped
    hit = workspace.search("impeller", k=1)[0]
    assert hit.source == name and hit.title == "caf\\xe9"
    assert workspace.ingest([docs]).unchanged == [name]  # the same identity on the next run
    assert workspace.forget(name) == [name] and workspace.sources() == []
    assert workspace.status()["problems"] == []


def test_a_killed_reindex_leaves_search_as_it_was_and_a_rerun_finishes_it(
    workspace: Workspace, fake_embedder: FakeEmbedder, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(12):
        (docs / f"note{i}.md").write_text(f"# Note {i}\n\nPump {i} needs new seals every {i + 3} months.\n")
    workspace.ingest([docs])
    before = workspace.search("pump seals months", k=3, mode="dense")

    class Failing(FakeEmbedder):
        name = "fake/next"

        def embed_batch(self, texts):  # type: ignore[no-untyped-def]
            if len(self.calls) == 2:
                raise KeyboardInterrupt  # killed during the third batch
            return super().embed_batch(texts)

    failing = Failing()
    workspace.use_embedder(failing)
    with pytest.raises(KeyboardInterrupt):
        workspace.ingestor.reindex("fake/next", batch=4)
    assert workspace.store.get_meta("embedder") != "fake/next"
    assert len(workspace.store.staged("fake/next")) == 8  # two batches kept aside
    workspace.use_embedder(fake_embedder)
    assert workspace.search("pump seals months", k=3, mode="dense") == before  # searchable as it was
    again = FakeEmbedder()
    workspace.use_embedder(again)
    assert workspace.ingestor.reindex("fake/next", batch=4) == 12
    assert again.embedded == 4  # only what the killed run had not staged
    assert (
        workspace.store.get_meta("embedder") == "fake/next" and workspace.store.staged("fake/next") == set()
    )
    assert workspace.store.check() == []


def test_the_ingest_report_says_where_the_time_went(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.use_embedder(fake_embedder)
    report = ws.ingest([corpus(tmp_path / "docs")])
    parts = [report.embed_seconds, report.parse_seconds, report.store_seconds, report.index_seconds]
    assert all(p > 0 for p in parts) and report.wait_seconds >= 0, report
    # the main thread's parts (the parsing worker overlaps them) fit inside the whole
    assert (
        report.embed_seconds + report.wait_seconds + report.store_seconds + report.index_seconds
        <= report.seconds
    )
    assert {"parse_seconds", "wait_seconds", "store_seconds", "index_seconds"} <= set(report.to_dict())
    assert ws.ingest([tmp_path / "docs"]).index_seconds == 0  # nothing changed: no optimize
    ws.close()
