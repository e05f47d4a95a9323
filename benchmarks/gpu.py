"""LoRA against QLoRA, and generation, on a GPU at the reference model's size.

    python benchmarks/gpu.py                 # Phi-3-mini shape (3.8B), LoRA then QLoRA, then generation
    python benchmarks/gpu.py --tiny          # a 2-layer model: checks the script on a CPU in seconds

Phi-3-mini's weights cannot be downloaded here, and speed and memory do not depend on the weights'
values, so the model is Phi-3-mini's architecture (``Phi3Config()``'s defaults: 32 layers, hidden
3,072, vocabulary 32,064) with random weights, saved as a Hugging Face folder in bf16. Everything
else is the product's own path: ``finetune.train.train`` (TRL's SFTTrainer, peft, LoRA on every
linear layer, r=16, gradient checkpointing on, bf16) with ``method="lora"`` and then
``method="qlora"`` (4-bit NF4, double quantization, bf16 compute), each in its own process, and
``TransformersGenerator`` for generation. Each training run reports the product's tokens/s and
the peak GPU memory PyTorch allocated (``torch.cuda.max_memory_allocated``).

The examples are RAFT-sized (a prompt of about 1,000 tokens, an answer of 40) made of random
words of a word-level tokenizer the size of Phi-3's vocabulary (one token a word, ChatML template),
so lengths are exact and whatever a random model writes decodes.
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
from typing import Any

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def make_tokenizer(folder: Path, vocab_size: int) -> object:
    """A word-level tokenizer of ``vocab_size`` words ``w0, w1, ...`` (one token a word, so every
    id a random model writes decodes to a word, and prompt lengths are exact) with ChatML."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "[UNK]"]
    words = ["system", "user", "assistant"]
    vocab = {w: i for i, w in enumerate(specials + words)}
    vocab.update({f"w{i}": len(vocab) + i for i in range(vocab_size - len(vocab))})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece()  # joins words with spaces
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="[UNK]",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML
    fast.save_pretrained(folder)
    return fast


