"""Data scalings, raw data <-> the model's space, each a class in the ``SCALINGS`` registry.

Every scaling is fitted on the training split only, keeps its state as plain JSON (saved in a run's
``transform.json``) and maps measurement errors (standard deviations) along with the data where that is
exact. ``Scaler(kind)`` builds the class registered under ``kind``:

``minmax``     one global (lo, hi) -> [0, 1]
``standard``   per feature: (x - mean) / std
``none``       identity
``log``        non-negative data (energies): log1p(x / eps) / log1p(max / eps) -> [0, 1], eps the 1st percentile
               of the non-zero training values; the inverse sets values below eps to exactly 0
``fractions``  non-negative (N, D) deposits: D log-scaled fractions of each example's total, plus its log total
               mapped to [0, 1] over the training range (with a margin) as one more feature
``median``     per example (e.g. a flux): each example divided by the median of its unmasked values
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .scaling_base import (SCALINGS, LogMap, RunningMoments, Scaler, column_moments, column_range,
                           constant_features, float_dtype_of, map_rows, split_offset, valid_points)
from . import scaling_shapes  # registers fractions and median (scaling_shapes imports scaling_base, not this file)

__all__ = ["SCALINGS", "Scaler", "LogMap", "MinMaxScaling", "FeatureMinMaxScaling", "StandardScaling", "NoScaling",
           "LogScaling", "column_moments", "column_range", "constant_features", "float_dtype_of", "map_rows",
           "split_offset", "valid_points"]


@SCALINGS.add("minmax")
class MinMaxScaling(Scaler):
    """One global range (lo, hi) -> [0, 1]: images keep their relative grey levels."""

    kind = "minmax"
    unit_range = True
    per_feature_kind = "minmax-feature"

    def fit(self, x, mask=None):
        """Fit (lo, hi) on the unmasked, non-NaN values of ``x`` (N, *S)."""
        lo, hi = column_range(x, valid_points(x, mask), axis=None)
        self.raw_dtype = float_dtype_of(x)
        if not lo <= hi:
            raise ConfigError("minmax scaling needs at least one value that is not masked")
        self.set_range(float(lo), float(hi))
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0):
        lo, hi = np.inf, -np.inf
        for x in chunks:
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
        self.set_range(lo, hi)
        return self

    def set_range(self, lo: float, hi: float) -> None:
        """A single value (hi == lo) gets a width of max(1, |lo|), so that it maps to 0 whatever its magnitude."""
        self.params = {"lo": np.array(lo), "hi": np.array(hi if hi > lo else lo + max(1.0, abs(lo)))}

    def affine(self):
        return self.params["lo"], self.params["hi"] - self.params["lo"]

    def sigma_unit(self, factors=None):
        return float(self.params["hi"] - self.params["lo"])

    def log_derivative(self, x, mask, factors):
        return np.array(-np.log(float(self.params["hi"] - self.params["lo"])))


@SCALINGS.add("minmax-feature")
class FeatureMinMaxScaling(Scaler):
    """Per feature: its own range (lo_j, hi_j) -> [0, 1] (a constant feature maps to 0). For tables whose columns
    have different units, where one global range would squeeze the narrow columns to near-constants; a GAN's
    generator, which outputs [0, 1], then sees every column spread over its range."""

    kind = "minmax-feature"
    unit_range = True

    def fit(self, x, mask=None):
        """Fit (lo_j, hi_j) on each feature's unmasked, non-NaN values (a feature with none: lo 0, hi 1)."""
        lo, hi = column_range(x, valid_points(x, mask))
        self.raw_dtype = float_dtype_of(x)
        none = ~(lo <= hi)
        self.set_ranges(np.where(none, 0.0, lo), np.where(none, 1.0, hi))
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0):
        lo = hi = None
        for x in chunks:
            a, b = x.min(axis=0), x.max(axis=0)
            lo, hi = (a, b) if lo is None else (np.minimum(lo, a), np.maximum(hi, b))
        self.set_ranges(lo, hi)
        return self

    def set_ranges(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """A constant feature (hi == lo) gets a width of max(1, |lo|): it maps to 0 whatever its magnitude."""
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        self.params = {"lo": lo, "hi": np.where(hi > lo, hi, lo + np.maximum(1.0, np.abs(lo)))}

    def check_input(self, x: np.ndarray) -> None:
        self.check_example_shape(x, self.params["lo"].shape)

    def affine(self):
        return self.params["lo"], self.params["hi"] - self.params["lo"]

    def sigma_unit(self, factors=None):
        return self.params["hi"] - self.params["lo"]

    def log_derivative(self, x, mask, factors):
        self.check_input(x)
        return -np.log(self.params["hi"] - self.params["lo"])


@SCALINGS.add("standard")
class StandardScaling(Scaler):
    """Per feature: (x - mean) / std, fitted in float64 on the unmasked values; a constant feature (std at most
    1e-12 of |mean|, or 0) gets std 1."""

    kind = "standard"

    def fit(self, x, mask=None):
        """Fit each feature's mean and std on its unmasked, non-NaN values, in float64."""
        mean, std, _ = column_moments(x, valid_points(x, mask))
        self.raw_dtype = float_dtype_of(x)
        self.set_moments(mean, std)
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0):
        """Each feature's mean and std (ddof 0) over the chunks (``RunningMoments``: float64 row blocks merged by
        Chan et al.'s update); DataError when no chunk holds a row."""
        moments = RunningMoments()
        for x in chunks:
            moments.update(x)
        self.set_moments(moments.mean, moments.std)
        return self

    def set_moments(self, mean: np.ndarray, std: np.ndarray) -> None:
        """A constant feature (``constant_features``: std 0, or at most 1e-12 |mean|) gets std 1: it maps to 0."""
        mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
        self.params = {"mean": mean, "std": np.where(constant_features(mean, std), 1.0, std)}

    def check_input(self, x: np.ndarray) -> None:
        self.check_example_shape(x, self.params["mean"].shape)

    def affine(self):
        return self.params["mean"], self.params["std"]

    def sigma_unit(self, factors=None):
        return self.params["std"]

    def log_derivative(self, x, mask, factors):
        self.check_input(x)
        return -np.log(self.params["std"])


