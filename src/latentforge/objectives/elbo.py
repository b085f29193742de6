"""The VAE objective and the importance-sampled log-likelihood (Kingma & Welling 2014; beta: Higgins et al.
2017; IWAE bound: Burda et al. 2016).

loss per example = -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)), averaged over the batch (nats).
With ``warmup_epochs`` the KL weight ramps linearly: beta * min(1, epoch / warmup_epochs) (Bowman et al. 2016).
Written once for every decoder: p(x|z) is the distribution object the model's ``decode_dist`` returns.

Posterior collapse is watched after each epoch: the KL per latent dimension and the active units (Burda et al.
2016: dimension u is active when Var_x(E_q[z_u | x]) > 0.01) over up to 1024 validation examples. Fewer than half
of the dimensions active is collapse; a warning naming the active units comes once it has lasted
``COLLAPSE_EPOCHS`` epochs after the KL warm-up (a VAE's first epochs often pass through it), and at the last
epoch while it lasts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import Config, option, positive
from ..data.batches import take, to_device
from ..errors import ConfigError
from ..models.base import HasPosterior, repeat_condition
from ..models.distributions import standard_normal_log_prob
from .base import Objective, model_device, over_rows


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


#: Burda et al. 2016: a latent dimension is active when the variance over x of its posterior mean exceeds this
ACTIVE_THRESHOLD = 0.01
#: rows of validation data the collapse diagnostic looks at
ACTIVITY_ROWS = 1024
#: consecutive collapsed epochs before the warning (it also comes at the last epoch)
COLLAPSE_EPOCHS = 5
#: below this KL (nats) a latent dimension's posterior is the prior: it carries no information about x
COLLAPSED_KL = 0.1


@torch.no_grad()
def latent_activity(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(KL per latent dimension averaged over the batch (D,) in nats, activity Var_x(E_q[z_u | x]) (D,)) of a
    VAE on a batch in model space (B >= 2)."""
    q = model.encode_dist(model_input(batch), batch.get("c"))
    kl = 0.5 * (q.mean.pow(2) + q.var - 1.0 - q.logvar)  # (B, D)
    return kl.mean(0), q.mean.var(0)


def collapse_note(kl: torch.Tensor, activity: torch.Tensor) -> str:
    """A one-line warning when more than half of the latent dimensions have collapsed to the prior, else "".

    A dimension has collapsed when its posterior carries no information about x: its means do not vary with x
    (activity Var_x E[z_u|x] <= ``ACTIVE_THRESHOLD``, Burda et al. 2016) **and** its KL to the prior is below
    ``COLLAPSED_KL`` nats. A dimension whose means barely move but whose KL is large (a narrow posterior away from
    the prior) is not collapsed: the warning would name the wrong failure."""
    active = [int(u) for u in torch.nonzero(activity > ACTIVE_THRESHOLD).flatten()]
    collapsed = [int(u) for u in torch.nonzero((activity <= ACTIVE_THRESHOLD) & (kl < COLLAPSED_KL)).flatten()]
    d = activity.numel()
    if len(collapsed) * 2 <= d:
        return ""
    shown = ", ".join(map(str, active)) if active else "none"
    kls = ", ".join(f"{float(v):.2g}" for v in kl[:12]) + (", ..." if d > 12 else "")
    return (f"posterior collapse: {len(active)} of {d} latent dimensions are active (Var_x E[z_u|x] > "
            f"{ACTIVE_THRESHOLD}; active units: {shown}) and {len(collapsed)} carry no information (KL to the prior "
            f"< {COLLAPSED_KL} nats); KL per dimension (nats): {kls}. The decoder ignores the other codes; try a "
            "lower --beta, --warmup-epochs 10, a smaller --latent-dim, or a weaker decoder")


