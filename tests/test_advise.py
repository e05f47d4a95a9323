"""expert advise: the verdict is the best mode within the noise, the cheaper one on a tie; each
reason carries its figure; without an evaluation it says which one to run."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from industry_expert import Workspace
from industry_expert.evaluate.advise import Facts, Novelty, advise, choose, latest_evaluation, workspace_facts
from industry_expert.evaluate.summary import Summary


def summary(scores: dict[str, float], significant: set[frozenset[str]], n: int = 100) -> Summary:
    modes = {
        m: {
            "score": {"mean": s, "low": s - 0.05, "high": s + 0.05, "n": n},
            "answered": n,
            "quoted": 0,
            "total_ms": 1000.0,
        }
        for m, s in scores.items()
    }
    names = list(scores)
    pairs = [
        {"a": a, "b": b, "n": n, "difference": scores[a] - scores[b], "p": 0.001 if frozenset((a, b)) in significant else 0.4,
         "significant": frozenset((a, b)) in significant}
        for i, a in enumerate(names) for b in names[i + 1 :]
    ]  # fmt: skip
    return Summary.from_dict({"questions": n, "modes": modes, "pairs": pairs, "retrieval": {}})


def test_the_best_mode_wins_when_it_is_significantly_better() -> None:
    s = summary({"base": 0.2, "rag": 0.5, "ft": 0.3, "rag+ft": 0.7},
                {frozenset(p) for p in [("base", "rag+ft"), ("rag", "rag+ft"), ("ft", "rag+ft")]})  # fmt: skip
    verdict, tied, reasons = choose(s)
    assert verdict == "rag+ft" and tied == ["rag+ft"]
    assert any("rag+ft scores 0.70 [0.65, 0.75], above rag's 0.50" in r and "p = 0.001" in r for r in reasons)
    assert advise(s).recommendation.startswith("both")


def test_a_tie_goes_to_the_cheaper_mode() -> None:
    # rag+ft scores highest, but not significantly above rag: rag needs no adapter, so rag.
    s = summary({"base": 0.2, "rag": 0.62, "ft": 0.25, "rag+ft": 0.65},
                {frozenset(p) for p in [("base", "rag+ft"), ("ft", "rag+ft")]})  # fmt: skip
    verdict, tied, reasons = choose(s)
    assert verdict == "rag" and tied == ["rag", "rag+ft"]
    assert any("no significant difference (p = 0.40)" in r for r in reasons)
    assert any(r.startswith("rag is tied with the best-scoring rag+ft and costs less") for r in reasons)
    advice = advise(s)
    assert advice.recommendation.startswith("RAG") and any(
        "evaluate on more questions" in x for x in advice.next_steps
    )
    # Within the noise of the best but significantly below a third mode: out of the tie.
    s = summary({"base": 0.22, "rag": 0.34, "ft": 0.29, "rag+ft": 0.35}, {frozenset(("base", "ft"))})
    verdict, tied, reasons = choose(s)
    assert verdict == "rag" and tied == ["rag", "ft", "rag+ft"]
    assert any(r.startswith("ft scores 0.29 [0.24, 0.34], above base's 0.22") for r in reasons)
    # Nothing separates the model alone from the rest: the model alone.
    assert choose(summary({"base": 0.30, "rag": 0.31}, set(), n=2))[0] == "base"


def test_without_an_evaluation_there_is_no_verdict_only_the_run_to_make() -> None:
    facts = Facts(documents=3, chunks=11, words=448, history_days=0.0, changed_per_week=None)
    advice = advise(None, facts, Novelty(47.4, 22.2, 329, "m.gguf"))
    assert advice.verdict is None and advice.recommendation.startswith("no verdict yet")
    assert any("expert eval build" in s and "expert eval run" in s for s in advice.next_steps)
    assert any("perplexity 47.4" in r and "2.1x" in r for r in advice.reasons)
    assert any("too short to tell how fast it changes" in r for r in advice.reasons)


def test_churn_and_novelty_lean_the_reasons() -> None:
    s = summary({"base": 0.2, "ft": 0.6}, {frozenset(("base", "ft"))})
    fast = Facts(documents=100, chunks=900, words=400_000, history_days=60, changed_per_week=0.2)
    advice = advise(s, fast, Novelty(23.0, 22.0, 8000, "m.gguf"))
    assert advice.verdict == "ft"
    assert any(
        r.startswith("20% of the 100 documents are added or changed per week: an adapter would go stale")
        for r in advice.reasons
    )
    assert any("schedule retraining" in x for x in advice.next_steps)
    assert any("reads the domain about as well as plain English" in r for r in advice.reasons)
    assert any("measure retrieval too" in x for x in advice.next_steps)


def test_workspace_facts_measure_churn_from_the_ingest_history(workspace: Workspace, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(10):
        (docs / f"d{i}.md").write_text(f"# Doc {i}\n\nPlant {i} ships pumps to utilities in every region.\n")
    workspace.ingest([docs])
    facts = workspace_facts(workspace.store)
    assert (
        facts.documents == 10 and facts.chunks >= 10 and facts.words > 50 and facts.changed_per_week is None
    )
    start = datetime.now(UTC) - timedelta(days=60)
    db = sqlite3.connect(workspace.path / "store.db")
    with db:
        db.execute("UPDATE documents SET ingested_at = ?", (start.isoformat(),))
        recent = (datetime.now(UTC) - timedelta(days=3)).isoformat()
        db.execute(
            "UPDATE documents SET ingested_at = ? WHERE source LIKE '%d1.md' OR source LIKE '%d2.md'",
            (recent,),
        )
    db.close()
    facts = workspace_facts(workspace.store)
    assert facts.history_days == pytest.approx(60, abs=0.1)
    assert facts.changed_per_week == pytest.approx(2 / 10 / 4)  # 2 of 10 in four weeks


def test_the_latest_evaluation_is_found(tmp_path: Path) -> None:
    import os
    import time

    for name in ("r1", "r2"):
        folder = tmp_path / "eval" / name
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
        (folder / "summary.json").write_text("{}")
    old = time.time() - 100
    os.utime(tmp_path / "eval" / "r1" / "summary.json", (old, old))
    assert latest_evaluation([tmp_path]) == tmp_path / "eval" / "r2"
    assert latest_evaluation([tmp_path / "eval" / "r1" / "nothing"]) is None


@pytest.mark.long
@pytest.mark.slow
def test_novelty_is_measured_with_the_shipped_model(tmp_path: Path) -> None:
    from industry_expert.evaluate.advise import general_english
    from industry_expert.generate.perplexity import gguf_perplexity
    from industry_expert.models import shipped_gguf

    plain = gguf_perplexity(shipped_gguf(), [general_english()])
    jargon = gguf_perplexity(
        shipped_gguf(),
        ["The ABL revolver's springing fixed-charge covenant tests FCCR at 1.0x when excess availability "
         "falls below the greater of 10% of the line cap and $15mm, with EBITDA add-backs capped at 20%."],
    )  # fmt: skip
    assert 700 < plain.tokens < 1200 and 3 < plain.value < 60
    assert jargon.value > 2 * plain.value
