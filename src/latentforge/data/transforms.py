"""Scaling transforms whose state is plain JSON, saved beside the model."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import ArtifactError, ConfigError


class Scaler:
    """``minmax``: one global (lo, hi) -> [0, 1]; ``standard``: per-feature mean / std; ``none``: identity;
    ``log`` (non-negative data such as energies): log1p(x / eps) / log1p(max / eps) -> [0, 1], where eps is
    the 1st percentile of the non-zero training values; the inverse sets values below eps to exactly 0, so
    generated data stay non-negative and about as sparse as real data (the smallest 1 % of real deposits
    are lost in a round trip);
    ``fractions`` (non-negative (N, D) deposits such as calorimeter cells): each example becomes D + 1 numbers,
    its cells as fractions of its total, log-scaled like ``log`` (empty cells exactly 0), then its log total
    mapped to [0, 1] over the training range (with a margin). The inverse renormalises the fractions to sum
    to one and multiplies by the decoded total, so a model learns the shape and the total separately and the
    total of every generated example is exactly the one it decoded.

    ``median`` (per example, e.g. spectra): each example is divided by the median of its unmasked values
    (at least ``floor``, 1e-3 of the typical training median), and its sigma by the same factor. The factor
    belongs to the example, so ``inverse_transform`` needs it back (``factors=``); without it the output
    stays in normalised units (what ``decode`` of a bare code gives)."""

    KINDS = ("minmax", "standard", "none", "log", "fractions", "median")
    #: margin of the log-total range, as a fraction of its width, on either side
    TOTAL_MARGIN = 0.1

    def __init__(self, kind: str = "minmax"):
        if kind not in self.KINDS:
            raise ConfigError(f"unknown scaling {kind!r}; choose one of {', '.join(self.KINDS)}")
        self.kind = kind
        self.params: dict[str, np.ndarray] = {}

    @property
    def fitted(self) -> bool:
        return self.kind == "none" or bool(self.params)

    @property
    def per_example(self) -> bool:
        """True when each example has its own scale factor (``median``)."""
        return self.kind == "median"

    def factors(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
        """Per-example scale factors, shape (N, 1, ...) broadcastable to x; None for global scalings."""
        if not self.per_example:
            return None
        self._need_fit()
        x = np.asarray(x, dtype=np.float32)
        flat = x.reshape(len(x), -1)
        if mask is not None:
            flat = np.where(np.asarray(mask, bool).reshape(len(x), -1), np.nan, flat)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-masked rows give nan, replaced below
            med = np.nanmedian(flat, axis=1)
        floor = float(self.params["floor"])
        med = np.where(np.isfinite(med), np.maximum(med, floor), 1.0)
        return med.reshape(len(x), *([1] * (x.ndim - 1))).astype(np.float32)

    def fit(self, x: np.ndarray, mask: np.ndarray | None = None) -> "Scaler":
        if self.kind == "median":
            self.params = {"floor": np.array(1.0)}
            med = self.factors(x, mask)
            typical = float(np.median(np.abs(med))) if med is not None and med.size else 1.0
            self.params = {"floor": np.array(1e-3 * typical if typical > 0 else 1e-6)}
        elif self.kind == "minmax":  # min / max are exact in the data's own dtype: no float64 copy needed
            self.set_minmax(float(np.min(x)), float(np.max(x)))
        elif self.kind == "log":
            x = np.asarray(x)
            if (x < 0).any():
                raise ConfigError("log scaling needs non-negative data; use --scaling standard or minmax")
            nz = x[x > 0]
            if nz.size == 0:
                raise ConfigError("log scaling needs some non-zero values")
            self.set_log(float(np.percentile(nz, 1)), float(nz.max()))
        elif self.kind == "fractions":
            x = self._check_fractions_input(x)
            total = x.sum(1, dtype=np.float64)
            if not (total > 0).any():
                raise ConfigError("fractions scaling needs examples with a positive total")
            frac = x[total > 0] / total[total > 0, None]
            nz = frac[frac > 0]
            log_total = np.log(total[total > 0])
            lo, hi = float(log_total.min()), float(log_total.max())
            pad = self.TOTAL_MARGIN * max(hi - lo, 1e-3)
            self.params = {**self._log_params(float(np.percentile(nz, 1)), float(nz.max())),
                           "total_lo": np.array(lo - pad), "total_hi": np.array(hi + pad)}
        elif self.kind == "standard":
            x = np.asarray(x, dtype=np.float64)
            self.set_standard(x.mean(axis=0), x.std(axis=0))
        return self

    # parameters from summary statistics (also used by the streamed fit, which gathers them chunk by chunk)
    def set_minmax(self, lo: float, hi: float) -> None:
        self.params = {"lo": np.array(lo), "hi": np.array(hi if hi > lo else lo + 1.0)}

    def set_standard(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.params = {"mean": mean, "std": np.where(std > 1e-12, std, 1.0)}

    def set_log(self, eps: float, largest: float) -> None:
        """eps: the 1st percentile of the non-zero values; largest: the largest value."""
        self.params = {**self._log_params(eps, largest), "zero_below": np.array(eps)}

    @staticmethod
    def _log_params(eps: float, largest: float) -> dict[str, np.ndarray]:
        return {"eps": np.array(eps), "hi": np.array(np.log1p(largest / eps))}

    def _log_up(self, v: np.ndarray) -> np.ndarray:
        """log1p(v / eps) / hi: non-negative values -> [0, 1] (``log`` and the fractions of ``fractions``)."""
        return np.log1p(np.maximum(v, 0) / self.params["eps"]) / self.params["hi"]

    def _log_down(self, u: np.ndarray, zero_below) -> np.ndarray:
        """Inverse of ``_log_up``; results below ``zero_below`` become exactly 0."""
        raw = np.expm1(np.clip(u, 0, None) * self.params["hi"]) * self.params["eps"]
        return np.where(raw < zero_below, 0.0, raw)

    def _need_fit(self) -> None:
        if not self.fitted:
            raise RuntimeError("Scaler is not fitted; call fit(x) first")

    def transform(self, x: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
        self._need_fit()
        x = np.asarray(x, dtype=np.float32)
        if self.kind == "median":
            f = self.factors(x) if factors is None else factors
            return (x / f).astype(np.float32)
        if self.kind == "minmax":
            lo, hi = self.params["lo"], self.params["hi"]
            return ((x - lo) / (hi - lo)).astype(np.float32)
        if self.kind == "standard":
            self._check_shape(x)
            return ((x - self.params["mean"]) / self.params["std"]).astype(np.float32)
        if self.kind == "log":
            return self._log_up(x).astype(np.float32)
        if self.kind == "fractions":
            x = self._check_fractions_input(x).astype(np.float64)
            total = x.sum(1)
            frac = x / np.where(total > 0, total, 1.0)[:, None]
            p = self.params
            shape = self._log_up(frac)
            t = (np.log(np.maximum(total, 1e-30)) - p["total_lo"]) / (p["total_hi"] - p["total_lo"])
            return np.concatenate([shape, t[:, None]], 1).astype(np.float32)
        return x

    def model_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one example as the model sees it (``fractions`` adds the total as a feature)."""
        return (shape[0] + 1,) if self.kind == "fractions" else tuple(shape)

    def raw_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Inverse of ``model_shape``."""
        return (shape[0] - 1,) if self.kind == "fractions" else tuple(shape)

    def _check_fractions_input(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2:
            raise ConfigError(f"fractions scaling needs flat examples (N, D), got shape {x.shape}; "
                              "flatten them or use --scaling log")
        if (x < 0).any():
            raise ConfigError("fractions scaling needs non-negative data; use --scaling standard or minmax")
        return x

    def inverse_transform(self, x: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
        self._need_fit()
        x = np.asarray(x, dtype=np.float32)
        if self.kind == "median":
            return x if factors is None else (x * factors).astype(np.float32)
        if self.kind == "minmax":
            lo, hi = self.params["lo"], self.params["hi"]
            return (x * (hi - lo) + lo).astype(np.float32)
        if self.kind == "standard":
            self._check_shape(x)
            return (x * self.params["std"] + self.params["mean"]).astype(np.float32)
        if self.kind == "log":
            return self._log_down(x, self.params["zero_below"]).astype(np.float32)
        if self.kind == "fractions":
            p = self.params
            if x.ndim != 2 or x.shape[1] < 2:
                raise ConfigError(f"fractions scaling: model-space data must be (N, D + 1), got {x.shape}")
            frac = self._log_down(x[:, :-1].astype(np.float64), p["eps"])
            s = frac.sum(1, keepdims=True)
            frac = frac / np.where(s > 0, s, 1.0)
            total = np.exp(p["total_lo"] + x[:, -1].astype(np.float64) * (p["total_hi"] - p["total_lo"]))
            return (frac * total[:, None]).astype(np.float32)
        return x

    def _unit(self, factors: np.ndarray | None = None) -> np.ndarray | float:
        if self.kind == "median":
            return 1.0 if factors is None else factors
        if self.kind in ("log", "fractions"):
            raise ConfigError(f"per-point measurement errors cannot be carried through {self.kind} scaling; "
                              "use --scaling minmax, standard or none")
        if self.kind == "minmax":
            return float(self.params["hi"] - self.params["lo"])
        if self.kind == "standard":
            return self.params["std"]
        return 1.0

    def sigma_to_raw(self, sigma: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
        """A standard deviation in scaled units -> raw units (per-example scalings: give ``factors``)."""
        return (np.asarray(sigma) * self._unit(factors)).astype(np.float32)

    def sigma_to_model(self, sigma: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
        """A standard deviation (measurement error) in raw units -> scaled units."""
        return (np.asarray(sigma) / self._unit(factors)).astype(np.float32)

    def _check_shape(self, x: np.ndarray) -> None:
        want = self.params["mean"].shape
        if x.shape[1:] != want:
            raise ConfigError(f"data of example shape {x.shape[1:]} does not match the fitted scaler's {want}")

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": {k: v.tolist() for k, v in self.params.items()},
                "shapes": {k: list(v.shape) for k, v in self.params.items()}}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "Scaler":
        try:
            s = cls(state["kind"])
            s.params = {k: np.asarray(v, dtype=np.float64).reshape(state["shapes"][k])
                        for k, v in state["params"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise ArtifactError(f"transform state is damaged ({e}); retrain or restore transform.json") from None
        return s


class Conditioner:
    """Turns what a conditional model is conditioned on into a vector.

    ``label``: integer class labels -> one-hot over the classes seen in training;
    ``vector``: continuous parameters (N, P) -> standardised with the training mean and std.
    """

    KINDS = ("label", "vector")

    def __init__(self, kind: str):
        if kind not in self.KINDS:
            raise ConfigError(f"unknown condition kind {kind!r}; choose one of {', '.join(self.KINDS)}")
        self.kind = kind
        self.classes: list = []
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return len(self.classes) if self.kind == "label" else int(self.mean.shape[0])

    def fit(self, values: np.ndarray) -> "Conditioner":
        values = np.asarray(values)
        if self.kind == "label":
            self.classes = sorted(np.unique(values).tolist())
        else:
            v = values.reshape(len(values), -1).astype(np.float64)
            self.mean = v.mean(0)
            std = v.std(0)
            self.std = np.where(std > 1e-12, std, 1.0)
        return self

    def transform(self, values) -> np.ndarray:
        values = np.asarray(values)
        if self.kind == "label":
            lookup = {c: i for i, c in enumerate(self.classes)}
            flat = values.reshape(-1).tolist()
            unknown = sorted({v for v in flat if v not in lookup})
            if unknown:
                raise ConfigError(f"condition label(s) {unknown} were not seen in training; known: {self.classes}")
            out = np.zeros((len(flat), len(self.classes)), np.float32)
            out[np.arange(len(flat)), [lookup[v] for v in flat]] = 1.0
            return out
        v = values.reshape(len(values), -1) if values.ndim > 1 else values.reshape(-1, self.dim)
        if v.shape[1] != self.dim:
            raise ConfigError(f"conditions need {self.dim} value(s) each, got {v.shape[1]}")
        return ((v - self.mean) / self.std).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        if self.kind == "label":
            return {"kind": "label", "classes": self.classes}
        return {"kind": "vector", "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "Conditioner":
        try:
            c = cls(state["kind"])
            if c.kind == "label":
                c.classes = list(state["classes"])
            else:
                c.mean, c.std = np.asarray(state["mean"]), np.asarray(state["std"])
        except (KeyError, TypeError, ValueError) as e:
            raise ArtifactError(f"condition state is damaged ({e}); retrain or restore transform.json") from None
        return c
