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

    def start_from_residual(self, decoder: nn.Module, resid: torch.Tensor, mask: torch.Tensor | None,
                            log_sigma: torch.Tensor) -> str | None:
        """Set a learned sigma from the decoder's residuals ``resid`` = x - mu(z), z ~ q(z|x) (B, *S, scaled
        units), given the ``log_sigma`` the likelihood now gives; a sentence saying what was set, or None for a
        likelihood without a learned scale."""
        return None


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
        self.register_buffer("log_sigma", torch.tensor(math.log(sigma), device=torch.get_default_device()))

    def distribution(self, out, shape):
        return Gaussian(out.reshape(shape), self.log_sigma)


@LIKELIHOODS.add("gaussian-shared")
class SharedGaussianLikelihood(FixedGaussianLikelihood):
    """Gaussian with one learned sigma for every output (starts at ``sigma``)."""

    bf16_risk = "the likelihood's sigma is learned and exponentiated (bf16 keeps about 3 significant digits)"

    def __init__(self, sigma: float = 0.1):
        Likelihood.__init__(self)
        self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))

    def start_from_residual(self, decoder, resid, mask, log_sigma):
        """sigma becomes the root mean square of the residuals: its maximum-likelihood value for the decoder as it
        is. A start far from it (0.1 where the residual is 0.7) leaves sigma miscalibrated after the usual number
        of Adam steps, so the model's intervals cover too little or too much."""
        s = rms(resid, mask)
        with torch.no_grad():
            self.log_sigma.fill_(math.log(s))
        return f"the learned sigma was set to {s:.3g} after the last epoch (the decoder's residual, scaled units)"


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

    def start_from_residual(self, decoder, resid, mask, log_sigma):
        """Each output's predicted log sigma is moved (through the bias of the log-sigma half of the decoder's last
        layer) by log(residual RMS) - mean predicted log sigma of that output (per feature for vectors, per
        channel for images). None when that layer is not found."""
        last = last_biased_layer(decoder)
        if last is None:
            return None
        bias = last.bias
        n = bias.shape[0] // self.out_factor
        r = per_output(resid.pow(2), mask, n)
        cur = per_output(log_sigma.expand_as(resid), mask, n)
        if r is None or cur is None:
            return None
        shift = 0.5 * torch.log(r.clamp_min(math.exp(2 * LOG_SIGMA_RANGE[0]))) - cur
        with torch.no_grad():
            bias[n:2 * n] += shift.to(bias)
        return (f"the predicted sigma was moved to each output's residual after the last epoch (median "
                f"{float(r.sqrt().median()):.3g}, scaled units)")


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


def rms(x: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Root mean square of x over the unmasked points (float64), floored at exp(LOG_SIGMA_RANGE[0])."""
    xd = x.detach().double()
    keep = torch.ones_like(xd, dtype=torch.bool) if mask is None else ~mask.reshape(xd.shape)
    ms = float(torch.where(keep, xd, 0).pow(2).sum() / keep.sum().clamp_min(1))
    return max(math.sqrt(ms), math.exp(LOG_SIGMA_RANGE[0]))


def per_output(v: torch.Tensor, mask: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """Mean over rows of v per output (v (B, D), n == D) or per channel (v (B, C, ...), n == C), unmasked points
    only, float64; None when neither layout has n outputs."""
    vd = v.detach().double()
    keep = torch.ones_like(vd, dtype=torch.bool) if mask is None else ~mask.reshape(vd.shape)
    if vd.dim() > 2 and vd.shape[1] == n:  # images: pool each channel over rows and pixels
        vd, keep = vd.transpose(0, 1).reshape(n, -1).T, keep.transpose(0, 1).reshape(n, -1).T
    else:
        vd, keep = vd.reshape(vd.shape[0], -1), keep.reshape(vd.shape[0], -1)
    if vd.shape[1] != n:
        return None
    return torch.where(keep, vd, 0).sum(0) / keep.sum(0).clamp_min(1)


def last_biased_layer(module: nn.Module) -> nn.Module | None:
    """The last sub-module (in registration order) with a bias: a decoder's output layer."""
    last = None
    for m in module.modules():
        if isinstance(getattr(m, "bias", None), torch.Tensor) and isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d,
                                                                              nn.ConvTranspose2d, nn.Conv3d)):
            last = m
    return last


def gaussian_decoder_missing(model: nn.Module) -> str | None:
    """None when ``model`` decodes through a Gaussian likelihood (``model.likelihood.gaussian``); else, in words,
    what it has instead: "its decoder likelihood is bernoulli" for a VAE-family model with another likelihood,
    "it has no decoder likelihood" for a model without one (a GAN, or a surrogate whose data law is its own)."""
    lik = getattr(model, "likelihood", None)
    if not isinstance(lik, Likelihood):
        return "it has no decoder likelihood"
    if lik.gaussian:
        return None
    return f"its decoder likelihood is {getattr(getattr(model, 'config', None), 'likelihood', type(lik).__name__)}"
