"""The checks an answer passes before a user reads it, as parts: one verdict type, one list.

Each check reads a ``Draft`` (the answer's text, the analysed question, the sources it was given)
and returns a ``Verdict``: passed, or failed with a label (what ``Answer.checks`` shows) and the
details (the unsupported figures, the sources an obeyed order came from). ``CHECKS`` lists them
in the order they run; ``run_checks`` runs them all. What happens when one fails (the answer
replaced by the quoted evidence, or shown with the flag) is not a check's business: it is the
model's entry in ``models.py`` (``failed_check_policy``), overridden by ``answer.unsupported``.

Add a check by writing a class with a ``name`` and ``__call__(draft) -> Verdict`` and listing it
in ``CHECKS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..question import Question
from ..types import Hit
from .injection import obeyed_sources
from .verify import answers_question, degenerate, unsupported_figures, wrong_period


@dataclass(frozen=True)
class Draft:
    """An answer as written, before it is shown."""

    text: str
    question: Question
    sources: Sequence[Hit]
    wants_figure: bool = False  # the question's grammar, or its evidence is a figure (answer.py)
    repeated: bool = False  # generation was stopped for repeating itself


@dataclass(frozen=True)
class Verdict:
    """A check's finding: ``failed`` is the label a user sees ("unsupported figure"), "" when it
    passed; ``details`` what it found (figures, or source numbers as text)."""

    check: str
    failed: str = ""
    details: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failed


class Check(Protocol):
    name: str

    def __call__(self, draft: Draft) -> Verdict: ...


class SupportedFigures:
    """Every figure the answer states is in a passage it cites (or, citing none, in any)."""

    name = "figures supported"

    def __call__(self, draft: Draft) -> Verdict:
        missing = unsupported_figures(draft.text, draft.sources, draft.question)
        return Verdict(self.name, "unsupported figure" if missing else "", tuple(missing))


class RightPeriod:
    """No figure comes from a table column of another year than the question's."""

    name = "right period"

    def __call__(self, draft: Draft) -> Verdict:
        # only figures the cited passages hold are placed in a column: an unsupported one is not judged again
        wrong = wrong_period(draft.text, draft.sources, draft.question)
        return Verdict(self.name, "wrong period" if wrong else "", tuple(wrong))


class NotDegenerate:
    """The model did not fall into repeating itself."""

    name = "not degenerate"

    def __call__(self, draft: Draft) -> Verdict:
        return Verdict(self.name, "repetition" if draft.repeated or degenerate(draft.text) else "")


class AnswersQuestion:
    """A figure question gets a figure; any other answer says something the question did not."""

    name = "answers the question"

    def __call__(self, draft: Draft) -> Verdict:
        if answers_question(draft.text, draft.question, draft.sources, draft.wants_figure):
            return Verdict(self.name)
        figure = draft.wants_figure or draft.question.wants_figure
        return Verdict(self.name, "no figure" if figure else "no answer")


class NotInjected:
    """The answer does not copy a passage that has nothing to do with the question: an order a
    document planted, obeyed in any wording (``injection.obeyed_sources``)."""

    name = "not an injection"

    def __call__(self, draft: Draft) -> Verdict:
        obeyed = obeyed_sources(draft.text, draft.question.text, [h.text for h in draft.sources])
        return Verdict(
            self.name, "copies a passage off the question" if obeyed else "", tuple(map(str, obeyed))
        )


CHECKS: tuple[Check, ...] = (
    SupportedFigures(),
    RightPeriod(),
    NotDegenerate(),
    AnswersQuestion(),
    NotInjected(),
)


def run_checks(draft: Draft, checks: Sequence[Check] = CHECKS) -> list[Verdict]:
    """Every check's verdict on ``draft``, in order."""
    return [check(draft) for check in checks]
