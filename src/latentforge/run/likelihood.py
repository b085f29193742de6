"""Likelihoods in the data's own units.

A VAE models the scaled data u = t(x) (``data.scaling``); its ELBO and importance-weighted bound are bounds on
log p_u(u). The density of the data themselves follows from the change of variables

    log p_x(x) = log p_u(t(x)) + log |det dt/dx|,

summed over the observed points of an example (``Scaler.log_abs_det_jacobian``). Only in data units are two runs
on the same data comparable whatever their scaling, and a run on data in mm comparable with one on the same data
in m (they differ by exactly D ln 1000 nats per example of D points).

Per dimension: the per-example figure over the number of observed points. Bits per dimension (images whose
pixels are 8-bit values): the data-unit negative log-likelihood per pixel in bits on the 0..255 scale, pixels
stored in [0, 1] taken as value / 255 (what torchvision's ``ToTensor`` makes of 8-bit images). It is the
continuous density at the pixel values, without dequantisation, so it is not a bound on a discrete likelihood
(the convention of van den Oord et al. 2016 and Kingma & Dhariwal 2018 adds uniform noise first).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError

#: the pixel scale of 8-bit images
PIXEL_LEVELS = 255


def observed_points(run, ds) -> np.ndarray:
    """Observed (unmasked) points per example (N,) of the dataset ``ds`` in the run's raw example shape."""
    per = int(np.prod(ds.x.shape[1:]))
    if ds.mask is None:
        return np.full(len(ds), per, np.int64)
    return per - ds.mask.reshape(len(ds), -1).sum(1)


def jacobian_mask(run, ds) -> np.ndarray | None:
    """The points left out of the Jacobian: masked points, and under a hurdle likelihood the exact zeros (a
    probability mass there, not a density, so no change of variables applies to them)."""
    mask = ds.mask
    likelihood = getattr(getattr(run.model, "config", None), "likelihood", "")
    if isinstance(likelihood, str) and likelihood.startswith("hurdle"):
        zeros = ds.x == 0
        mask = zeros if mask is None else (mask | zeros)
    return mask


def log_jacobian(run, ds) -> np.ndarray:
    """log |det dt/dx| per example (N,) in nats: the run's scaling t at the raw examples of ``ds``, summed over
    the points the likelihood counts (``jacobian_mask``). Raises ConfigError where the scaling has no such term
    (a scaling that changes the number of points)."""
    scaler = run.scaler
    if not hasattr(scaler, "log_abs_det_jacobian"):
        raise ConfigError(f"{scaler.kind} scaling gives no log-Jacobian, so its likelihoods stay in scaled units")
    return np.asarray(scaler.log_abs_det_jacobian(ds.x, jacobian_mask(run, ds)), np.float64).reshape(len(ds))


def pixel_scale(run, ds) -> float | None:
    """How many 8-bit levels one data unit spans: 1 for images of whole numbers in [0, 255], 255 for images in
    [0, 1]; None for data that are not 8-bit images (no bits per dimension then)."""
    if len(run.input_shape) != 3:
        return None
    x = ds.x if ds.mask is None else ds.x[~ds.mask]
    if x.size == 0 or float(x.min()) < 0:
        return None
    top = float(x.max())
    if ds.whole_numbers and top <= PIXEL_LEVELS:
        return 1.0
    if top <= 1.0:
        return float(PIXEL_LEVELS)
    return None


def data_unit_likelihoods(run, ds, metrics: dict[str, Any]) -> dict[str, Any]:
    """The entries ``evaluate`` reports for the objective's ``elbo`` and ``nll_iwae`` (nats per example in the
    scaled space), moved to data units:

    - ``elbo``, ``nll_iwae``: nats per example in data units (the scaling's log-Jacobian added);
    - ``elbo_scaled``, ``nll_iwae_scaled``: the same in the model's scaled space (not comparable across scalings);
    - ``log_jacobian``: the mean log |det dt/dx| per example (nats), the difference between the two;
    - ``nll_iwae_per_dim``: nats per observed point in data units; ``bits_per_dim`` for 8-bit images
      (``pixel_scale``; see the module's note on the convention);
    - ``likelihood_units``: one line saying so.

    Where the scaling has no log-Jacobian the scaled figures are kept and ``likelihood_units`` says why.
    """
    if "elbo" not in metrics and "nll_iwae" not in metrics:
        return {}
    out: dict[str, Any] = {f"{k}_scaled": metrics[k] for k in ("elbo", "nll_iwae") if k in metrics}
    try:
        jac = log_jacobian(run, ds)
    except ConfigError as e:
        out["likelihood_units"] = f"scaled space only: {e}"
        return {**out, **{k: None for k in ("elbo", "nll_iwae")}}
    mean_jac = float(jac.mean())
    out["log_jacobian"] = mean_jac
    if "elbo" in metrics:
        out["elbo"] = float(metrics["elbo"]) + mean_jac
    if "nll_iwae" in metrics:
        out["nll_iwae"] = float(metrics["nll_iwae"]) - mean_jac
        points = float(observed_points(run, ds).mean())
        out["nll_iwae_per_dim"] = out["nll_iwae"] / points
        scale = pixel_scale(run, ds)
        if scale is not None:
            out["bits_per_dim"] = (out["nll_iwae_per_dim"] + math.log(scale)) / math.log(2.0)
    out["likelihood_units"] = (f"data units: the {run.scaler.kind} scaling's log-Jacobian "
                               f"({mean_jac:.4g} nats per example) added to the scaled-space figures")
    return out


def in_data_units(run, ds, ll: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-example ``elbo`` and ``iwae`` (N,) from ``importance_sampled`` (scaled space) moved to data units;
    the scaled ones kept as ``elbo_scaled`` / ``iwae_scaled`` and the per-example ``log_jacobian`` beside them.
    Raises ConfigError where the scaling has no log-Jacobian."""
    jac = log_jacobian(run, ds)
    return {"elbo": ll["elbo"] + jac, "iwae": ll["iwae"] + jac, "elbo_scaled": ll["elbo"],
            "iwae_scaled": ll["iwae"], "log_jacobian": jac}
