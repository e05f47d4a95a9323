"""The code in docs/architecture.md runs: a loader registered as the page shows is ingested."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from industry_expert import Workspace
from industry_expert.ingest import LOADERS

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return next(b for b in blocks if containing in b)


@pytest.fixture
def registry() -> Iterator[None]:
    before = dict(LOADERS)
    yield
    LOADERS.clear()
    LOADERS.update(before)  # the example's registration does not outlive the test


def test_the_loader_example_ingests_an_email(workspace: Workspace, tmp_path: Path, registry: None) -> None:
    exec(_block("def load_eml"), {})  # the documentation's own example
    assert ".eml" in LOADERS
    mail = tmp_path / "mail" / "pump.eml"
    mail.parent.mkdir()
    mail.write_text("Subject: Pump P-7 failure\n\nThe impeller of pump P-7 cracked on 3 March.\n")
    report = workspace.ingest([mail.parent])
    assert report.added == [str(mail)] and not report.skipped
    hit = workspace.search("impeller cracked", k=1, mode="keyword")[0]
    assert hit.title == "Pump P-7 failure" and "P-7 cracked" in hit.text
