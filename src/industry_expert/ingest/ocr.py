"""Pages without a usable text layer, found and read by OCR.

A PDF page can carry no text at all (a scan) or text that is not text: fonts without a Unicode
map yield glyph numbers, so McDonald's fourth-quarter 2022 release reads ``!"#$!%&'( )'
*+,(-'`` from its first page to its last. ``text_quality`` tells them apart from real pages in
any script: the share of a page's tokens that look like words or figures. On the 20 filings
every page of that release scores under 0.29 and every other page above 0.66; under
``MIN_QUALITY`` a page is read again by OCR.

The OCR engine is RapidOCR with the PP-OCR detection and recognition models shipped inside its
wheel (nothing is downloaded), run by ONNX Runtime. Its recognition model reads Latin and CJK
scripts; a page in another script (Arabic, Hebrew, Cyrillic scans) comes back with low
confidence or as no words, and is reported as unreadable instead of being indexed as noise. Text
boxes are put back into lines by their vertical position, so a table row stays one line with its
cells in order. Left out: rotated pages (the angle classifier is off: it turned upright pages
upside down) and handwriting.

    engine = OcrEngine()
    lines, confidence = engine.read(image)     # an RGB array of a page
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import LoadError
from ..extras import install_hint

OcrMode = Literal["auto", "always", "never"]
MIN_QUALITY = 0.5  # share of word-like tokens under which a text layer is not text
MIN_CONFIDENCE = 0.6  # mean recognition confidence under which an OCR page is not read
LONG_SIDE = 2000  # pixels of a page's longer side when rendered for OCR
SCRIPTS = "Latin and CJK scripts"

_FIGURE = re.compile(r"[$€£¥(]?\d[\d,.]*%?\)?")
_STRIP = ".,;:!?()[]{}\"'“”‘’*%$€£-–—/"
_VOWELS = frozenset("aeiouyAEIOUY")


@dataclass(frozen=True)
class LoadOptions:
    """How loaders that can read images treat pages without a usable text layer.

    ``ocr``: ``auto`` reads such pages (and image files) by OCR, ``always`` every page, ``never``
    none (a page keeps its text layer as it is). ``progress(done, total)`` is called after each
    page OCR reads, since OCR takes seconds a page.
    """

    ocr: OcrMode = "auto"
    progress: Callable[[int, int], None] | None = None


DEFAULT_OPTIONS = LoadOptions()


def _wordlike(token: str) -> bool:
    core = token.strip(_STRIP)
    if not core:
        return False
    if _FIGURE.fullmatch(core):
        return True
    if not all(unicodedata.category(c)[0] in "LM" or c in "-'’&." for c in core):
        return False  # punctuation or digits inside a word: glyph numbers, not text
    letters = [c for c in core if c.isalpha()]
    latin = len(letters) >= 5 and all(c.isascii() for c in letters)
    # a long Latin word without vowels ("LMBFGNOCFGFPQJB") is glyph numbers too
    return not (latin and sum(c in _VOWELS for c in letters) / len(letters) < 0.15)


def text_quality(lines: list[str]) -> float | None:
    """The share of tokens in ``lines`` that are words or figures (any script); None when empty.

    >>> round(text_quality(["Revenue grew 12% to $482.6 million."]), 2)
    1.0
    >>> text_quality(['!"#$!%&\\'( )\\' *+,(-\\' @ABCA6BDECFCAGHCAGHI6FGCHGJBKGF']) < 0.5
    True
    """
    tokens = " ".join(lines).split()
    if not tokens:
        return None
    return sum(_wordlike(t) for t in tokens) / len(tokens)


def usable(lines: list[str]) -> bool:
    quality = text_quality(lines)
    return quality is not None and quality >= MIN_QUALITY


class OcrEngine:
    """RapidOCR, loaded once per process on first use (a second or two)."""

    _shared: OcrEngine | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise LoadError(
                f"text from scanned pages needs the 'ocr' extra ({exc}); add it with {install_hint('ocr')}"
            ) from None
        import logging

        # upright pages only: the angle classifier turned upright pages upside down
        self.engine: Any = RapidOCR(params={"Global.use_cls": False, "Global.log_level": "error"})
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)

    @classmethod
    def shared(cls) -> OcrEngine:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def read(self, image: np.ndarray) -> tuple[list[str], float]:
        """The lines of text in ``image`` (RGB), in reading order, and the recognition's mean
        confidence weighted by characters (0 when nothing was found)."""
        out = self.engine(image)
        if out is None or out.boxes is None or not out.txts:
            return [], 0.0
        return lines_from_boxes(np.asarray(out.boxes), list(out.txts)), _confidence(out.txts, out.scores)


def _confidence(texts: Any, scores: Any) -> float:
    weights = np.array([len(t) for t in texts], dtype=float)
    return float(np.average(np.asarray(scores, dtype=float), weights=weights)) if weights.sum() else 0.0


def lines_from_boxes(boxes: np.ndarray, texts: list[str]) -> list[str]:
    """Text boxes (``N x 4 x 2`` corners) grouped into lines: boxes whose vertical centres lie
    within half a line height of each other are one line, read left to right.

    >>> boxes = np.array([[[300, 10], [400, 10], [400, 30], [300, 30]], [[10, 12], [200, 12], [200, 31], [10, 31]],
    ...                   [[10, 50], [120, 50], [120, 70], [10, 70]]])
    >>> lines_from_boxes(boxes, ["$482.6", "Revenue", "Gross profit"])
    ['Revenue $482.6', 'Gross profit']
    """
    if not len(texts):
        return []
    top, bottom = boxes[:, :, 1].min(axis=1), boxes[:, :, 1].max(axis=1)
    centre, left = (top + bottom) / 2, boxes[:, :, 0].min(axis=1)
    height = float(np.median(bottom - top)) or 1.0
    lines: list[list[int]] = []
    for i in np.argsort(centre, kind="stable"):
        if lines and abs(centre[i] - np.mean([centre[j] for j in lines[-1]])) <= height / 2:
            lines[-1].append(int(i))
        else:
            lines.append([int(i)])
    return [" ".join(texts[i].strip() for i in sorted(line, key=lambda j: left[j])) for line in lines]


def inked(image: np.ndarray, share: float = 0.002) -> bool:
    """Whether ``image`` has marks on it (dark pixels on at least ``share`` of it): a page OCR
    found no words on is blank, or in a script or hand it cannot read.

    >>> inked(np.full((100, 100, 3), 255, dtype=np.uint8)), inked(np.zeros((100, 100, 3), dtype=np.uint8))
    (False, True)
    """
    gray = image.mean(axis=2) if image.ndim == 3 else image
    return bool((gray < 128).mean() >= share)


def readable(lines: list[str], confidence: float) -> bool:
    """Whether OCR's reading of a page is text: confident, and word-like (a script the model does
    not know comes back as fragments)."""
    return confidence >= MIN_CONFIDENCE and usable(lines)


def unreadable_reason(pages: int) -> str:
    return (
        f"no usable text layer, and OCR found no words it could read on its {pages} marked page(s); "
        f"its models read {SCRIPTS}: for another script or handwriting, convert it to text with an "
        "OCR tool for that script and ingest the text"
    )
