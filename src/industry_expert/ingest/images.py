"""Image files (scans, photographed pages, screenshots), read by OCR: one page per image, or per
frame of a multi-page TIFF. With ``ocr = "never"`` they are skipped with that reason."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import LoadError
from ..types import Block
from .ocr import DEFAULT_OPTIONS, LoadOptions, OcrEngine, inked, readable, unreadable_reason
from .pdf import page_blocks

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
MAX_FRAMES = 2000


def load_image(path: Path, data: bytes, options: LoadOptions = DEFAULT_OPTIONS) -> tuple[str, list[Block]]:
    if options.ocr == "never":
        raise LoadError("an image: its text can only be read by OCR; ingest with --ocr auto")
    from PIL import Image, UnidentifiedImageError

    try:
        picture = Image.open(io.BytesIO(data))
        frames = getattr(picture, "n_frames", 1)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise LoadError(f"not a readable image ({exc}); re-export it") from None
    engine = OcrEngine.shared()
    blocks: list[Block] = []
    failed = 0
    total = min(frames, MAX_FRAMES)
    for index in range(total):
        picture.seek(index)
        image = np.asarray(picture.convert("RGB"))
        lines, confidence = engine.read(image)
        if readable(lines, confidence):
            blocks += [replace(b, locator="OCR") for b in page_blocks(lines, index + 1)]
        else:
            failed += bool(lines) or inked(image)
        if options.progress is not None:
            options.progress(index + 1, total)
    if not blocks:
        if failed:
            raise LoadError(unreadable_reason(failed))
        raise LoadError("no text found in the image")
    return path.stem, blocks
