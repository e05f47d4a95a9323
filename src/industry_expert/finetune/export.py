"""Export a training run: the adapter merged into its base, GGUF files for llama.cpp, a Modelfile.

- ``merge``: the base is loaded unquantized (also after QLoRA, whose base was 4-bit only for
  training; a GGUF base is de-quantized by transformers), the adapter is applied and merged with
  peft's ``merge_and_unload`` (W + alpha/r · B·A), and the result is saved as a Hugging Face folder
  with the base's tokenizer and chat template.
- ``gguf``: llama.cpp's own converters (``convert_hf_to_gguf.py`` for the merged model,
  ``convert_lora_to_gguf.py`` for the adapter alone), unpacked from the installed xllamacpp's source
  distribution when the ``train`` extra is installed (see the Makefile) rather than a converter of our own, and an
  Ollama ``Modelfile`` with the model's stop strings.

Everything goes under ``RUN/export/``; an existing export is not overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ExportError
from ..extras import require
from ..models import base_fingerprint, hf_source, resolve_model, run_converter
from ..models import converters_dir as _converters_dir
from .train import MANIFEST, TrainConfig

OutType = Literal["f32", "f16", "bf16", "q8_0"]  # GGUF tensor types llama.cpp's converter writes


def converters_dir() -> Path:
    """Where llama.cpp's converters are (``models.converters_dir``), or ``ExportError``."""
    return _converters_dir(ExportError)


def _run_manifest(run: Path) -> dict[str, Any]:
    manifest = run / MANIFEST
    if not manifest.is_file():
        raise ExportError(f"{run} is not a training run (no {MANIFEST})")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    if data.get("status") != "done" or not (run / "adapter" / "adapter_config.json").is_file():
        raise ExportError(f"{run} has not finished training; finish it with `expert train --resume {run}`")
    return dict(data)


@dataclass
class ExportResult:
    run: str
    merged: str = ""
    gguf: list[str] = field(default_factory=list)
    modelfile: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "merged": self.merged, "gguf": self.gguf, "modelfile": self.modelfile}


def merge(run: Path, out: Path) -> Path:
    """Merge ``run``'s adapter into its unquantized base and save the model folder ``out``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    manifest = _run_manifest(run)
    config = TrainConfig(**manifest["config"])
    base_ref = resolve_model(config.base, ExportError)
    trained_on = manifest.get("base", {}).get("sha256", "")
    if base_ref.path is not None and trained_on and base_fingerprint(base_ref.path) != trained_on:
        raise ExportError(
            f"the base model {config.base} has changed since {run} was trained on it (its weights' "
            "SHA-256 differs from the manifest's); export with the base the run was trained on"
        )
    where, local = hf_source(base_ref)
    options: dict[str, Any] = {"local_files_only": local}
    try:
        base = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **options)
        tokenizer = AutoTokenizer.from_pretrained(where, **options)
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot load the base model {config.base}: {str(exc).splitlines()[0]}") from None
    model = PeftModel.from_pretrained(base, str(run / "adapter")).merge_and_unload()
    out.mkdir(parents=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _convert(script: str, args: list[str]) -> None:
    run_converter(script, args, ExportError)


def modelfile(gguf: Path, stops: list[str], system: str = "") -> str:
    """An Ollama Modelfile for ``gguf`` (Ollama reads the chat template from the GGUF)."""
    lines = [f"FROM ./{gguf.name}"]
    lines += [f"PARAMETER stop {json.dumps(s)}" for s in stops]
    lines.append("PARAMETER temperature 0")
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"


def export(
    run: str | Path, merged: bool = True, gguf: bool = False, outtype: OutType = "f16"
) -> ExportResult:
    """Write ``RUN/export/merged`` and, with ``gguf``, the GGUF files and a Modelfile."""
    from ..generate.chat_template import stop_strings

    run = Path(run)
    _run_manifest(run)
    require("train", why="expert export")
    target = run / "export"
    if target.exists():
        raise ExportError(f"{target} already exists; delete it to export again")
    result = ExportResult(str(run))
    if gguf:
        converters_dir()  # fail before the slow merge when the converter is missing
    try:
        folder = merge(run, target / "merged")
        result.merged = str(folder)
        if gguf:
            model_file = target / f"{run.name}-{outtype}.gguf"
            _convert(
                "convert_hf_to_gguf.py",
                [str(folder.resolve()), "--outfile", str(model_file.resolve()), "--outtype", outtype],
            )
            adapter_file = target / f"{run.name}-lora-{outtype}.gguf"
            _convert(
                "convert_lora_to_gguf.py",
                [
                    str((run / "adapter").resolve()),
                    "--base",
                    str(folder.resolve()),
                    "--outfile",
                    str(adapter_file.resolve()),
                    "--outtype",
                    outtype,
                ],
            )
            result.gguf = [str(model_file), str(adapter_file)]
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder)
            template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else ""
            (target / "Modelfile").write_text(
                modelfile(model_file, stop_strings(template, tokenizer.eos_token or "")), encoding="utf-8"
            )
            result.modelfile = str(target / "Modelfile")
    except BaseException:
        import shutil

        shutil.rmtree(target, ignore_errors=True)  # a half export is worse than none
        raise
    if not merged:
        import shutil

        shutil.rmtree(target / "merged", ignore_errors=True)
        result.merged = ""
    return result
