"""Plain measures on arrays (numpy in, floats out), shared by objectives' metrics and the analysis."""

from __future__ import annotations

import numpy as np


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared difference over all values, computed in float64."""
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def psnr(clean: np.ndarray, other: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(peak^2 / MSE) over all values (inf for identical arrays)."""
    err = mse(clean, other)
    return float("inf") if err == 0 else float(10 * np.log10(peak ** 2 / err))


def active_fraction(codes: np.ndarray, threshold: float) -> float:
    """Fraction of (example, unit) pairs whose |code| exceeds the threshold."""
    return float(np.mean(np.abs(codes) > threshold))
