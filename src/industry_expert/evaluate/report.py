"""An evaluation's summary as a table a person reads: per mode, the headline score with its 95%
interval, the other answer metrics, cost; retrieval; and which differences between modes are
real (a paired test at p < 0.05) and which are noise."""

from __future__ import annotations

from pathlib import Path

from .summary import Pair, Summary

COLUMNS = (
    ("score", "score [95% CI]"),
    ("exact", "exact"),
    ("f1", "F1"),
    ("rouge_l", "ROUGE-L"),
    ("numeric", "numeric"),
    ("citation_precision", "citation prec."),
    ("faithfulness", "faithful"),
    ("judge", "judge"),
)


def columns(summary: Summary) -> tuple[tuple[str, str], ...]:
    """``COLUMNS`` without the judge's when no judge graded this run."""
    return tuple(c for c in COLUMNS if c[0] != "judge" or summary.judged)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def format_summary(summary: Summary) -> str:
    """Markdown: one row per mode, retrieval, then each pair of modes with its verdict."""
    lines = [
        f"{summary.questions} questions; score is numeric match where the reference is a figure, else token F1."
    ]
    lines.append("")
    shown = columns(summary)
    header = ["mode", *[label for _, label in shown], "median ms", "prompt tok", "quoted"]
    rows = []
    for mode, entry in summary.modes.items():
        cells = [entry.metric(key).text(interval=key == "score") for key, _ in shown]
        total = entry.total_ms
        rows.append(
            [
                mode,
                *cells,
                f"{total:,.0f}" if total is not None else "–",
                f"{entry.prompt_tokens or 0:,}",
                f"{entry.quoted}/{entry.answered}",
            ]
        )
    lines += _table(header, rows)
    retrieval = summary.retrieval
    if any(v.n for v in retrieval.values()):
        n = max(v.n for v in retrieval.values())
        parts = ", ".join(f"{name} {v.text()}" for name, v in retrieval.items())
        lines += ["", f"Retrieval ({n} questions with evidence): {parts}."]
    if summary.pairs:
        lines += ["", "Differences in score (paired permutation test, same questions):", ""]
        lines += [f"- {difference(pair)}: {verdict(pair)}" for pair in summary.pairs]
    return "\n".join(lines)


def difference(pair: Pair) -> str:
    """``rag vs base: +0.21 over 40 questions, p = 0.004``."""
    return f"{pair.a} vs {pair.b}: {pair.difference:+.2f} over {pair.n} questions, p = {pair.p:.3f}"


def verdict(pair: Pair) -> str:
    """``rag is better``, or ``no significant difference``."""
    return f"{pair.better} is better" if pair.better else "no significant difference"


def write_markdown(folder: str | Path, summary: Summary) -> Path:
    path = Path(folder) / "summary.md"
    path.write_text("# Evaluation\n\n" + format_summary(summary) + "\n", encoding="utf-8")
    return path
