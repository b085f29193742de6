"""Distributions used by the VAE family.

Conventions, stated once: every log-density and KL here is **summed over the dimensions of an example**
and returned per example (shape (B,)); objectives average over the batch. KL is KL(q || p) >= 0.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))): the posterior object of a VAE encoder."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean  # (B, D)
        self.logvar = logvar.clamp(-30.0, 20.0)  # keeps exp() finite
        self.std = torch.exp(0.5 * self.logvar)
        self.var = self.std.pow(2)

    def sample(self, generator: torch.Generator | None = None, n: int | None = None) -> torch.Tensor:
        """Reparameterised draw z = mean + std * eps (differentiable in mean and std).

        With ``n`` the result has a leading sample axis: (n, B, D).
        """
        shape = self.mean.shape if n is None else (n, *self.mean.shape)
        eps = torch.randn(shape, generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """Closed-form KL(q || N(0, I)) per example: 1/2 sum(mean^2 + var - 1 - logvar)."""
        return 0.5 * (self.mean.pow(2) + self.var - 1.0 - self.logvar).sum(-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) per example; z may carry leading sample axes."""
        return (-0.5 * ((z - self.mean).pow(2) / self.var + self.logvar + LOG_2PI)).sum(-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last axis."""
    return (-0.5 * (z.pow(2) + LOG_2PI)).sum(-1)
