"""A model's own chat template, rendered from the Jinja text its GGUF or tokenizer file carries.

Local backends render the prompt themselves instead of trusting a built-in format table, so
Phi-3 gets ``<|user|>\\n…<|end|>\\n<|assistant|>\\n`` and SmolLM2 ``<|im_start|>user\\n…`` because
that is what the model file says. Two details the public recipes get wrong are handled here:

- stop strings: the end-of-turn marker the template writes (``<|end|>``, ``<|im_end|>``,
  ``<|eot_id|>``, ``<end_of_turn>``) is a stop string, as is the end-of-sequence token; Phi-3's
  EOS is ``<|endoftext|>`` but its turns end with ``<|end|>``;
- system messages: some templates (early Phi-3 ones among them) silently drop the system role;
  when the rendered prompt lacks the system text, it is folded into the first user message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import ChatTemplateError

END_OF_TURN = ("<|end|>", "<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|END_OF_TURN_TOKEN|>", "</s>")


def render(
    template: str,
    messages: Sequence[Mapping[str, str]],
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    """The prompt text ``template`` makes of ``messages``."""
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ChatTemplateError(f"the model's chat template refused the messages: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    try:
        compiled = env.from_string(template)

        def run(msgs: Sequence[Mapping[str, str]]) -> str:
            return compiled.render(
                messages=[dict(m) for m in msgs],
                bos_token=bos_token,
                eos_token=eos_token,
                add_generation_prompt=add_generation_prompt,
            )

        text = run(messages)
        system = [m for m in messages if m.get("role") == "system"]
        if system and system[0]["content"] and system[0]["content"] not in text:
            rest = [dict(m) for m in messages if m.get("role") != "system"]
            if rest and rest[0].get("role") == "user":
                rest[0]["content"] = f"{system[0]['content']}\n\n{rest[0]['content']}"
            text = run(rest)
        return text
    except TemplateError as exc:
        raise ChatTemplateError(f"the model's chat template cannot be rendered: {exc}") from None


def read_template(path: str) -> str:
    """The Jinja chat template in the file ``path`` ("" when no path is given)."""
    if not path:
        return ""
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ChatTemplateError(f"cannot read the chat template file {path}: {exc}") from None


def stop_strings(template: str, eos_token: str = "") -> list[str]:
    """End-of-turn markers the template writes, then the end-of-sequence token."""
    stops = [marker for marker in END_OF_TURN if marker in template]
    if eos_token and eos_token not in stops:
        stops.append(eos_token)
    return stops
