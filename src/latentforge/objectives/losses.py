"""Pure loss terms.

Reduction, stated once for the whole project: every reconstruction term is **summed over the features of
an example and averaged over the batch**, so values read as "nats (or squared error) per example".
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..nn import draws


def bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood from logits (never from a sigmoid output), sum / example, batch mean."""
    per = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return per.flatten(1).sum(1).mean()


def squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors per example, batch mean."""
    return (pred - target).pow(2).flatten(1).sum(1).mean()


def l1_activity(z: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of sum_j |z_j|."""
    return z.abs().sum(1).mean()


def kl_sparsity(z: torch.Tensor, rho: float, eps: float = 1e-6) -> torch.Tensor:
    """sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)), rho_hat_j the batch-mean activation of unit j in (0, 1)."""
    rho_hat = z.mean(0).clamp(eps, 1 - eps)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


# ---------------------------------------------------------------------------------------------- GAN terms
# All take discriminator logits (never probabilities) and return batch means.

def discriminator_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """-[t log D(x) + (1 - t) log(1 - D(x))] - log(1 - D(G(z))) with D = sigmoid(logit), t the real target."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_target))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """Maximise log D(G(z)), i.e. minimise -log D(G(z)) = softplus(-logit)."""
    return F.softplus(-fake_logits).mean()


def generator_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """The literal minimax term: minimise log(1 - D(G(z))) = -softplus(logit). Its gradient vanishes when D
    confidently rejects the samples (D(G(z)) -> 0), which is why the non-saturating form trains better."""
    return -F.softplus(fake_logits).mean()


def critic_wasserstein(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss: E[C(G(z))] - E[C(x)] (the critic maximises the difference)."""
    return fake_scores.mean() - real_scores.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *, generator: torch.Generator | None = None,
                     eps: float = 1e-12) -> torch.Tensor:
    """WGAN-GP: E[(||grad_x C(x_hat)||_2 - 1)^2] at x_hat = a x + (1 - a) G(z), one a ~ U(0, 1) per sample.

    The gradient of each sample is flattened before its norm; eps inside the square root keeps the norm's
    own gradient finite where the gradient vanishes.
    """
    a = draws.uniform((real.shape[0],) + (1,) * (real.ndim - 1), generator=generator, dtype=real.dtype,
                      device=real.device)
    x_hat = (a * real + (1 - a) * fake).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norm = torch.sqrt(grad.flatten(1).pow(2).sum(1) + eps)
    return (norm - 1).pow(2).mean()
