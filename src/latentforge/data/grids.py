"""Sample grids of the examples' axis (a science domain's, e.g. the position of each pixel on a physical axis): a model remembers
the grid of its training data, and data on another grid are brought onto it before they go in, and answers
back onto theirs after. A domain registers its grid here under the ``ArrayDataset.info`` key that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..registry import Registry


@dataclass(frozen=True)
class Grid:
    """``same(a, b) -> bool``: two grids (P,) hold the same points; ``resample(new, old, x, sigma, mask)`` ->
    (x, sigma, mask) on ``new`` of examples (N, P) given on ``old``; ``back(old, new, values)`` -> per-point
    answers (N, P) on ``new`` brought back onto ``old``; ``hint``: what to do when a model without this grid
    is given data on another one; ``unit``: the unit of the grid's values, as written beside them in files."""

    same: Callable[[np.ndarray, np.ndarray], bool]
    resample: Callable[..., tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]
    back: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    hint: str = ""
    unit: str = ""


GRIDS: Registry[Grid] = Registry("sample grid")
