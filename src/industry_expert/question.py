"""A question, analysed once: what every later step of the answer path reads.

``Question.analyse(text, fallback_language)`` reads the text once into

- ``language``: from the text (``language.detect``), else the collection's;
- ``words``: that language's word handling (``language.Words``: tokens, stop words, stems);
- ``terms``: its key terms (stems of its content words), ``phrase`` every word's stem in order
  (for word pairs such as "net income");
- ``years``: the years it names (``2023``, ``FY2023``, ``FY23``);
- ``names``: the words it writes as names: capitalised, not opening a sentence, not a stop word
  of its language (in a language that capitalises every noun, such as German, a capital says
  nothing, and the caller asks the workspace instead);
- ``entities``: the key terms that name the thing asked about (its names, and codes such as
  ``N74SR`` or ``NCT06152367``), apart from the terms that say what is asked of it;
- ``wants_figure``: whether its grammar asks for an amount ("how many", "wie viel", "چقدر", "in
  millions", "Round your answer"); a question that names a measure in other words ("What was net
  income?") is known to want a figure once its evidence is a table cell
  (``answer.py``);
- ``open``: whether it asks for a reason, a manner, a person or a place ("why", "how is", "wer"),
  which no figure in its evidence turns into a figure question;
- ``operation``: the one operation on figures it names, if any ("percentage change", "ratio of",
  "difference"), from ``reference/questions.json``; ``compares``: whether it sets two figures
  against each other ("how many more ... than", "the difference").

The grammar words are data (``reference/questions.json``), by language; nothing here names the
vocabulary of a trade.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .language import CAPITALISES_NOUNS, DEFAULT, Words, detect

_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
_FY_SHORT = re.compile(r"\bF[Yy]\s?'?(\d{2})\b")
_NAME = re.compile(r"(?<![\w'’-])([A-Z][a-z]+(?:[A-Z][a-z]+)*)(?:['’]s)?(?![\w&])")
# a code that names one thing: letters and digits mixed with a capital (N74SR, PA-22, NCT06152367), or
# an acronym (NTSB, OPM)
_IDENTIFIER = re.compile(
    r"(?<![\w-])(?=[\w-]*[A-Z])(?=[\w-]*\d)[A-Za-z\d][\w-]*|(?<![\w-])[A-Z]{2,}(?![\w-])"
)
_DATE_WORD = re.compile(r"\b([A-Z][a-z]+)\.? (?:(?:[12]?\d|3[01])(?:st|nd|rd|th)?\b|(?:19|20)\d{2}\b)")
_WORD_DATE = re.compile(r"\b(?:[12]?\d|3[01])(?:st|nd|rd|th)? ([A-Z][a-z]+)\b")
_OPENER = re.compile(r"(?:^|[.!?:;]\s+)[\"“(]?([A-Z][a-z]+)")
OPERATIONS = ("percent_change", "share", "ratio", "average", "sum", "change")


@cache
def _grammar() -> dict:  # type: ignore[type-arg]
    return json.loads(
        resources.files("industry_expert").joinpath("reference/questions.json").read_text("utf-8")
    )


def years_in(text: str) -> set[str]:
    """Years ``text`` names: ``2023``, ``FY2023``, ``FY23``.

    >>> sorted(years_in("Capex in FY23 against fiscal 2021?"))
    ['2021', '2023']
    """
    years = set(_YEAR.findall(text))
    years.update("20" + y for y in _FY_SHORT.findall(text))
    return years


def _has(text: str, phrase: str) -> bool:
    if " " in phrase or not phrase.isascii():
        return phrase in text
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


@dataclass(frozen=True)
class Question:
    text: str
    language: str
    words: Words
    terms: tuple[str, ...]
    stop_terms: frozenset[str]  # stems of its words on the language's stop list ("length" is on English's)
    phrase: tuple[str, ...]
    years: frozenset[str]
    names: tuple[str, ...]
    codes: tuple[str, ...]  # codes that name one thing: N74SR, PA-22-150, NCT06152367
    entities: frozenset[str]  # the key terms that name a thing (its names and codes), not what is asked of it
    wants_figure: bool
    open: bool  # asks for a reason, a manner, a person or a place: never a figure by its evidence
    operation: str | None
    rare: tuple[
        str, ...
    ] = ()  # lower-case words too rare in the language to be ordinary ones: names ("pembrolizumab")
    compares: bool = False  # sets two figures against each other ("how many more ... than", "the difference")

    @staticmethod
    def analyse(text: str, fallback_language: str = DEFAULT) -> Question:
        """
        >>> q = Question.analyse("What was 3M's capex in FY2022? Round your answer to two decimals.")
        >>> q.language, sorted(q.years), q.names, q.wants_figure, q.operation
        ('en', ['2022'], (), True, None)
        >>> q = Question.analyse("What was Tesla's year-over-year percentage change in revenue from 2021 to 2022?")
        >>> q.names, q.operation
        (('Tesla',), 'percent_change')
        >>> Question.analyse("Wie hoch war der Umsatz von Siemens im Jahr 2023?").names
        ()
        """
        text = " ".join(text.split())
        language = detect(text, fallback_language)
        words = Words.of(language)
        grammar = _grammar()
        lowered = text.lower()
        quantity = grammar["quantity"].get(words.language, [])
        wants_figure = any(_has(lowered, p) for p in quantity) or "%" in text
        asks_open = not wants_figure and any(
            _has(lowered, p) for p in grammar["open"].get(words.language, [])
        )
        operation = None
        for name in OPERATIONS:
            if any(_has(lowered, p) for p in grammar["operations"].get(words.language, {}).get(name, [])):
                operation = name
                break
        years = years_in(text)
        names = _names(text, words)
        codes = codes_in(text)
        entities = frozenset(words.terms(" ".join([*names, *codes]))) - years
        named = {w.lower() for n in (*names, *codes) for w in n.split()}
        rare = [
            w
            for w in dict.fromkeys(words.tokens(text))
            if len(w) >= 4 and w.isalpha() and w not in words.stop and w not in named and words.rare(w)
        ]
        return Question(
            text=text,
            language=words.language,
            words=words,
            terms=tuple(t for t in words.terms(text) if t not in years),
            stop_terms=frozenset(words.stem(w) for w in words.tokens(text) if w in words.stop) - years,
            phrase=tuple(words.all_terms(text)),
            years=frozenset(years),
            names=names,
            codes=tuple(codes),
            entities=entities,
            wants_figure=wants_figure,
            open=asks_open,
            operation=operation,
            rare=tuple(rare),
            compares=any(_has(lowered, p) for p in grammar["compares"].get(words.language, [])),
        )


def codes_in(text: str) -> list[str]:
    """The codes ``text`` writes that name one thing, each once, in order.

    >>> codes_in("Who owned N461TC in FY2023, per the 10-K and NCT06152900?")
    ['N461TC', 'NCT06152900']
    """
    years = years_in(text)
    return [c for c in dict.fromkeys(_IDENTIFIER.findall(text)) if _names_one_thing(c, years)]


def _names_one_thing(code: str, years: set[str]) -> bool:
    """Whether ``code`` names one thing (N74SR, PA-22, NCT06152367) rather than a period (FY2023,
    Q3) or a kind of document (10-K, 10-Qs)."""
    letters = sum(c.isalpha() for c in code)
    digits = sum(c.isdigit() for c in code)
    if years_in(code) or len(code) < 4 or re.fullmatch(r"\d+-[A-Z]s?|(?:FY|CY|Q[1-4]|H[12])\d{2}", code):
        return False
    return digits >= 2 and (letters >= 2 or digits >= 4)


def _names(text: str, words: Words) -> tuple[str, ...]:
    """Words ``text`` writes as names: capitalised where its language writes other words in lower
    case (a sentence's first word is capitalised whatever it is: "... for 3M? Answer in USD
    millions."), not a date's month, and not one of the language's stop words."""
    if words.language in CAPITALISES_NOUNS:
        return ()
    openers = set(_OPENER.findall(text))
    # a word written beside a day or a year is a date's month ("December 8, 2007", "8 March 2023")
    dates = set(_DATE_WORD.findall(text)) | set(_WORD_DATE.findall(text))
    skip = openers | dates
    kept: list[list[str]] = []
    last = -2
    for m in _NAME.finditer(text):
        word = m.group(1)
        if word in skip or word.lower() in words.stop:
            last = -2
            continue
        # capitalised words in a row are one name ("Federal Election Commission"); a possessive
        # ends one ("Apple's Services")
        if kept and last == m.start() - 1 and text[m.start() - 1] == " ":
            kept[-1].append(word)
        else:
            kept.append([word])
        last = m.end() if m.end() == m.end(1) else -2
    return tuple(dict.fromkeys(" ".join(k) for k in kept))
