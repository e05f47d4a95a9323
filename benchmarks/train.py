"""Training throughput and peak memory: `expert train` against a plain TRL + PEFT script.

    python benchmarks/train.py                    # SmolLM2 (shipped GGUF), LoRA, 30 steps each
    python benchmarks/train.py --steps 50 --method qlora   # QLoRA against our LoRA, same data
    python benchmarks/train.py --checkpointing both   # with and without gradient checkpointing
    python benchmarks/train.py --processes 2 --steps 10   # 2 data-parallel processes against 1, same global batch
    python benchmarks/train.py --processes 2 --shard      # 2 sharded processes (FSDP2) against 2 whole copies (DDP)

Both runs use the same base, the same examples, LoRA on every linear layer with the same rank,
batch size, learning rate, maximum length, precision and gradient checkpointing (TRL turns it on
by default; a comparison must set it the same on both sides), in separate processes (the order
alternating with --repeat) one after the other; each
reports its own training tokens/s (tokens the trainer counted over the time of ``train()``) and
its peak resident memory (ru_maxrss; on CUDA also peak GPU memory). The plain script is what the
public recipes do: ``SFTTrainer(model, train_dataset=messages, peft_config=LoraConfig(...))``.

The maximum length (1,536) is above the longest example (1,402 tokens): below it `expert train`
drops the longer examples and the plain recipe truncates them, and the two no longer train on the
same data.

The examples: the filings workspace's chunks laid out as `dataset build` lays them out (RAFT
prompt with three distractors), with a templated question and the passage's first sentence as
the answer, so the benchmark needs no generator and is the same on every run.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import FILINGS, OUT, build_workspace, machine, require

HERE = Path(__file__).resolve().parent


def make_data(path: Path, n: int, seed: int = 0) -> Path:
    from industry_expert.finetune.build import make_example

    ws, _ = build_workspace(
        "filings-onnx-200", {"embedder.backend": "onnx", "chunking.max_tokens": 200}, [FILINGS]
    )
    rng = random.Random(seed)
    ids = [cid for cid, _ in ws.store.all_chunks()]
    rng.shuffle(ids)
    rows = []
    for cid in ids:
        if len(rows) >= n:
            break
        oracle = ws.store.get_chunks([cid])[0]
        if len(oracle.text.split()) < 25:
            continue
        distractors = ws.store.get_chunks(rng.sample(ids, 3))
        first = oracle.text.strip().split(". ")[0][:300]
        question = f"What does {Path(oracle.source).stem} say on page {oracle.page}?"
        rows.append(make_example(question, first, oracle, distractors, rng.random() < 0.8, rng))
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


PLAIN = r"""
import json, resource, sys, time
import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer
from pathlib import Path

args = json.loads(sys.argv[1])
from industry_expert.models import dequantized_folder, shipped_gguf
# The same de-quantized weights: transformers will not train a model read straight from GGUF.
base = dequantized_folder(shipped_gguf())
tok = AutoTokenizer.from_pretrained(base)
model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
rows = [json.loads(l) for l in open(args["data"])]
ds = Dataset.from_list([{"messages": r["messages"]} for r in rows])
cfg = SFTConfig(output_dir=args["out"], max_steps=args["steps"], per_device_train_batch_size=args["batch"],
                learning_rate=2e-4, lr_scheduler_type="cosine", warmup_steps=0.03, max_length=args["max_length"],
                logging_steps=5, report_to="none", save_strategy="no", use_cpu=not torch.cuda.is_available(),
                bf16=args["bf16"], activation_checkpointing=args["checkpointing"], disable_tqdm=True, seed=42)
trainer = SFTTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok,
                     peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"))
