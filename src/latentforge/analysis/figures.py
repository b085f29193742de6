"""Figures of a trained run that need the run itself (samples drawn from it); ``plots`` holds the ones made
from arrays alone."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.conditions import LabelConditioner
from .plots import image_grid, mosaic


def grid_samples(run, n: int = 64, *, seed: int = 0, condition: Any = None) -> tuple[np.ndarray, int | None, str]:
    """Prior samples for a grid: (samples in raw units (n, ...), columns per row or None, what they are).
    A label-conditional model without ``condition`` gets one row per class; a parameter-conditional one is
    sampled at the training set's mean parameters."""
    conditioner = run.conditioner
    per = None
    if run.conditional and condition is None and isinstance(conditioner, LabelConditioner):
        classes = conditioner.classes
        per = max(1, min(10, n // len(classes)))
        condition = np.repeat(np.asarray(classes), per)
        n = len(condition)
        what = f"samples, one row per class ({', '.join(map(str, classes))})"
    elif run.conditional and condition is None:
        condition = conditioner.mean
        what = "samples at the mean training parameters"
    else:
        what = "samples from z ~ N(0, I)"
    return run.sample(n, condition, seed=seed, layout="model"), per, what


def sample_grid_figure(run, n: int = 64, *, seed: int = 0, condition: Any = None, title_suffix: str = "",
                       data: Any = None):
    """Prior samples as a picture: an image grid (a label-conditional model: one row per class); for other data
    the picture of their kind (``kind_figures.samples_picture``: a table's columns against the rows of ``data``,
    a domain kind's own figure). A parameter-conditional model without ``condition`` is shown at the training
    set's mean parameters. The title says how many samples are shown."""
    x, per, what = grid_samples(run, n, seed=seed, condition=condition)
    if x.ndim == 4:
        return image_grid(x, ncols=per, title=f"{run.name}: {len(x)} {what}{title_suffix}")
    from .kind_figures import samples_picture

    return samples_picture(run, x, f"{run.name}{title_suffix}, {what}", data)


def sample_grid_image(run, n: int = 64, *, seed: int = 0) -> np.ndarray | None:
    """Prior samples of an image model as one picture array for experiment trackers: uint8 of shape
    (H', W', 3), the images (N, C, H, W) tiled in a grid with one-pixel gaps, grey levels stretched from the
    samples' minimum to their maximum (grey images repeated on three channels, the first three bands of
    others). None for models whose examples are not images (vectors, a domain's kinds)."""
    if len(run.input_shape) != 3:
        return None
    x, per, _ = grid_samples(run, n, seed=seed)  # (N, C, H, W) raw units
    lo, hi = float(np.min(x)), float(np.max(x))
    m = mosaic((np.asarray(x, np.float32) - lo) / max(hi - lo, 1e-12), per or int(np.ceil(np.sqrt(len(x)))))
    m = np.nan_to_num(m, nan=0.85)  # the gaps and blank cells: light grey
    if m.ndim == 2:
        m = np.repeat(m[..., None], 3, axis=-1)
    elif m.shape[-1] < 3:
        m = np.concatenate([m, np.repeat(m[..., -1:], 3 - m.shape[-1], axis=-1)], axis=-1)
    return np.round(np.clip(m, 0, 1) * 255).astype(np.uint8)
