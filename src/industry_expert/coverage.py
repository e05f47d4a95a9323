"""Whether the workspace is about what a question names: the check behind "nothing found in it
is about X", and the near spellings that rescue a misspelled name.

A question that names a company, a place, a product or a code the workspace holds nothing about
is refused before any model is asked. "Nothing" asks the workspace, not the few passages
retrieved: a name is held when a retrieved passage, another chunk of a retrieved document, or a
file name or title holds it (benchmarks/refusals.py), with the rules for names of several words
in ``Coverage.held``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .generate.verify import missing_names, name_texts
from .language import Words, near_spelling, spelled_words
from .question import Question
from .retrieve import Retriever
from .store import SearchFilter
from .types import Hit


def close_together(words: set[str], text: str) -> bool:
    """Whether lower-cased ``text`` holds every one of ``words`` within a span of two words more
    than there are of them, in any order.

    >>> close_together({"labor", "department"}, "the department of labor reported")
    True
    >>> close_together({"labor", "board"}, "labor costs rose while the board met")
    False
    """
    tokens = re.findall(r"\w+", text)
    return any(
        token in words and words <= set(tokens[i : i + len(words) + 2]) for i, token in enumerate(tokens)
    )


class Coverage:
    """What ``retriever`` finds inside ``where`` about the names of a question; ``depth``: how
    many passages a search for a misspelled rare word reads."""

    def __init__(self, retriever: Retriever, where: SearchFilter, depth: int):
        self.retriever = retriever
        self.where = where
        self.depth = depth

    def missing(self, analysis: Question, hits: Sequence[Hit]) -> list[str]:
        """The names and codes the question writes that nothing found is about: no retrieved
        passage, no chunk of the documents retrieved, and no file name or title a search may read
        has them ("not in the workspace" asks the workspace, not a few passages:
        benchmarks/refusals.py)."""
        docs = sorted({h.document_id for h in hits if h.document_id is not None})
        passages = name_texts(hits)
        missing = [
            n
            for n in missing_names(analysis, hits)
            if not self.held(n, passages, docs, analysis.words)
            and not (
                n in (*analysis.codes, *analysis.rare) and self.retriever.mentions_anywhere(n, self.where)
            )
        ]
        # a code or a rare word names one thing, which the workspace holds or does not wherever
        # retrieval looked; a
        # question that names its subject by a code the workspace holds ("the Beech Musketeer N8770M":
        # the report says "Beech A23") is about the workspace, and a detail it words otherwise is no
        # reason to refuse. Capitalised words are no such evidence ("Annual Performance Report")
        if missing and any(c not in missing for c in analysis.codes):
            return []
        return missing

    def held(
        self, name: str, passages: Sequence[str], docs: Sequence[int], words: Words | None = None
    ) -> bool:
        """Whether the workspace is about ``name``: a retrieved passage, a chunk of a retrieved
        document, or a file name or title holds it. Capitalised words side by side may be two names
        ("the Weiser Air Park Cessna"): they are held when every word is and two of them stand
        together as written, or when one retrieved passage or another chunk of a retrieved
        document holds them all close together ("the Labor Department"), or when every word is
        too rare in ``words``' language to be an ordinary word and each is held ("the Lutronic
        Accufit study": a maker and its product, which the protocol names apart; "Federal Election
        Commission" is three ordinary words, each in every federal report), or when a retrieved
        document holds every word and is about one of them (``Router.held_by``: "the Tallahassee
        Piper accident"). A name made only of everyday words (``Words.ordinary``: "National Labor
        Relations Board") is held only where its words stand close together."""

        def holds(words: str) -> bool:
            low = words.lower()
            return any(low in p for p in passages) or self.retriever.mentions(words, docs)

        if holds(name) or self.retriever.names(name, self.where):
            return True
        parts = name.split()
        if len(parts) < 2:
            return False
        if words is not None and all(words.rare(p) and holds(p) for p in parts):
            return True
        # a name of everyday words only ("National Labor Relations Board") is one thing, written
        # as one phrase wherever it is meant: its words held apart are no evidence of it
        if not (words is not None and all(words.ordinary(p) for p in parts)):
            if all(holds(p) for p in parts) and any(
                holds(f"{a} {b}") for a, b in zip(parts, parts[1:], strict=False)
            ):
                return True
            # or one retrieved document holds every word and is about one of them ("the
            # Tallahassee Piper accident": the report of a Piper near Tallahassee, which writes the
            # two apart)
            about = {d for p in parts for d in self.retriever.router.held_by(p)} & set(docs)
            if any(all(self.retriever.mentions(p, [d]) for p in parts) for d in about):
                return True
        # or the words stand close together, in any order, in a passage or in another chunk of a
        # retrieved document ("the Labor Department" is the "Department of Labor")
        wanted = {p.lower() for p in parts}
        return any(close_together(wanted, text) for text in passages) or any(
            close_together(wanted, text.lower()) for text in self.retriever.document_texts(docs)
        )

    def _wider_words(self, query: str, docs: Sequence[int]) -> set[str]:
        """Every word of the documents retrieved and of those a deeper search reaches (``depth``
        passages): a misspelled place ("Tallahasee") keeps its report out of the few passages
        retrieved, but not out of the next ones."""
        deeper = self.retriever.search(query, self.depth, where=self.where)
        wider = {*docs, *(h.document_id for h in deeper if h.document_id is not None)}
        return self.retriever.document_words(sorted(wider))

    def spellings(
        self, missing: Sequence[str], analysis: Question, hits: Sequence[Hit], query: str
    ) -> dict[str, str | None]:
        """Each word of the ``missing`` names that nothing holds, with the held word it is a near
        spelling of (None for none): first among the words of the passages found, then, for a rare
        word, among every word of the documents a deeper search reaches."""
        seen = spelled_words(" ".join(f"{h.source} {h.title} {h.header} {h.text}" for h in hits))
        docs = sorted({h.document_id for h in hits if h.document_id is not None})
        passages = name_texts(hits)
        fixes: dict[str, str | None] = {}
        whole: set[str] | None = None  # every word of the documents retrieved, read once if needed
        for name in missing:
            for word in name.split():
                if not self.held(word, passages, docs):
                    fixes[word] = near_spelling(word, seen)
                    if fixes[word] is None and (word in analysis.rare or analysis.words.rare(word)):
                        whole = self._wider_words(query, docs) if whole is None else whole
                        fixes[word] = near_spelling(word, whole)
        return fixes
