"""Objectives for the autoencoder family: ``objective(model, batch, generator=None) -> named loss terms``.

The term named ``loss`` is what the trainer minimises; the others are logged. The generator carries their
randomness (corruption). Reconstruction terms are summed over the features of an example and averaged over
the batch (see ``objectives.losses``).

- reconstruction: BCE from logits (data in [0, 1]) or squared error;
- denoising (Vincent et al. 2008): encode a corrupted copy, reconstruct the clean input;
- sparse (Ng 2011, "Sparse autoencoder" notes): plus an L1 or KL penalty on the code's activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..config import Config, option
from ..data.corruption import CORRUPTIONS, corrupt
from ..errors import ConfigError
from ..registry import Registry
from .base import Objective, over_rows
from .measures import psnr
from .losses import bce_with_logits, kl_sparsity, l1_activity, squared_error



@dataclass(frozen=True)
class ReconstructionLoss:
    """``fn(model, raw decoder output, target)`` -> sum over features, batch mean. ``on_logits``: the raw
    output must be logits (a sigmoid decoder), which also confines the data to [0, 1]."""

    fn: Callable[[Any, torch.Tensor, torch.Tensor], torch.Tensor]
    on_logits: bool


#: reconstruction losses by name
RECONSTRUCTION_LOSSES: Registry[ReconstructionLoss] = Registry("reconstruction loss")
RECONSTRUCTION_LOSSES.register("bce", ReconstructionLoss(lambda model, raw, target: bce_with_logits(raw, target),
                                                         on_logits=True))
RECONSTRUCTION_LOSSES.register("mse", ReconstructionLoss(
    lambda model, raw, target: squared_error(model.output_map(raw), target), on_logits=False))
#: sparsity penalties by name: (code, config) -> penalty before its weight
SPARSITY_PENALTIES: Registry = Registry("sparsity penalty")
SPARSITY_PENALTIES.register("l1", lambda z, c: l1_activity(z))


def kl_code_penalty(z: torch.Tensor, config) -> torch.Tensor:
    """sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)) with rho the config's target sparsity."""
    return kl_sparsity(z, config.target_sparsity)


SPARSITY_PENALTIES.register("kl", kl_code_penalty)


@dataclass(frozen=True)
class ReconstructionConfig(Config):
    """The plain autoencoder objective: the reconstruction loss, summed over an example's features, batch mean."""

    loss: str = option("bce", "reconstruction loss: bce (data in [0, 1]) or mse", RECONSTRUCTION_LOSSES)


@dataclass(frozen=True)
class DenoisingConfig(Config):
    """The denoising objective (Vincent et al. 2008): encode a corrupted copy, reconstruct the clean input."""

    loss: str = option("bce", "reconstruction loss against the clean input: bce or mse", RECONSTRUCTION_LOSSES)
    corruption: str = option("gaussian", "how inputs are corrupted during training", CORRUPTIONS)
    noise_level: float = option(0.5, "gaussian: sigma (scaled units); masking / salt-pepper: fraction of values hit")
    clip: bool = option(True, "clip corrupted inputs to [0, 1]")

    def validate(self) -> None:
        if self.noise_level < 0:
            raise ConfigError(f"noise_level must be >= 0, got {self.noise_level}")
        if CORRUPTIONS.get(self.corruption).level_is_fraction and self.noise_level > 1:
            raise ConfigError(f"noise_level is a fraction for {self.corruption} corruption; got {self.noise_level}")


@dataclass(frozen=True)
class SparseConfig(Config):
    """The sparse objective: the reconstruction loss plus a weighted L1 or KL penalty on the code's activity."""

    loss: str = option("bce", "reconstruction loss: bce or mse", RECONSTRUCTION_LOSSES)
    penalty: str = option("l1", "sparsity penalty on the code: l1 (mean |z|) or kl (KL to a target rate)",
                          SPARSITY_PENALTIES)
    sparsity_weight: float = option(0.05, "weight of the sparsity penalty")
    target_sparsity: float = option(0.05, "kl penalty: the target mean activation rho of each unit")
    active_threshold: float = option(0.05, "a code unit counts as active on an example when |z| exceeds this")

    def validate(self) -> None:
        if self.sparsity_weight < 0:
            raise ConfigError(f"sparsity_weight must be >= 0, got {self.sparsity_weight}")
        if not 0 < self.target_sparsity < 1:
            raise ConfigError(f"target_sparsity must lie in (0, 1), got {self.target_sparsity}")


