"""The scalings that change an example's shape (``fractions``) or scale each example by itself (``median``);
registered in ``data.scaling_base.SCALINGS`` beside the others (``data.scaling`` imports this module)."""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ConfigError
from .scaling_base import SCALINGS, LogMap, Scaler, block_quota, float_dtype_of, subsample, valid_points


@SCALINGS.add("fractions")
class FractionsScaling(LogMap):
    """Non-negative (N, D) deposits such as detector cells: each example becomes D + 1 numbers, its cells
    as fractions of its total, log-scaled like ``log`` (empty cells exactly 0), then its log total mapped to
    [0, 1] over the training range (with a margin). The inverse renormalises the fractions to sum to one and
    multiplies by the decoded total (clipped to the training range and margin): shape and total are learnt apart."""

    kind = "fractions"
    square_jacobian = False  # D values -> D + 1
    #: margin of the log-total range, as a fraction of its width, on either side
    TOTAL_MARGIN = 0.1
    #: streamed fit (``fit_chunks``): non-zero fractions sampled for eps, at most; values per float64 block of rows
    FIT_SAMPLE = 200_000
    FIT_BLOCK_VALUES = 1 << 19

    @classmethod
    def fit_block_rows(cls, n_values: int) -> int:
        """Rows per block of a streamed fit for examples of ``n_values`` values (a float64 block of 4 MiB)."""
        return max(1, cls.FIT_BLOCK_VALUES // max(n_values, 1))

    @staticmethod
    def _check(x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2:
            raise ConfigError(f"fractions scaling needs flat examples (N, D), got shape {x.shape}; "
                              "flatten them or use --scaling log")
        if (x < 0).any():
            raise ConfigError("fractions scaling needs non-negative data; use --scaling standard or minmax")
        return x

    def fit(self, x, mask=None):
        x = self._check(x)
        self.raw_dtype = float_dtype_of(x)
        if mask is not None and np.asarray(mask, bool).any():
            raise ConfigError("fractions scaling divides each example by its total, which masked points leave "
                              "unknown; use --scaling log, minmax, standard or none with masks")
        total = x.sum(1, dtype=np.float64)
        if not (total > 0).any():
            raise ConfigError("fractions scaling needs examples with a positive total")
        frac = x[total > 0] / total[total > 0, None]
        nz = frac[frac > 0]
        log_total = np.log(total[total > 0])
        self.set_fractions(float(np.percentile(nz, 1)), float(nz.max()), float(log_total.min()),
                           float(log_total.max()))
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0):
        """One pass over the training rows: the largest fraction and the log-total range exactly, eps (the 1st
        percentile of the non-zero fractions) from a seeded sample of at most FIT_SAMPLE of them (all of them
        when there are fewer)."""
        rng = np.random.default_rng(seed)
        per_chunk = max(1, self.FIT_SAMPLE // max(n_chunks, 1))
        sample, nz_max, lo, hi = [], 0.0, np.inf, -np.inf
        for x in chunks:
            x = self._check(x)
            self.raw_dtype = float_dtype_of(x)
            rows = self.fit_block_rows(x.shape[1])
            for i in range(0, len(x), rows):  # float64 fractions of a block of rows at a time
                block = x[i:i + rows]
                total = block.sum(1, dtype=np.float64)
                pos = total > 0
                if not pos.any():
                    continue
                frac = block[pos] / total[pos, None]
                nz = frac[frac > 0]
                nz_max = max(nz_max, float(nz.max(initial=0.0)))
                sample.append(subsample(rng, nz, block_quota(per_chunk, len(block), len(x))))
                log_total = np.log(total[pos])
                lo, hi = min(lo, float(log_total.min())), max(hi, float(log_total.max()))
        if not sample:
            raise ConfigError("fractions scaling needs examples with a positive total")
        self.set_fractions(float(np.percentile(np.concatenate(sample), 1)), nz_max, lo, hi)
        return self

    def set_fractions(self, eps: float, largest: float, lo: float, hi: float) -> None:
        """eps and the largest fraction (the log map), and the range [lo, hi] of the log totals, widened by
        TOTAL_MARGIN of its width on either side."""
        pad = self.TOTAL_MARGIN * max(hi - lo, 1e-3)
        self.params = {**self.log_params(eps, largest), "total_lo": np.array(lo - pad),
                       "total_hi": np.array(hi + pad)}

    def transform(self, x, factors=None, *, copy=True, mask=None):
        return self.transform64(x).astype(np.float32)

    def transform64(self, x) -> np.ndarray:
        """``transform`` in float64 (N, D + 1), before the cast to the model's float32."""
        self.need_fit()
        x = self._check(np.asarray(x, dtype=np.float64))
        total = x.sum(1)
        frac = x / np.where(total > 0, total, 1.0)[:, None]
        p, logt = self.params, np.log(np.where(total > 0, total, 1.0))  # an empty example's total maps to 0
        t = np.where(total > 0, (logt - p["total_lo"]) / (p["total_hi"] - p["total_lo"]), 0.0)
        return np.concatenate([self.log_up(frac), t[:, None]], 1)

    def inverse_transform(self, x, factors=None):
        self.need_fit()
        x = np.asarray(x, dtype=np.float32)
        p = self.params
        if x.ndim != 2 or x.shape[1] < 2:
            raise ConfigError(f"fractions scaling: model-space data must be (N, D + 1), got {x.shape}")
        frac = self.log_down(x[:, :-1].astype(np.float64), p["eps"])
        s = frac.sum(1, keepdims=True)
        frac = frac / np.where(s > 0, s, 1.0)
        total = np.exp(p["total_lo"] + np.clip(x[:, -1], 0, 1).astype(np.float64) * (p["total_hi"] - p["total_lo"]))
        return (frac * total[:, None]).astype(self.raw_dtype)

    def model_shape(self, shape):
        return (shape[0] + 1,)

    def raw_shape(self, shape):
        return (shape[0] - 1,)


@SCALINGS.add("median")
class MedianScaling(Scaler):
    """Per example (e.g. a flux): each example divided by the median of its unmasked values (at least ``floor``,
    1e-3 of the typical training median), and its sigma by the same factor. The factor belongs to the
    example, so ``inverse_transform`` needs it back (``factors=``); without it the output stays in
    normalised units (what ``decode`` of a bare code gives)."""

    kind = "median"
    per_example = True

    def factors(self, x, mask=None):
        """Each example's median over its unmasked, non-NaN values (N, 1, ...) float32, computed in float64; at
        least the fitted floor; 1 for an example with no such value."""
        self.need_fit()
        x = np.asarray(x)
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        valid = valid_points(x, mask)
        if valid is not None:
            flat = np.where(valid.reshape(len(x), -1), flat, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-masked rows give nan, replaced below
            med = np.nanmedian(flat, axis=1)
        floor = float(self.params["floor"])
        med = np.where(np.isfinite(med), np.maximum(med, floor), 1.0)
        return med.reshape(len(x), *([1] * (x.ndim - 1))).astype(np.float32)

    def fit(self, x, mask=None):
        self.params = {"floor": np.array(1.0)}
        self.raw_dtype = float_dtype_of(x)
        self._set_floor(self.factors(x, mask))
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0):
        self.params = {"floor": np.array(1.0)}
        self._set_floor(np.concatenate([self.factors(x).reshape(-1) for x in chunks]))
        return self

    def _set_floor(self, med: np.ndarray | None) -> None:
        typical = float(np.median(np.abs(med))) if med is not None and med.size else 1.0
        self.params = {"floor": np.array(1e-3 * typical if typical > 0 else 1e-6)}

    def forward(self, x, factors):
        x /= np.asarray(factors, x.dtype)
        return x

    def inverse(self, u, factors):
        if factors is not None:
            u *= np.asarray(factors, u.dtype)
        return u

    def sigma_unit(self, factors=None):
        return 1.0 if factors is None else factors

    def log_derivative(self, x, mask, factors):
        f = self.factors(x, mask) if factors is None else factors
        return -np.log(np.asarray(f, dtype=np.float64))