@SCALINGS.add("none")
class NoScaling(Scaler):
    """The identity (float32)."""

    kind = "none"
    fitted = True

    def fit(self, x, mask=None):
        return self

    def fit_chunks(self, chunks, **kw):
        return self

    def transform(self, x, factors=None, *, copy=True, mask=None):
        return np.array(x, dtype=np.float32) if copy else np.asarray(x, dtype=np.float32)

    def inverse_transform(self, x, factors=None):
        return np.asarray(x, dtype=np.float32)

    def sigma_unit(self, factors=None):
        return 1.0

    def log_derivative(self, x, mask, factors):
        return np.zeros(())


@SCALINGS.add("log")
class LogScaling(LogMap):
    """Non-negative data such as energies: log1p(x / eps) / log1p(max / eps) -> [0, 1]. The inverse sets
    values below eps to exactly 0, so generated data stay non-negative and about as sparse as real data (the
    smallest 1 % of real deposits are lost in a round trip)."""

    kind = "log"

    def fit(self, x, mask=None):
        """Fit eps and the largest value on the unmasked, non-NaN values of ``x``."""
        x = np.asarray(x)
        self.raw_dtype = float_dtype_of(x)
        valid = valid_points(x, mask)
        if valid is not None:
            x = x[valid]
        if (x < 0).any():
            raise ConfigError("log scaling needs non-negative data; use --scaling standard or minmax")
        nz = x[x > 0]
        if nz.size == 0:
            raise ConfigError("log scaling needs some non-zero values")
        self.set_log(float(np.percentile(nz.astype(np.float64), 1)), float(nz.max()))
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0):
        """Exact maximum; the 1st percentile of the non-zero values from a seeded subsample of at most 200000."""
        nz_max, nz_sample, rng = 0.0, [], np.random.default_rng(seed)
        per_chunk = max(1, 200_000 // n_chunks)
        for x in chunks:
            if (x < 0).any():
                raise ConfigError("log scaling needs non-negative data; use --scaling standard or minmax")
            nz = x[x > 0]
            if nz.size:
                nz_max = max(nz_max, float(nz.max()))
                nz_sample.append(rng.choice(nz, size=min(per_chunk, nz.size), replace=False))
        if not nz_sample:
            raise ConfigError("log scaling needs some non-zero values")
        self.set_log(float(np.percentile(np.concatenate(nz_sample).astype(np.float64), 1)), nz_max)
        return self

    def set_log(self, eps: float, largest: float) -> None:
        """eps: the 1st percentile of the non-zero values; largest: the largest value."""
        self.params = {**self.log_params(eps, largest), "zero_below": np.array(eps)}

    def forward(self, x, factors):
        return self.log_up(x)

    def inverse(self, u, factors):
        return self.log_down(u, self.params["zero_below"])

    def log_derivative(self, x, mask, factors):
        # d/dx log1p(x / eps) / hi = 1 / (hi (eps + x)) for x >= 0; 0 (log: -inf) below, where the map clips
        eps, hi = float(self.params["eps"]), float(self.params["hi"])
        return np.where(x >= 0, -np.log(eps + np.maximum(x, 0.0)) - np.log(hi), -np.inf)