class ReconstructionObjective(Objective):
    """Encode, decode, score the reconstruction against the input."""

    config_class = ReconstructionConfig

    @property
    def loss_fn(self) -> ReconstructionLoss:
        return RECONSTRUCTION_LOSSES.get(self.config.loss)

    @property
    def needs_unit_range(self) -> bool:  # BCE needs targets in [0, 1]
        return self.loss_fn.on_logits

    def check_model(self, model) -> None:
        if self.loss_fn.on_logits and not model.sigmoid_output:
            raise ConfigError("the bce loss needs a sigmoid output (logits); use --output sigmoid or --loss mse")

    def inputs(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return x

    def __call__(self, model, batch: dict[str, torch.Tensor],
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        x = batch["x"]
        z = model.encode(self.inputs(x, generator))  # (B, latent)
        recon = self.loss_fn.fn(model, model.decode_raw(z), x)
        terms = {"loss": recon, "recon": recon}
        terms.update(self.code_terms(z))
        terms["loss"] = sum(v for k, v in terms.items() if k.startswith("penalty_")) + recon
        return terms

    def code_terms(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}


class DenoisingObjective(ReconstructionObjective):
    """Encode a corrupted copy, reconstruct the clean input; evaluation reports the PSNR of the noisy input and
    of the denoised output against the clean one, and the gain."""

    config_class = DenoisingConfig

    def inputs(self, x, generator):
        c = self.config
        return corrupt(x, c.corruption, c.noise_level, generator=generator, clip=c.clip)

    def metrics(self, model, batch, *, seed=0, peak: float = 1.0, **options) -> dict[str, Any]:
        out = super().metrics(model, batch, seed=seed)
        c = self.config
        x = batch["x"].cpu()  # corrupted on the CPU from a CPU stream: the same noise on every device
        g = torch.Generator(device="cpu").manual_seed(seed)
        noisy = corrupt(x, c.corruption, c.noise_level, generator=g, clip=c.clip)
        den = over_rows(model, {"x": noisy}, lambda s: model.reconstruct(s["x"]), rows=2048).numpy()
        xs = x.numpy()
        out.update(corruption=c.corruption, noise_level=c.noise_level, psnr_peak=peak,
                   psnr_noisy=psnr(xs, noisy.numpy(), peak), psnr_denoised=psnr(xs, den, peak))
        out["psnr_gain_db"] = out["psnr_denoised"] - out["psnr_noisy"]
        return out


class SparseObjective(ReconstructionObjective):
    """Reconstruction plus an L1 or KL sparsity penalty on the code; logs the fraction of active units."""

    config_class = SparseConfig

    def check_model(self, model) -> None:
        super().check_model(model)
        act = getattr(model.config, "code_activation", "identity")
        if SPARSITY_PENALTIES.get(self.config.penalty) is kl_code_penalty and not isinstance(model.code_act,
                                                                                             torch.nn.Sigmoid):
            raise ConfigError(
                f"the kl sparsity penalty needs codes in (0, 1); use --code-activation sigmoid (got {act})"
            )

    def code_terms(self, z):
        c = self.config
        raw = SPARSITY_PENALTIES.get(c.penalty)(z, c)
        with torch.no_grad():
            active = (z.abs() > c.active_threshold).float().mean()
        return {"penalty_sparsity": c.sparsity_weight * raw, "active_fraction": active}

    def metrics(self, model, batch, *, seed=0, **options) -> dict[str, Any]:
        out = super().metrics(model, batch, seed=seed)
        z = over_rows(model, batch, lambda s: model.encode(s["x"]), rows=2048).numpy()
        out["active_fraction"] = float(np.mean(np.abs(z) > self.config.active_threshold))
        out["active_threshold"] = self.config.active_threshold
        return out
