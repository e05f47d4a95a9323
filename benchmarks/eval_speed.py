"""How long `expert eval run` takes, and how much of it is not the model: 100 questions in rag mode.

The filings questions (benchmarks/data/filings_questions.jsonl, 50) are repeated under new ids up
to -n. The generator and the retriever are wrapped in timers, so the wall time splits into the
model's (every generator call: prompt evaluation and tokens), retrieval's (the answer's search and
the scoring of retrieval at depth 10) and the rest (prompting, checks, metrics, JSONL, the summary
with its bootstrap intervals and permutation tests). Goal: under 5% outside generation.

    .venv/bin/python benchmarks/eval_speed.py -n 100
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

from common import FILINGS, OUT, build_workspace, machine, questions, require

OVERRIDES = {"embedder.backend": "onnx", "chunking.max_tokens": 200}


class Timed:
    """Forwards every attribute of ``inner``; calls of ``names`` add their seconds to ``spent``."""

    def __init__(self, inner: Any, names: tuple[str, ...]) -> None:
        self._inner, self._names, self.spent, self.calls = inner, names, 0.0, 0

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in self._names or not callable(value):
            return value
        if name == "stream":
            return self._stream(value)

        def timed(*args: Any, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return value(*args, **kw)
            finally:
                self.spent += time.perf_counter() - start
                self.calls += 1

        return timed

    def _stream(self, method: Callable[..., Iterator[str]]) -> Callable[..., Iterator[str]]:
        def stream(*args: Any, **kw: Any) -> Iterator[str]:
            pieces = method(*args, **kw)
            self.calls += 1
            while True:
                start = time.perf_counter()
                try:
                    piece = next(pieces)
                except StopIteration:
                    self.spent += time.perf_counter() - start
                    return
                self.spent += time.perf_counter() - start
                yield piece

        return stream


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=100, help="questions (the 50 filings questions, repeated)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    require(FILINGS)
    from industry_expert.evaluate.questions import to_question
    from industry_expert.evaluate.run import run_eval

    base = questions()
    records = [{**base[i % len(base)], "id": f"q{i}"} for i in range(args.n)]
    qs = [to_question(r, i + 1) for i, r in enumerate(records)]
    ws, _ = build_workspace("filings-onnx-200", OVERRIDES, [FILINGS])
    out = OUT / "eval-speed"
    shutil.rmtree(out, ignore_errors=True)
    with ws:
        generator = Timed(ws.generator, ("stream",))
        retriever = Timed(ws.retriever, ("search", "search_scored", "summaries", "is_empty"))
        start = time.perf_counter()
        run = run_eval(qs, {"rag": generator}, retriever, ws.settings.answer, out,  # type: ignore[arg-type]
                       max_tokens=ws.settings.generator.max_tokens)  # fmt: skip
        wall = time.perf_counter() - start
    rest = wall - generator.spent - retriever.spent
    result = {
        "questions": args.n,
        "answers": run.answered,
        "wall_s": round(wall, 1),
        "generation_s": round(generator.spent, 1),
        "generator_calls": generator.calls,
        "retrieval_s": round(retriever.spent, 2),
        "retrieval_calls": retriever.calls,
        "other_s": round(rest, 2),
        "outside_generation_share": round((wall - generator.spent) / wall, 4),
        "outside_generation_ms_per_question": round(1000 * (wall - generator.spent) / args.n, 1),
        "score": run.summary.to_dict()["modes"]["rag"]["score"],
        "machine": machine(),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "eval-speed.json").write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result))
        return
    print(f"# eval speed, rag mode; {result['machine']}")
    for key, value in result.items():
        if key != "machine":
            print(f"- {key}: {value}")


if __name__ == "__main__":
    main()
