"""The Generator protocol: one required method, ``stream``, and helpers on top.

A generator takes chat messages (``{"role": ..., "content": ...}``) and yields the answer's text
as it is produced; ``complete`` joins the pieces. ``count_tokens`` and ``context_window`` let the
prompt builder fit retrieved passages to the model.

A generator may also say what becomes of its answers when a check fails (``generate/checks.py``):
``on_failed_check``, ``"quote"`` (replaced by the quoted evidence) or ``"flag"`` (shown, flagged;
the default when the attribute is absent). The local generators take it from their model's entry
(``models.ModelRef.on_failed_check``). ``languages`` (ISO 639-1 codes, absent or empty: any) says
which languages it writes; a question in another is answered by quoting the line that answers it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

Messages = Sequence[Mapping[str, str]]


@runtime_checkable
class Generator(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def context_window(self) -> int: ...

    def stream(
        self, messages: Messages, max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...


def complete(
    generator: Generator, messages: Messages, max_tokens: int = 512, temperature: float = 0.0
) -> str:
    """The whole answer at once."""
    return "".join(generator.stream(messages, max_tokens=max_tokens, temperature=temperature))
