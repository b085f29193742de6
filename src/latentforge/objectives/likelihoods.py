"""Log-likelihoods log p(x | decoder output), summed over the features of each example.

Shapes: ``x`` is (B, *S); ``loc`` is (B, *S) or (K, B, *S) with leading sample axes; the result has the
leading axes of ``loc`` without *S. ``sigma_meas`` (known per-point measurement errors) and ``mask``
(True = ignore the point) have the shape of ``x``.

Gaussian: the variance of each point is sigma_model^2 + sigma_meas^2 and the log-variance term is kept,
so a decoder that predicts its own sigma is scored honestly.

Hurdle (zero-inflated Gaussian, for sparse non-negative data where empty entries are exactly 0): each point
is 0 with probability 1 - sigmoid(logit), otherwise Gaussian(mean, sigma):
log p(x) = log(1 - p) if x == 0, else log p + log N(x; mean, sigma^2). The zero part is a probability mass and
the non-zero part a density, as in any hurdle model; the sum is a proper log-likelihood of the mixed measure.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ..errors import ConfigError

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


def hurdle_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor, logit: torch.Tensor,
                          mask: torch.Tensor | None = None) -> torch.Tensor:
    target = x if x.shape == mean.shape else x.expand_as(mean)
    nonzero = target != 0
    var = torch.exp(2 * log_sigma)
    gauss = -0.5 * ((target - mean).pow(2) / var + 2 * log_sigma + LOG_2PI)
    ll = torch.where(nonzero, F.logsigmoid(logit) + gauss, F.logsigmoid(-logit))
    if mask is not None:
        ll = ll.masked_fill(mask, 0.0)
    return _sum_features(ll, x.ndim - 1)


def log_likelihood(kind: str, x: torch.Tensor, loc: torch.Tensor, log_sigma: torch.Tensor | None,
                   sigma_meas: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Dispatch on the decoder kind: ``bernoulli`` takes logits; every Gaussian kind takes mean and log_sigma;
    ``hurdle`` takes the mean and the pair (log_sigma, logit of being non-zero)."""
    if kind == "bernoulli":
        return bernoulli_log_likelihood(x, loc, mask)
    if kind == "hurdle":
        if sigma_meas is not None:
            raise ConfigError("the hurdle likelihood does not take per-point measurement errors; "
                              "use a gaussian likelihood for data with sigma")
        return hurdle_log_likelihood(x, loc, log_sigma[0], log_sigma[1], mask)
    return gaussian_log_likelihood(x, loc, log_sigma, sigma_meas, mask)
