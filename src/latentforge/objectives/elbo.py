"""The VAE objective and the importance-sampled log-likelihood (Kingma & Welling 2014; beta: Higgins et al.
2017; IWAE bound: Burda et al. 2016).

loss per example = -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)), averaged over the batch (nats).
With ``warmup_epochs`` the KL weight ramps linearly: beta * min(1, epoch / warmup_epochs) (Bowman et al. 2016).
Written once for every decoder: p(x|z) is the distribution object the model's ``decode_dist`` returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import Config, option, positive
from ..data.batches import take
from ..errors import ConfigError
from ..models.base import HasPosterior, repeat_condition
from ..models.distributions import standard_normal_log_prob
from .base import Objective


@dataclass(frozen=True)
class ELBOConfig(Config):
    beta: float = option(1.0, "weight C of the KL term: loss = reconstruction + beta * KL")
    warmup_epochs: int = option(0, "linear KL warm-up: beta grows from beta/warmup to beta over this many epochs")
    mc_samples: int = option(1, "latent samples per example for the reconstruction term during training")

    def validate(self) -> None:
        if self.beta < 0 or self.warmup_epochs < 0:
            raise ConfigError("beta and warmup_epochs must be >= 0")
        positive(self, "mc_samples")


def model_input(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The encoder never sees masked values: they are zeroed."""
    x = batch["x"]
    mask = batch.get("mask")
    return x.masked_fill(mask, 0.0) if mask is not None else x


def decode_many(model, z: torch.Tensor, c: torch.Tensor | None):
    """p(x|z) for codes z of shape (K, B, D): one decoder pass over K * B codes, parameters (K, B, *S)."""
    k, b, d = z.shape
    return model.decode_dist(z.reshape(k * b, d), repeat_condition(c, k)).unflatten(k)


def log_likelihood(model, batch: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """log p(x|z) per example for codes z (B, D) -> (B,), or (K, B, D) -> (K, B), with the batch's
    measurement sigma and mask."""
    c = batch.get("c")
    p = model.decode_dist(z, c) if z.dim() == 2 else decode_many(model, z, c)
    return p.log_prob(batch["x"], batch.get("sigma"), batch.get("mask"))


class ELBOObjective(Objective):
    """The negative ELBO with a KL weight beta; needs a model with a posterior (a VAE)."""

    config_class = ELBOConfig

    def __init__(self, config: ELBOConfig | None = None):
        super().__init__(config)
        self.beta_now = self.config.beta
        self.unit_range = False

    @property
    def needs_unit_range(self) -> bool:
        return self.unit_range

    def check_model(self, model) -> None:
        if not isinstance(model, HasPosterior):
            raise ConfigError(f"the ELBO objective needs a VAE, got {type(model).__name__}")
        self.unit_range = model.likelihood.unit_range

    def begin_epoch(self, epoch: int) -> None:
        w = self.config.warmup_epochs
        self.beta_now = self.config.beta * (min(1.0, epoch / w) if w else 1.0)

    def reconstruction(self, model, batch, q, generator) -> torch.Tensor:
        """E_q[log p(x|z)] per example (B,) from ``mc_samples`` reparameterised draws."""
        if self.config.mc_samples == 1:
            return log_likelihood(model, batch, q.sample(generator))  # z: (B, latent)
        return log_likelihood(model, batch, q.sample(generator, n=self.config.mc_samples)).mean(0)  # (K, B)

    def __call__(self, model, batch: dict[str, torch.Tensor],
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        q = model.encode_dist(model_input(batch), batch.get("c"))
        ll = self.reconstruction(model, batch, q, generator)
        kl = q.kl()  # (B,)
        beta = self.beta_now if model.training else self.config.beta
        loss = (-ll + beta * kl).mean()
        return {"loss": loss, "recon": -ll.mean(), "kl": kl.mean(), "elbo": (ll - kl).mean()}

    def metrics(self, model, batch, *, seed=0, k: int = 1000, **options) -> dict[str, Any]:
        """Loss terms; ``elbo`` and ``nll_iwae`` (K importance samples) per example in nats; ``kl``; ``beta``."""
        out = super().metrics(model, batch, seed=seed)
        ll = importance_sampled(model, batch, k, seed=seed)
        with torch.no_grad():
            kl = torch.cat([model.encode_dist(model_input(s), s.get("c")).kl()
                            for s in (take(batch, slice(i, i + 2048)) for i in range(0, len(batch["x"]), 2048))])
        out.update(elbo=float(ll["elbo"].mean()), nll_iwae=float(-ll["iwae"].mean()), K=k, kl=float(kl.mean()),
                   likelihood=model.config.likelihood, beta=self.config.beta)
        return out


@torch.no_grad()
def importance_weights(model, batch: dict[str, torch.Tensor], k: int, *, generator: torch.Generator | None = None,
                       chunk: int = 100) -> torch.Tensor:
    """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x) for z_k ~ q(z|x); shape (K, B)."""
    q = model.encode_dist(model_input(batch), batch.get("c"))
    out = []
    for start in range(0, k, chunk):
        z = q.sample(generator, n=min(chunk, k - start))  # (k', B, latent)
        out.append(log_likelihood(model, batch, z) + standard_normal_log_prob(z) - q.log_prob(z))
    return torch.cat(out)


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k w_k per example: a lower bound on log p(x) that tightens as K grows (Burda et al. 2016)."""
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def importance_sampled(model, batch: dict[str, torch.Tensor], k: int, *, seed: int = 0,
                       batch_size: int = 100) -> dict[str, np.ndarray]:
    """Per-example ELBO (Monte Carlo over the same K draws) and IWAE estimate of log p(x), in nats, (N,) each."""
    g = torch.Generator().manual_seed(seed)
    n = batch["x"].shape[0]
    elbo, iwae = [], []
    for i in range(0, n, batch_size):
        lw = importance_weights(model, take(batch, slice(i, i + batch_size)), k, generator=g)
        elbo.append(lw.mean(0))
        iwae.append(iwae_bound(lw))
    return {"elbo": torch.cat(elbo).numpy(), "iwae": torch.cat(iwae).numpy()}
