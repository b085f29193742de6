"""Metrics on arrays (numpy in, floats out), and the standard errors of metrics measured on samples."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..errors import DataError
from ..objectives.measures import active_fraction, mse, psnr

__all__ = ["active_fraction", "auc_with_error", "bootstrap_error", "boosted_trees", "held_out_auc", "kfold_auc",
           "mean_with_error", "mse", "psnr"]

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
    draws: list[float] = []
    while len(draws) < n_boot:
        rows = rng.integers(0, len(y), len(y))
        if 0 < y[rows].sum() < len(rows):
            draws.append(roc_auc_score(y[rows], s[rows]))
    return auc, float(np.std(draws, ddof=1))


#: folds of every k-fold classifier test (the project's boosted trees and any domain's own classifiers)
FOLDS = 5


def kfold_auc(x: np.ndarray, y: np.ndarray, fit_score: Callable[..., np.ndarray], *, folds: int = FOLDS,
              seed: int = 0, validation: bool = False) -> dict[str, Any]:
    """The k-fold evaluation loop of a classifier two-sample test (Lopez-Paz & Oquab 2017), shared by every
    classifier of the project: the rows of ``x`` (N, F) with binary labels ``y`` (N,) are split into ``folds``
    stratified folds (seeded); in turn each fold k is scored by a classifier ``fit_score(x, y, train, val, test,
    k)`` trained on the others (with ``validation``: the next fold is held out as ``val`` for the classifier's own
    model selection and the remaining ``folds - 2`` train; else ``val`` is None) and returns a score per row of
    ``test`` (higher: more likely label 1).

    Returns {"auc": mean of the per-fold ROC AUCs, "auc_err": their standard deviation (ddof 1) over sqrt(k)
    (standard error of the mean), "auc_std": the standard deviation itself (the spread of one fold's AUC),
    "fold_aucs", "folds", "scores": (N,) out-of-fold scores, "fold": (N,) the fold that scored each row}.
    DataError with fewer than 2 rows of each label per fold, or fewer than 3 folds with ``validation`` (2
    without)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    n_small = int(min((y == 0).sum(), (y == 1).sum()))
    if folds < 2 + int(validation) or n_small < 2 * folds:
        raise DataError(f"a {folds}-fold classifier test needs at least {2 + int(validation)} folds and 2 rows of each "
                        f"set per fold ({2 * folds} a set); got {n_small} rows in the smaller set")
    parts = [te for _, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)]
    scores = np.zeros(len(y), np.float64)
    fold = np.zeros(len(y), np.int64)
    aucs = []
    for k in range(folds):
        te = parts[k]
        va = parts[(k + 1) % folds] if validation else None
        skip = {k, (k + 1) % folds} if validation else {k}
        tr = np.concatenate([parts[j] for j in range(folds) if j not in skip])
        scores[te] = np.asarray(fit_score(x, y, tr, va, te, k), np.float64).reshape(-1)
        fold[te] = k
        aucs.append(float(roc_auc_score(y[te], scores[te])))
    std = float(np.std(aucs, ddof=1))
    return {"auc": float(np.mean(aucs)), "auc_err": std / math.sqrt(folds), "auc_std": std, "fold_aucs": aucs,
            "folds": folds, "scores": scores, "fold": fold}


def boosted_trees(*, max_iter: int = 200, seed: int = 0) -> Callable[..., np.ndarray]:
    """A ``fit_score`` for ``kfold_auc``: scikit-learn's HistGradientBoostingClassifier (at most ``max_iter``
    trees, stopping once the loss on a seeded tenth of the training rows has not fallen for 10 trees, so that sets
    it cannot tell apart cost a few trees; leaves of at most 20 rows, fewer for small sets, since the default 20
    cannot split a few dozen rows), trained on the training rows and giving the probability of label 1 for the
    test rows (no validation fold used)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    def fit_score(x, y, tr, va, te, k):
        leaf = max(2, min(20, len(tr) // 20))
        clf = HistGradientBoostingClassifier(max_iter=max_iter, min_samples_leaf=leaf, early_stopping=True,
                                             random_state=seed)
        return clf.fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]

    return fit_score


def held_out_auc(x: np.ndarray, y: np.ndarray, *, seed: int = 0, folds: int = FOLDS) -> tuple[float, float]:
    """Held-out ROC AUC of gradient-boosted trees (``boosted_trees``, 200 trees) telling the two labels of ``y``
    (N,) apart from features ``x`` (N, F), by ``kfold_auc``: the mean of the ``folds`` out-of-fold AUCs and its
    standard error (the fold AUCs' standard deviation over sqrt(k))."""
    r = kfold_auc(x, y, boosted_trees(seed=seed), folds=folds, seed=seed)
    return r["auc"], r["auc_err"]
