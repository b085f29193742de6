"""The objective of the two-stage shower surrogate (``flow_model``): the energy stage's negative log
likelihood plus the shape cVAE's negative ELBO with free bits (Kingma et al. 2016, "Improved variational inference
with inverse autoregressive flow", section C.8), so that the shape posterior does not collapse.

loss per shower = -log p(y | c) - E_q[log p(s | z, c, y)] + beta * sum_u max(KL_u, free_bits)

in nats of the model's space (y: standardised u-space layer energies; s: log-scaled layer fractions), KL_u the
batch mean of each latent dimension's KL to N(0, I). The collapse watch of ``objectives.elbo`` (KL per dimension,
active units) runs after each epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ...config import option
from ...errors import ConfigError
from ...objectives.base import Objective
from ...objectives.elbo import ELBOConfig, ELBOObjective


@dataclass(frozen=True)
class ShowerFlowConfig(ELBOConfig):
    """ELBOConfig's beta (of the shape VAE's KL), warmup_epochs and mc_samples, and the free bits."""

    free_bits: float = option(1.0, "nats per latent dimension below which the KL is not penalised (free bits)")

    def validate(self) -> None:
        super().validate()
        if self.free_bits < 0:
            raise ConfigError(f"free_bits must be >= 0, got {self.free_bits}")


class ShowerFlowObjective(ELBOObjective):
    """Energy-stage NLL + the shape cVAE's free-bits negative ELBO; needs a ``ShowerFlowVAE``."""

    config_class = ShowerFlowConfig

    def check_model(self, model) -> None:
        if not hasattr(model, "energy_log_prob"):
            raise ConfigError(f"the two-stage shower objective needs a shower-flow-vae, got {type(model).__name__}")
        self.unit_range = False

    def __call__(self, model, batch: dict[str, torch.Tensor],
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        x, c = batch["x"], batch["c"]
        model.check_input(x)
        y, s = model.split(x)
        energy_nll = -model.energy.log_prob(y, c)  # (B,)
        q = model.shape_posterior(s, y, c)
        k = self.config.mc_samples
        zs = [q.sample(generator) for _ in range(k)]
        recon = -torch.stack([model.shape_dist(z, y, c).log_prob(s) for z in zs]).mean(0)  # (B,)
        kl_dim = 0.5 * (q.mean.pow(2) + q.var - 1.0 - q.logvar)  # (B, latent)
        kl = kl_dim.sum(1)
        free = kl_dim.mean(0).clamp_min(self.config.free_bits).sum()
        beta = self.beta_now if model.training else self.config.beta
        loss = energy_nll.mean() + recon.mean() + beta * free
        return {"loss": loss, "energy_nll": energy_nll.mean(), "recon": recon.mean(), "kl": kl.mean(),
                "elbo": (-energy_nll - recon - kl).mean()}

    def metrics(self, model, batch, *, seed=0, **options) -> dict[str, Any]:
        """Loss terms averaged over the batch: ``loss_energy_nll`` (nats per shower, standardised u-space),
        ``loss_recon`` and ``loss_kl`` (shape VAE, nats per shower), ``loss_elbo``."""
        out = Objective.metrics(self, model, batch, seed=seed)
        out.update(beta=self.config.beta, free_bits=self.config.free_bits)
        return out
