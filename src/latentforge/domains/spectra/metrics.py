"""Measures for spectra with known clean truth: interval coverage and calibration, chi-square and PSNR against
the truth, split-conformal multipliers, measured S/N, and the classical baselines (linear interpolation across
masked pixels, Savitzky-Golay filtering). Arrays are (N, D): N spectra of D pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtri

from ...errors import ConfigError

SNR_BINS = (3.0, 6.0, 12.0, 24.0, 50.0)


def interval_coverage(truth: np.ndarray, mean: np.ndarray, std: np.ndarray, levels=(0.68, 0.95),
                      keep: np.ndarray | None = None) -> dict[float, float]:
    """Fraction of points whose truth lies in the central Gaussian interval mean +- z_level * std.

    ``keep`` (bool, same shape) selects the points to count; z_level = Phi^-1((1 + level) / 2)."""
    truth, mean, std = (np.asarray(a, np.float64) for a in (truth, mean, std))
    if not truth.shape == mean.shape == std.shape:
        raise ConfigError(f"truth, mean and std need one shape, got {truth.shape}, {mean.shape}, {std.shape}")
    if (std[keep] if keep is not None else std).min() <= 0:
        raise ConfigError("predictive standard deviations must be > 0")
    pull = np.abs(truth - mean) / std
    if keep is not None:
        pull = pull[np.asarray(keep, bool)]
    out = {}
    for level in levels:
        if not 0 < level < 1:
            raise ConfigError(f"coverage levels lie in (0, 1), got {level}")
        out[float(level)] = float(np.mean(pull <= ndtri((1 + level) / 2)))
    return out


def calibration_curve(truth, mean, std, keep=None, levels: np.ndarray | None = None):
    """(nominal levels, observed coverage) for a calibration plot."""
    levels = np.linspace(0.05, 0.95, 19) if levels is None else np.asarray(levels)
    cov = interval_coverage(truth, mean, std, tuple(levels), keep)
    return levels, np.array([cov[float(v)] for v in levels])


def chi2_per_pixel(estimate: np.ndarray, clean: np.ndarray, sigma: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Mean over kept pixels of ((estimate - clean) / sigma)^2, one value per spectrum."""
    r = np.where(keep, ((estimate - clean) / sigma) ** 2, 0.0)
    return r.sum(1) / np.maximum(keep.sum(1), 1)


def psnr_per_spectrum(estimate: np.ndarray, clean: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """10 log10(peak^2 / MSE) over kept pixels, peak = max - min of each clean spectrum (dB)."""
    mse = np.where(keep, (estimate - clean) ** 2, 0.0).sum(1) / np.maximum(keep.sum(1), 1)
    peak = clean.max(1) - clean.min(1)
    return 10 * np.log10(peak ** 2 / np.maximum(mse, 1e-30))


def interpolate_masked(flux: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Linear interpolation across masked pixels of each spectrum (ends: nearest unmasked value)."""
    out = np.array(flux, dtype=np.float64, copy=True)
    pix = np.arange(flux.shape[1])
    for i in range(len(flux)):
        m = mask[i]
        if m.any() and not m.all():
            out[i, m] = np.interp(pix[m], pix[~m], out[i, ~m])
    return out


def savgol_denoise(flux: np.ndarray, mask: np.ndarray, window: int, order: int = 2) -> np.ndarray:
    """Savitzky-Golay filter after filling masked pixels by linear interpolation."""
    from scipy.signal import savgol_filter

    return savgol_filter(interpolate_masked(flux, mask), window, order, axis=1)


def conformal_multipliers(truth, mean, std, keep, levels=(0.68, 0.95)) -> dict[float, float]:
    """Split-conformal calibration: for each level the finite-sample quantile of |truth - mean| / std over the
    kept points (``analysis.calibration.conformal_multipliers``), so that mean +- k_level * std covers the level
    on data like these (exchangeable with them)."""
    from ...analysis.calibration import conformal_multipliers as split_conformal

    pull = np.abs(np.asarray(truth, np.float64) - mean) / std
    return split_conformal(pull, np.asarray(keep, bool), levels)


def measured_snr(flux: np.ndarray, sigma: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each spectrum's median of flux / sigma over its unmasked pixels (0 for a fully masked one)."""
    ratio = np.where(mask, np.nan, np.asarray(flux, np.float64) / np.asarray(sigma, np.float64))
    out = np.zeros(len(ratio))
    seen = (~np.asarray(mask, bool)).any(1)
    out[seen] = np.nanmedian(ratio[seen], axis=1)
    return out


def snr_bin_labels(bins=SNR_BINS) -> list[str]:
    """Labels such as ``3-6`` for consecutive S/N bin edges."""
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(bins[:-1], bins[1:])]


def denoising_table(clean, sigma, keep, snr, estimates: dict[str, np.ndarray], bins=SNR_BINS) -> dict[str, Any]:
    """{S/N bin: {method: {chi2_per_pixel (median over spectra), psnr_db (mean), n}}} plus an 'all' row."""
    per = {name: (chi2_per_pixel(e, clean, sigma, keep), psnr_per_spectrum(e, clean, keep))
           for name, e in estimates.items()}
    rows: dict[str, Any] = {}
    edges = list(zip(bins[:-1], bins[1:])) + [(bins[0], bins[-1])]
    for (lo, hi), label in zip(edges, snr_bin_labels(bins) + ["all"]):
        sel = (snr >= lo) & (snr < hi) if label != "all" else np.ones(len(snr), bool)
        if not sel.any():
            continue
        rows[label] = {name: {"chi2_per_pixel": float(np.median(c[sel])), "psnr_db": float(np.mean(p[sel])),
                              "n": int(sel.sum())} for name, (c, p) in per.items()}
    return rows


