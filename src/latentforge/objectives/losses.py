"""Pure loss terms.

Reduction, stated once for the whole project: every reconstruction term is **summed over the features of
an example and averaged over the batch**, so values read as "nats (or squared error) per example".
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


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
