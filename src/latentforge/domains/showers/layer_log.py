"""The ``layer-log`` scaling of calorimeter showers: each cell as its share of the incident energy, log-scaled with
its own layer's range.

CaloGAN (Paganini, de Oliveira & Nachman 2018, arXiv 1705.02355 / 1712.10321) generates each layer's cells in
their own scale, since the layers' deposits differ by orders of magnitude. Here, for cell i of layer l of a shower
of incident energy E_inc (both in the data's energy unit):

    v_i = log1p(x_i / (E_inc eps_l)) / hi_l,     hi_l = log1p(max_l / eps_l)

with eps_l the 1st percentile of the non-zero shares x_i / E_inc of layer l over the training showers and max_l
their largest, so the training cells of every layer land in [0, 1] and an empty cell is exactly 0 (a generator
with a ReLU output gives exact zeros). Dividing by E_inc (the CaloChallenge's convention for the voxels) takes the
two or three decades of incident energy out of the cells, leaving the response and the shape.

The inverse x_i = E_inc eps_l expm1(hi_l v_i) is exact; cells below the readout threshold (the geometry's, given in
the data's energy unit, else the smallest non-zero training deposit; ``threshold`` overrides) become exactly 0.
The map needs each shower's raw condition vector, whose first entry is log10(E_inc / GeV) (the project's
convention, ``files.shower_conditions``), the cells' energy unit and the layer sizes (the geometry).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ConfigError, DataError
from ...data.scaling_base import SCALINGS, Scaler, float_dtype_of
from .units import ENERGY_UNITS

#: the percentile of a layer's non-zero shares that sets its eps
EPS_PERCENTILE = 1.0
#: a cell within this relative distance below the readout threshold reads out: the smallest training deposit (the
#: default threshold) comes back through float32 model space and float32 log10 conditions a few 1e-7 below itself
THRESHOLD_RTOL = 1e-5


def incident_energy(cond, gev_per_unit: float, kind: str) -> np.ndarray:
    """Incident energies (N,) in the cells' unit from raw condition vectors (N, P) whose first entry is
    log10(E_inc / GeV); ConfigError without them or when that entry cannot be a log energy."""
    if cond is None:
        raise ConfigError(f"{kind} scaling needs each shower's condition vector [log10(E_inc / GeV), ...]; train "
                          "with --condition vector --cond-key conditions")
    c = np.asarray(cond, np.float64)
    first = c.reshape(len(c), -1)[:, 0]
    if not (np.isfinite(first).all() and np.abs(first).max(initial=0) < 7):
        raise ConfigError(f"{kind} scaling reads the first condition entry as log10(E_inc / GeV), but it reaches "
                          f"{np.abs(first).max():.3g}; condition on --cond-key conditions")
    return 10.0 ** first / gev_per_unit


def refuse_negative_deposits(x: np.ndarray, kind: str) -> None:
    """DataError when showers ``x`` (N, cells) hold a negative cell value: the message counts them and the showers
    holding them, gives the smallest, and the fix (clip at 0, or a model that takes them)."""
    neg = x < 0
    if not neg.any():
        return
    raise DataError(f"{kind} scaling needs non-negative deposits, and {int(neg.sum())} cell value(s) in "
                    f"{int(neg.any(1).sum())} shower(s) are negative (smallest {float(x[neg].min()):.4g}): set them "
                    "to 0 in the data (np.maximum(showers, 0)), as a readout does, or train a model that takes "
                    "them, e.g. cvae with --scaling standard")


def layer_sizes(info: dict, n_cells: int, kind: str) -> np.ndarray:
    """The cells of each non-empty layer (L,) of the data's geometry (stored, else the built-in one with that
    many cells); ConfigError when none is known or it does not fit."""
    from .geometry import geometry_for_cells

    g = info.get("geometry") or geometry_for_cells(n_cells)
    if g is None:
        raise ConfigError(f"{kind} scaling needs the layer structure of showers of {n_cells} cells; store the "
                          "geometry in the file (write_showers with a ShowerGeometry) or use --scaling log")
    sizes = np.array([layer.n_cells for layer in g.layers], np.int64)
    if sizes.sum() != n_cells:
        raise ConfigError(f"the geometry has {sizes.sum()} cells in non-empty layers, the showers {n_cells}")
    return sizes


def cell_centres(info: dict, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) (D,) each in mm: the centre of every cell of the data's geometry, layer after layer (the order of
    the showers' cells); ConfigError as ``layer_sizes``."""
    from .geometry import geometry_for_cells

    layer_sizes(info, n_cells, "layer-log")  # the one-line errors
    g = info.get("geometry") or geometry_for_cells(n_cells)
    assert g is not None
    xy = [layer.centres() for layer in g.layers]
    return np.concatenate([x for x, _ in xy]), np.concatenate([y for _, y in xy])


