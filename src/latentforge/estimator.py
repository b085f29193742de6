"""An sklearn-style facade: ``fit`` returns self, learned state ends in ``_``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .run import TrainedModel, train
from .train import TrainConfig
from .data import as_examples


class AutoencoderEstimator:
    """fit / transform (encode) / inverse_transform (decode) / score (negative reconstruction MSE).

    >>> est = AutoencoderEstimator("ae", latent_dim=2, epochs=5).fit(X)
    >>> Z = est.transform(X); X_hat = est.inverse_transform(Z)
    """

    def __init__(self, model: str = "ae", *, epochs: int = 20, batch_size: int = 128, lr: float = 1e-3,
                 seed: int = 0, scaling: str = "minmax", val_fraction: float = 0.1, progress: bool = False,
                 **options: Any):
        self.model = model
        self.epochs, self.batch_size, self.lr, self.seed = epochs, batch_size, lr, seed
        self.scaling, self.val_fraction, self.progress = scaling, val_fraction, progress
        self.options = options

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"model": self.model, "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                "seed": self.seed, "scaling": self.scaling, "val_fraction": self.val_fraction,
                "progress": self.progress, **self.options}

    def set_params(self, **params: Any) -> "AutoencoderEstimator":
        for k, v in params.items():
            if k in self.get_params() and k not in self.options:
                setattr(self, k, v)
            else:
                self.options[k] = v
        return self

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "AutoencoderEstimator":
        tc = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=self.seed,
                         scaling=self.scaling, val_fraction=self.val_fraction, test_fraction=0.0)
        self.trained_: TrainedModel = train(self.model, X, labels=y, train_config=tc, progress=self.progress,
                                            **self.options)
        self.n_features_in_ = int(np.prod(self.trained_.input_shape))
        self.history_ = self.trained_.history
        return self

    def _check(self) -> TrainedModel:
        if not hasattr(self, "trained_"):
            raise RuntimeError("this AutoencoderEstimator is not fitted yet; call fit(X) first")
        return self.trained_

    def transform(self, X: np.ndarray) -> np.ndarray:
        return self._check().encode(X)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        return self._check().decode(Z)

    def fit_transform(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, y).transform(X)

    def score(self, X: np.ndarray, y: np.ndarray | None = None) -> float:
        """Negative mean squared reconstruction error in the data's own units (higher is better)."""
        t = self._check()
        x = as_examples(X, what="X")
        return -float(np.mean((t.reconstruct(x).astype(np.float64) - x) ** 2))
