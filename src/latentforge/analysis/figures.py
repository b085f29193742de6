"""Figures of a trained run that need the run itself (samples drawn from it); ``plots`` holds the ones made
from arrays alone."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.conditions import LabelConditioner
from .plots import image_grid, profile_grid


def sample_grid_figure(run, n: int = 64, *, seed: int = 0, condition: Any = None, title_suffix: str = ""):
    """Prior samples as a picture: an image grid (a label-conditional model: one row per class), or for
    vectors the first examples as curves. A parameter-conditional model without ``condition`` is shown at
    the training set's mean parameters."""
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
    x = run.sample(n, condition, seed=seed)
    title = f"{run.name}: {what}{title_suffix}"
    if x.ndim == 4:
        return image_grid(x, ncols=per, title=title)
    return profile_grid(x[:16], title=title)
