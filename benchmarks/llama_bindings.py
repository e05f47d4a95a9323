"""llama.cpp bindings side by side on the same GGUF and the same prompts (issue 30, point 1).

    .venv/bin/python benchmarks/llama_bindings.py --python xllamacpp=/path/to/venv/bin/python [--rounds 3]

The product's answer prompts for the first ``--questions`` filings questions are built once with
the installed product (its retrieval, its prompt, the model's own chat template), then each
binding answers every prompt greedily in its own process, the bindings taking turns for
``--rounds`` rounds so that a noisy neighbour hurts them alike. ``llama-cpp-python`` is always
run with this interpreter (today's compiled build); every ``--python NAME=INTERPRETER`` names an
interpreter that has binding NAME installed. Per binding: medians of time to first token, prompt
tokens/s (prompt tokens over time to first token) and decode tokens/s (tokens after the first
over the time after it), and each median's ratio to llama-cpp-python's.

``run`` is what each process executes (standard library and the binding only):

    PYTHON benchmarks/llama_bindings.py run NAME PROMPTS.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BINDINGS = ("llama-cpp-python", "xllamacpp")


def _llama_cpp_python(gguf: str, threads: int) -> Any:
    from llama_cpp import Llama

    llm = Llama(model_path=gguf, n_ctx=4096, n_threads=threads, verbose=False)

    def stream(prompt: str, stops: list[str], max_tokens: int) -> Any:
        llm.reset()
        for chunk in llm.create_completion(
            prompt, max_tokens=max_tokens, temperature=0.0, stop=stops, stream=True
        ):
            yield chunk["choices"][0]["text"]

    return stream


def _xllamacpp(gguf: str, threads: int) -> Any:
    import queue
    import threading

    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = gguf
    params.n_ctx = 4096
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.verbosity = -1
    params.n_threads_http = 1
    server = xlc.Server(params)

    def stream(prompt: str, stops: list[str], max_tokens: int) -> Any:
        pieces: queue.Queue[Any] = queue.Queue()
        request = {
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stop": stops,
            "stream": True,
            "cache_prompt": False,
            # greedy: the server's default chain (DRY, top-p, min-p, XTC...) costs decode time
            "samplers": ["top_k"],
            "top_k": 1,
        }

        def work() -> None:
            server.handle_completions(request, lambda chunk: pieces.put(chunk) and False)
            pieces.put(None)

        threading.Thread(target=work, daemon=True).start()
        while (chunk := pieces.get()) is not None:
            if isinstance(chunk, dict) and chunk.get("choices"):
                text = chunk["choices"][0].get("text") or ""
                if text:
                    yield text

    return stream


def run(name: str, prompts_file: str) -> None:
    """Answer every prompt of ``prompts_file`` with binding ``name``; one JSON line a prompt."""
    spec = json.loads(Path(prompts_file).read_text())
    start = time.perf_counter()
    stream = {"llama-cpp-python": _llama_cpp_python, "xllamacpp": _xllamacpp}[name](
        spec["gguf"], spec["threads"]
    )
    print(json.dumps({"load_s": time.perf_counter() - start}), flush=True)
    # prompt tokens: the product's count with the same GGUF tokenizer, the same for every binding
    for prompt, tokens in zip(spec["prompts"], spec["prompt_tokens"], strict=True):
        start = time.perf_counter()
        first, pieces = None, []
        for piece in stream(prompt, spec["stops"], spec["max_tokens"]):
            if first is None:
                first = time.perf_counter()
            pieces.append(piece)
        end = time.perf_counter()
        text = "".join(pieces)
        print(
            json.dumps(
                {
                    "ttft_s": (first or end) - start,
                    "total_s": end - start,
                    "pieces": len(pieces),
                    "prompt_tokens": tokens,
                    "text": text,
                }
            ),
            flush=True,
        )


def build_prompts(n: int, threads: int, max_tokens: int) -> dict[str, Any]:
    """The product's prompts for the first ``n`` filings questions, rendered by the model's template."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from evidence import load

    ws, questions = load("filings")
    generator = ws.generator
    prompts, tokens = [], []
    for q in questions[:n]:
        planned = ws.ask_stream(q["question"]).prompt
        assert planned is not None
        text = generator.prompt(list(planned.messages))
        prompts.append(text)
        tokens.append(generator.count_tokens(text))
    from industry_expert.models import gguf_file, resolve_model

    return {
        "gguf": str(gguf_file(resolve_model(ws.settings.generator.model))),
        "threads": threads,
        "stops": list(generator.stops),
        "max_tokens": max_tokens,
        "prompts": prompts,
        "prompt_tokens": tokens,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", default=[], help="NAME=INTERPRETER")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pythons = {"llama-cpp-python": sys.executable}
    for item in args.python:
        name, _, interpreter = item.partition("=")
        if name not in BINDINGS or not interpreter:
            parser.error(f"--python {item!r}: NAME=INTERPRETER with NAME one of {', '.join(BINDINGS)}")
        pythons[name] = interpreter
    spec = build_prompts(args.questions, args.threads, args.max_tokens)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in pythons}
    loads: dict[str, list[float]] = {name: [] for name in pythons}
    for _ in range(args.rounds):
        for name, interpreter in pythons.items():
            out = subprocess.run(
                [interpreter, __file__, "run", name, f.name], capture_output=True, text=True, check=True
            ).stdout
            lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            loads[name].append(lines[0]["load_s"])
            rows[name].extend(lines[1:])
    Path(f.name).unlink()
    summary = {}
    for name, rs in rows.items():
        decode = [(r["pieces"] - 1) / (r["total_s"] - r["ttft_s"]) for r in rs if r["pieces"] > 1]
        summary[name] = {
            "load_s": statistics.median(loads[name]),
            "ttft_s": statistics.median(r["ttft_s"] for r in rs),
            "prompt_tok_s": statistics.median(r["prompt_tokens"] / r["ttft_s"] for r in rs),
            "decode_tok_s": statistics.median(decode) if decode else 0.0,
            "total_s": statistics.median(r["total_s"] for r in rs),
            "same_text": sum(
                a["text"] == b["text"] for a, b in zip(rs, rows["llama-cpp-python"], strict=True)
            ),
            "answers": len(rs),
        }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    base = summary["llama-cpp-python"]
    print(
        f"{args.questions} filings prompts (median {statistics.median(spec['prompt_tokens'])} tokens), "
        f"{args.rounds} rounds, {args.threads} threads, greedy, at most {args.max_tokens} tokens"
    )
    print(
        f"{'binding':18} {'load s':>7} {'TTFT s':>7} {'prompt tok/s':>13} {'decode tok/s':>13} {'answer s':>7} {'same text':>10}"
    )
    for name, s in summary.items():
        print(
            f"{name:18} {s['load_s']:7.2f} {s['ttft_s']:7.3f} ({s['ttft_s'] / base['ttft_s']:.2f}x) "
            f"{s['prompt_tok_s']:7.0f} ({s['prompt_tok_s'] / base['prompt_tok_s']:.2f}x) "
            f"{s['decode_tok_s']:6.0f} ({s['decode_tok_s'] / base['decode_tok_s']:.2f}x) "
            f"{s['total_s']:7.3f} "
            f"{s['same_text']}/{s['answers']}"
        )


if __name__ == "__main__":
    main()
