"""beta-TCVAE (Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in Variational
Autoencoders"): the KL term of the ELBO split into the index-code mutual information, the total correlation
of the aggregate posterior and the dimension-wise KL, the total correlation weighted by beta:

    loss = -E_q[log p(x|z)] + alpha * I_q(z; n) + beta * KL(q(z) || prod_j q(z_j)) + gamma * sum_j KL(q(z_j) || p(z_j))

In training the aggregate posterior q(z) is estimated by minibatch weighted sampling (MWS, their section 4.1):
for z_i ~ q(z|n_i) in a batch of M from N training examples, log q(z_i) ~ logsumexp_j log q(z_i|n_j) - log(N M),
and the same per dimension for log prod_j q(z_ij). MWS shifts the three parts by constants (a few log M), which
leaves their gradients, and so training, unchanged; the numbers ``evaluate`` reports are computed over the whole
evaluated set instead (q(z) = 1/N sum_n q(z|n) with N = M), where no constant is missing: the total correlation
is about 0 for independent codes. The three parts always add up to log q(z|n) - log p(z), a one-draw estimate of
the KL, so with alpha = beta = gamma = 1 the loss is the usual negative ELBO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..config import Config, option
from ..errors import ConfigError
from ..models.distributions import LOG_2PI, DiagonalGaussian, standard_normal_log_prob
from ..data.batches import to_device
from .base import model_device
from .elbo import ELBOObjective, log_likelihood, model_input


@dataclass(frozen=True)
class TCVAEConfig(Config):
    beta: float = option(6.0, "weight of the total correlation KL(q(z) || prod_j q(z_j))")
    alpha: float = option(1.0, "weight of the index-code mutual information I_q(z; n)")
    gamma: float = option(1.0, "weight of the dimension-wise KL sum_j KL(q(z_j) || p(z_j))")
    dataset_size: int = option(0, "N of the minibatch-weighted sampling estimate (filled in from the data)",
                               from_data=True)

    def validate(self) -> None:
        if min(self.alpha, self.beta, self.gamma) < 0 or self.dataset_size < 0:
            raise ConfigError("alpha, beta, gamma and dataset_size must be >= 0")


def kl_decomposition(q: DiagonalGaussian, z: torch.Tensor, dataset_size: int) -> dict[str, torch.Tensor]:
    """Per-example estimates (B,) of the mutual information, total correlation and dimension-wise KL for codes
    z (B, D) drawn from q (B, D): MWS for a batch taken from ``dataset_size`` examples, or (0) over the batch
    as the whole dataset."""
    m = z.shape[0]
    log_nm = math.log(m * dataset_size) if dataset_size else math.log(m)
    # log q(z_i | n_j) per dimension: (B_i, B_j, D)
    per_dim = -0.5 * ((z[:, None] - q.mean[None]).pow(2) / q.var[None] + q.logvar[None] + LOG_2PI)
    log_qz = torch.logsumexp(per_dim.sum(2), dim=1) - log_nm
    log_prod = (torch.logsumexp(per_dim, dim=1) - log_nm).sum(1)
    return {"mi": q.log_prob(z) - log_qz, "tc": log_qz - log_prod, "dim_kl": log_prod - standard_normal_log_prob(z)}


class TCVAEObjective(ELBOObjective):
    """The beta-TCVAE loss; ``evaluate`` reports the MWS estimates of the three KL parts on the evaluated set."""

    config_class = TCVAEConfig

    @classmethod
    def data_options(cls, n_train: int) -> dict[str, Any]:
        return {"dataset_size": int(n_train)}

    def begin_epoch(self, epoch: int) -> None:
        pass  # no warm-up: the weights are fixed

    def __call__(self, model, batch, generator=None) -> dict[str, torch.Tensor]:
        c = self.config
        q = model.encode_dist(model_input(batch), batch.get("c"))
        z = q.sample(generator)  # (B, latent): one draw serves the likelihood and the three KL parts
        ll = log_likelihood(model, batch, z)
        parts = kl_decomposition(q, z, c.dataset_size)
        kl = q.kl()
        loss = (-ll + c.alpha * parts["mi"] + c.beta * parts["tc"] + c.gamma * parts["dim_kl"]).mean()
        return {"loss": loss, "recon": -ll.mean(), "kl": kl.mean(), "elbo": (ll - kl).mean(),
                **{k: v.mean() for k, v in parts.items()}}

    def metrics(self, model, batch, *, seed=0, k: int = 1000, **options) -> dict[str, Any]:
        """The ELBO's metrics, plus ``tc`` (total correlation), ``mi`` and ``dim_kl`` estimated over the whole
        evaluated set (N = M = its size, at most 2000 examples, chosen with ``seed``), in nats."""
        out = super().metrics(model, batch, seed=seed, k=k)
        g = torch.Generator().manual_seed(seed)
        n = batch["x"].shape[0]
        pick = torch.randperm(n, generator=g, device="cpu")[:2000]
        sub = to_device({name: v[pick.to(v.device)] for name, v in batch.items()}, model_device(model))
        with torch.no_grad():
            q = model.encode_dist(model_input(sub), sub.get("c"))
            parts = kl_decomposition(q, q.sample(g), 0)
        out.update({name: float(v.mean()) for name, v in parts.items()})
        out["beta"] = self.config.beta
        return out
