"""scikit-learn estimators around the autoencoders and VAEs: explicit keyword parameters, ``fit`` returns self,
learned state ends in ``_``, ``NotFittedError`` before ``fit``; usable in ``Pipeline``, ``clone`` and
``GridSearchCV`` and checked with ``sklearn.utils.estimator_checks.check_estimator``.

Data are tables (n_samples, n_features): images go in flattened. Persist a fitted estimator with
``est.trained_.save(dir)`` and ``latentforge.load(dir)`` (safetensors + JSON).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .catalog import MODELS
from .objectives.autoencoder import RECONSTRUCTION_LOSSES
from .run import TrainedModel, train
from .training import TrainConfig

#: catalogue names an AutoencoderEstimator can fit (MLP networks on tables)
AUTOENCODERS = ("ae", "linear-ae", "tied-ae", "sparse-ae", "denoising-ae")


class _LatentEstimator(TransformerMixin, BaseEstimator):
    """What both estimators share: the fit, transform, inverse_transform and tags."""

    def _train_options(self) -> tuple[str, dict[str, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y=None) -> "_LatentEstimator":
        """Fit on X (n_samples, n_features); ``y`` is ignored (unsupervised). Returns self."""
        X = validate_data(self, X, reset=True, dtype=[np.float64, np.float32], ensure_min_samples=1)
        name, options = self._train_options()
        # random_state=None asks for a fresh seed, as in scikit-learn; the one drawn is kept in seed_
        self.seed_ = (int(np.random.SeedSequence().generate_state(1)[0] % 2 ** 31) if self.random_state is None
                      else self.random_state)
        tc = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=self.seed_,
                         scaling=self.scaling, val_fraction=self.val_fraction, test_fraction=0.0, patience=0)
        self.trained_: TrainedModel = train(name, np.asarray(X, np.float32), train_config=tc,
                                            progress=self.progress, **options)
        self.history_ = self.trained_.history
        self.n_components_ = int(self.trained_.model.latent_dim)
        return self

    def transform(self, X) -> np.ndarray:
        """Codes (n_samples, latent_dim) of X (a VAE: the posterior means), in X's float dtype."""
        check_is_fitted(self, "trained_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.trained_.encode(np.asarray(X, np.float32)).astype(X.dtype, copy=False)

    def inverse_transform(self, X) -> np.ndarray:
        """Codes (n_samples, latent_dim) -> reconstructed data (n_samples, n_features), in the data's units."""
        check_is_fitted(self, "trained_")
        Z = np.asarray(X, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.n_components_:
            raise ValueError(f"inverse_transform takes codes of shape (n_samples, {self.n_components_}), got "
                             f"{Z.shape}")
        return self.trained_.decode(Z.astype(np.float32)).astype(Z.dtype, copy=False)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the code dimensions: ``<class>0``, ``<class>1`` ..."""
        check_is_fitted(self, "trained_")
        return np.asarray([f"{type(self).__name__.lower()}{i}" for i in range(self.n_components_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.allow_nan = False
        return tags


class AutoencoderEstimator(_LatentEstimator):
    """An autoencoder as a scikit-learn transformer: ``transform`` encodes, ``inverse_transform`` decodes,
    ``score`` is the negative reconstruction MSE (higher is better).

    Parameters: ``model`` one of ``AUTOENCODERS``; ``latent_dim``, ``hidden`` (encoder widths), ``loss`` (mse or
    bce; bce needs data scaled to [0, 1]), ``scaling`` (minmax, standard, none ...), ``epochs``, ``batch_size``,
    ``lr``, ``val_fraction`` (held out to monitor training), ``random_state`` (the seed), ``progress``.

    Examples:
        >>> est = AutoencoderEstimator("linear-ae", latent_dim=2, epochs=5).fit(X)
        >>> Z = est.transform(X); X_hat = est.inverse_transform(Z)
    """

    def __init__(self, model: str = "ae", *, latent_dim: int = 2, hidden: tuple = (64, 32), loss: str = "mse",
                 scaling: str = "standard", epochs: int = 20, batch_size: int = 128, lr: float = 1e-3,
                 val_fraction: float = 0.1, random_state: int = 0, progress: bool = False):
        self.model = model
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.loss = loss
        self.scaling = scaling
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.val_fraction = val_fraction
        self.random_state = random_state
        self.progress = progress

    def _train_options(self):
        if self.model not in AUTOENCODERS:
            raise ValueError(f"model={self.model!r} is not an MLP autoencoder; choose one of {', '.join(AUTOENCODERS)}")
        names = MODELS.get(self.model).option_names()
        options: dict[str, Any] = {"latent_dim": self.latent_dim, "loss": self.loss, "hidden": tuple(self.hidden)}
        if "output" in names:  # a sigmoid output gives the logits a BCE loss takes
            options["output"] = "sigmoid" if RECONSTRUCTION_LOSSES.get(self.loss).on_logits else "identity"
        if "code_activation" not in names:  # the linear autoencoder: its hidden widths stay linear
            options["hidden"] = ()
        return self.model, options

    def score(self, X, y=None) -> float:
        """Negative mean squared reconstruction error in the data's own units (higher is better)."""
        check_is_fitted(self, "trained_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        x = np.asarray(X, np.float32)
        return -float(np.mean((self.trained_.reconstruct(x).astype(np.float64) - x) ** 2))


class VAEEstimator(_LatentEstimator):
    """A variational autoencoder (Kingma & Welling 2014) as a scikit-learn transformer: ``transform`` gives the
    posterior means, ``inverse_transform`` the decoder's means, ``score`` the mean ELBO per example in nats in
    the units of X (higher is better; comparable across ``scaling``), ``sample(n)`` new data.

    Parameters: ``latent_dim``, ``hidden``, ``likelihood`` (gaussian-shared, gaussian-hetero, gaussian, bernoulli
    for data in [0, 1]), ``beta`` (the KL weight), ``scaling``, ``epochs``, ``batch_size``, ``lr``,
    ``val_fraction``, ``random_state``, ``progress``.
    """

    def __init__(self, *, latent_dim: int = 2, hidden: tuple = (64, 32), likelihood: str = "gaussian-shared",
                 beta: float = 1.0, scaling: str = "standard", epochs: int = 20, batch_size: int = 128,
                 lr: float = 1e-3, val_fraction: float = 0.1, random_state: int = 0, progress: bool = False):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.likelihood = likelihood
        self.beta = beta
        self.scaling = scaling
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.val_fraction = val_fraction
        self.random_state = random_state
        self.progress = progress

    def _train_options(self):
        return "vae", {"latent_dim": self.latent_dim, "hidden": tuple(self.hidden), "likelihood": self.likelihood,
                       "beta": self.beta}

    def score(self, X, y=None) -> float:
        """Mean ELBO per example in nats in the units of X (10 latent draws; higher is better): the scaled-space
        ELBO plus the scaling's log-Jacobian (``run.likelihood``), so fits with different ``scaling`` (and X in
        other units) are compared on the density of X itself, as ``GridSearchCV`` needs."""
        check_is_fitted(self, "trained_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return float(self.trained_.log_likelihood(np.asarray(X, np.float32), k=10,
                                                  seed=self.seed_)["elbo"].mean())

    def sample(self, n: int = 1, *, seed: int = 0) -> np.ndarray:
        """n new examples (n, n_features) from the prior, in the data's units."""
        check_is_fitted(self, "trained_")
        return self.trained_.sample(n, seed=seed).reshape(n, -1)