class ELBOObjective(Objective):
    """The negative ELBO with a KL weight beta; needs a model with a posterior (a VAE)."""

    config_class = ELBOConfig

    def __init__(self, config: ELBOConfig | None = None):
        super().__init__(config)
        self.beta_now = self.config.beta
        self.unit_range = False
        self.activity_rows: dict[str, torch.Tensor] | None = None
        self.activity_stream: Any = None  # a stream of training rows, read for the diagnostic when needed
        self.collapse_streak = 0  # consecutive collapsed epochs after the warm-up (saved with the checkpoint)

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

    def begin_fit(self, ctx, train) -> None:
        """Keep the first training rows for the collapse diagnostic of runs without validation data."""
        self.activity_stream = None
        if hasattr(train, "head_batch"):  # a stream: its first rows are read when needed (no validation rows)
            self.activity_rows, self.activity_stream = None, train
        elif hasattr(train, "head"):
            self.activity_rows = {"x": train.head(ACTIVITY_ROWS)}
        else:
            self.activity_rows = {k: v[:ACTIVITY_ROWS] for k, v in train.items()}

    def end_epoch(self, ctx, row: dict[str, Any], val) -> list[str]:
        """Record the KL per dimension and the active units; warn about posterior collapse once it has lasted
        ``COLLAPSE_EPOCHS`` epochs after the KL warm-up, and at the last epoch while it lasts."""
        from ..data.batches import to_device

        batch = self.activity_rows
        stream = self.activity_stream
        if val is not None and len(val if hasattr(val, "ordered") else val["x"]):
            batch = next(iter(val.ordered(ACTIVITY_ROWS))) if hasattr(val, "ordered") else \
                {k: v[:ACTIVITY_ROWS] for k, v in val.items()}
        elif stream is not None:  # at most one chunk's rows, read now and let go after
            batch = stream.head_batch(min(ACTIVITY_ROWS, getattr(stream, "chunk_size", ACTIVITY_ROWS)))
        if batch is None or batch["x"].shape[0] < 2:
            return []
        was_training = ctx.model.training
        ctx.model.eval()
        kl, activity = latent_activity(ctx.model, to_device(batch, ctx.device))
        ctx.model.train(was_training)
        row["active_units"] = int((activity > ACTIVE_THRESHOLD).sum())
        row["kl_per_dim"] = [round(float(v), 5) for v in kl]
        note = collapse_note(kl, activity)
        warm = row["epoch"] >= getattr(self.config, "warmup_epochs", 0)
        self.collapse_streak = self.collapse_streak + 1 if note and warm else 0
        last = row["epoch"] >= ctx.config.epochs
        if self.collapse_streak == COLLAPSE_EPOCHS or (self.collapse_streak and last):
            return [f"{note} (for {self.collapse_streak} epoch(s))"]
        return []

    def state_dict(self) -> dict[str, Any]:
        return {"collapse_streak": self.collapse_streak}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.collapse_streak = int(state.get("collapse_streak", 0))

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
        """Loss terms; ``elbo`` and ``nll_iwae`` (K importance samples) per example in nats of the model's scaled
        space (``run.likelihood`` moves them to data units); ``kl``; ``beta``."""
        out = super().metrics(model, batch, seed=seed)
        ll = importance_sampled(model, batch, k, seed=seed)
        kl = over_rows(model, batch, lambda s: model.encode_dist(model_input(s), s.get("c")).kl(), rows=2048)
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
    """Per-example ELBO (Monte Carlo over the same K draws) and IWAE estimate of log p(x), in nats, (N,) each,
    in the model's scaled space (``run.likelihood.in_data_units`` gives data units).
    ``batch`` (model space) may be on any device: slices of ``batch_size`` rows go to the model's device, where
    the draws come from one stream seeded with ``seed``; results on the CPU."""
    device = model_device(model)
    g = torch.Generator(device=device).manual_seed(seed)
    n = batch["x"].shape[0]
    elbo, iwae = [], []
    for i in range(0, n, batch_size):
        lw = importance_weights(model, to_device(take(batch, slice(i, i + batch_size)), device), k, generator=g)
        elbo.append(lw.mean(0).cpu())
        iwae.append(iwae_bound(lw).cpu())
    return {"elbo": torch.cat(elbo).numpy(), "iwae": torch.cat(iwae).numpy()}