def make_model(folder: Path, tiny: bool) -> Path:
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    if (folder / "config.json").is_file():
        return folder
    fast: Any = make_tokenizer(folder, Phi3Config().vocab_size)
    shape = (
        {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4}
        if tiny
        else {}
    )
    config = Phi3Config(
        **shape,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        model = Phi3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    return folder


def words(rng: random.Random, n: int) -> str:
    return " ".join(f"w{rng.randrange(32_000)}" for _ in range(n))


def make_data(path: Path, n: int, prompt_words: int) -> Path:
    rng = random.Random(0)
    rows = []
    for _ in range(n):
        passage = words(rng, prompt_words)
        answer = words(rng, 40)
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": words(rng, 30)},
                    {"role": "user", "content": passage},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ONE_RUN = r"""
import json, sys, time, torch
from industry_expert.finetune.train import TrainConfig, train
config = TrainConfig(**json.loads(sys.argv[1]))
if torch.cuda.is_available():
    torch.cuda.reset_peak_memory_stats()
logs = []
def progress(event):
    if event["event"] == "log" and "num_tokens" in event:
        logs.append((time.perf_counter(), event["step"], event["num_tokens"]))
result = train(config, progress=progress)
# steady state: from the second log line on (the first steps pay for kernels' first use)
(t0, s0, n0), (t1, s1, n1) = logs[1], logs[-1]
out = {"method": config.method, "tokens_per_s": result.tokens_per_s, "seconds": round(result.seconds, 1),
       "steady_tokens_per_s": round((n1 - n0) / (t1 - t0), 1), "steady_s_per_step": round((t1 - t0) / (s1 - s0), 3),
       "steps": result.steps, "trainable": result.trainable_parameters, "total": result.total_parameters,
       "train_loss": result.metrics.get("train_loss")}
if torch.cuda.is_available():
    out["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
    out["reserved_gpu_gb"] = round(torch.cuda.max_memory_reserved() / 1e9, 2)
print("RESULT " + json.dumps(out), flush=True)
"""


def train_once(base: Path, data: Path, out: Path, method: str, steps: int, batch: int) -> dict:
    config = {
        "data": str(data),
        "out": str(out),
        "base": str(base),
        "method": method,
        "max_steps": steps,
        "batch_size": batch,
        "max_length": 2048,
        "val_fraction": 0.0,
        "logging_steps": max(1, steps // 8),
        "save_steps": 10_000,
        "eval_steps": 10_000,
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", ONE_RUN, json.dumps(config)], capture_output=True, text=True, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{method} run failed:\n{done.stderr[-3000:]}")
    result = json.loads(line[7:])
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


def generation(base: Path, prompt_words: int, new_tokens: int) -> dict:
    """``TransformersGenerator.stream`` (our path: chat template, streamer thread, stop tokens)
    against a bare ``model.generate`` of the same prompt on the same model, alternating."""
    import torch

    from industry_expert.generate.hf import TransformersGenerator

    started = time.perf_counter()
    gen = TransformersGenerator(str(base), context_window=4096)
    load_s = time.perf_counter() - started
    rng = random.Random(1)
    messages = [{"role": "user", "content": words(rng, prompt_words)}]
    inputs = gen.tokenizer(gen.prompt(messages), return_tensors="pt", add_special_tokens=False).to(gen.device)
    prompt_tokens = int(inputs["input_ids"].shape[1])

    def sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def ours(n: int) -> tuple[float, int]:
        sync()
        t = time.perf_counter()
        text = "".join(gen.stream(messages, max_tokens=n))
        sync()
        return time.perf_counter() - t, gen.count_tokens(text)

    def bare(n: int) -> tuple[float, int]:
        sync()
        t = time.perf_counter()
        with torch.inference_mode():
            out = gen.model.generate(
                **inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0
            )
        sync()
        return time.perf_counter() - t, int(out.shape[1]) - prompt_tokens

    ours(4), bare(4)  # warm-up
    rows: dict[str, list[float]] = {"ours": [], "bare": []}
    for i in range(4):
        for name, run in (("ours", ours), ("bare", bare)) if i % 2 == 0 else (("bare", bare), ("ours", ours)):
            one, _ = run(1)
            full, produced = run(new_tokens)
            rows[name].append((produced - 1) / max(full - one, 1e-9))
    med = {k: round(statistics.median(v), 1) for k, v in rows.items()}
    return {
        "device": gen.device,
        "load_s": round(load_s, 1),
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "first_token_ms": round(1000 * min(ours(1)[0] for _ in range(3)), 1),
        "decode_tokens_per_s_ours": med["ours"],
        "decode_tokens_per_s_bare": med["bare"],
        "ours_vs_bare": round(med["ours"] / med["bare"], 3),
    }


def embedding(model: str, n: int) -> dict:
    """``SentenceTransformerEmbedder`` (the product's PyTorch embedder) on the GPU against the same
    on this machine's CPU, float32 on both, over ``n`` chunk-sized texts (about 160 tokens each)."""
    import torch

    from industry_expert.embed.local import SentenceTransformerEmbedder

    vocab = (
        "revenue capital expenditure operating margin segment fiscal quarter income cash flow dividend "
        "guidance backlog inventory pump valve plant utility region growth decline million billion "
        "percent compared prior year reported net sales cost goods research development tax rate"
    ).split()
    rng = random.Random(2)
    texts = [" ".join(rng.choices(vocab, k=150)) for _ in range(n)]
    out: dict = {"texts": n, "tokens_per_text": None}
    for device, batch in (("cuda", 256), ("cpu", 32)):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        emb = SentenceTransformerEmbedder(model, batch_size=batch, device=device)
        emb.model.float()  # the shipped weights' precision, whatever the folder was saved in
        out["tokens_per_text"] = round(statistics.mean(emb.count_tokens(texts[:50])))
        subset = texts if device == "cuda" else texts[: max(64, n // 8)]
        emb.embed_batch(subset[:64])  # warm-up
        t = time.perf_counter()
        emb.embed_batch(subset)
        out[f"{device}_texts_per_s"] = round(len(subset) / (time.perf_counter() - t), 1)
    if "cuda_texts_per_s" in out:
        out["gpu_vs_cpu"] = round(out["cuda_texts_per_s"] / out["cpu_texts_per_s"], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model, to check the script")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--work", default="/tmp/expert-gpu-bench")
    parser.add_argument("--only", default="train,generate,embed", help="comma-separated parts to run")
    parser.add_argument(
        "--embedder", default="", help="a sentence-transformers folder (default: the shipped one)"
    )
    args = parser.parse_args()
    import torch

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    base = make_model(work / ("phi3-tiny" if args.tiny else "phi3-mini-shape"), args.tiny)
    print(f"model folder ready in {time.perf_counter() - t:.1f}s: {base}", flush=True)
    prompt_words = 60 if args.tiny else 1000
    data = make_data(work / "train.jsonl", n=max(64, args.steps * args.batch), prompt_words=prompt_words)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    results: dict = {"device": device, "torch": torch.__version__, "runs": []}
    parts = args.only.split(",")
    for method in ("lora", "qlora") if "train" in parts else ():
        out = work / f"run-{method}-{int(time.time())}"
        run = train_once(base, data, out, method, args.steps, args.batch)
        print(json.dumps(run), flush=True)
        results["runs"].append(run)
    if "train" in parts:
        lora, qlora = results["runs"]
        results["qlora_vs_lora"] = {
            "speed": round(qlora["steady_tokens_per_s"] / lora["steady_tokens_per_s"], 2),
            "peak_memory": round(qlora.get("peak_gpu_gb", 0) / max(lora.get("peak_gpu_gb", 0), 1e-9), 2)
            if "peak_gpu_gb" in lora
            else None,
        }
    if "generate" in parts:
        results["generation"] = generation(base, prompt_words, 64 if args.tiny else 128)
    if "embed" in parts:
        results["embedding"] = embedding(args.embedder or "all-MiniLM-L6-v2", 256 if args.tiny else 4096)
    print("SUMMARY " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