@SCALINGS.add("layer-log")
class LayerLogScaling(Scaler):
    """Showers (N, D) -> (N, D): each cell's share of E_inc, log-scaled per layer into [0, 1] (see the module).
    ``fit(x, cond=..., info=..., threshold=None)``: cond (N, P) raw condition vectors (first entry log10(E_inc /
    GeV)), info the data's ``geometry`` and ``energy_unit``, threshold the readout threshold in the data's unit
    (None or < 0: the geometry's, else the smallest non-zero training deposit). ``transform`` and
    ``inverse_transform`` take the raw condition vectors as ``factors``. ConfigError without condition vectors or
    a geometry, DataError for negative deposits or a layer without any."""

    kind = "layer-log"
    uses_condition = True
    uses_info = True
    unit_range = True

    @property
    def sizes(self) -> np.ndarray:
        return np.asarray(self.params["sizes"]).astype(np.int64)

    def per_cell(self, per_layer: np.ndarray) -> np.ndarray:
        """Per-layer values (..., L) repeated onto the cells (..., D)."""
        return np.repeat(np.asarray(per_layer), self.sizes, axis=-1)

    def e_inc(self, factors) -> np.ndarray:
        """Incident energies (N, 1) in the cells' unit from the raw condition vectors."""
        return incident_energy(factors, float(self.params["gev_per_unit"]), self.kind).reshape(-1, 1)

    def fit(self, x, mask=None, cond=None, info: dict | None = None, threshold: float | None = None, **kw: Any):
        x = np.asarray(x)
        if x.ndim != 2:
            raise ConfigError(f"layer-log scaling needs flat showers (N, D), got shape {x.shape}")
        if mask is not None and np.asarray(mask, bool).any():
            raise ConfigError("layer-log scaling needs every cell of a shower; use --scaling log with masks")
        refuse_negative_deposits(x, "layer-log")
        info = info or {}
        unit = info.get("energy_unit") or "GeV"
        self.raw_dtype = float_dtype_of(x)
        sizes = layer_sizes(info, x.shape[1], self.kind)
        cell_x, cell_y = cell_centres(info, x.shape[1])
        self.params = {"sizes": sizes.astype(np.float64), "gev_per_unit": np.array(ENERGY_UNITS[unit]),
                       "cell_x": cell_x, "cell_y": cell_y}
        share = x.astype(np.float64) / self.e_inc(cond)
        eps, hi = [], []
        for k, part in enumerate(np.split(share, np.cumsum(sizes)[:-1], axis=1)):
            nz = part[part > 0]
            if not len(nz):
                raise DataError(f"layer {k} of the training showers holds no deposit; layer-log scaling needs at "
                                "least one per layer (use --scaling log)")
            eps.append(float(np.percentile(nz, EPS_PERCENTILE)))
            hi.append(float(np.log1p(nz.max() / eps[-1])))
        if threshold is None or threshold < 0:
            threshold = info.get("threshold") or float(x[x > 0].min())
        self.params.update(eps=np.array(eps), hi=np.array(hi), threshold=np.array(float(threshold)))
        return self

    def check_input(self, x: np.ndarray) -> None:
        d = int(self.sizes.sum())
        if x.ndim != 2 or x.shape[1] != d:
            raise ConfigError(f"layer-log scaling was fitted on showers of {d} cells, got shape {x.shape}")

    def forward(self, x: np.ndarray, factors) -> np.ndarray:
        eps, hi = self.per_cell(self.params["eps"]), self.per_cell(self.params["hi"])
        share = np.maximum(x.astype(np.float64), 0) / self.e_inc(factors)
        return (np.log1p(share / eps) / hi).astype(x.dtype)

    def inverse(self, u: np.ndarray, factors) -> np.ndarray:
        return self.to_cells(u, factors).astype(u.dtype)

    def to_cells(self, u: np.ndarray, factors, *, threshold: bool = True) -> np.ndarray:
        """Model space (N, D) -> cells (N, D) in the data's unit, float64; with ``threshold`` cells below the
        readout threshold become exactly 0 (negative model-space values give 0 as well)."""
        self.need_fit()
        eps, hi = self.per_cell(self.params["eps"]), self.per_cell(self.params["hi"])
        cells = np.expm1(np.clip(np.asarray(u, np.float64), 0, None) * hi) * eps * self.e_inc(factors)
        if threshold:
            cells = np.where(cells < float(self.params["threshold"]) * (1 - THRESHOLD_RTOL), 0.0, cells)
        return cells

    def transform(self, x, factors=None, *, copy=True, mask=None):
        self.need_fit()
        x = np.asarray(x)
        self.check_input(x)
        if factors is None:
            self.e_inc(None)  # the one-line error naming the fix
        return self.forward(x.astype(np.float64), factors).astype(np.float32)

    def inverse_transform(self, x, factors=None):
        self.need_fit()
        x = np.asarray(x)
        self.check_input(x)
        return self.to_cells(x, factors).astype(self.raw_dtype)

    def log_derivative(self, x, mask, factors):
        """log dv/dx = -log((E_inc eps_l + x) hi_l) per cell (N, D)."""
        eps, hi = self.per_cell(self.params["eps"]), self.per_cell(self.params["hi"])
        scale = self.e_inc(factors) * eps
        return -np.log((scale + np.maximum(x, 0)) * hi)

    def model_options(self) -> dict[str, Any]:
        """What a model of this space is told: the cells of each layer and each layer's eps and hi (the model
        turns its cells back into shares of E_inc with them), and each cell's centre (mm; where the scaling was
        fitted with them)."""
        centres: dict[str, Any] = {k: tuple(float(v) for v in self.params[k]) for k in ("cell_x", "cell_y")
                                   if k in self.params}
        return {**centres, "layer_cells": tuple(int(s) for s in self.sizes),
                "layer_eps": tuple(float(v) for v in self.params["eps"]),
                "layer_hi": tuple(float(v) for v in self.params["hi"])}
