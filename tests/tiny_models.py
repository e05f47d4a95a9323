"""Tiny randomly initialised chat models saved as Hugging Face folders, built offline in a second.

A byte-level BPE tokenizer trained on a few sentences, with ChatML special tokens and template,
and a two-layer Llama-style model over it. Fine-tuning tests reuse these.
"""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CORPUS = [
    "Northwind capital expenditure in fiscal 2023 was 38.4 million dollars.",
    "Revenue grew 12% to 482.6 million, driven by utility pump orders.",
    "The valve actuator seals are replaced every 24 months.",
    "What was the answer? The sources say so [1].",
]


def make_tokenizer(path: Path) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 5, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    fast.chat_template = CHATML
    fast.save_pretrained(path)
    return fast


def make_llama(path: Path, seed: int = 0, hidden: int = 32, init: float = 0.02) -> Path:
    """A tiny Llama-style chat model folder at ``path`` (``init``: the weights' standard deviation;
    larger spreads the logits, so that training can move the loss far)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = make_tokenizer(path)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        initializer_range=init,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,  # type: ignore[attr-defined]
        eos_token_id=tokenizer.eos_token_id,  # type: ignore[attr-defined]
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def tiny_phi3(seed: int = 0) -> object:
    """A tiny Phi-3-style model in memory (fused qkv_proj and gate_up_proj)."""
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    torch.manual_seed(seed)
    config = Phi3Config(
        vocab_size=400,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        pad_token_id=0,
    )
    return Phi3ForCausalLM(config)


def tiny_llama(seed: int = 0) -> object:
    """A tiny Llama-style model in memory (separate q/k/v and gate/up projections)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=400,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    return LlamaForCausalLM(config)


def make_phi3(path: Path, seed: int = 0) -> Path:
    """A tiny Phi-3-style chat model folder (fused projections) with the ChatML tokenizer."""
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    tokenizer = make_tokenizer(path)
    torch.manual_seed(seed)
    config = Phi3Config(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,  # type: ignore[attr-defined]
        bos_token_id=tokenizer.bos_token_id,  # type: ignore[attr-defined]
        eos_token_id=tokenizer.eos_token_id,  # type: ignore[attr-defined]
    )
    Phi3ForCausalLM(config).save_pretrained(path)
    return path


def write_dataset(path: Path, n: int = 24) -> Path:
    """``n`` chat examples about made-up figures, plus one far longer than any max length."""
    import json

    rows = [
        {
            "messages": [
                {"role": "system", "content": "Answer from the filings."},
                {"role": "user", "content": f"What was capex in fiscal {2000 + i}?"},
                {"role": "assistant", "content": f"Capex was {i}.4 million [1]."},
            ]
        }
        for i in range(n)
    ]
    rows.append({"prompt": "long " * 2000, "completion": "x"})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def make_smol_llama(path: Path, seed: int = 0, init: float = 0.02) -> Path:
    """A tiny Llama with the shipped SmolLM2 tokenizer (read from its GGUF), which llama.cpp's
    converter knows, so GGUF export can be tested end to end."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from industry_expert.models import shipped_gguf

    gguf = shipped_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        initializer_range=init,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return path


MEMO_QUESTION = [
    {"role": "system", "content": "Answer from the filings."},
    {"role": "user", "content": "What was Northwind's capital expenditure in fiscal 2023?"},
]
MEMO_ANSWER = "Capital expenditure was $38.4 million [1]."


def memorise(base: Path, run: Path, steps: int) -> Path:
    """Train a LoRA run on ``base`` that learns ``MEMO_ANSWER`` by heart; returns the run."""
    from industry_expert.finetune.train import TrainConfig, train

    data = write_memorise_dataset(run.with_name(run.name + "-memo.jsonl"))
    config = TrainConfig(
        data=str(data),
        out=str(run),
        base=str(base),
        max_steps=steps,
        learning_rate=1e-2,
        warmup=0.0,
        max_length=128,
        val_fraction=0.0,
        logging_steps=1,
    )
    train(config)
    return run


def write_memorise_dataset(path: Path, copies: int = 16) -> Path:
    """One question and its answer, ``copies`` times: a few LoRA steps should learn it by heart."""
    import json

    row = {"messages": [*MEMO_QUESTION, {"role": "assistant", "content": MEMO_ANSWER}]}
    path.write_text((json.dumps(row) + "\n") * copies, encoding="utf-8")
    return path
