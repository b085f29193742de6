"""Outputs in the caller's layout.

Inside latentforge examples are (N, D) vectors or (N, C, H, W) images; callers give (N, D), (N, H, W),
(N, C, H, W) or channels-last (N, H, W, C) arrays. The readers record which (``ArrayDataset.info["axes"]``:
``ND``, ``NHW``, ``NCHW``, ``NHWC``) and a run keeps the layout it was trained on (``data_info["axes"]``), so that
what a run gives back has the caller's layout: ``recon - x`` is then a difference of like with like, never a
silent numpy broadcast of (N, 1, H, W) against (N, H, W).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .arrays import ArrayDataset

#: the layout latentforge computes in, per rank of an example
MODEL_AXES = ("ND", "NCHW")
AXES = ("ND", "NHW", "NCHW", "NHWC")


def to_axes(x: np.ndarray, axes: str | None) -> np.ndarray:
    """Examples in the model's layout ((N, D) or (N, C, H, W)) -> the layout ``axes`` (None: unchanged). Only
    image outputs move: ``NHW`` drops the single channel axis, ``NHWC`` moves the channels last."""
    if axes is None or x.ndim != 4 or axes in MODEL_AXES:
        return x
    if axes == "NHW" and x.shape[1] == 1:
        return x[:, 0]
    if axes == "NHWC":
        return np.ascontiguousarray(np.moveaxis(x, 1, -1))
    return x


def from_axes(x: np.ndarray, axes: str | None) -> np.ndarray:
    """Inverse of ``to_axes``: an array in layout ``axes`` -> the model's layout."""
    x = np.asarray(x)
    if axes == "NHW" and x.ndim == 3:
        return x[:, None]
    if axes == "NHWC" and x.ndim == 4:
        return np.ascontiguousarray(np.moveaxis(x, -1, 1))
    return x


def input_axes(ndim: int, channels_last: bool) -> str:
    """The layout of an array as it was given, before it became (N, D) or (N, C, H, W): ``ND``, ``NHW``,
    ``NCHW`` or ``NHWC``."""
    return {2: "ND", 3: "NHW"}.get(ndim, "NHWC" if channels_last else "NCHW")


def caller_axes(data: Any, ds) -> str | None:
    """The layout to give answers about ``data`` back in: None (the model's own) for an ``ArrayDataset``, whose
    ``x`` the caller holds in the model's layout; else the layout the readers recorded for ``data`` in ``ds``."""
    if isinstance(data, ArrayDataset):
        return None
    return ds.info.get("axes")


def check_axes(layout: str | None) -> None:
    """ConfigError for a layout name that is none of ``AXES``, ``"input"`` or ``"model"``."""
    if layout not in (None, "input", "model", *AXES):
        raise ConfigError(f"unknown layout {layout!r}; choose input (the training data's), model ((N, D) or "
                          f"(N, C, H, W)) or one of {', '.join(AXES)}")
