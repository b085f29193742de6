"""Log-likelihoods log p(x | decoder output), summed over the features of each example.

Shapes: ``x`` is (B, *S); ``loc`` is (B, *S) or (K, B, *S) with leading sample axes; the result has the
leading axes of ``loc`` without *S. ``sigma_meas`` (known per-point measurement errors) and ``mask``
(True = ignore the point) have the shape of ``x``.

Gaussian: the variance of each point is sigma_model^2 + sigma_meas^2 and the log-variance term is kept,
so a decoder that predicts its own sigma is scored honestly.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

LOG_2PI = math.log(2 * math.pi)


def _sum_features(per_point: torch.Tensor, n_feature_dims: int) -> torch.Tensor:
    return per_point.flatten(-n_feature_dims).sum(-1)


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    target = x if x.shape == logits.shape else x.expand_as(logits)
    ll = -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if mask is not None:
        ll = ll.masked_fill(mask, 0.0)
    return _sum_features(ll, x.ndim - 1)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor | None = None,
                            sigma_meas: torch.Tensor | None = None,
                            mask: torch.Tensor | None = None) -> torch.Tensor:
    if log_sigma is None and sigma_meas is None:
        raise ValueError("a Gaussian likelihood needs the model's sigma, the measurement sigma, or both")
    var = torch.zeros_like(mean)
    if log_sigma is not None:
        var = var + torch.exp(2 * log_sigma)
    if sigma_meas is not None:
        var = var + sigma_meas.pow(2)
    ll = -0.5 * ((x - mean).pow(2) / var + torch.log(var) + LOG_2PI)
    if mask is not None:
        ll = ll.masked_fill(mask, 0.0)
    return _sum_features(ll, x.ndim - 1)


def log_likelihood(kind: str, x: torch.Tensor, loc: torch.Tensor, log_sigma: torch.Tensor | None,
                   sigma_meas: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Dispatch on the decoder kind: ``bernoulli`` takes logits; every Gaussian kind takes mean and log_sigma."""
    if kind == "bernoulli":
        return bernoulli_log_likelihood(x, loc, mask)
    return gaussian_log_likelihood(x, loc, log_sigma, sigma_meas, mask)
