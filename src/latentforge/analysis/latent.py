"""Latent-space tools for any trained model with a decoder or generator (and an encoder where needed).

Every function takes a trained run (``latentforge.run.TrainedModel``) and raw data (arrays or datasets) and returns
numbers and arrays; the ``*_figure`` functions turn them into matplotlib figures. For a GAN, which has no
encoder, the "points" are noise vectors: pass latent vectors where an autoencoder would take inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from ..errors import ConfigError
from .plots import image_grid, latent_scatter, project_2d


def has_encoder(run) -> bool:
    """True when the run can encode data (an autoencoder or a VAE; a GAN cannot)."""
    return run.can("encoding")


def codes_of(run, data: Any) -> np.ndarray:
    """Latent codes (posterior means for a VAE) of raw examples."""
    return run.encode(data)


def scatter_figure(run, data: Any, labels: np.ndarray | None = None, method: str = "pca"):
    """2-D scatter of the codes of ``data`` coloured by label (PCA or t-SNE above two dimensions)."""
    z = codes_of(run, data)
    labels = labels if labels is not None else getattr(data, "y", None)
    if method not in ("pca", "tsne"):
        raise ConfigError(f"unknown projection {method!r}; choose pca or tsne")
    z2, name = project_2d(z, method)
    return latent_scatter(z2, labels, title=f"{run.name} latent space", method=name)


def _spread(run, data: Any | None) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale of the latent space: the prior N(0, I) for VAEs and GANs, the codes' own otherwise."""
    d = run.model.latent_dim
    if run.can("sampling") or data is None:
        return np.zeros(d), np.ones(d)
    z = codes_of(run, data)
    return z.mean(0), z.std(0) + 1e-8


def dimension_activity(run, data: Any) -> np.ndarray:
    """How much each latent dimension is used on ``data`` (d,): the variance over examples of the code (a VAE:
    of its posterior mean, the "active units" measure of Burda et al. 2016; a dimension is active above 0.01)."""
    return np.var(codes_of(run, data), axis=0)


def traversal(run, data: Any | None = None, *, n: int = 10, around: np.ndarray | None = None,
              dims: int = 8, span: float = 2.0, condition: Any = None, order: Any = None) -> dict[str, Any]:
    """Decode a regular grid over the latent space.

    2-D latent: an n x n grid over the central region of the prior (Gaussian quantiles 5 % ... 95 %; for an
    autoencoder, the same quantiles of its codes). Higher dimensions: one row per dimension (up to ``dims``, in
    ``order`` when given, e.g. most active first), varying that dimension from -span to +span standard deviations
    around ``around`` (default: the centre). Returns ``z``, ``x``, ``ncols``, ``kind``, ``dims`` (the dimension of
    each row) and ``values`` (the offsets, in standard deviations, of the columns).
    """
    centre, scale = _spread(run, data)
    d = run.model.latent_dim
    if d == 2 and around is None:
        q = norm.ppf(np.linspace(0.05, 0.95, n))
        g1, g2 = np.meshgrid(q, q[::-1])
        z = centre + scale * np.stack([g1.ravel(), g2.ravel()], 1)
        kind = "grid"
    else:
        base = centre if around is None else np.asarray(around, np.float64).reshape(d)
        steps = np.linspace(-span, span, n)
        rows = []
        shown = [int(k) for k in (order if order is not None else range(d))][:dims]
        for k in shown:
            zk = np.repeat(base[None], n, 0)
            zk[:, k] = base[k] + steps * scale[k]
            rows.append(zk)
        z = np.concatenate(rows)
        kind = "one dimension per row"
    z = z.astype(np.float32)
    cond = run.conditioner.broadcast(condition, len(z)) if run.conditional and condition is not None else None
    out = {"z": z, "x": run.decode(z, cond, layout="model"), "ncols": n, "kind": kind}
    if kind != "grid":
        out.update(dims=shown, values=steps)
    return out


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between vectors a and b (falls back to linear when they are parallel)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t)[:, None] * a + t[:, None] * b
    return (np.sin((1 - t) * omega)[:, None] * a + np.sin(t * omega)[:, None] * b) / np.sin(omega)


def interpolate(run, a: Any, b: Any, *, steps: int = 10, method: str = "linear", condition: Any = None,
                latent: bool | None = None) -> dict[str, np.ndarray]:
    """Decode ``steps`` points between two inputs (encoded first) or two latent vectors (``latent=True``;
    always for a GAN). ``method``: linear or slerp."""
    latent = (not has_encoder(run)) if latent is None else latent
    if latent:
        za, zb = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    else:
        za, zb = codes_of(run, _one(a))[0], codes_of(run, _one(b))[0]
        if run.conditional and condition is None and hasattr(a, "y"):
            condition = run.conditioner.values_of(a)[0]
    t = np.linspace(0.0, 1.0, steps)
    if method == "linear":
        z = (1 - t)[:, None] * za + t[:, None] * zb
    elif method == "slerp":
        z = slerp(za, zb, t)
    else:
        raise ConfigError(f"unknown interpolation {method!r}; choose linear or slerp")
    z = z.astype(np.float32)
    cond = run.conditioner.broadcast(condition, steps) if run.conditional and condition is not None else None
    return {"z": z, "t": t, "x": run.decode(z, cond, layout="model")}


