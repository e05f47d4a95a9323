"""The language of a collection's keyword index: a name a user gives, the configuration that
stems it.

``expert ingest DOCS --collection NAME --language LANGUAGE`` records, per collection, how its words
are reduced to index terms. PostgreSQL does it with a text-search configuration (``german``:
Snowball's German stemmer and stop words); a language PostgreSQL has no stemmer for falls back to
``simple``, which lower-cases words and keeps them whole, the right thing for Persian, Hebrew,
Urdu and Bulgarian (and Chinese or Japanese words as the parser splits them). A collection with no
language recorded is ``english``, the default of both stores.

The SQLite store has one keyword index for every collection (FTS5's Porter stemmer over
``unicode61`` words): English words are stemmed and words of other scripts kept whole, so it
serves ``english`` and the languages that fall back to ``simple``, and refuses the others.
"""

from __future__ import annotations

DEFAULT = "english"

# ISO 639-1 codes of the languages PostgreSQL stems (its built-in Snowball configurations)
STEMMED = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "da": "danish", "nl": "dutch",
    "en": "english", "et": "estonian", "fi": "finnish", "fr": "french", "de": "german", "el": "greek",
    "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian",
    "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian", "pt": "portuguese",
    "ro": "romanian", "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish", "ta": "tamil",
    "tr": "turkish", "yi": "yiddish",
}  # fmt: skip
# languages without a stemmer there, by code and name: indexed word for word (``simple``)
UNSTEMMED = {
    "fa": "persian", "he": "hebrew", "ur": "urdu", "bg": "bulgarian", "uk": "ukrainian", "pl": "polish",
    "cs": "czech", "sk": "slovak", "hr": "croatian", "sl": "slovenian", "zh": "chinese", "ja": "japanese",
    "ko": "korean", "th": "thai", "vi": "vietnamese", "ms": "malay", "bn": "bengali", "ka": "georgian",
    "ku": "kurdish", "ps": "pashto", "sw": "swahili", "tl": "tagalog", "mk": "macedonian",
}  # fmt: skip


def text_search_config(language: str) -> str:
    """The text-search configuration for ``language``: a code or a name of a language PostgreSQL
    stems gives its configuration, one it does not gives ``simple``; anything else is taken as the
    name of a configuration (one a database administrator made, such as ``french_unaccent``),
    which the PostgreSQL store checks exists.

    >>> text_search_config("de"), text_search_config("Persian"), text_search_config("simple")
    ('german', 'simple', 'simple')
    """
    name = language.strip().lower()
    if name in STEMMED:
        return STEMMED[name]
    if name in UNSTEMMED or name in UNSTEMMED.values():
        return "simple"
    return name


def stems_like_sqlite(config: str) -> bool:
    """Whether the SQLite store's one keyword index serves collections of ``config``."""
    return config in (DEFAULT, "simple")


# where a store records a collection's language: the meta entry ``language:NAME``
META_PREFIX = "language:"


def recorded(meta: dict[str, str]) -> dict[str, str]:
    """``{collection: configuration}`` of the languages recorded in a store's ``meta`` entries."""
    return {k[len(META_PREFIX) :]: v for k, v in meta.items() if k.startswith(META_PREFIX)}
