"""An evaluation's summary as a table a person reads: per mode, the headline score with its 95%
interval, the other answer metrics, cost; retrieval; and which differences between modes are
real (a paired test at p < 0.05) and which are noise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError

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


def columns(summary: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """``COLUMNS`` without the judge's when no judge graded this run."""
    judged = any((entry.get("judge") or {}).get("n") for entry in summary["modes"].values())
    return tuple(c for c in COLUMNS if c[0] != "judge" or judged)


def load_summary(folder: str | Path) -> dict[str, Any]:
    """The ``summary.json`` of an evaluation folder, or a one-line error naming what is missing."""
    path = Path(folder) / "summary.json"
    if not path.is_file():
        manifest = Path(folder) / "manifest.json"
        why = (
            "its run has not finished; run `expert eval run` again to resume it"
            if manifest.is_file()
            else ("it is not an evaluation folder (written by `expert eval run --out`)")
        )
        raise InputError(f"{folder} has no summary.json: {why}")
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise InputError(f"{path} is not readable JSON ({exc}); run `expert eval run` again") from None


def _value(entry: dict[str, Any] | None, interval: bool = False) -> str:
    if not entry or entry.get("mean") is None:
        return "–"
    if interval:
        return f"{entry['mean']:.2f} [{entry['low']:.2f}, {entry['high']:.2f}]"
    return f"{entry['mean']:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def format_summary(summary: dict[str, Any]) -> str:
    """Markdown: one row per mode, retrieval, then each pair of modes with its verdict."""
    lines = [
        f"{summary['questions']} questions; score is numeric match where the reference is a figure, else token F1."
    ]
    lines.append("")
    shown = columns(summary)
    header = ["mode", *[label for _, label in shown], "median ms", "prompt tok", "quoted"]
    rows = []
    for mode, entry in summary["modes"].items():
        cells = [_value(entry.get(key), interval=key == "score") for key, _ in shown]
        total = entry.get("total_ms")
        rows.append(
            [
                mode,
                *cells,
                f"{total:,.0f}" if total is not None else "–",
                f"{entry.get('prompt_tokens') or 0:,}",
                f"{entry.get('quoted', 0)}/{entry.get('answered', 0)}",
            ]
        )
    lines += _table(header, rows)
    retrieval = summary.get("retrieval", {})
    if any(v.get("n") for v in retrieval.values()):
        n = max(v.get("n", 0) for v in retrieval.values())
        parts = ", ".join(f"{name} {_value(v)}" for name, v in retrieval.items())
        lines += ["", f"Retrieval ({n} questions with evidence): {parts}."]
    if summary.get("pairs"):
        lines += ["", "Differences in score (paired permutation test, same questions):", ""]
        for pair in summary["pairs"]:
            verdict = (
                f"{pair['a'] if pair['difference'] > 0 else pair['b']} is better"
                if pair["significant"]
                else "no significant difference"
            )
            lines.append(
                f"- {pair['a']} vs {pair['b']}: {pair['difference']:+.2f} over {pair['n']} questions, "
                f"p = {pair['p']:.3f}: {verdict}"
            )
    return "\n".join(lines)


def write_markdown(folder: str | Path, summary: dict[str, Any]) -> Path:
    path = Path(folder) / "summary.md"
    path.write_text("# Evaluation\n\n" + format_summary(summary) + "\n", encoding="utf-8")
    return path