def _one(x: Any):
    if hasattr(x, "x"):  # a dataset (keeps labels / conditions)
        return x
    x = np.asarray(x, np.float32)
    return x[None] if x.ndim in (1, 3) else x


def arithmetic(run, a: Any, b: Any, c: Any, *, latent: bool | None = None,
               condition: Any = None) -> dict[str, np.ndarray]:
    """Decode mean(A) - mean(B) + mean(C) of three sets of inputs (or latent vectors for a GAN)."""
    latent = (not has_encoder(run)) if latent is None else latent
    means = [np.asarray(s, np.float64).reshape(len(s), -1).mean(0) if latent else codes_of(run, s).mean(0)
             for s in (a, b, c)]
    z = (means[0] - means[1] + means[2]).astype(np.float32)[None]
    parts = np.stack(means).astype(np.float32)
    return {"z": z, "x": run.decode(z, condition, layout="model"), "means": parts,
            "x_means": run.decode(parts, condition, layout="model")}


@dataclass
class Probe:
    """A linear map from latent codes to a known per-example parameter."""

    r2: float           # on held-out examples
    r2_train: float
    direction: np.ndarray  # unit vector in latent space along which the parameter grows
    slope: float        # parameter change per unit step along ``direction``
    intercept: float


def fit_probe(z: np.ndarray, target: np.ndarray, *, seed: int = 0, test_fraction: float = 0.25) -> Probe:
    """Least-squares probe from codes to a parameter; R^2 on a held-out quarter."""
    from sklearn.linear_model import LinearRegression

    target = np.asarray(target, np.float64).reshape(-1)
    if len(target) != len(z):
        raise ConfigError(f"{len(target)} parameter values for {len(z)} codes")
    perm = np.random.default_rng(seed).permutation(len(z))
    n_test = max(1, int(len(z) * test_fraction))
    te, tr = perm[:n_test], perm[n_test:]
    reg = LinearRegression().fit(z[tr], target[tr])
    w = reg.coef_
    norm_w = float(np.linalg.norm(w)) or 1.0
    return Probe(r2=float(reg.score(z[te], target[te])), r2_train=float(reg.score(z[tr], target[tr])),
                 direction=w / norm_w, slope=norm_w, intercept=float(reg.intercept_))


def probe_walk(run, data: Any, target: np.ndarray, *, steps: int = 9, span: float = 2.5,
               condition: Any = None) -> dict[str, Any]:
    """Fit a probe and decode a walk along its direction through the mean code (span in code std units)."""
    z = codes_of(run, data)
    p = fit_probe(z, target)
    scale = float(np.std(z @ p.direction)) or 1.0
    t = np.linspace(-span, span, steps) * scale
    walk = (z.mean(0)[None] + t[:, None] * p.direction[None]).astype(np.float32)
    predicted = p.intercept + walk.astype(np.float64) @ (p.direction * p.slope)
    return {"probe": p, "z": walk, "x": run.decode(walk, condition, layout="model"), "predicted": predicted}


def class_probe(z: np.ndarray, labels: np.ndarray, *, seed: int = 0, test_fraction: float = 0.25) -> dict[str, Any]:
    """How well the codes tell the classes apart: a multinomial logistic regression from codes to class labels,
    its accuracy on a held-out quarter beside chance (the largest class share). Class labels are not a
    continuous parameter, so no regression line or R^2 is fitted to them."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels)
    perm = np.random.default_rng(seed).permutation(len(z))
    n_test = max(1, int(len(z) * test_fraction))
    te, tr = perm[:n_test], perm[n_test:]
    if len(np.unique(labels[tr])) < 2:
        return {"kind": "classes", "accuracy_heldout": None, "note": "fewer than two classes to tell apart"}
    clf = LogisticRegression(max_iter=2000).fit(z[tr], labels[tr])
    _, counts = np.unique(labels[te], return_counts=True)
    return {"kind": "classes", "accuracy_heldout": float(clf.score(z[te], labels[te])),
            "accuracy_train": float(clf.score(z[tr], labels[tr])), "chance": float(counts.max() / len(te))}


def strip_figure(x: np.ndarray, title: str, ncols: int | None = None):
    """A row of images (N, C, H, W) as one figure."""
    return image_grid(x, ncols=ncols or len(x), title=title)
