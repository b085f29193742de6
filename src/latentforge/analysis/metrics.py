"""Metrics on arrays (numpy in, floats out), and the standard errors of metrics measured on samples."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..objectives.measures import active_fraction, mse, psnr

__all__ = ["active_fraction", "auc_with_error", "bootstrap_error", "held_out_auc", "mean_with_error", "mse", "psnr"]

#: bootstrap resamples behind a standard error, unless a caller asks for another number
BOOTSTRAP = 50


def bootstrap_error(stat: Callable[[np.ndarray], float], n: int, *, n_boot: int = BOOTSTRAP, seed: int = 0) -> float:
    """Bootstrap standard error (Efron 1979) of a statistic of ``n`` rows: ``stat(rows)`` is evaluated on
    ``n_boot`` draws of ``n`` row numbers with replacement; the standard deviation of those values (ddof 1)."""
    rng = np.random.default_rng(seed)
    draws = np.array([stat(rng.integers(0, n, n)) for _ in range(n_boot)], np.float64)
    return 0.0 if np.ptp(draws) == 0 else float(draws.std(ddof=1))  # every resample alike: exactly 0


def mean_with_error(values: np.ndarray) -> tuple[float, float]:
    """The mean of per-example values (N,) and its standard error std / sqrt(N) (ddof 1; NaN for one value)."""
    v = np.asarray(values, np.float64).reshape(-1)
    err = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
    return float(v.mean()), err


def auc_with_error(y_true: np.ndarray, score: np.ndarray, *, n_boot: int = BOOTSTRAP,
                   seed: int = 0) -> tuple[float, float]:
    """ROC AUC of scores ``score`` (N,) for binary labels ``y_true`` (N,) and its bootstrap standard error over the
    scored rows (the classifier that gave the scores is kept; resamples holding one class only are redrawn)."""
    from sklearn.metrics import roc_auc_score

    y, s = np.asarray(y_true), np.asarray(score, np.float64)
    auc = float(roc_auc_score(y, s))  # ValueError for one class only
    rng = np.random.default_rng(seed)
    draws = []
    while len(draws) < n_boot:
        rows = rng.integers(0, len(y), len(y))
        if 0 < y[rows].sum() < len(rows):
            draws.append(roc_auc_score(y[rows], s[rows]))
    return auc, float(np.std(draws, ddof=1))


def held_out_auc(x: np.ndarray, y: np.ndarray, *, seed: int = 0, n_boot: int = BOOTSTRAP) -> tuple[float, float]:
    """Held-out ROC AUC of gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier) telling the two
    labels of ``y`` (N,) apart from features ``x`` (N, F): a seeded half of the rows trains, the other half is
    scored; with the bootstrap standard error of the AUC over the scored rows (``auc_with_error``)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    perm = np.random.default_rng(seed).permutation(len(y))
    tr, te = perm[:len(y) // 2], perm[len(y) // 2:]
    clf = HistGradientBoostingClassifier(max_iter=200, random_state=seed).fit(x[tr], y[tr])
    return auc_with_error(y[te], clf.predict_proba(x[te])[:, 1], n_boot=n_boot, seed=seed)
