"""Multilingual retrieval on the five translations of one guide (../shared/data/seeds: Persian,
Arabic, Hebrew, Bulgarian, Urdu), with 60 questions written in those languages and English
(benchmarks/data/seeds_questions.jsonl, each aimed at one paragraph; the guides' paragraphs are
aligned, so paragraph N is the same text in each language).

Each question is searched in each guide (``source`` restricted to it), so a Persian question is
measured on the Persian guide (same language) and on the four others (across languages, a
Persian question finding the Arabic passage). A hit is right when it holds the aimed paragraph.
Embedders: the default MiniLM and the shipped multilingual-e5-small, both ONNX int8; dense and
hybrid. Ingest speed of each on the guides and on two filings, embedder time only and whole ingest.

    .venv/bin/python benchmarks/multilingual.py
    .venv/bin/python benchmarks/multilingual.py --postgres-languages

``--postgres-languages`` measures instead the keyword index's language per collection on the
PostgreSQL store: each guide in a collection of its own, indexed as ``english`` (the default,
which keeps words of these scripts whole) against each guide's own language (``arabic`` is
stemmed; the four others have no stemmer and fall back to ``simple``), keyword and hybrid.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import FILINGS, ROOT, local_postgres, machine, require

from industry_expert import Workspace

SEEDS = ROOT.parent / "shared" / "data" / "seeds"
QUESTIONS = Path(__file__).resolve().parent / "data" / "seeds_questions.jsonl"
LANGS = ["fa", "ar", "he", "bg", "ur"]
EMBEDDERS = {"minilm": "all-MiniLM-L6-v2", "multilingual-e5-small": "multilingual-e5-small"}
_MARKUP = re.compile(r"[*_#`\[\]()]|^\s*\d+\.\s*")


def paragraphs(lang: str) -> list[str]:
    text = (SEEDS / f"LetPhi3gotoIndustry.{lang}.md").read_text(encoding="utf-8")
    text = text[text.index("-->") + 3 :]
    return [p.strip() for p in text.split("\n") if p.strip() and not p.strip().startswith("![")]


def clean(text: str) -> str:
    return " ".join(_MARKUP.sub("", line) for line in text.splitlines()).replace("  ", " ")


def measure(
    ws: Workspace, questions: list[dict], targets: dict[str, list[str]], mode: str
) -> dict[str, dict[str, float]]:
    ranks: dict[str, list[int | None]] = {"same language": [], "across languages": []}
    for q in questions:
        for lang in LANGS:
            want = " ".join(clean(targets[lang][q["paragraph"]]).split())[4:40]
            hits = ws.search(q["question"], k=5, mode=mode, source=f"*.{lang}.md")
            rank = next((r for r, h in enumerate(hits, 1) if want in " ".join(clean(h.text).split())), None)
            ranks["same language" if q["lang"] == lang else "across languages"].append(rank)
    return {
        kind: {
            "n": len(found),
            "R@1": round(100 * sum(r == 1 for r in found) / len(found), 1),
            "R@3": round(100 * sum(r is not None and r <= 3 for r in found) / len(found), 1),
            "R@5": round(100 * sum(r is not None for r in found) / len(found), 1),
        }
        for kind, found in ranks.items()
    }


def speed(tmp: Path, model: str, paths: list[Path], name: str) -> dict[str, float]:
    ws = Workspace.init(tmp / f"speed-{name}-{model}", {"embedder.backend": "onnx", "embedder.model": model})
    _ = ws.embedder  # loaded (and exported once) before the clock starts
    report = ws.ingest(paths)
    ws.close()
    return {
        "chunks": report.chunks,
        "ingest_s": round(report.seconds, 1),
        "embed_s": round(report.embed_seconds, 1),
        "chunks_per_s": round(report.chunks / report.embed_seconds, 1),
    }


def postgres_languages(questions: list[dict], targets: dict[str, list[str]], tmp: Path) -> None:
    from industry_expert.store.languages import text_search_config

    for setting in ("english", "own"):
        ws = Workspace.init(
            tmp / setting, {"store.url": local_postgres(f"seeds_{setting}_{int(time.time())}")}
        )
        for lang in LANGS:
            if setting == "own":
                ws.set_language(lang, lang)
            ws.ingest([SEEDS / f"LetPhi3gotoIndustry.{lang}.md"], collection=lang)
        configs = {lang: text_search_config(lang) if setting == "own" else "english" for lang in LANGS}
        for mode in ("keyword", "hybrid"):
            same = [q for q in questions if q["lang"] in LANGS]
            print(
                json.dumps({"languages": configs, "mode": mode, **measure(ws, same, targets, mode)}),
                flush=True,
            )
        ws.close()


def main() -> None:
    require(SEEDS)
    questions = [
        json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    targets = {lang: paragraphs(lang) for lang in LANGS}
    assert len({len(p) for p in targets.values()}) == 1, "the guides' paragraphs no longer align"
    tmp = Path(tempfile.mkdtemp(prefix="bench-multilingual-"))
    print(f"# {machine()}; {len(questions)} questions, {len(LANGS)} guides")
    if "--postgres-languages" in sys.argv:
        postgres_languages(questions, targets, tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        for label, model in EMBEDDERS.items():
            ws = Workspace.init(tmp / label, {"embedder.backend": "onnx", "embedder.model": model})
            started = time.perf_counter()
            _ = ws.embedder
            loaded = time.perf_counter() - started
            ws.ingest([SEEDS])
            for mode in ("dense", "hybrid"):
                print(
                    json.dumps({"embedder": label, "mode": mode, **measure(ws, questions, targets, mode)}),
                    flush=True,
                )
            ws.close()
            out = {
                "embedder": label,
                "load_s": round(loaded, 1),
                "seeds": speed(tmp, model, [SEEDS], "seeds"),
            }
            if FILINGS.exists():
                two = [FILINGS / "INTEL_2022Q4_EARNINGS.pdf", FILINGS / "MCDONALDS_2023Q1_EARNINGS.pdf"]
                out["two filings"] = speed(tmp, model, two, "filings")
            print(json.dumps(out), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
