"""Two evaluations of the same questions side by side: did a change help, beyond noise?

Each mode both runs hold is compared on the questions both answered (matched by id and question
text), with the same paired permutation test as within a run; retrieval likewise on the questions
both scored. What differs between the runs (model, adapter, retrieval and answer settings) is
listed from their manifests, so the table says what the difference is a difference of.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from .metrics import mean_ci, paired_p
from .run import read_rows
from .summary import Summary

HEADLINE_RETRIEVAL = ("recall@10", "mrr", "ndcg@10")  # of run.RETRIEVAL_METRICS


def _run(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    Summary.load(folder)  # a one-line error for a folder that is not a finished evaluation
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    return manifest, read_rows(folder / "answers.jsonl"), read_rows(folder / "retrieval.jsonl")


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flat(inner, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def settings_changed(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(setting, before, after)`` for each model or setting that differs between two manifests.

    >>> settings_changed({"k": 6, "identity": {"base": "m"}}, {"k": 8, "identity": {"base": "m"}})
    [('k', 6, 8)]
    """
    flat_a = _flat({"identity": a.get("identity", {}), "k": a.get("k")})
    flat_b = _flat({"identity": b.get("identity", {}), "k": b.get("k")})
    keys = sorted(set(flat_a) | set(flat_b))
    return [
        (k.removeprefix("identity."), flat_a.get(k), flat_b.get(k))
        for k in keys
        if flat_a.get(k) != flat_b.get(k)
    ]


def _paired(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    shared = sorted(set(before) & set(after))
    xs, ys = [before[i] for i in shared], [after[i] for i in shared]
    a, b = mean_ci(xs), mean_ci(ys)
    p = paired_p(ys, xs)
    diff = (sum(ys) - sum(xs)) / len(shared) if shared else 0.0
    return {
        "n": len(shared),
        "before": {"mean": a.mean, "low": a.low, "high": a.high},
        "after": {"mean": b.mean, "low": b.low, "high": b.high},
        "difference": diff,
        "p": p,
        "significant": bool(shared) and p < 0.05,
    }


def compare_runs(before: str | Path, after: str | Path) -> dict[str, Any]:
    """Each shared mode's score, and retrieval, before and after, with paired tests."""
    before, after = Path(before), Path(after)
    man_a, answers_a, retrieval_a = _run(before)
    man_b, answers_b, retrieval_b = _run(after)
    key = {(r["id"], r["question"]) for r in answers_a} & {(r["id"], r["question"]) for r in answers_b}
    if not key:
        raise InputError(
            f"{before} and {after} share no questions (same id and text); compare two runs of the same question file"
        )
    shared_ids = {i for i, _ in key}
    modes = [m for m in dict.fromkeys(r["mode"] for r in answers_a) if m in {r["mode"] for r in answers_b}]
    if not modes:
        raise InputError(f"{before} and {after} have no mode in common; run the same --modes in both")
    result: dict[str, Any] = {
        "before": str(before),
        "after": str(after),
        "questions": len(shared_ids),
        "changed": [list(c) for c in settings_changed(man_a, man_b)],
        "modes": {},
        "retrieval": {},
    }

    def scores(rows: list[dict[str, Any]], mode: str) -> dict[str, float]:
        return {
            r["id"]: float(r["metrics"]["score"])
            for r in rows
            if r["mode"] == mode and (r["id"], r["question"]) in key
        }

    for mode in modes:
        entry = _paired(scores(answers_a, mode), scores(answers_b, mode))
        if entry["n"]:
            result["modes"][mode] = entry
    for name in HEADLINE_RETRIEVAL:
        xs = {r["id"]: float(r[name]) for r in retrieval_a if r["id"] in shared_ids}
        ys = {r["id"]: float(r[name]) for r in retrieval_b if r["id"] in shared_ids}
        if set(xs) & set(ys):
            result["retrieval"][name] = _paired(xs, ys)
    return result


def _verdict(entry: dict[str, Any]) -> str:
    if not entry["significant"]:
        return "no significant difference"
    return "better" if entry["difference"] > 0 else "worse"


def format_comparison(result: dict[str, Any]) -> str:
    """Markdown: what changed, then per mode and retrieval metric, before, after and the verdict."""
    lines = [f"{result['before']} → {result['after']}: {result['questions']} questions in both."]
    if result["changed"]:
        lines += ["", "What differs between the runs:", ""]
        lines += [f"- {name}: {a!r} → {b!r}" for name, a, b in result["changed"]]
    else:
        lines += [
            "",
            "The runs have the same models and settings: a difference is noise or a change in the workspace.",
        ]
    header = ["", "before [95% CI]", "after [95% CI]", "difference", "p", "verdict"]
    rows = []
    for label, entry in [*result["modes"].items(), *result["retrieval"].items()]:
        a, b = entry["before"], entry["after"]
        rows.append(
            [
                label if label in result["modes"] else f"retrieval {label}",
                f"{a['mean']:.2f} [{a['low']:.2f}, {a['high']:.2f}]",
                f"{b['mean']:.2f} [{b['low']:.2f}, {b['high']:.2f}]",
                f"{entry['difference']:+.2f} (n={entry['n']})",
                f"{entry['p']:.3f}",
                _verdict(entry),
            ]
        )
    lines += [
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    lines += ["", "Verdicts use a paired permutation test on the questions both runs answered (p < 0.05)."]
    return "\n".join(lines)
