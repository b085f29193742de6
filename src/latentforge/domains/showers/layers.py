"""The ``shower-layers`` scaling of two-stage shower surrogates: each shower becomes its layer energies in u-space
and its cells as fractions of their own layer.

Layer energies (CaloFlow's flow I, Krause & Shih 2021; iCaloFlow; CaloScore v2's u-space), for a shower of L
non-empty layers with layer energies E_0 .. E_{L-1} and total E_tot:

    u_0 = E_tot / E_inc,        u_k = E_{k-1} / sum_{j >= k-1} E_j      (k = 1 .. L-1)

each in [0, 1]; then y_k = logit(eps + (1 - 2 eps) u_k) with eps = ``U_EPS``, standardised by the training mean
and standard deviation. The inverse is exact: E_tot = u_0 E_inc, E_{k-1} = u_k R_k with R_k the energy left
after layers 0 .. k-2, and the last layer takes what is left (``layer_energies``). A sum that is 0 gives u = 0.

Shapes: the cells of each layer divided by the layer's energy (each layer sums to 1; an empty layer is all 0),
log-scaled like ``log`` (log1p(f / eps_f) / hi, eps_f the 1st percentile of the non-zero training fractions).
The model's space is (N, L + D): the L standardised y, then the D scaled fractions.

The inverse renormalises each layer's fractions to sum to 1, multiplies them by the decoded layer energies and
applies the readout threshold: cells below it become exactly 0 (the threshold is the geometry's, given in the
data's energy unit, else the smallest non-zero deposit of the training rows; CaloChallenge files give 15.15 keV).

The map needs each shower's raw condition vector, whose first entry is log10(E_inc / GeV) (the project's
convention, ``files.shower_conditions``), the energy unit of the cells and the layer sizes (the
geometry); the run's preprocessing passes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...data.scaling_base import SCALINGS, LogMap, float_dtype_of
from ...errors import ConfigError, DataError
from .layer_log import THRESHOLD_RTOL, refuse_negative_deposits
from .units import ENERGY_UNITS

#: the epsilon of the logit in u-space
U_EPS = 1e-6


def layer_u(layer_energies: np.ndarray, e_inc: np.ndarray) -> np.ndarray:
    """u-space of layer energies (N, L) (any non-negative unit) given incident energies (N,) in the same unit:
    (N, L) float64, u_0 = E_tot / E_inc and u_k = E_{k-1} / sum_{j >= k-1} E_j; 0 where a sum is 0."""
    e = np.asarray(layer_energies, np.float64)
    tail = np.cumsum(e[:, ::-1], 1)[:, ::-1]  # sum_{j >= i} E_j
    u = np.empty_like(e)
    u[:, 0] = tail[:, 0] / np.asarray(e_inc, np.float64).reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u[:, 1:] = np.where(tail[:, :-1] > 0, e[:, :-1] / tail[:, :-1], 0.0)
    return u


def layer_energies(u: np.ndarray, e_inc: np.ndarray) -> np.ndarray:
    """Inverse of ``layer_u``: u (N, L) with values in [0, 1] (clipped) -> layer energies (N, L) float64."""
    u = np.clip(np.asarray(u, np.float64), 0.0, 1.0)
    out = np.empty_like(u)
    left = u[:, 0] * np.asarray(e_inc, np.float64).reshape(-1)
    for k in range(1, u.shape[1]):
        out[:, k - 1] = u[:, k] * left
        left = left - out[:, k - 1]
    out[:, -1] = left
    return out


def logit_u(u: np.ndarray) -> np.ndarray:
    """logit(eps + (1 - 2 eps) u) of u in [0, 1] (any shape), float64; eps = U_EPS keeps 0 and 1 finite."""
    v = U_EPS + (1 - 2 * U_EPS) * np.asarray(u, np.float64)
    return np.log(v) - np.log1p(-v)


def expit_u(y: np.ndarray) -> np.ndarray:
    """Inverse of ``logit_u`` (any shape), float64."""
    return (1.0 / (1.0 + np.exp(-np.asarray(y, np.float64))) - U_EPS) / (1 - 2 * U_EPS)


@SCALINGS.add("shower-layers")
class ShowerLayersScaling(LogMap):
    """Showers (N, D) -> (N, L + D): standardised logit u-space layer energies, then per-layer cell fractions,
    log-scaled. ``fit(x, cond=..., info=..., threshold=None)``: cond (N, P) raw condition vectors (first entry
    log10(E_inc / GeV)), info the data's ``geometry`` and ``energy_unit``, threshold the readout threshold in the
    data's unit (None: the geometry's, else the smallest non-zero training deposit). ConfigError without a
    condition vector or a geometry, DataError for negative deposits or E_tot > E_inc."""

    kind = "shower-layers"
    uses_condition = True
    uses_info = True
    square_jacobian = False

    # ------------------------------------------------------------------ set-up
    @staticmethod
    def _sizes_of(info: dict, n_cells: int) -> np.ndarray:
        from .geometry import geometry_for_cells

        g = info.get("geometry") or geometry_for_cells(n_cells)
        if g is None:
            raise ConfigError(f"shower-layers scaling needs the layer structure of showers of {n_cells} cells; "
                              "store the geometry in the file (write_showers with a ShowerGeometry) or use "
                              "--scaling fractions")
        sizes = np.array([layer.n_cells for layer in g.layers], np.int64)
        if sizes.sum() != n_cells:
            raise ConfigError(f"the geometry has {sizes.sum()} cells in non-empty layers, the showers {n_cells}")
        return sizes

    @property
    def sizes(self) -> np.ndarray:
        return np.asarray(self.params["sizes"]).astype(np.int64)

    @property
    def n_layers(self) -> int:
        return len(self.sizes)

    def _e_inc(self, cond) -> np.ndarray:
        """Incident energies (N,) in the cells' unit from raw condition vectors (first entry log10(E / GeV))."""
        if cond is None:
            raise ConfigError("shower-layers scaling needs each shower's condition vector [log10(E_inc / GeV), ...]; "
                              "train with --condition vector --cond-key conditions")
        c = np.asarray(cond, np.float64)
        first = c.reshape(len(c), -1)[:, 0]
        if not (np.isfinite(first).all() and np.abs(first).max(initial=0) < 7):
            raise ConfigError("shower-layers scaling reads the first condition entry as log10(E_inc / GeV), but it "
                              f"reaches {np.abs(first).max():.3g}; condition on --cond-key conditions")
        return 10.0 ** first / float(self.params["gev_per_unit"])

    def _layers(self, x: np.ndarray) -> np.ndarray:
        edges = np.concatenate([[0], np.cumsum(self.sizes)])
        return np.add.reduceat(x, edges[:-1], axis=1)  # (N, L)

    def _per_cell(self, per_layer: np.ndarray) -> np.ndarray:
        return np.repeat(per_layer, self.sizes, axis=1)

    # ------------------------------------------------------------------ contract
    def fit(self, x, mask=None, cond=None, info: dict | None = None, threshold: float | None = None, **kw: Any):
        x = np.asarray(x)
        if x.ndim != 2:
            raise ConfigError(f"shower-layers scaling needs flat showers (N, D), got shape {x.shape}")
        if mask is not None and np.asarray(mask, bool).any():
            raise ConfigError("shower-layers scaling divides cells by their layer's energy, which masked cells "
                              "leave unknown; use --scaling log with masks")
        refuse_negative_deposits(x, "shower-layers")
        info = info or {}
        unit = info.get("energy_unit") or "GeV"
        self.raw_dtype = float_dtype_of(x)
        self.params = {"sizes": self._sizes_of(info, x.shape[1]).astype(np.float64),
                       "gev_per_unit": np.array(ENERGY_UNITS[unit])}
        x64 = x.astype(np.float64)
        e_layer = self._layers(x64)
        e_inc = self._e_inc(cond)
        ratio = e_layer.sum(1) / e_inc
        if (ratio > 1).any():
            raise DataError(f"{int((ratio > 1).sum())} shower(s) deposit more than their incident energy (E_tot / "
                            f"E_inc up to {ratio.max():.3g}): are cells and incident energies in one unit? Store "
                            "the unit (energy_unit) with the file, as write_showers does")
        y = logit_u(layer_u(e_layer, e_inc))
        frac = x64 / np.where(self._per_cell(e_layer) > 0, self._per_cell(e_layer), 1.0)
        nz = frac[frac > 0]
        if not len(nz):
            raise DataError("shower-layers scaling needs showers with deposits")
        positive = x64[x64 > 0]
        if threshold is None or threshold < 0:
            threshold = info.get("threshold") or float(positive.min())
        self.params.update(self.log_params(float(np.percentile(nz, 1)), float(nz.max())))
        self.params.update(u_mean=y.mean(0), u_std=np.maximum(y.std(0), 1e-6), threshold=np.array(float(threshold)))
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0, info: dict | None = None, threshold: float | None = None):
        """``fit`` in one pass over (cells, raw condition vectors) chunks of the training rows, for files larger
        than memory (``data.shower_stream.fit_layers_chunks``)."""
        from .stream import fit_layers_chunks

        return fit_layers_chunks(self, chunks, n_chunks=n_chunks, seed=seed, info=info, threshold=threshold,
                                 u_space=lambda e_layer, e_inc: logit_u(layer_u(e_layer, e_inc)))

    def transform(self, x, factors=None, *, copy=True, mask=None):
        self.need_fit()
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or x.shape[1] != int(self.sizes.sum()):
            raise ConfigError(f"shower-layers scaling was fitted on showers of {int(self.sizes.sum())} cells, got "
                              f"shape {x.shape}")
        e_layer = self._layers(np.maximum(x, 0))
        y = (logit_u(layer_u(e_layer, self._e_inc(factors))) - self.params["u_mean"]) / self.params["u_std"]
        per = self._per_cell(e_layer)
        frac = np.maximum(x, 0) / np.where(per > 0, per, 1.0)
        return np.concatenate([y, self.log_up(frac)], 1).astype(np.float32)

    def layer_energies(self, y: np.ndarray, factors) -> np.ndarray:
        """Standardised u-space values (N, L) -> layer energies (N, L) in the data's unit, float64."""
        u = expit_u(np.asarray(y, np.float64) * self.params["u_std"] + self.params["u_mean"])
        return layer_energies(u, self._e_inc(factors))

    def to_cells(self, x, factors, *, threshold: bool = True) -> np.ndarray:
        """Model space (N, L + D) -> cells (N, D) in the data's unit, float64: each layer's fractions renormalised
        to sum to 1 times the decoded layer energy; with ``threshold`` cells below the readout threshold become 0.
        A layer whose fractions are all 0 spreads its energy evenly over its cells."""
        self.need_fit()
        x = np.asarray(x, np.float64)
        n_l, d = self.n_layers, int(self.sizes.sum())
        if x.ndim != 2 or x.shape[1] != n_l + d:
            raise ConfigError(f"shower-layers scaling: model-space data must be (N, {n_l + d}), got {x.shape}")
        e_layer = self.layer_energies(x[:, :n_l], factors)
        frac = self.log_down(x[:, n_l:], 0.0)
        s = self._layers(frac)
        even = np.repeat(1.0 / self.sizes, self.sizes)[None, :]
        frac = np.where(self._per_cell(s) > 0, frac / np.where(self._per_cell(s) > 0, self._per_cell(s), 1.0), even)
        cells = frac * self._per_cell(e_layer)
        if threshold:
            cells = np.where(cells < float(self.params["threshold"]) * (1 - THRESHOLD_RTOL), 0.0, cells)
        return cells

    def inverse_transform(self, x, factors=None):
        return self.to_cells(x, factors).astype(self.raw_dtype)

    def model_shape(self, shape):
        return (shape[0] + self.n_layers,) if self.fitted else tuple(shape)

    def raw_shape(self, shape):
        return (shape[0] - self.n_layers,)

    def model_options(self) -> dict[str, Any]:
        """What a model of this space is told: the cells of each layer, the logit u-space means and standard
        deviations (to read layer energies off y) and the eps and hi of the scaled shares."""
        return {"layer_cells": tuple(int(s) for s in self.sizes),
                "u_mean": tuple(float(v) for v in self.params["u_mean"]),
                "u_std": tuple(float(v) for v in self.params["u_std"]),
                "share_eps": float(self.params["eps"]), "share_hi": float(self.params["hi"])}
