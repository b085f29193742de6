"""Distributions of the VAE family: the posterior q(z|x) and the decoder's p(x|z).

Conventions, stated once: every log-density and KL here is **summed over the dimensions of an example**
and returned per example (shape (B,), or (K, B) with a leading sample axis); objectives average over the
batch. KL is KL(q || p) >= 0 in nats.

Decoder distributions (returned by ``decode_dist``, built by the likelihoods in ``models.likelihoods``) share
one interface, so the ELBO is written once (as pyro's VAE and diffusers' ``DiagonalGaussianDistribution`` do):

``log_prob(x, sigma=None, mask=None)``  log p(x|z) with known per-point measurement errors ``sigma`` (the
                                        variance becomes sigma_model^2 + sigma^2) and ``mask`` (True = ignore)
``mean``, ``stddev``                    moments of p(x|z), shape (B, *S)
``sample(generator)``                   a draw from p(x|z)
``generate(generator)``                 what a generated example shows: the mean, or a draw where the draw
                                        is the data (the hurdle decoder's exact zeros)
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ..errors import ConfigError
from ..nn import draws

LOG_2PI = math.log(2 * math.pi)


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))): the posterior object of a VAE encoder, mean / logvar (B, D)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean  # (B, D)
        self.logvar = logvar.clamp(-30.0, 20.0)  # keeps exp() finite
        self.std = torch.exp(0.5 * self.logvar)
        self.var = self.std.pow(2)

    def sample(self, generator: torch.Generator | None = None, n: int | None = None) -> torch.Tensor:
        """Reparameterised draw z = mean + std * eps (differentiable in mean and std; Kingma & Welling 2014).

        With ``n`` the result has a leading sample axis: (n, B, D).
        """
        shape = self.mean.shape if n is None else (n, *self.mean.shape)
        eps = draws.normal(shape, generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + self.std * eps

    rsample = sample  # torch's name for the reparameterised draw

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """Closed-form KL(q || N(0, I)) per example: 1/2 sum(mean^2 + var - 1 - logvar), shape (B,)."""
        return 0.5 * (self.mean.pow(2) + self.var - 1.0 - self.logvar).sum(-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) per example; z may carry leading sample axes."""
        return (-0.5 * ((z - self.mean).pow(2) / self.var + self.logvar + LOG_2PI)).sum(-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last axis."""
    return (-0.5 * (z.pow(2) + LOG_2PI)).sum(-1)


# ---------------------------------------------------------------------------------------------- log-likelihoods
def sum_features(per_point: torch.Tensor, n_feature_dims: int) -> torch.Tensor:
    """Sum over the last ``n_feature_dims`` axes (the features of an example)."""
    return per_point.flatten(-n_feature_dims).sum(-1)


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """sum log Bernoulli(x; sigmoid(logits)) over the features of x (B, *S) (BCE from logits, never from a
    sigmoid output); ``logits`` (B, *S) or (K, B, *S)."""
    target = x if x.shape == logits.shape else x.expand_as(logits)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if mask is not None:
        bce = bce.masked_fill(mask, 0.0)
    return -sum_features(bce, x.ndim - 1)  # negated after the sum: one pass over (B,) instead of (B, *S)


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor | None = None,
                            sigma_meas: torch.Tensor | None = None,
                            mask: torch.Tensor | None = None) -> torch.Tensor:
    """sum log N(x; mean, sigma_model^2 + sigma_meas^2) over the features, the log-variance term kept (so a
    decoder that predicts its own sigma is scored honestly; spender, Melchior et al. 2023).
    Raises ValueError when neither sigma is given."""
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
    return sum_features(ll, x.ndim - 1)


def hurdle_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor, logit: torch.Tensor,
                          mask: torch.Tensor | None = None) -> torch.Tensor:
    """Zero-inflated Gaussian: log(1 - p) where x == 0, else log p + log N(x; mean, sigma^2), p =
    sigmoid(logit). The zero part is a probability mass and the rest a density, as in any hurdle model
    (Mullahy 1986); the sum is a proper log-likelihood of the mixed measure."""
    target = x if x.shape == mean.shape else x.expand_as(mean)
    nonzero = target != 0
    var = torch.exp(2 * log_sigma)
    gauss = -0.5 * ((target - mean).pow(2) / var + 2 * log_sigma + LOG_2PI)
    ll = torch.where(nonzero, F.logsigmoid(logit) + gauss, F.logsigmoid(-logit))
    if mask is not None:
        ll = ll.masked_fill(mask, 0.0)
    return sum_features(ll, x.ndim - 1)


# ---------------------------------------------------------------------------------------------- p(x|z)
def _unflatten(t: torch.Tensor, k: int) -> torch.Tensor:
    return t.reshape(k, t.shape[0] // k, *t.shape[1:])


class Bernoulli:
    """p(x|z) = prod Bernoulli(x; sigmoid(logits)), logits (B, *S); data in [0, 1]."""

    measurement_errors = False

    def __init__(self, logits: torch.Tensor):
        self.logits = logits

    @property
    def mean(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    @property
    def stddev(self) -> torch.Tensor:
        p = torch.sigmoid(self.logits)
        return torch.sqrt(p * (1 - p))

    def log_prob(self, x, sigma=None, mask=None):
        if sigma is not None:
            raise ConfigError("a Bernoulli decoder cannot use per-point measurement errors; train with "
                              "--likelihood gaussian-hetero (or gaussian) for data with sigma")
        return bernoulli_log_likelihood(x, self.logits, mask)

    def sample(self, generator=None):
        return draws.bernoulli(self.mean, generator=generator)

    def generate(self, generator=None):
        return self.mean

    def unflatten(self, k: int) -> "Bernoulli":
        return Bernoulli(_unflatten(self.logits, k))


class Gaussian:
    """p(x|z) = N(loc, sigma_model^2) per point; ``log_sigma`` a scalar (fixed or shared sigma) or (B, *S)."""

    measurement_errors = True

    def __init__(self, loc: torch.Tensor, log_sigma: torch.Tensor):
        self.loc, self.log_sigma = loc, log_sigma

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def stddev(self) -> torch.Tensor:
        return torch.exp(self.log_sigma).expand_as(self.loc)

    def log_prob(self, x, sigma=None, mask=None):
        return gaussian_log_likelihood(x, self.loc, self.log_sigma, sigma, mask)

    def sample(self, generator=None):
        eps = draws.normal(self.loc.shape, generator=generator, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + self.stddev * eps

    def generate(self, generator=None):
        return self.loc

    def signal_posterior(self, x: torch.Tensor, sigma: torch.Tensor,
                         mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of the noiseless signal s given a measurement x = s + N(0, sigma^2) and the prior
        s ~ N(loc, sigma_model^2): mean loc + w (x - loc), variance w sigma^2, w = sigma_model^2 /
        (sigma_model^2 + sigma^2); masked points keep loc and sigma_model^2. x, sigma, mask: (B, *S);
        loc may carry a leading sample axis."""
        var_model = self.stddev.pow(2)
        var_meas = sigma.pow(2)
        masked = mask if mask is not None else torch.zeros((), dtype=torch.bool, device=self.loc.device)
        w = torch.where(masked, 0.0, var_model / (var_model + var_meas))  # weight of the measurement
        return self.loc + w * (x - self.loc), torch.where(masked, var_model, w * var_meas)

    def unflatten(self, k: int) -> "Gaussian":
        ls = self.log_sigma if self.log_sigma.dim() == 0 else _unflatten(self.log_sigma, k)
        return Gaussian(_unflatten(self.loc, k), ls)


class Hurdle:
    """Zero-inflated Gaussian for sparse non-negative data (log-scaled energies): each point is 0 with
    probability 1 - sigmoid(logit), else N(loc, sigma^2); parameters (B, *S)."""

    measurement_errors = False

    def __init__(self, loc: torch.Tensor, log_sigma: torch.Tensor, logit: torch.Tensor):
        self.loc, self.log_sigma, self.logit = loc, log_sigma, logit

    @property
    def mean(self) -> torch.Tensor:
        return torch.sigmoid(self.logit) * self.loc

    @property
    def stddev(self) -> torch.Tensor:  # mixture of a point mass at 0 and N(loc, sigma^2)
        p, var = torch.sigmoid(self.logit), torch.exp(2 * self.log_sigma)
        return torch.sqrt((p * (var + self.loc.pow(2)) - (p * self.loc).pow(2)).clamp_min(0))

    def log_prob(self, x, sigma=None, mask=None):
        if sigma is not None:
            raise ConfigError("the hurdle likelihood does not take per-point measurement errors; "
                              "use a gaussian likelihood for data with sigma")
        return hurdle_log_likelihood(x, self.loc, self.log_sigma, self.logit, mask)

    def sample(self, generator=None):
        """Zero with probability 1 - p, else N(loc, sigma^2) kept above 0 (a non-zero entry stays non-zero)."""
        u = draws.uniform(self.loc.shape, generator=generator, dtype=self.loc.dtype, device=self.loc.device)
        eps = draws.normal(self.loc.shape, generator=generator, dtype=self.loc.dtype, device=self.loc.device)
        value = (self.loc + torch.exp(self.log_sigma) * eps).clamp_min(1e-6)
        return torch.where(u < torch.sigmoid(self.logit), value, torch.zeros_like(value))

    generate = sample  # the zeros are the data: generated examples are as sparse and noisy as real ones

    def unflatten(self, k: int) -> "Hurdle":
        return Hurdle(_unflatten(self.loc, k), _unflatten(self.log_sigma, k), _unflatten(self.logit, k))
