"""Fusion weights fitted on a workspace's own questions (industry_expert/fusion.py): the choice on
known runs, the held-out check, storage, and the workspace's bad-input paths."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from industry_expert import fusion
from industry_expert.config import RetrievalSettings
from industry_expert.errors import DatasetError, InputError
from industry_expert.events import Event
from industry_expert.retrieve import Candidates, Retriever
from industry_expert.store import SQLiteStore
from industry_expert.types import Hit
from industry_expert.workspace import Workspace


def _case(i: int, keyword_first: bool) -> fusion.Case:
    """A question whose evidence (chunk 1, page 1 of a.pdf) is first in one run and 30th in the
    other; the rest of each run is filler from other files, different in each run."""
    right = Hit(1, "a.pdf", 1, None, 0.0, f"evidence {i}")
    filler = [Hit(100 + j, f"f{j}.pdf", 1, None, 0.0, f"filler passage number {j} of {i}") for j in range(80)]
    good = [(1, 1.0)] + [(h.chunk_id, 0.5) for h in filler[:39]]
    bad = [(h.chunk_id, 0.5) for h in filler[40:69]] + [(1, 0.1)] + [(h.chunk_id, 0.5) for h in filler[69:79]]
    hits = {h.chunk_id: h for h in [right, *filler]}
    dense, keyword = (bad, good) if keyword_first else (good, bad)
    return fusion.Case(
        f"question {i}", frozenset({"a.pdf#1"}), True, Candidates(50, dense, keyword, {}, hits)
    )


@pytest.fixture
def retriever(tmp_path: Path) -> Retriever:
    return Retriever(SQLiteStore(tmp_path / "s.db"), RetrievalSettings())


def test_fit_moves_to_the_run_that_finds_the_evidence(retriever: Retriever) -> None:
    cases = [_case(i, keyword_first=True) for i in range(30)]
    fit = fusion.fit(retriever, cases, "q.jsonl", 100)
    # RRF 1:1 puts rank 1 + rank 30 first, as does every other setting but dense alone; ties keep
    # the configured weights, so nothing changes
    assert fit.r5 == {"fitted": 30, "configured": 30} and fit.r1 == {"fitted": 30, "configured": 30}
    assert fit.weights == fusion.Weights(1.0, 1.0, 1.0) and not fit.used

    # the evidence first in the keyword run, nowhere near in the dense one: keyword-heavy wins
    far = [replace(c, found=replace(c.found, dense=[x for x in c.found.dense if x[0] != 1])) for c in cases]
    mixed = far[:15] + [_case(i, keyword_first=True) for i in range(15, 30)]
    fit = fusion.fit(retriever, mixed, "q.jsonl", 100)
    assert fit.weights.keyword > fit.weights.dense
    assert fit.r1["fitted"] >= fit.r1["configured"] and fit.r5["fitted"] >= fit.r5["configured"]


def test_fit_is_used_only_when_it_holds_on_held_out_questions(retriever: Retriever) -> None:
    # Half the questions need keyword, half need dense: whatever one half chooses fails the other.
    def only(c: fusion.Case, run: str) -> fusion.Case:
        found = c.found
        kept = [x for x in getattr(found, run) if x[0] != 1]
        return replace(c, found=replace(found, **{run: kept}))

    cases = [only(_case(i, True), "dense") for i in range(12)] + [
        only(_case(i, False), "keyword") for i in range(12, 24)
    ]
    fit = fusion.fit(retriever, cases, "q.jsonl", 100)
    assert fit.questions == 24
    assert fit.held_out_r5["fitted"] <= fit.held_out_r5["configured"]
    assert not fit.used
    assert fusion.applied(retriever.settings, fit) == retriever.settings


def test_too_few_questions_is_one_clear_error(retriever: Retriever) -> None:
    with pytest.raises(InputError, match="at least 20"):
        fusion.fit(retriever, [_case(i, True) for i in range(5)], "q.jsonl", 100)


def test_grid_keeps_the_sum_of_the_configured_weights() -> None:
    options = fusion.grid(fusion.Weights(1.6, 0.4, 1.0))  # on the grid: listed once, first
    assert options[0] == fusion.Weights(1.6, 0.4, 1.0)
    assert {round(w.dense + w.keyword, 6) for w in options} == {2.0}
    assert len(set(options)) == len(options) == len(fusion.SHARES) * len(fusion.ROUTES)
    off = fusion.grid(fusion.Weights(1.5, 0.5, 1.0))  # off it: compared as well
    assert off[0] == fusion.Weights(1.5, 0.5, 1.0) and len(off) == len(options) + 1


def _used_fit(weights: fusion.Weights, questions: int, chunks: int) -> fusion.FusionFit:
    """A stored fit that passed its held-out check, as ``fusion.fit`` would write one."""
    found = {"fitted": questions, "configured": questions - 1}
    return fusion.FusionFit(
        weights, fusion.Weights(1.0, 1.0, 1.0), questions, found, found, found, found, True,
        "/q.jsonl", chunks, "2026-12-04T00:00:00Z",
    )  # fmt: skip


def test_stored_fit_round_trips_and_applies(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    assert fusion.load(store) is None
    fit = _used_fit(fusion.Weights(0.4, 1.6, 0.0), 40, 1000)
    fusion.save(store, fit)
    assert fusion.load(store) == fit
    settings = fusion.applied(RetrievalSettings(), fit)
    assert (settings.dense_weight, settings.keyword_weight, settings.route_weight) == (0.4, 1.6, 0.0)
    assert fusion.applied(RetrievalSettings(fitted=False), fit) == RetrievalSettings(fitted=False)
    assert "dense 0.4, keyword 1.6, routing 0" in fit.summary()
    store.set_meta(fusion.META, "{not json")  # written by something else: ignored, not a crash
    assert fusion.load(store) is None
    fusion.save(store, None)
    assert fusion.load(store) is None


# -- the workspace: fit, status, reset, bad input ------------------------------------------------
TOPICS = [
    ("pump", "The pump runs at 40 litres a minute in normal service."),
    ("valve", "The valve closes within 2 seconds of a pressure drop."),
    ("filter", "Replace the filter every 500 hours of running."),
    ("motor", "The motor draws 7.5 kW at full load."),
    ("seal", "Inspect the seal for leaks at each service visit."),
]


def _docs(folder: Path) -> Path:
    folder.mkdir()
    for name, line in TOPICS:
        (folder / f"{name}.md").write_text(
            f"# {name.title()} notes\n\n{line}\n\nOther {name} remarks follow here.\n"
        )
    return folder


def _questions(path: Path, n: int = 25, evidence: bool = True) -> Path:
    rows = []
    for i in range(n):
        name, line = TOPICS[i % len(TOPICS)]
        row = {"id": str(i), "question": f"What does the manual say about the {name}? ({i})", "answer": line}
        if evidence:
            row["evidence"] = [{"source": f"{name}.md"}]
        rows.append(json.dumps(row))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_workspace_fits_stores_shows_and_resets(workspace: Workspace, tmp_path: Path) -> None:
    workspace.ingest([_docs(tmp_path / "docs")])
    events: list[dict] = []
    fit = workspace.tune_fusion(_questions(tmp_path / "q.jsonl"), lambda e: events.append(e.to_dict()))
    assert fit.questions == 25 and fit.r5["configured"] == 25
    assert events[0] == {"event": "start", "total": 25} and events[-1] == {"event": "done", "left_out": 0}
    assert fusion.load(workspace.store) == fit
    status = workspace.status()["fusion"]
    assert "25 questions" in status
    assert workspace.reset_fusion() and fusion.load(workspace.store) is None
    assert "expert tune fusion QUESTIONS" in workspace.status()["fusion"]
    assert not workspace.reset_fusion()


def test_a_used_fit_changes_the_workspace_search(workspace: Workspace, tmp_path: Path) -> None:
    workspace.ingest([_docs(tmp_path / "docs")])
    used = _used_fit(fusion.Weights(0.0, 2.0, 0.0), 20, workspace.store.stats().chunks)
    fusion.save(workspace.store, used)
    reopened = Workspace.open(workspace.path)
    try:
        s = reopened.retriever.settings
        assert (s.dense_weight, s.keyword_weight, s.route_weight) == (0.0, 2.0, 0.0)
        assert "fitted on 20 questions" in reopened.status()["fusion"]
    finally:
        reopened.close()
    aside = Workspace.open(workspace.path, {"retrieval.fitted": False})
    try:
        assert aside.retriever.settings.keyword_weight == 1.0
        assert "retrieval.fitted = false" in aside.status()["fusion"]
    finally:
        aside.close()


def test_bad_input_is_one_line_and_keeps_the_previous_fit(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no documents yet"):
        workspace.tune_fusion(_questions(tmp_path / "q.jsonl"))
    workspace.ingest([_docs(tmp_path / "docs")])
    first = workspace.tune_fusion(_questions(tmp_path / "q.jsonl"))

    with pytest.raises(InputError, match="0 of the questions have evidence"):
        workspace.tune_fusion(_questions(tmp_path / "none.jsonl", evidence=False))
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text(_questions(tmp_path / "x.jsonl").read_text().replace(".md", ".pdf"))
    with pytest.raises(InputError, match="0 of the questions have evidence"):
        workspace.tune_fusion(elsewhere)
    with pytest.raises(InputError, match="5 of the questions"):
        workspace.tune_fusion(_questions(tmp_path / "few.jsonl", n=5))
    keyword_only = Workspace.open(workspace.path, {"retrieval.mode": "keyword"})
    try:
        with pytest.raises(InputError, match="retrieval.mode is keyword"):
            keyword_only.tune_fusion(_questions(tmp_path / "q.jsonl"))
    finally:
        keyword_only.close()
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "x"\n')
    with pytest.raises(DatasetError, match="line 1"):
        workspace.tune_fusion(broken)

    def interrupt(happened: Event) -> None:
        event = happened.to_dict()
        if event.get("done") == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        workspace.tune_fusion(_questions(tmp_path / "q.jsonl"), interrupt)
    assert fusion.load(workspace.store) == first  # every failure above left the first fit in place


def test_a_large_ingest_fits_again_from_the_same_questions(workspace: Workspace, tmp_path: Path) -> None:
    workspace.ingest([_docs(tmp_path / "docs")])
    questions = _questions(tmp_path / "q.jsonl")
    first = workspace.tune_fusion(questions)
    small = tmp_path / "small"
    small.mkdir()
    (small / "note.md").write_text("A short note.\n")
    assert workspace.ingest([small]).fusion_refit == ""  # a small change: the fit stands
    more = tmp_path / "more"
    more.mkdir()
    for i in range(2 * first.chunks):
        (more / f"extra{i}.md").write_text(f"# Extra {i}\n\nUnrelated remark number {i}.\n")
    report = workspace.ingest([more])
    assert report.fusion_refit.startswith("fusion weights fitted again")
    assert "fusion_refit" in report.to_dict()
    refit = fusion.load(workspace.store)
    assert refit is not None and refit.chunks == workspace.store.stats().chunks > first.chunks
    questions.unlink()
    for i in range(2 * refit.chunks):
        (more / f"later{i}.md").write_text(f"# Later {i}\n\nAnother remark {i}.\n")
    gone = workspace.ingest([more]).fusion_refit
    assert "is gone" in gone and fusion.load(workspace.store) == refit
    assert "run expert tune fusion again" in workspace.status()["fusion"]
