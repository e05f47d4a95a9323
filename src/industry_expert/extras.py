"""The optional parts of the install, and the one-line error when a command needs one.

The base install is what ingest, search, ask, chat and serve need. The rest is in extras
(pyproject.toml), each named by ``require`` when a command needs it and it is missing:

- ``train``: fine-tuning and the PyTorch backends (torch, transformers, sentence-transformers,
  peft, TRL, datasets, accelerate, bitsandbytes); also the ONNX export of a non-BERT embedder;
- ``eval``: the evaluation report's charts and confidence intervals (matplotlib, SciPy);
- ``ocr``: text from scanned pages (RapidOCR);
- ``postgres``: a store in PostgreSQL (psycopg, psycopg-pool, pgvector) and its job queue
  (procrastinate);
- ``s3``: documents from an S3-compatible bucket (boto3);
- ``all``: every one of them.

    require("train", why="expert train")   # returns, or raises one line naming the extra
"""

from __future__ import annotations

import importlib.util

from .errors import MissingExtraError

# what ``require`` looks for, by extra: the import names of the packages each brings (pyproject.toml)
MODULES = {
    "train": (
        "torch",
        "transformers",
        "sentence_transformers",
        "peft",
        "trl",
        "datasets",
        "accelerate",
        "gguf",
    ),
    "eval": ("scipy", "matplotlib"),
    "ocr": ("rapidocr",),
    "postgres": ("psycopg", "psycopg_pool", "pgvector", "procrastinate"),
    "s3": ("boto3",),
}


def missing(*modules: str) -> list[str]:
    """The modules among ``modules`` that cannot be imported (found without importing them)."""
    gone = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing, or a half-installed one
            found = False
        if not found:
            gone.append(module)
    return gone


def install_hint(extra: str) -> str:
    """How to add ``extra`` to an install: from the checkout (the package is installed editable
    by ``make``), or with pip from wherever the package came from."""
    return f"make install EXTRAS={extra} in the checkout, or pip install 'industry-expert[{extra}]'"


def require(extra: str, *modules: str, why: str) -> None:
    """Raise ``MissingExtraError`` naming ``extra`` when any of ``modules`` (by default, every
    module the extra brings) is not installed."""
    gone = missing(*(modules or MODULES[extra]))
    if gone:
        raise MissingExtraError(
            f"{why} needs the {extra!r} extra, which is not installed ({', '.join(gone)} missing); "
            f"add it with {install_hint(extra)}"
        )
