"""Citations checked against the sources the model was given.

The model cites ``[n]``, ``[n, m]`` or ``[n][m]``. Every number that names a source becomes a
``Citation`` (ordered by first use, each once); a number that names nothing is removed from the
text and reported, so no answer points at a passage that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..types import Citation, Hit

_CITE = re.compile(r"\s?\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def resolve_citations(text: str, sources: Sequence[Hit]) -> tuple[str, tuple[Citation, ...], list[int]]:
    """Return the answer with invalid markers removed, its citations, and the invalid numbers."""
    cited: dict[int, Citation] = {}
    invalid: list[int] = []

    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= len(sources)]
        invalid.extend(n for n in numbers if n not in valid)
        for n in valid:
            cited.setdefault(n, Citation.from_hit(n, sources[n - 1]))
        if not valid:
            return ""
        prefix = " " if match.group(0).startswith((" ", "\t", "\n")) else ""
        return prefix + "".join(f"[{n}]" for n in valid)

    cleaned = _CITE.sub(keep, text)
    return cleaned, tuple(cited.values()), invalid
