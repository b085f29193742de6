"""Scaling transforms whose state is plain JSON, saved beside the model."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArtifactError, ConfigError


class Scaler:
    """``minmax``: one global (lo, hi) -> [0, 1]; ``standard``: per-feature mean / std; ``none``: identity."""

    KINDS = ("minmax", "standard", "none")

    def __init__(self, kind: str = "minmax"):
        if kind not in self.KINDS:
            raise ConfigError(f"unknown scaling {kind!r}; choose one of {', '.join(self.KINDS)}")
        self.kind = kind
        self.params: dict[str, np.ndarray] = {}

    @property
    def fitted(self) -> bool:
        return self.kind == "none" or bool(self.params)

    def fit(self, x: np.ndarray) -> "Scaler":
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "minmax":
            lo, hi = float(x.min()), float(x.max())
            self.params = {"lo": np.array(lo), "hi": np.array(hi if hi > lo else lo + 1.0)}
        elif self.kind == "standard":
            mean = x.mean(axis=0)
            std = x.std(axis=0)
            self.params = {"mean": mean, "std": np.where(std > 1e-12, std, 1.0)}
        return self

    def _need_fit(self) -> None:
        if not self.fitted:
            raise RuntimeError("Scaler is not fitted; call fit(x) first")

    def transform(self, x: np.ndarray) -> np.ndarray:
        self._need_fit()
        x = np.asarray(x, dtype=np.float32)
        if self.kind == "minmax":
            lo, hi = self.params["lo"], self.params["hi"]
            return ((x - lo) / (hi - lo)).astype(np.float32)
        if self.kind == "standard":
            self._check_shape(x)
            return ((x - self.params["mean"]) / self.params["std"]).astype(np.float32)
        return x

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        self._need_fit()
        x = np.asarray(x, dtype=np.float32)
        if self.kind == "minmax":
            lo, hi = self.params["lo"], self.params["hi"]
            return (x * (hi - lo) + lo).astype(np.float32)
        if self.kind == "standard":
            self._check_shape(x)
            return (x * self.params["std"] + self.params["mean"]).astype(np.float32)
        return x

    def scale_of(self, x: np.ndarray) -> np.ndarray:
        """Multiply a standard deviation in scaled units by this to get raw units."""
        if self.kind == "minmax":
            return np.asarray(x) * float(self.params["hi"] - self.params["lo"])
        if self.kind == "standard":
            return np.asarray(x) * self.params["std"]
        return np.asarray(x)

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
