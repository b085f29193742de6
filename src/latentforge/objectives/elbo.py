"""The VAE objective and the importance-sampled log-likelihood.

loss per example = -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)), averaged over the batch (nats).
With ``warmup_epochs`` the KL weight ramps linearly: beta * min(1, epoch / warmup_epochs).
"""

from __future__ import annotations

import math

import torch

from ..config import ELBOConfig
from ..errors import ConfigError
from ..models.base import repeat_condition
from ..models.distributions import standard_normal_log_prob
from .likelihoods import log_likelihood


def model_input(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The encoder never sees masked values: they are zeroed."""
    x = batch["x"]
    mask = batch.get("mask")
    return x.masked_fill(mask, 0.0) if mask is not None else x


def _decode_many(model, z: torch.Tensor, c: torch.Tensor | None):
    """Decode z of shape (K, B, D) -> loc (K, B, *S), log_sigma broadcastable to it."""
    k, b, d = z.shape
    loc, log_sigma = model.decode_params(z.reshape(k * b, d), repeat_condition(c, k))
    loc = loc.reshape(k, b, *loc.shape[1:])
    if isinstance(log_sigma, tuple):  # hurdle: (log_sigma, logit)
        log_sigma = tuple(t.reshape(k, b, *t.shape[1:]) for t in log_sigma)
    elif log_sigma is not None and log_sigma.dim() > 0:
        log_sigma = log_sigma.reshape(k, b, *log_sigma.shape[1:])
    return loc, log_sigma


class ELBOObjective:
    config_class = ELBOConfig

    def __init__(self, config: ELBOConfig | None = None):
        self.config = config or ELBOConfig()
        self.beta_now = self.config.beta

    @property
    def needs_unit_range(self) -> bool:
        return self._likelihood == "bernoulli"

    def check_model(self, model) -> None:
        if not hasattr(model, "encode_dist"):
            raise ConfigError(f"the ELBO objective needs a VAE, got {type(model).__name__}")
        self._likelihood = model.likelihood

    def begin_epoch(self, epoch: int) -> None:
        w = self.config.warmup_epochs
        self.beta_now = self.config.beta * (min(1.0, epoch / w) if w else 1.0)

    def __call__(self, model, batch: dict[str, torch.Tensor],
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        x, c = batch["x"], batch.get("c")
        q = model.encode_dist(model_input(batch), c)
        if self.config.mc_samples == 1:
            loc, log_sigma = model.decode_params(q.sample(generator), c)  # z: (B, latent)
        else:
            loc, log_sigma = _decode_many(model, q.sample(generator, n=self.config.mc_samples), c)  # (K, B, ...)
        ll = log_likelihood(model.likelihood, x, loc, log_sigma, batch.get("sigma"), batch.get("mask"))
        if self.config.mc_samples > 1:
            ll = ll.mean(0)
        kl = q.kl()  # (B,)
        beta = self.beta_now if model.training else self.config.beta
        loss = (-ll + beta * kl).mean()
        return {"loss": loss, "recon": -ll.mean(), "kl": kl.mean(), "elbo": (ll - kl).mean()}


@torch.no_grad()
def importance_weights(model, batch: dict[str, torch.Tensor], k: int, *, generator: torch.Generator | None = None,
                       chunk: int = 100) -> torch.Tensor:
    """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x) for z_k ~ q(z|x); shape (K, B)."""
    x, c = batch["x"], batch.get("c")
    q = model.encode_dist(model_input(batch), c)
    out = []
    for start in range(0, k, chunk):
        z = q.sample(generator, n=min(chunk, k - start))  # (k', B, latent)
        loc, log_sigma = _decode_many(model, z, c)
        ll = log_likelihood(model.likelihood, x, loc, log_sigma, batch.get("sigma"), batch.get("mask"))
        out.append(ll + standard_normal_log_prob(z) - q.log_prob(z))
    return torch.cat(out)


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k w_k per example: a lower bound on log p(x) that tightens as K grows."""
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])
