"""Image files (PNG, JPEG, TIFF, BMP, GIF through Pillow, which matplotlib already needs) and FITS images.

One file gives one example: grey levels (H, W), or colour channels last (H, W, C); 16-bit and
floating-point TIFFs keep their values. A FITS file gives its first image HDU: a 2-D image is one example, a
3-D cube (N, H, W) is N examples.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")


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


def read_fits_image(path: str | os.PathLike) -> np.ndarray:
    """The first image HDU with data: (H, W) -> (1, H, W); a cube (N, H, W) -> N examples (N, H, W).

    Raises DataError without astropy, without an image HDU, or for images of more than three dimensions."""
    from .fits import astropy_fits

    fits = astropy_fits(path)
    with fits.open(path, memmap=False) as hdus:
        for h in hdus:
            if isinstance(h, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) and h.data is not None:
                data = np.asarray(h.data, dtype=np.float64 if h.data.dtype.kind == "f" else None)
                break
        else:
            raise DataError(f"{path}: no FITS image HDU with data (and no table of spectra)")
    data = data.astype(data.dtype.newbyteorder("=")) if data.dtype.byteorder not in ("=", "|") else data
    if data.ndim == 2:
        return data[None]
    if data.ndim == 3:
        return data
    raise DataError(f"{path}: a FITS image of {data.ndim} dimensions {data.shape}; give 2-D images or a 3-D cube "
                    "(N, H, W)")


def is_image_file(path: str | os.PathLike) -> bool:
    """True for a file name with an image suffix (png, jpg, tif ...)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
