"""The decoder likelihoods p(x|z) of the VAE family, each a class in the ``LIKELIHOODS`` registry.

A likelihood turns the decoder network's raw output into a distribution object (``models.distributions``)
and owns any parameter of its own (the shared sigma). ``out_factor`` is how many numbers the network emits
per output point (a mean, a log sigma, a logit ...); they are stacked along dimension 1, loc first.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from ..registry import Registry
from .distributions import Bernoulli, Gaussian, Hurdle

#: bounds of a predicted log sigma (scaled units): keeps exp() finite and the variance positive
LOG_SIGMA_RANGE = (-7.0, 5.0)

LIKELIHOODS: Registry[type["Likelihood"]] = Registry("likelihood")


class Likelihood(nn.Module):
    """Base class. ``distribution(out, shape)``: raw decoder output (B, out_factor * ...) -> p(x|z).

    ``unit_range``: the data must lie in [0, 1]; ``gaussian``: the distribution is Gaussian, so measurement
    errors enter its variance and the signal's posterior given a measurement is available.
    """

    out_factor: ClassVar[int] = 1
    unit_range: ClassVar[bool] = False
    gaussian: ClassVar[bool] = False
    #: why training under bf16 autocast is not safe with this likelihood (None: safe)
    bf16_risk: ClassVar[str | None] = None

    def __init__(self, sigma: float = 0.1):
        super().__init__()

    def distribution(self, out: torch.Tensor, shape: tuple[int, ...]):  # pragma: no cover - abstract
        raise NotImplementedError


@LIKELIHOODS.add("bernoulli")
class BernoulliLikelihood(Likelihood):
    """Bernoulli on logits (BCE, data in [0, 1])."""

    unit_range = True

    def distribution(self, out, shape):
        return Bernoulli(out.reshape(shape))


@LIKELIHOODS.add("gaussian")
class FixedGaussianLikelihood(Likelihood):
    """Gaussian with a fixed sigma (scaled units)."""

    gaussian = True

    def __init__(self, sigma: float = 0.1):
        super().__init__()
        self.register_buffer("log_sigma", torch.tensor(math.log(sigma)))

    def distribution(self, out, shape):
        return Gaussian(out.reshape(shape), self.log_sigma)


@LIKELIHOODS.add("gaussian-shared")
class SharedGaussianLikelihood(FixedGaussianLikelihood):
    """Gaussian with one learned sigma for every output (starts at ``sigma``)."""

    bf16_risk = "the likelihood's sigma is learned and exponentiated (bf16 keeps about 3 significant digits)"

    def __init__(self, sigma: float = 0.1):
        Likelihood.__init__(self)
        self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))


@LIKELIHOODS.add("gaussian-hetero")
class HeteroGaussianLikelihood(Likelihood):
    """Gaussian whose sigma the decoder predicts per output (heteroscedastic; Nix & Weigend 1994)."""

    out_factor = 2
    gaussian = True
    bf16_risk = "the decoder predicts a log sigma per output that the likelihood exponentiates (bf16 keeps about 3 " \
                "significant digits)"

    def distribution(self, out, shape):
        loc, log_sigma = out.chunk(2, dim=1)
        return Gaussian(loc.reshape(shape), log_sigma.clamp(*LOG_SIGMA_RANGE).reshape(shape))


@LIKELIHOODS.add("hurdle")
class HurdleLikelihood(Likelihood):
    """Zero-inflated Gaussian for sparse non-negative data: per output a logit of being non-zero, and a mean and
    log sigma of the non-zero value; samples are drawn from it, so they are as sparse and noisy as the data."""

    out_factor = 3
    bf16_risk = "the decoder predicts a log sigma per output that the likelihood exponentiates (bf16 keeps about 3 " \
                "significant digits)"

    def distribution(self, out, shape):
        loc, log_sigma, logit = out.chunk(3, dim=1)
        return Hurdle(loc.reshape(shape), log_sigma.clamp(*LOG_SIGMA_RANGE).reshape(shape), logit.reshape(shape))
