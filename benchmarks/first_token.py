"""Where the time to an answer's first word goes, and what llama.cpp's settings change in it.

    .venv/bin/python benchmarks/first_token.py split [--set filings] [--n 50] [--set-option answer.k=3 ...] [--json]
    .venv/bin/python benchmarks/first_token.py levers [--n 20] [--json]

``split``: each question of the set (all of it: the issue's goal is over the 50 filings questions)
is asked with ``Workspace.ask`` on the shipped model; the time to the first word is split into
retrieval (``timings["retrieve"]``, the question's embedding and the hybrid search), prompt
building (``timings["prompt"]``: evidence lines, checks, fitting the sources), prefill (the prompt
evaluated alone, measured again right after on the same loaded model from an empty cache) and the
first decode (the generator's first token less that prefill). Medians over the questions, and the
prompt's tokens.

``levers``: the same product prompts (captured by ``split`` in ``bench-out``) evaluated by llama.cpp
directly with one setting changed at a time, the settings taking turns so that a noisy machine
hurts them alike: micro-batch size, flash attention, and the instruction prefix
kept in the cache (the system message and the chat template's opening, evaluated once and
restored before each prompt, so only the rest is evaluated).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from common import OUT, machine
from evidence import OVERRIDES, load

PROMPTS = OUT / "first_token_prompts.json"


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def split(name: str, n: int) -> dict[str, Any]:
    ws, qs = load(name)
    gen: Any = ws.generator
    captured: list[Any] = []
    stream = gen.stream

    def recording(messages, *args, **kwargs):  # type: ignore[no-untyped-def]
        captured.append(list(messages))
        return stream(messages, *args, **kwargs)

    gen.stream = recording
    rows = []
    for i, q in enumerate(qs[:n], 1):
        captured.clear()
        answer = ws.ask(q["question"])
        t = answer.timings
        row = {
            "retrieve_s": t.get("retrieve", 0) / 1000,
            "prompt_s": t.get("prompt", 0) / 1000,
            "generate_first_s": t.get("first_token", 0) / 1000,
            "total_s": t.get("total", 0) / 1000,
        }
        if captured:
            tokens = gen.llm.tokenize(gen.prompt(captured[0]).encode("utf-8"), add_bos=True, special=True)
            gen.llm.reset()
            start = time.perf_counter()
            gen.llm.eval(tokens)
            row |= {"prefill_s": time.perf_counter() - start, "prompt_tokens": len(tokens)}
            row["first_decode_s"] = max(row["generate_first_s"] - row["prefill_s"], 0.0)
            row["messages"] = captured[0]
        row["first_word_s"] = row["retrieve_s"] + row["prompt_s"] + row["generate_first_s"]
        rows.append(row)
        print(f"{name} {i}/{min(n, len(qs))}", file=sys.stderr, flush=True)
    PROMPTS.parent.mkdir(parents=True, exist_ok=True)
    PROMPTS.write_text(json.dumps([r["messages"] for r in rows if "messages" in r]), encoding="utf-8")
    generated = [r for r in rows if "prefill_s" in r]
    return {
        "set": name,
        "questions": len(rows),
        "answered by the model": len(generated),
        "median first word s": _median([r["first_word_s"] for r in rows]),
        "median whole answer s": _median([r["total_s"] for r in rows]),
        "median retrieve s": _median([r["retrieve_s"] for r in rows]),
        "median prompt building s": _median([r["prompt_s"] for r in rows]),
        "median prefill s": _median([r["prefill_s"] for r in generated]),
        "median first decode s": _median([r["first_decode_s"] for r in generated]),
        "median prompt tokens": _median([r["prompt_tokens"] for r in generated]),
    }


VARIANTS: dict[str, dict[str, Any]] = {
    "today": {},
    "n_ubatch 128": {"n_ubatch": 128, "n_batch": 128},
    "n_ubatch 256": {"n_ubatch": 256, "n_batch": 256},
    "n_ubatch 1024": {"n_ubatch": 1024, "n_batch": 1024},
    "flash attention": {"flash_attn": True},
    "prefix cached": {"prefix": True},
}


def levers(n: int, rounds: int) -> dict[str, Any]:
    from llama_cpp import Llama

    from industry_expert.generate.llama import LlamaCppGenerator

    conversations = json.loads(PROMPTS.read_text(encoding="utf-8"))[:n]
    base: Any = LlamaCppGenerator()
    path, threads = base.llm.model_path, base.llm.n_threads
    prompts = [
        base.llm.tokenize(base.prompt(m).encode("utf-8"), add_bos=True, special=True) for m in conversations
    ]
    del base
    # what every prompt starts with (the system message, the template's opening): evaluated once
    head = prompts[0]
    for tokens in prompts[1:]:
        same = next(
            (i for i, (a, b) in enumerate(zip(head, tokens, strict=False)) if a != b),
            min(len(head), len(tokens)),
        )
        head = head[:same]
    timings: dict[str, list[float]] = {k: [] for k in VARIANTS}
    models = {
        name: Llama(
            model_path=path,
            n_ctx=4096,
            n_threads=threads,
            verbose=False,
            **{k: v for k, v in opts.items() if k != "prefix"},
        )
        for name, opts in VARIANTS.items()
    }
    for _ in range(rounds):
        for name, opts in VARIANTS.items():
            llm = models[name]
            state = None
            if opts.get("prefix"):
                llm.reset()
                llm.eval(head)
                state = llm.save_state()
            for tokens in prompts:
                llm.reset()
                start = time.perf_counter()
                if state is not None:
                    llm.load_state(state)
                    llm.eval(tokens[len(head) :])
                else:
                    llm.eval(tokens)
                timings[name].append(time.perf_counter() - start)
            print(f"levers {name}", file=sys.stderr, flush=True)
    today = statistics.median(timings["today"])
    return {
        "prompts": len(prompts),
        "rounds": rounds,
        "median prompt tokens": statistics.median(len(t) for t in prompts),
        "prefix tokens": len(head),
        "median prefill s": {k: round(statistics.median(v), 3) for k, v in timings.items()},
        "vs today": {k: round(statistics.median(v) / today, 3) for k, v in timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["split", "levers"])
    parser.add_argument("--set", dest="set_name", default="filings")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for item in args.set_option:
        key, _, value = item.partition("=")
        OVERRIDES[key] = json.loads(value) if value[:1].isdigit() or value in ("true", "false") else value
    result = split(args.set_name, args.n) if args.what == "split" else levers(args.n, args.rounds)
    data = {"machine": machine(), "options": args.set_option, "result": result}
    print(json.dumps(data, indent=2) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
