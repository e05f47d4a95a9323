"""The value types that flow through the pipeline.

``Block`` is what a loader reads (a paragraph, heading, table or table row, with its page and
locator); ``Document`` is one file's blocks with provenance; ``Chunk`` is what gets embedded and
indexed; ``Hit`` is what retrieval returns. ``Citation`` and ``Answer`` are what generation builds
on top of hits: a citation is a hit narrowed to the passage an answer relies on.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .errors import InputError

BlockKind = Literal["heading", "text", "table", "row"]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str, what: str = "collection") -> str:
    """``name`` if it is a valid collection, key or adapter name: 1-64 letters, digits, ``_ . -``,
    starting with a letter or digit. The one rule for such names, wherever they come from (the
    command line, a request, a key's scope), so that a name one part takes another never refuses.

    >>> check_name("finance-2023")
    'finance-2023'
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(
            f"{what} name {name!r} is not valid: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Block:
    """One structural unit of a document, in reading order.

    ``row`` blocks carry one record of a table as ``column: value`` pairs so that the column
    names travel with the values; ``locator`` names where it is (``Sheet1 row 12``, ``slide 3``).
    """

    text: str
    kind: BlockKind = "text"
    page: int | None = None
    locator: str | None = None
    level: int = 0


@dataclass(frozen=True)
class Document:
    """One loaded file: its blocks and what it is about.

    ``metadata`` holds what the loader or the filing detector found: ``format``, and where known
    ``company``, ``form`` and ``period``.
    """

    source: str
    title: str
    blocks: tuple[Block, ...]
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A passage ready to embed: ``header`` names its document and section, ``text`` is the body."""

    text: str
    header: str
    ordinal: int
    page: int | None = None
    locator: str | None = None
    tokens: int = 0

    @property
    def indexed_text(self) -> str:
        """What the embedder and the keyword index see: the header, then the passage."""
        return self.indexed(self.header, self.text)

    @staticmethod
    def indexed(header: str, text: str) -> str:
        """The ``indexed_text`` of a chunk with this header and text (a stored row's)."""
        return f"{header}\n{text}" if header else text


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with its provenance."""

    chunk_id: int
    source: str
    page: int | None
    locator: str | None
    score: float
    text: str
    header: str = ""
    title: str = ""
    collection: str = "default"
    document_id: int | None = None  # the store's id of its document (links to it: /documents/ID)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Citation:
    """The passage an answer's ``[n]`` points at, with the store's ids of its chunk and document
    (a link to the document, the hit it was made from: ``Answer.cited_hits``)."""

    n: int
    source: str
    page: int | None
    locator: str | None
    passage: str
    chunk_id: int | None = None
    document_id: int | None = None

    @classmethod
    def from_hit(cls, n: int, hit: Hit) -> Citation:
        return cls(
            n=n,
            source=hit.source,
            page=hit.page,
            locator=hit.locator,
            passage=hit.text,
            chunk_id=hit.chunk_id,
            document_id=hit.document_id,
        )


@dataclass(frozen=True)
class Answer:
    """A generated answer with the citations it makes and the hits it was given.

    ``found`` is False when retrieval found nothing relevant enough (``relevance``, the cosine
    similarity of the best passage, under ``answer.min_relevance``): the text then says so and no
    model was asked. ``query`` is what was searched, the standalone rewrite of a chat follow-up.
    ``removed_citations`` are numbers the model cited that named no source;
    ``attributed`` are citations added after the model wrote, by matching an uncited sentence's
    figures and words to a source. ``unsupported`` lists figures the answer states that none of
    its cited passages holds; ``checks`` names each check the model's answer failed, and
    ``quoted`` says its text was replaced by the quoted ``evidence``. ``timings`` are in ms.
    """

    text: str
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()
    question: str = ""
    query: str = ""
    found: bool = True
    model: str = ""
    relevance: float | None = None
    removed_citations: tuple[int, ...] = ()
    attributed: tuple[int, ...] = ()
    unsupported: tuple[str, ...] = ()  # figures the answer states that no cited passage holds
    checks: tuple[str, ...] = ()  # what failed: "unsupported figure", "no figure", "repetition"
    quoted: bool = False  # the model's answer failed its checks and the evidence was quoted instead
    evidence: str = ""  # the line picked as the answer's evidence, "[n] text"
    # (asked, searched): a name no document has, searched as the near spelling one does
    spelled: tuple[tuple[str, str], ...] = ()
    computation: str = ""  # the operation computed from the passages' figures ("percent_change"), if any
    dropped: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def cited_hits(self) -> dict[int, Hit]:
        """The hit each citation was made from, by citation number (matched by chunk id)."""
        hits = {h.chunk_id: h for h in self.hits}
        return {c.n: hits[c.chunk_id] for c in self.citations if c.chunk_id in hits}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["answer"] = data.pop("text")
        for hit in data["hits"]:
            hit["score"] = round(hit["score"], 6)
        if self.relevance is not None:
            data["relevance"] = round(self.relevance, 4)
        data["timings"] = {k: round(v, 1) for k, v in self.timings.items()}
        return data
