"""Where the time to an answer's first word goes, and what llama.cpp's settings change in it.

    .venv/bin/python benchmarks/first_token.py split [--set filings] [--n 50] [--set-option answer.k=3 ...] [--json]
    .venv/bin/python benchmarks/first_token.py levers [--n 20] [--json]

``split``: each question of the set (all of it: the issue's goal is over the 50 filings questions)
is asked with ``Workspace.ask`` on the shipped model; the time to the first word is split into
retrieval (``timings["retrieve"]``, the question's embedding and the hybrid search), prompt
building (``timings["prompt"]``: evidence lines, checks, fitting the sources), prefill (the prompt
evaluated alone, measured again right after on the same loaded model from an empty cache, by the
server's own timing) and the
first decode (the generator's first token less that prefill). Medians over the questions, and the
prompt's tokens.

``levers``: the same product prompts (captured by ``split`` in ``bench-out``) evaluated by llama.cpp's
server (xllamacpp) directly with one setting changed at a time, the settings taking turns so that a
noisy machine hurts them alike: micro-batch size, flash attention on and off (the default lets
llama.cpp decide), and the instruction prefix kept in the cache (the server's prompt cache: a
prompt's first tokens shared with the one before, the system message and the chat template's
opening, are not evaluated again). Prefill is the server's own timing of the prompt.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
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
            prefill, tokens = _prefill(gen._server, gen.prompt(captured[0]))
            row |= {"prefill_s": prefill, "prompt_tokens": tokens}
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


def _prefill(server: Any, prompt: str, cache: bool = False) -> tuple[float, int]:
    """Seconds llama.cpp's server spent evaluating ``prompt`` (its own timing, from an empty cache
    unless ``cache``), and the tokens it evaluated."""
    answers: list[Any] = []
    request = {"prompt": prompt, "max_tokens": 1, "cache_prompt": cache, "samplers": ["top_k"], "top_k": 1}
    server.handle_completions(request, lambda answer: answers.append(answer) and False)
    timings = answers[-1]["timings"]
    return timings["prompt_ms"] / 1000, timings["prompt_n"]


# xllamacpp's CommonParams per setting. "prefix cached": the shared opening of every prompt (the
# system message, the template's start) is evaluated first, then the prompt with `cache_prompt`,
# so that the server evaluates only what follows it; its memory cache of earlier prompts is off
# (`cache_ram_mib` 0), or a prompt seen in an earlier round would cost nothing
VARIANTS: dict[str, dict[str, Any]] = {
    "today": {},
    "n_ubatch 128": {"n_ubatch": 128, "n_batch": 128},
    "n_ubatch 256": {"n_ubatch": 256, "n_batch": 256},
    "n_ubatch 1024": {"n_ubatch": 1024, "n_batch": 1024},
    "flash attention on": {"flash_attn_type": 1},
    "flash attention off": {"flash_attn_type": 0},
    "prefix cached": {"prefix": True, "cache_ram_mib": 0},
}


def levers(n: int, rounds: int) -> dict[str, Any]:
    import xllamacpp as xlc

    from industry_expert.generate.llama import LlamaCppGenerator, _cores
    from industry_expert.models import gguf_file, resolve_model

    conversations = json.loads(PROMPTS.read_text(encoding="utf-8"))[:n]
    base = LlamaCppGenerator()
    prompts = [base.prompt(m) for m in conversations]
    del base
    head = prompts[0]
    for prompt in prompts[1:]:
        same = (i for i, (a, b) in enumerate(zip(head, prompt, strict=False)) if a != b)
        head = head[: next(same, min(len(head), len(prompt)))]
    timings: dict[str, list[float]] = {k: [] for k in VARIANTS}
    tokens: list[int] = []
    servers = {}
    for name, opts in VARIANTS.items():
        params = xlc.CommonParams()
        params.model.path = str(gguf_file(resolve_model("smollm2")))
        params.n_ctx, params.n_parallel, params.verbosity, params.n_threads_http = 4096, 1, -1, 1
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = min(_cores(), 8)
        for key, value in opts.items():
            if key != "prefix":
                setattr(params, key, value)
        servers[name] = xlc.Server(params)
    for _ in range(rounds):
        for name, opts in VARIANTS.items():
            for prompt in prompts:
                if opts.get("prefix"):
                    _prefill(servers[name], head, cache=True)
                seconds, count = _prefill(servers[name], prompt, cache=bool(opts.get("prefix")))
                timings[name].append(seconds)
                if name == "today" and len(tokens) < len(prompts):
                    tokens.append(count)
            print(f"levers {name}", file=sys.stderr, flush=True)
    today = statistics.median(timings["today"])
    return {
        "prompts": len(prompts),
        "rounds": rounds,
        "median prompt tokens": statistics.median(tokens),
        "shared opening (characters)": len(head),
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
