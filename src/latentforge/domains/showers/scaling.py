"""A scaling for conditional calorimeter surrogates: ``fractions`` with the shower's total taken relative to what
the condition predicts.

A shower's deposited energy grows in proportion to its incident energy (E_dep ~ f_s E_inc, PDG "Calorimetry"),
so across two decades of E_inc the log total spans several units while its spread at one energy is a few per
cent. ``fractions`` asks a model to place the log total on that whole range; ``fractions-response`` first fits
log E_total ~ [c, 1] . w by least squares on the training rows (c: the raw condition vector, e.g. [log10 E_inc,
one-hot particle]) and keeps only the residual, the log of the response relative to its fit, as the model's last
feature. A conditional model then learns the response's spread, not the energy scale, as flow-based shower
surrogates do by modelling E_dep / E_inc (Krause & Shih 2021, CaloFlow). The cells stay log-scaled fractions of
the total, as in ``fractions``.

The inverse needs each example's raw condition vector: the run's preprocessing passes it as ``factors``
(``Preprocessor.condition_factors``), so ``sample(n, condition)`` gives showers in raw units as usual.
"""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...data.scaling_base import SCALINGS
from ...data.scaling_shapes import FractionsScaling


@SCALINGS.add("fractions-response")
class ResponseFractionsScaling(FractionsScaling):
    """``fractions`` whose last feature is log E_total minus a least-squares fit on the condition vector, mapped
    to [0, 1] over the training residuals (with a margin). ``fit(x, cond=...)``, ``transform(x, factors=cond)``,
    ``inverse_transform(u, factors=cond)``: cond (N, P) raw condition vectors. ConfigError without them."""

    kind = "fractions-response"
    uses_condition = True

    def _design(self, cond) -> np.ndarray:
        if cond is None:
            raise ConfigError("fractions-response scaling needs each example's condition vector; train a model "
                              "with --condition vector --cond-key NAME (e.g. conditions)")
        c = np.asarray(cond, np.float64)
        c = c.reshape(len(c), -1)
        return np.concatenate([c, np.ones((len(c), 1))], 1)

    def fit(self, x, mask=None, cond=None):
        design = self._design(cond)
        super().fit(x, mask)
        self._fit_response(np.asarray(x).sum(1, dtype=np.float64), design)
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0):
        """One pass over (cells, raw condition vectors) chunks of the training rows: ``fractions``' streamed fit
        of the cells, and the least-squares fit of the log totals on the conditions, exact (it needs one total
        and one condition vector per row, not the cells)."""
        totals, designs = [], []

        def cells():
            for x, cond in chunks:
                totals.append(np.asarray(x).sum(1, dtype=np.float64))
                designs.append(self._design(cond))
                yield x

        super().fit_chunks(cells(), n_chunks=n_chunks, seed=seed)
        self._fit_response(np.concatenate(totals), np.concatenate(designs))
        return self

    def _fit_response(self, total: np.ndarray, design: np.ndarray) -> None:
        """w of log total ~ design . w on the showers with a deposit, and the mapped range of the residuals."""
        if len(design) != len(total):
            raise ConfigError(f"{len(design)} condition vectors for {len(total)} examples")
        keep = total > 0
        w = np.linalg.lstsq(design[keep], np.log(total[keep]), rcond=None)[0]
        resid = np.log(total[keep]) - design[keep] @ w
        lo, hi = float(resid.min()), float(resid.max())
        pad = self.TOTAL_MARGIN * max(hi - lo, 1e-3)
        self.params.update(w=w, total_lo=np.array(lo - pad), total_hi=np.array(hi + pad))

    def _shift(self, factors) -> np.ndarray:
        """The fitted log total of each example, in units of the mapped range."""
        w = self.params["w"]
        design = self._design(factors)
        if design.shape[1] != len(w):
            raise ConfigError(f"conditions need {len(w) - 1} value(s) each, got {design.shape[1] - 1}")
        return (design @ w) / (self.params["total_hi"] - self.params["total_lo"])

    def transform(self, x, factors=None, *, copy=True, mask=None):
        shift = self._shift(factors)  # refuses a missing condition before any work
        u = self.transform64(x)  # the fitted log total is removed in float64, then cast
        empty = np.asarray(x).sum(1) <= 0
        u[:, -1] = np.where(empty, 0.0, u[:, -1] - shift)  # (log T - fit - lo) / (hi - lo); an empty shower: 0
        return u.astype(np.float32)

    def inverse_transform(self, x, factors=None):
        self.need_fit()
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] < 2:
            raise ConfigError(f"fractions scaling: model-space data must be (N, D + 1), got {x.shape}")
        p = self.params
        frac = self.log_down(x[:, :-1].astype(np.float64), p["eps"])
        s = frac.sum(1, keepdims=True)
        frac = frac / np.where(s > 0, s, 1.0)
        resid = p["total_lo"] + np.clip(x[:, -1], 0, 1).astype(np.float64) * (p["total_hi"] - p["total_lo"])
        total = np.exp(resid + self._design(factors) @ p["w"])
        return (frac * total[:, None]).astype(self.raw_dtype)
