"""``report.html``: one self-contained page for an evaluation, to read or send.

The plots are drawn by matplotlib (headless Agg) and embedded as PNG data, the styles are inline,
and there is no script, so the page opens from a file or an e-mail with nothing to fetch:

1. the score of each mode with its 95% interval;
2. the score by question kind, per mode;
3. cost against quality: median latency per answer against the score;
4. a table per mode (the same figures as ``summary.md``), the verdict of each paired test, and
   retrieval;
5. every question with its reference and each mode's answer, score and cited passages.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from ..extras import require
from .report import columns, difference, verdict
from .run import read_rows
from .summary import Summary

COLORS = {"base": "#7f7f7f", "rag": "#1f77b4", "ft": "#ff7f0e", "rag+ft": "#2ca02c"}


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(summary: Summary) -> list[tuple[str, str]]:
    """``(title, data URI)`` of each plot."""
    require("eval", why="the report's charts")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    modes = summary.scored
    if not modes:
        return []
    colors = [COLORS.get(m, "#9467bd") for m in modes]
    scores = [summary.modes[m].score for m in modes]
    means = [float(s.mean or 0.0) for s in scores]
    lows, highs = [s.errors()[0] for s in scores], [s.errors()[1] for s in scores]
    out = []

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.bar(modes, means, color=colors, yerr=[lows, highs], capsize=6)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (mean, 95% CI)")
    ax.set_title(f"Score per mode, {summary.questions} questions")
    for i, v in enumerate(means):
        ax.text(i + 0.08, v + 0.02, f"{v:.2f}", ha="left", va="bottom", fontsize=9)
    out.append(("Score per mode", _png(fig)))

    kinds = sorted({k for m in modes for k in summary.modes[m].by_kind})
    if kinds:
        fig, ax = plt.subplots(figsize=(6.5, 3.2))
        width = 0.8 / len(modes)
        for j, mode in enumerate(modes):
            by_kind = summary.modes[mode].by_kind
            xs = [i + (j - (len(modes) - 1) / 2) * width for i in range(len(kinds))]
            heights = [by_kind[k].mean if k in by_kind else 0.0 for k in kinds]
            ax.bar(xs, heights, width, label=mode, color=colors[j])
        counts = {
            k: max(summary.modes[m].by_kind[k].n if k in summary.modes[m].by_kind else 0 for m in modes)
            for k in kinds
        }
        ax.set_xticks(range(len(kinds)), [f"{k}\n({counts[k]})" for k in kinds])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("score (mean)")
        ax.set_title("Score by question kind (questions)")
        ax.legend(fontsize=8, ncols=len(modes), loc="upper center", bbox_to_anchor=(0.5, -0.25))
        out.append(("Score by question kind", _png(fig)))

    timed = [m for m in modes if summary.modes[m].total_ms is not None]
    if timed:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        for mode in timed:
            entry = summary.modes[mode]
            seconds = float(entry.total_ms or 0.0) / 1000
            mean = float(entry.score.mean or 0.0)
            below, above = entry.score.errors()
            ax.errorbar(
                seconds,
                mean,
                yerr=[[below], [above]],
                fmt="o",
                color=COLORS.get(mode, "#9467bd"),
                capsize=5,
                markersize=8,
            )
            ax.annotate(mode, (seconds, mean), xytext=(8, 4), textcoords="offset points")
        ax.set_xlabel("median seconds per answer")
        ax.set_ylabel("score (mean, 95% CI)")
        ax.set_ylim(0, 1.05)
        ax.set_xlim(left=0)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_title("Cost against quality")
        out.append(("Cost against quality", _png(fig)))
    return out


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;
padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.num{text-align:right;white-space:nowrap}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots figure{margin:0}
.plots img{max-width:100%;border:1px solid #eee}
.sig{color:#0a6a0a;font-weight:600}.noise{color:#666}
.q td{font-size:.85rem}.ok{background:#eaf6ea}.bad{background:#fbeaea}.mid{background:#fff6e0}
details{margin-top:.2rem}summary{cursor:pointer;color:#555}blockquote{margin:.2rem 0 .2rem .5rem;
padding-left:.5rem;border-left:3px solid #ccc;color:#444}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _page(page: int | None) -> str:
    return f" p. {page}" if page is not None else ""


def _score_class(score: float | None) -> str:
    if score is None:
        return ""
    return "ok" if score >= 0.75 else "bad" if score < 0.25 else "mid"


def render(summary: Summary, rows: list[dict[str, Any]], title: str = "Evaluation") -> str:
    """The page for ``summary`` and the answer rows of ``answers.jsonl``."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>{summary.questions} questions, run {_e(summary.time)}. Score is numeric match where "
        "the reference is a figure, else token F1; every mean has a 95% bootstrap interval.</p>",
    ]
    plots = _plots(summary)
    if plots:
        parts.append("<div class='plots'>")
        parts += [f"<figure><img alt='{_e(t)}' src='{uri}'></figure>" for t, uri in plots]
        parts.append("</div>")

    parts.append("<h2>Scores and cost per mode</h2><table><tr><th>mode</th>")
    shown = columns(summary)
    parts += [f"<th>{_e(label)}</th>" for _, label in shown]
    parts.append("<th>median ms</th><th>first token ms</th><th>prompt tok</th><th>answer tok</th>"
                 "<th>peak MB, process so far</th><th>quoted</th></tr>")  # fmt: skip
    for mode, entry in summary.modes.items():
        cells = [entry.metric(key).text(interval=key == "score") for key, _ in shown]
        parts.append(f"<tr><td>{_e(mode)}</td>" + "".join(f"<td class='num'>{_e(c)}</td>" for c in cells))
        for key in ("total_ms", "first_token_ms", "prompt_tokens", "completion_tokens"):
            value = entry.cost(key)
            parts.append(f"<td class='num'>{'–' if value is None else f'{value:,.0f}'}</td>")
        peak = summary.peak_rss_mb.get(mode)
        parts.append(f"<td class='num'>{'–' if peak is None else f'{peak:,.0f}'}</td>")
        parts.append(f"<td class='num'>{entry.quoted}/{entry.answered}</td></tr>")
    parts.append("</table>")

    if summary.pairs:
        parts.append(
            "<h2>Differences between modes</h2><p>Paired permutation test on the same questions.</p><ul>"
        )
        for pair in summary.pairs:
            kind = "sig" if pair.better else "noise"
            parts.append(f"<li>{_e(difference(pair))}: <span class='{kind}'>{_e(verdict(pair))}</span></li>")
        parts.append("</ul>")
    retrieval = summary.retrieval
    if any(v.n for v in retrieval.values()):
        n = max(v.n for v in retrieval.values())
        parts.append(f"<h2>Retrieval</h2><p>{n} questions with evidence, top 10 passages.</p><table><tr>")
        parts += [f"<th>{_e(name)}</th>" for name in retrieval]
        parts.append("</tr><tr>")
        parts += [f"<td class='num'>{_e(v.text(interval=True))}</td>" for v in retrieval.values()]
        parts.append("</tr></table>")

    modes = list(summary.modes)
    by_id: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_id.setdefault(row["id"], {})[row["mode"]] = row
    parts.append("<h2>Every question</h2><table class='q'><tr><th>question</th><th>reference</th>")
    parts += [f"<th>{_e(m)}</th>" for m in modes]
    parts.append("</tr>")
    for qid, answers in by_id.items():
        first = next(iter(answers.values()))
        parts.append(
            f"<tr><td><b>{_e(qid)}</b> ({_e(first['kind'])})<br>{_e(first['question'])}</td>"
            f"<td>{_e(first['reference'])}</td>"
        )
        for mode in modes:
            if mode not in answers:
                parts.append("<td>–</td>")
                continue
            row = answers[mode]
            score = row["metrics"].get("score")
            cited = "".join(
                f"<blockquote>[{c['n']}] {_e(Path(c['source']).name)}{_page(c.get('page'))}: "
                f"{_e(c['passage'][:600])}</blockquote>"
                for c in row.get("citations", [])
            )
            sources = f"<details><summary>cited passages</summary>{cited}</details>" if cited else ""
            label = "–" if score is None else f"{score:.2f}"
            parts.append(
                f"<td class='{_score_class(score)}'>{_e(row['answer'])}<br><small>score {label}</small>{sources}</td>"
            )
        parts.append("</tr>")
    parts.append("</table>")
    parts.append(
        "<p><small>Written by <code>expert eval report</code> (industry-expert).</small></p></body></html>"
    )
    return "".join(parts)


def write_html(folder: str | Path, summary: Summary) -> Path:
    """Write ``report.html`` into the evaluation ``folder``."""
    folder = Path(folder)
    path = folder / "report.html"
    rows = read_rows(folder / "answers.jsonl")
    path.write_text(render(summary, rows, f"Evaluation: {folder.name}"), encoding="utf-8")
    return path
