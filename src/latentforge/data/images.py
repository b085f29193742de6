"""Image files (PNG, JPEG, TIFF, BMP, GIF through Pillow, which matplotlib already needs); a science domain's
image formats are read by its own reader.

One file gives one example: grey levels (H, W), or colour channels last (H, W, C); 16-bit and
floating-point TIFFs keep their values.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .records import READERS, DataRecord, Reader, suffixes_of


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image file -> (H, W) or (H, W, C) array in its own value range (palette images as RGB).

    Raises DataError for a file Pillow cannot read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            elif im.mode == "1":
                im = im.convert("L")
            return np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read as an image ({e}); is it truncated or of another format?") from None


def read_image_file(path: str | os.PathLike) -> DataRecord:
    """One image file as a record of one example, channels last for colour images."""
    img = read_image(path)
    return DataRecord(values=img[None], layout="last" if img.ndim == 3 else None)


READERS.register("image", Reader("images (PNG, JPEG, TIFF, BMP, GIF)",
                                 (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif"), read_image_file))
#: the image file-name endings, as registered
IMAGE_SUFFIXES = suffixes_of("image")


def is_image_file(path: str | os.PathLike) -> bool:
    """True for a file name with an image suffix (png, jpg, tif ...)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