t = time.perf_counter()
trainer.train()
seconds = time.perf_counter() - t
tokens = max(float(h.get("num_tokens", 0)) for h in trainer.state.log_history)
gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
print(json.dumps({"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "peak_gpu_mb": gpu}))
"""

OURS = r"""
import json, resource, sys, time
import torch
from industry_expert.finetune.service import Tuning
from industry_expert.finetune.train import TrainConfig

args = json.loads(sys.argv[1])
processes = args.get("processes", 1)
result = Tuning.train(TrainConfig(data=args["data"], out=args["out"], method=args["method"], max_steps=args["steps"],
                           batch_size=args["batch"] // processes, max_length=args["max_length"], val_fraction=0.0,
                           logging_steps=5, eval_steps=10**6, save_steps=10**6, processes=processes,
                           shard=args.get("shard", False), packing=args.get("packing", False),
                           gradient_checkpointing=args["checkpointing"]))
gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
tokens = result.tokens_per_s * result.seconds
# with several processes, the largest of them (they have ended, and been waited for)
who = resource.RUSAGE_SELF if processes == 1 else resource.RUSAGE_CHILDREN
import pathlib
history = json.loads((pathlib.Path(args["out"]) / "manifest.json").read_text())["history"]
print(json.dumps({"seconds": result.seconds, "tokens": tokens, "tokens_per_s": result.tokens_per_s,
                  "losses": [h["loss"] for h in history if "loss" in h],
                  "peak_rss_mb": resource.getrusage(who).ru_maxrss / 1024, "peak_gpu_mb": gpu,
                  "trainable": result.trainable_parameters}))
"""


def run(code: str, args: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=1536)  # the longest example fits
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--method", default="lora", choices=["lora", "qlora"])
    parser.add_argument("--checkpointing", default="on", choices=["on", "off", "both"])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each path, order alternating")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="compare N data-parallel processes (batch / N each) against 1, instead",
    )
    parser.add_argument(
        "--shard",
        action="store_true",
        help="with --processes N: N sharded processes (FSDP2) against N with a whole copy each (DDP)",
    )
    parser.add_argument(
        "--packing",
        action="store_true",
        help="expert train --packing (examples packed into full-length rows) against without",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    require(FILINGS)
    OUT.mkdir(exist_ok=True)
    data = OUT / f"train-bench-{args.examples}.jsonl"
    if not data.exists():
        make_data(data, args.examples)
    stamp = time.strftime("%H%M%S")
    from industry_expert.finetune.train import use_bf16

    common = {
        "data": str(data),
        "steps": args.steps,
        "batch": args.batch,
        "max_length": args.max_length,
        "bf16": use_bf16("auto"),  # the same precision for both
    }
    settings = {"on": [True], "off": [False], "both": [True, False]}[args.checkpointing]
    second = {"lora": ("plain_trl", PLAIN, "lora"), "qlora": ("ours_qlora", OURS, "qlora")}[args.method]
    paths = {"ours": (OURS, "lora"), second[0]: (second[1], second[2])}
    if args.processes > 1:
        paths = {"ours": (OURS, "lora"), "ours_processes": (OURS, "lora")}
    if args.shard:
        paths = {"ours_processes": (OURS, "lora"), "ours_sharded": (OURS, "lora")}
    if args.packing:
        paths = {"ours": (OURS, "lora"), "ours_packed": (OURS, "lora")}
    rows = []
    for ckpt in settings:
        same = {**common, "checkpointing": ckpt}
        runs: dict[str, list[dict]] = {name: [] for name in paths}
        for rep in range(args.repeat):
            order = list(paths) if rep % 2 == 0 else list(reversed(paths))  # alternate who goes first
            for name in order:
                code, method = paths[name]
                out = OUT / f"train-{name}-{stamp}-{'ckpt' if ckpt else 'nockpt'}-{rep}"
                processes = args.processes if name in ("ours_processes", "ours_sharded") else 1
                flags = {"shard": name == "ours_sharded", "packing": name == "ours_packed"}
                runs[name].append(
                    run(code, {**same, "method": method, "out": str(out), "processes": processes, **flags})
                )
        row: dict = {"checkpointing": ckpt, "runs": runs}
        for name, results in runs.items():
            row[name] = {
                "tokens_per_s": statistics.median(r["tokens_per_s"] for r in results),
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in results),
                "losses": results[0].get("losses"),
                "peak_gpu_mb": results[0]["peak_gpu_mb"]
                and statistics.median(r["peak_gpu_mb"] for r in results),
            }
        prefix = (
            "packed_"
            if args.packing
            else "sharded_"
            if args.shard
            else "processes_"
            if args.processes > 1
            else ""
            if args.method == "lora"
            else "qlora_"
        )
        other, base = (
            (row["ours_packed"], row["ours"])
            if args.packing
            else (row["ours_sharded"], row["ours_processes"])
            if args.shard
            else (row["ours_processes"], row["ours"])
            if args.processes > 1
            else (row["ours"], row["plain_trl"])
            if args.method == "lora"
            else (row["ours_qlora"], row["ours"])
        )
        row[prefix + "speed_ratio"] = round(other["tokens_per_s"] / base["tokens_per_s"], 3)
        row[prefix + "memory_ratio"] = round(other["peak_rss_mb"] / base["peak_rss_mb"], 3)
        rows.append(row)
    result = {"machine": machine(), "method": args.method, "repeat": args.repeat, **common, "rows": rows}
    kind = f"processes{args.processes}" if args.processes > 1 else args.method
    kind += "-sharded" if args.shard else "-packed" if args.packing else ""
    (OUT / f"train-{kind}.json").write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"# train benchmark, {args.method}, {args.steps} steps x {args.batch}, max length {args.max_length}, "
        f"medians of {args.repeat}; {result['machine']}"
    )
    print("| path | gradient checkpointing | tokens/s | peak RSS MB | peak GPU MB |\n|---|---|---|---|---|")
    labels = {
        "ours": "expert train (LoRA)",
        "plain_trl": "plain TRL + PEFT (LoRA)",
        "ours_qlora": "expert train (QLoRA)",
        "ours_processes": f"expert train --processes {args.processes} (batch / {args.processes} each)",
        "ours_sharded": f"expert train --processes {args.processes} --shard (FSDP2)",
        "ours_packed": "expert train --packing",
    }
    for row in rows:
        for name, label in labels.items():
            r = row.get(name)
            if r:
                print(
                    f"| {label} | {'on' if row['checkpointing'] else 'off'} | {r['tokens_per_s']:.0f} "
                    f"| {r['peak_rss_mb']:.0f} | {r['peak_gpu_mb'] or '-'} |"
                )
        ratios = {k: v for k, v in row.items() if k.endswith("_ratio")}
        print(f"checkpointing {'on' if row['checkpointing'] else 'off'}: {ratios}")
        for name, label in labels.items():
            if row.get(name) and row[name].get("losses"):
                print(f"{label}: training loss at each logged step {row[name]['losses']}")


if __name__ == "__main__":
    main()
