"""What the CLI prints: JSON, hits, answers with their sources (progress of long work is
``progress.py``).

Text that comes from documents or file names goes through ``safe`` before it reaches a terminal:
an escape sequence in a PDF or a newline in a file name is shown, never obeyed. ``--json`` output
is exact (JSON escapes control characters itself).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def safe(text: Any, lines: bool = False) -> str:
    """``text`` with control characters written as escapes (``\\x1b``, ``\\n``) and bytes that
    were not UTF-8 in a file name written as ``\\udcXX``: shown, never obeyed by the terminal.
    With ``lines``, newlines and tabs stay (a model's multi-line answer)."""

    def escape(m: re.Match[str]) -> str:
        c = m.group()
        if lines and c in "\n\t":
            return c
        return _NAMED.get(c, f"\\x{ord(c):02x}")

    out = _CONTROL.sub(escape, str(text))
    return out.encode("utf-8", "backslashreplace").decode("utf-8")


def print_json(value: Any) -> None:
    """One line of JSON, UTF-8, exact: a file-name byte that was not UTF-8 (a lone surrogate) is
    written as its ``\\udcXX`` escape, which ``json.loads`` reads back to the same path."""
    text = json.dumps(value, ensure_ascii=False)
    print(re.sub("[\udc80-\udcff]", lambda m: f"\\u{ord(m.group()):04x}", text))


def format_hit(rank: int, hit: Any) -> str:
    where = hit.source + (f" p.{hit.page}" if hit.page else "") + (f" [{hit.locator}]" if hit.locator else "")
    where, text = safe(where), safe(" ".join(hit.text.split()))
    return f"{rank}. {where}  (score {hit.score:.4f})\n   {text[:300]}{'…' if len(text) > 300 else ''}"


def where(citation: Any) -> str:
    return safe(
        citation.source
        + (f", page {citation.page}" if citation.page else "")
        + (f", {citation.locator}" if citation.locator else "")
    )


def print_sources(answer: Any) -> None:
    for asked, searched in getattr(answer, "spelled", ()):
        print(
            f'note: no document has "{safe(asked)}"; searched for "{safe(searched)}" instead', file=sys.stderr
        )
    language = [c for c in answer.checks if c.startswith("the model does not write")]
    if language:
        print(
            f"note: {language[0]}: the line that answers is quoted in the document's words", file=sys.stderr
        )
    elif answer.quoted:
        why = ", ".join(answer.checks)
        print(
            f"note: the model's answer failed its checks ({why}); the line that answers is quoted instead",
            file=sys.stderr,
        )
    elif answer.unsupported:
        figures = ", ".join(safe(f) for f in answer.unsupported)
        print(
            f"warning: not in the cited sources: {figures}; check this answer against the documents",
            file=sys.stderr,
        )
    elif answer.checks:
        print(
            f"warning: this answer failed a check ({', '.join(answer.checks)}); read the sources",
            file=sys.stderr,
        )
    if answer.removed_citations:
        numbers = ", ".join(f"[{n}]" for n in answer.removed_citations)
        print(f"note: removed citation(s) {numbers}: no such source", file=sys.stderr)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            passage = safe(" ".join(c.passage.split()))
            how = "  (matched to the answer's figures and words)" if c.n in answer.attributed else ""
            print(f"  [{c.n}] {where(c)}{how}\n      {passage[:200]}{'…' if len(passage) > 200 else ''}")
    elif not answer.found and answer.hits:
        print("\nClosest passages (not close enough to answer from):")
        for h in answer.hits[:3]:
            print(f"  - {where(h)}")
    elif answer.hits:
        print("\n(no sources cited; the passages given to the model are in --json output)")


def print_problems(path: str, problems: list[tuple[int, str]], more: int) -> None:
    """A checked file's problems as ``PATH:LINE: problem`` lines, the way compilers write them."""
    for line, problem in problems:
        print(f"{path}:{line}: {problem}")
    if more:
        print(f"... and {more} more problem(s)")
