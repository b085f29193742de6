"""Classical baselines fitted to the same training data, so a user sees what the network buys.

Every baseline is fitted on the run's training rows alone (``TrainedModel.training_rows``: the seeded train
split), never on the rows it is scored on.

- reconstruction: PCA with as many components as the model has latent dimensions;
- generation: a single Gaussian (full covariance), a Gaussian mixture (10 components, diagonal), and a
  Gaussian kernel density estimate (bandwidth by Scott's rule), sampled and clipped to the data range,
  scored with the same sample-quality metrics as the model.
All in the model's scaled units, on flattened examples.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def pca_reconstruction(train: np.ndarray, test: np.ndarray, k: int) -> np.ndarray:
    """PCA with ``k`` components fitted on ``train`` (N, D); the reconstruction of ``test`` (M, D) (Pearson 1901; scikit-learn's PCA)."""
    from sklearn.decomposition import PCA

    k = min(k, train.shape[1], len(train))
    solver = "randomized" if k < min(train.shape) // 4 else "full"  # a few components of many features: fast
    pca = PCA(n_components=k, svd_solver=solver, random_state=0).fit(train)
    return pca.inverse_transform(pca.transform(test))


#: rows of training data the Gaussian mixture is fitted on, at most
FIT_ROWS = 2000


def baseline_samplers(train: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """name -> function(n) -> samples (n, D), each fitted on ``train`` (N, D)."""
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KernelDensity

    rng = np.random.default_rng(seed)
    mean = train.mean(0)
    cov = np.cov(train, rowvar=False) + 1e-6 * np.eye(train.shape[1])
    fit_rows = train[rng.permutation(len(train))[:FIT_ROWS]]  # the mixture fitted on a bounded subsample
    gmm = GaussianMixture(10, covariance_type="diag", random_state=seed, reg_covar=1e-4, max_iter=50).fit(fit_rows)
    n, d = train.shape
    bandwidth = float(np.mean(train.std(0))) * n ** (-1.0 / (d + 4))  # Scott's rule, one shared bandwidth
    kde = KernelDensity(bandwidth=max(bandwidth, 1e-3)).fit(train)
    return {
        "gaussian": lambda k: rng.multivariate_normal(mean, cov, size=k, method="cholesky"),
        "gaussian_mixture": lambda k: gmm.sample(k)[0][rng.permutation(k)],
        "kde": lambda k: kde.sample(k, random_state=seed),
    }


#: the sample-quality numbers of a baselines row, each beside its standard error
SAMPLE_COLUMNS = tuple(k for name in ("fd_classifier", "precision", "recall", "mode_coverage")
                       for k in (name, f"{name}_err"))


def baseline_table(run, train_ds, test_ds, *, n: int | None = None, seed: int = 0,
                   classifier=None) -> dict[str, dict[str, float]]:
    """Rows of metrics: the model beside PCA (reconstruction) and beside Gaussian / GMM / KDE (samples), the
    baselines fitted on ``train_ds`` (the run's training rows: ``run.training_rows(data)``) and scored on
    ``test_ds`` (where those are training rows too, as with ``--split all``, model and baselines alike have seen
    them)."""
    from .metrics import mse
    from .quality import quality_metrics

    shape = tuple(run.input_shape)
    # each row with its own factors: a condition-aware scaling (e.g. fractions-response) needs the rows' conditions
    xtr = run.to_model_space(train_ds).numpy().reshape(len(train_ds), -1)
    xte = run.to_model_space(test_ds).numpy().reshape(len(test_ds), -1)
    lo, hi = float(xtr.min()), float(xtr.max())
    rows: dict[str, dict[str, float]] = {}
    if run.can("encoding"):
        model_recon = run.preprocess.scale(run.reconstruct(test_ds), like=test_ds).reshape(len(test_ds), -1)
        rows[run.name] = {"recon_mse": mse(model_recon, xte)}
        rows[f"pca (k={run.model.latent_dim})"] = {"recon_mse": mse(pca_reconstruction(xtr, xte,
                                                                                        run.model.latent_dim), xte)}
    if classifier is not None and run.can("sampling"):
        clf, info = classifier
        n = n or len(test_ds)
        cond = None
        if run.conditional:
            pick = np.random.default_rng(seed).integers(0, len(test_ds), n)
            cond = run.conditioner.values_of(test_ds)[pick]
        fake = run.preprocess.scale(run.sample(n, cond, seed=seed, layout="model"), cond)
        q = quality_metrics(clf, info, xte.reshape(-1, *shape), fake)
        rows.setdefault(run.name, {}).update({k: q[k] for k in SAMPLE_COLUMNS})
        rows[run.name]["copying"] = copying(fake.reshape(len(fake), -1), xtr, xte, seed=seed)
        for name, draw in baseline_samplers(xtr, seed=seed).items():
            s = np.clip(draw(n), lo, hi).astype(np.float32).reshape(-1, *shape)
            q = quality_metrics(clf, info, xte.reshape(-1, *shape), s)
            rows[name] = {k: q[k] for k in SAMPLE_COLUMNS}
            rows[name]["copying"] = copying(s.reshape(len(s), -1), xtr, xte, seed=seed)
    return rows


def copying(samples: np.ndarray, train: np.ndarray, test: np.ndarray, *, seed: int = 0, limit: int = 2000) -> float:
    """How close generated samples sit to the training data, against held-out real data: the median distance of a
    sample to its nearest training example over the median distance of a held-out example to its nearest training
    example (flattened, model units; at most ``limit`` rows of each, chosen with ``seed``). About 1: as new as real
    data; well below 1: near-copies of training examples (memorisation)."""
    import torch

    rng = np.random.default_rng(seed)

    def pick(a: np.ndarray, m: int) -> torch.Tensor:
        idx = rng.permutation(len(a))[:m]
        return torch.from_numpy(np.ascontiguousarray(a[idx], np.float32))

    tr = pick(train, 2 * limit)

    def nearest(a: np.ndarray) -> float:
        return float(torch.cdist(pick(a, limit), tr).min(1).values.median())

    return nearest(samples) / max(nearest(test), 1e-12)
