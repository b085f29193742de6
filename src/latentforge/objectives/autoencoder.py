"""Objectives for the autoencoder family: ``objective(model, batch, generator=None) -> named loss terms``.

``batch`` is a dict of tensors sliced from the same rows: ``x`` always, ``sigma`` / ``mask`` / ``c`` when
the data has them.

The term named ``loss`` is what the trainer minimises; the others are logged. Objectives know nothing
of optimisers; the generator carries their randomness (corruption).
"""

from __future__ import annotations

import torch

from ..config import DenoisingConfig, ReconstructionConfig, SparseConfig
from ..data.corruption import corrupt
from ..errors import ConfigError
from .losses import bce_with_logits, kl_sparsity, l1_activity, squared_error


def reconstruction_term(model, raw: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "bce":
        return bce_with_logits(raw, target)
    pred = torch.sigmoid(raw) if model.output == "sigmoid" else raw
    return squared_error(pred, target)


class ReconstructionObjective:
    config_class = ReconstructionConfig
    #: the trainer checks the data range against this (BCE needs targets in [0, 1])
    needs_unit_range = property(lambda self: self.config.loss == "bce")

    def __init__(self, config=None):
        self.config = config or self.config_class()

    def check_model(self, model) -> None:
        if self.config.loss == "bce" and model.output != "sigmoid":
            raise ConfigError("the bce loss needs a sigmoid output (logits); use --output sigmoid or --loss mse")

    def inputs(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return x

    def __call__(self, model, batch: dict[str, torch.Tensor],
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        x = batch["x"]
        z = model.encode(self.inputs(x, generator))  # (B, latent)
        recon = reconstruction_term(model, model.decode_raw(z), x, self.config.loss)
        terms = {"loss": recon, "recon": recon}
        terms.update(self.code_terms(z))
        terms["loss"] = sum(v for k, v in terms.items() if k.startswith("penalty_")) + recon
        return terms

    def code_terms(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}


class DenoisingObjective(ReconstructionObjective):
    """Encode a corrupted copy, reconstruct the clean input."""

    config_class = DenoisingConfig

    def inputs(self, x, generator):
        c = self.config
        return corrupt(x, c.corruption, c.noise_level, generator=generator, clip=c.clip)


class SparseObjective(ReconstructionObjective):
    """Reconstruction plus an L1 or KL sparsity penalty on the code; logs the fraction of active units."""

    config_class = SparseConfig

    def check_model(self, model) -> None:
        super().check_model(model)
        act = getattr(model.config, "code_activation", "identity")
        if self.config.penalty == "kl" and act != "sigmoid":
            raise ConfigError(
                f"the kl sparsity penalty needs codes in (0, 1); use --code-activation sigmoid (got {act})"
            )

    def code_terms(self, z):
        c = self.config
        raw = l1_activity(z) if c.penalty == "l1" else kl_sparsity(z, c.target_sparsity)
        with torch.no_grad():
            active = (z.abs() > c.active_threshold).float().mean()
        return {"penalty_sparsity": c.sparsity_weight * raw, "active_fraction": active}
