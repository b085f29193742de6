"""The adversarial game. Two sets of terms, one per player; the GAN trainer alternates them.

    discriminator_terms(model, batch, g) -> {"loss", "d_real", "d_fake", "d_acc", ["gp"]}
    generator_terms(model, batch, g)     -> {"loss", "d_fake_g"}

``d_real`` / ``d_fake`` are mean D(x) / D(G(z)) (probabilities; raw critic values for wgan-gp) and
``d_acc`` the discriminator's accuracy at telling them apart (threshold 0.5, or 0 for a critic).
"""

from __future__ import annotations

import torch

from ..config import GANConfig
from ..errors import ConfigError
from .losses import (critic_wasserstein, discriminator_bce, generator_minimax, generator_nonsaturating,
                     gradient_penalty)


class GANObjective:
    config_class = GANConfig
    needs_unit_range = True  # the generator's output lives in [0, 1]

    def __init__(self, config: GANConfig | None = None):
        self.config = config or GANConfig()

    @property
    def wasserstein(self) -> bool:
        return self.config.loss == "wgan-gp"

    def check_model(self, model) -> None:
        if not hasattr(model, "discriminate"):
            raise ConfigError(f"the GAN objective needs a GAN, got {type(model).__name__}")
        if self.wasserstein and any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))
                                    for m in model.discriminator.modules()):
            raise ConfigError("a WGAN-GP critic must not use batch norm (the penalty is per sample); use --norm none")

    def _fake(self, model, n: int, c, generator) -> torch.Tensor:
        z = torch.randn(n, model.latent_dim, generator=generator)
        return model.generate(z, c)

    def discriminator_terms(self, model, batch: dict[str, torch.Tensor], generator=None, *,
                            keep_fake: bool = False) -> dict[str, torch.Tensor]:
        """With ``keep_fake`` the generator's forward pass is recorded and returned as ``fake``, so that the
        generator step that follows can reuse it (as the DCGAN reference does); the discriminator only
        ever sees it detached, so no gradient reaches the generator in this phase either way."""
        x, c = batch["x"], batch.get("c")
        with torch.set_grad_enabled(keep_fake):
            kept = self._fake(model, x.shape[0], c, generator)
        fake = kept.detach()
        real_logits = model.discriminate(x, c)
        fake_logits = model.discriminate(fake, c)
        if self.wasserstein:
            with torch.enable_grad():  # the penalty differentiates the critic, also during evaluation
                gp = gradient_penalty(lambda h: model.discriminate(h, c), x, fake, generator=generator)
            loss = critic_wasserstein(real_logits, fake_logits) + self.config.gp_weight * gp
            with torch.no_grad():
                acc = 0.5 * ((real_logits > fake_logits.mean()).float().mean() +
                             (fake_logits < real_logits.mean()).float().mean())
            out = {"loss": loss, "d_real": real_logits.mean().detach(), "d_fake": fake_logits.mean().detach(),
                   "d_acc": acc, "gp": gp.detach()}
        else:
            loss = discriminator_bce(real_logits, fake_logits, 1.0 - self.config.label_smoothing)
            with torch.no_grad():
                acc = 0.5 * ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean())
            out = {"loss": loss, "d_real": torch.sigmoid(real_logits).mean().detach(),
                   "d_fake": torch.sigmoid(fake_logits).mean().detach(), "d_acc": acc}
        if keep_fake:
            out["fake"] = kept
        return out

    def generator_terms(self, model, batch: dict[str, torch.Tensor], generator=None, *,
                        fake: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Generator loss on new samples, or on ``fake`` kept (with its graph) from the discriminator step."""
        x, c = batch["x"], batch.get("c")
        if fake is None:
            fake = self._fake(model, x.shape[0], c, generator)
        fake_logits = model.discriminate(fake, c)
        if self.wasserstein:
            return {"loss": -fake_logits.mean(), "d_fake_g": fake_logits.mean().detach()}
        loss = generator_minimax(fake_logits) if self.config.loss == "minimax" else generator_nonsaturating(fake_logits)
        return {"loss": loss, "d_fake_g": torch.sigmoid(fake_logits).mean().detach()}

    def __call__(self, model, batch: dict[str, torch.Tensor], generator=None) -> dict[str, torch.Tensor]:
        """Both players' terms on one batch without any update (for evaluation)."""
        d = self.discriminator_terms(model, batch, generator)
        with torch.no_grad():
            g = self.generator_terms(model, batch, generator)
        return {"loss": g["loss"].detach(), "d_loss": d["loss"].detach(),
                **{k: v for k, v in d.items() if k != "loss"}}
