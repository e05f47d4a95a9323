"""Words in any language: which language a text is in, its words, stop words and stems.

Nothing here is a list of our own. The parts are maintained libraries, each covering far more
languages than the product is tested on:

- **Language**: ``py3langid`` (langid.py's model, 97 languages, bundled with the package, about
  0.1 ms a question once loaded). A short or mixed text ("Capex FY2023?") is not trusted: under
  ``_CONFIDENT`` the caller's fallback (the collection's language) is used.
- **Stop words**: function words only: ``stop-words`` (python-stop-words, the classic lists of
  25 languages, English, German, Arabic and Bulgarian among them) where it has the language, and
  ``stopwordsiso`` (the stopwords-iso collection, 57 languages) for the others (Persian, Hebrew,
  Urdu among the seeds). stopwords-iso's lists for the 25 are far longer and hold words of
  every trade ("net", "billion", "interest"): a question's key terms must not be dropped as
  stop words.
- **Stems**: ``snowballstemmer`` (the Snowball project's own stemmers, the algorithms PostgreSQL's
  text-search configurations use: 30-odd languages, Persian and Arabic among them). A language
  without a Snowball stemmer (Hebrew, Urdu, Bulgarian) keeps its words whole, as the keyword
  index does (``store.languages``).
- **Spelling**: ``rapidfuzz``'s edit distance finds the word a misspelled name was meant to be.
- **Rarity**: ``wordfreq``'s frequency lists (Apache-2.0; its "large" lists, 21 languages, Hebrew,
  Arabic and German among them) tell a word of the language ("crashed", "percentage") from one
  so rare it names one thing (a drug, "pembrolizumab"), whatever its case. A language without a
  large list has no rare words (its names are found by their capitals alone). The lists were
  frozen in 2021 by their author; for telling ordinary words from names that is no loss.
- **Tokens**: Unicode word characters (``\\w``), figures kept whole (``1,250.5``); a script
  written without spaces (Chinese, Japanese) gives each pair of characters, as its readers' search
  engines do.

``Words.of(code)`` is the one handle: ``terms`` (stems of the content words, in order) is what a
question and a passage are compared on everywhere in the answer path.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

DEFAULT = "en"
_CONFIDENT = 0.5  # py3langid's normalised probability under which the fallback language is used

# ISO 639-1 code -> Snowball algorithm (snowballstemmer.algorithms())
SNOWBALL = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech", "da": "danish",
    "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian", "fi": "finnish",
    "fr": "french", "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian",
    "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "no": "norwegian", "nb": "norwegian", "fa": "persian", "pl": "polish", "pt": "portuguese",
    "ro": "romanian", "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish",
    "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip
# languages whose spelling capitalises every noun: a capital letter there is no sign of a name
CAPITALISES_NOUNS = frozenset({"de", "lb"})

_TOKEN = re.compile(r"\d[\d,.]*\d|\d|[^\W\d_][\w'’-]*", re.U)
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_lock = threading.Lock()
_stem_lock = threading.Lock()
_identifier: Any = None


def _language_identifier() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def code(language: str) -> str:
    """An ISO 639-1 code for ``language`` given as a code, an English name or a text-search
    configuration (``german``, ``Persian``, ``simple``); ``simple`` and unknown names give ""."""
    name = language.strip().lower()
    if len(name) == 2:
        return name
    by_name = {v: k for k, v in SNOWBALL.items()}
    by_name.update(_UNSTEMMED_NAMES)
    return by_name.get(name, "")


_UNSTEMMED_NAMES = {
    "hebrew": "he", "urdu": "ur", "bulgarian": "bg", "ukrainian": "uk", "slovak": "sk",
    "croatian": "hr", "slovenian": "sl", "chinese": "zh", "japanese": "ja", "korean": "ko",
    "thai": "th", "vietnamese": "vi", "malay": "ms", "bengali": "bn", "georgian": "ka",
    "kurdish": "ku", "pashto": "ps", "swahili": "sw", "tagalog": "tl", "macedonian": "mk",
}  # fmt: skip


def detect(text: str, fallback: str = DEFAULT) -> str:
    """The language ``text`` is written in (an ISO 639-1 code), or ``fallback`` when the text is too
    short or mixed to tell.

    >>> detect("Wie hoch war der Umsatz im Geschäftsjahr 2023?"), detect("مزایای تنظیم دقیق چیست؟")
    ('de', 'fa')
    >>> detect("Capex FY2023?", fallback="en")
    'en'
    """
    letters = sum(c.isalpha() for c in text)
    if letters < 3:
        return fallback
    found, confidence = _language_identifier().classify(text)
    return str(found) if confidence >= _CONFIDENT else fallback


@dataclass(frozen=True)
class Words:
    """The word handling of one language: tokens, stop words and stems from maintained libraries."""

    language: str
    stop: frozenset[str]
    stemmer: Any  # a snowballstemmer stemmer, or None: words kept whole

    @staticmethod
    def of(language: str) -> Words:
        return _words(code(language) or DEFAULT)

    def tokens(self, text: str) -> list[str]:
        """Lower-cased words and figures in order; a script written without spaces gives each pair
        of its characters.

        >>> Words.of("en").tokens("Apple's net sales were $394,328 million.")
        ['apple', 'net', 'sales', 'were', '394,328', 'million']
        """
        text = text.lower().replace("’", "'")
        out = [run[i : i + 2] for run in _UNSPACED.findall(text) for i in range(max(1, len(run) - 1))]
        for word in _TOKEN.findall(_UNSPACED.sub(" ", text)):
            word = word.removesuffix("'s").strip("'-")
            if word:
                out.append(word)
        return out

    def stem(self, word: str) -> str:
        if self.stemmer is None or not word[:1].isalpha():
            return word
        return _stemmed(self.language, word)

    def terms(self, text: str) -> list[str]:
        """The stems of ``text``'s content words and its figures, in order, stop words left out.

        >>> Words.of("en").terms("What were the capital expenditures of Apple in fiscal 2019?")
        ['capit', 'expenditur', 'appl', 'fiscal', '2019']
        >>> Words.of("de").terms("Wie hoch waren die Investitionen im Jahr 2023?")
        ['hoch', 'investition', 'jahr', '2023']
        """
        return [self.stem(w) for w in self.tokens(text) if w not in self.stop]

    def rare(self, word: str) -> bool:
        """Whether ``word`` is too rare in the language to be an ordinary word of it (below
        ``RARE_ZIPF`` on wordfreq's scale); never for a language without a large list.

        >>> en = Words.of("en")
        >>> en.rare("pembrolizumab"), en.rare("crashed"), en.rare("opex"), Words.of("bg").rare("абвгд")
        (True, False, False, False)
        """
        zipf = self._zipf(word)
        return zipf is not None and zipf < RARE_ZIPF

    def ordinary(self, word: str) -> bool:
        """Whether ``word`` is one of the language's everyday words (at least ``ORDINARY_ZIPF`` on
        wordfreq's scale): a name made only of such words ("National Labor Relations Board") is
        written as one phrase wherever it is meant; never for a language without a large list.

        >>> en = Words.of("en")
        >>> en.ordinary("Board"), en.ordinary("Labor"), en.ordinary("Cessna"), en.ordinary("Tallahassee")
        (True, True, False, False)
        """
        zipf = self._zipf(word)
        return zipf is not None and zipf >= ORDINARY_ZIPF

    def _zipf(self, word: str) -> float | None:
        """``word``'s frequency on wordfreq's Zipf scale, or None for a language without a large list."""
        if self.language not in _frequency_languages():
            return None
        from wordfreq import zipf_frequency

        return float(zipf_frequency(word, self.language, wordlist="large"))

    def all_terms(self, text: str) -> list[str]:
        """The stems of every word, stop words included: for phrases ("net income")."""
        return [self.stem(w) for w in self.tokens(text)]

    def read(self, text: str) -> tuple[list[str], list[str]]:
        """``(terms(text), all_terms(text))`` from one pass over its words."""
        every, content = [], []
        for word in self.tokens(text):
            stem = self.stem(word)
            every.append(stem)
            if word not in self.stop:
                content.append(stem)
        return content, every


# Below this (wordfreq's Zipf scale: 1 is once per thousand million words) a word names one thing.
# Fitted on the tuning halves (benchmarks/refusals.py): the analyst's "opex" (1.95) is a word of
# the trade, the clinical "pembrolizumab" (1.59) a drug the workspace may not hold.
RARE_ZIPF = 1.8
# At or above this a word is an everyday one ("Labor" 4.8, "Board" 5.2, "Diesel" 4.1), below it
# one that names few things ("Venice" 3.9, "Piper" 3.7, "Cessna" 2.8). Set on the tuning halves
# (benchmarks/refusals.py).
ORDINARY_ZIPF = 4.0


@cache
def _frequency_languages() -> frozenset[str]:
    from wordfreq import available_languages

    return frozenset(available_languages("large"))


@lru_cache(maxsize=1 << 16)
def _stemmed(language: str, word: str) -> str:
    """``word``'s Snowball stem: cached (answer paths stem the same words over and over), and one
    call at a time, since a Snowball stemmer keeps the word it works on in itself and a server's
    threads share it."""
    stemmer = _words(language).stemmer
    with _stem_lock:
        return str(stemmer.stemWord(word))


@cache
def _words(language: str) -> Words:
    import snowballstemmer
    import stopwordsiso

    stop = _function_words(language)
    if stop is None:
        stop = frozenset(stopwordsiso.stopwords(language)) if stopwordsiso.has_lang(language) else frozenset()
    algorithm = SNOWBALL.get(language)
    stemmer = snowballstemmer.stemmer(algorithm) if algorithm else None
    return Words(language, stop, stemmer)


def _function_words(language: str) -> frozenset[str] | None:
    """The language's function words from python-stop-words (the classic lists, 174 English
    words), or None where it has no list. stopwords-iso's lists merge every source they found:
    its English one holds 1,298 words, "net", "billion", "interest" and "research" among them,
    so "net income" asked only for "income" (docs/benchmarks.md, issue 28)."""
    from stop_words import LANGUAGE_MAPPING, get_stop_words

    name = {**LANGUAGE_MAPPING, "cs": "czech", "no": "norwegian"}.get(language)
    return frozenset(w.lower() for w in get_stop_words(name)) if name else None


_SPELLED = re.compile(r"[^\W\d_][\w'’-]+")


def spelled_words(text: str) -> set[str]:
    """The words of ``text`` as written (case kept): the vocabulary ``near_spelling`` looks in.

    >>> sorted(spelled_words("Tallahassee's 2 airports: TLH, Quincy-Gadsden."))
    ['Quincy-Gadsden', 'TLH', "Tallahassee's", 'airports']
    """
    return set(_SPELLED.findall(text))


def near_spelling(word: str, vocabulary: set[str]) -> str | None:
    """The word of ``vocabulary`` that ``word`` most likely misspells, or None: the same first
    letter and at most one edit (two in a word of eight letters or more), a swap of two
    neighbouring letters counting as one (``rapidfuzz``'s Damerau-Levenshtein distance). A word
    with a digit is a code or a number, which one character off names another thing (accident
    NYC08CA099 is not NYC08CA055), so it has no near spelling.

    >>> near_spelling("Tallahasee", {"Tallahassee", "Florida"}), near_spelling("Sewrad", {"Seward"})
    ('Tallahassee', 'Seward')
    >>> near_spelling("Inflation", {"Information"}), near_spelling("Tesla", {"Texas"})
    (None, None)
    >>> near_spelling("NYC08CA099", {"NYC08CA055"}), near_spelling("N2699H", {"N2699G"})
    (None, None)
    """
    from rapidfuzz.distance import DamerauLevenshtein

    if any(c.isdigit() for c in word):
        return None
    low = word.casefold()
    allowed = 2 if len(low) >= 8 else 1
    best: tuple[int, str] | None = None
    for candidate in vocabulary:
        other = candidate.casefold()
        if other == low or other[:1] != low[:1] or abs(len(other) - len(low)) > allowed:
            continue
        distance = DamerauLevenshtein.distance(low, other, score_cutoff=allowed)
        if distance <= allowed and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None
