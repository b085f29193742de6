"""The game of CaloGAN (Paganini, de Oliveira & Nachman 2018) as a WGAN-GP: the Wasserstein critic with gradient
penalty and n_critic critic steps per generator step (``objectives.gan``), plus CaloGAN's energy-regression term
in the generator's loss.

CaloGAN adds |E_total - E_inc| of each generated shower to the generator's loss, so that the cells it draws add
up to the energy it was asked for. In a sampling calorimeter the deposit is a fraction of E_inc that depends on
the incident energy and particle, so here the target is the response the training showers show at the shower's
condition, r(c) (a least-squares fit, ``models.shower_gan``), in units of the response's fitted spread s(c):

    L_E = mean over the batch of |E_tot / E_inc - r(c)| / s(c)

added to the generator's loss with weight ``energy_weight``. E_tot / E_inc is summed from the generated cells
through the scaling's exact inverse, so the term's gradient reaches every cell.
"""

from __future__ import annotations

from dataclasses import dataclass
import torch

from ...config import option
from ...errors import ConfigError
from ...objectives.gan import GANConfig, GANObjective
from ...objectives.stabilisers import r1_penalty


@dataclass(frozen=True)
class CaloGANGameConfig(GANConfig):
    energy_weight: float = option(1.0, "weight of CaloGAN's energy-regression term mean |E_tot / E_inc - r(c)| / "
                                  "s(c) in the generator's loss (0: off)")

    def validate(self) -> None:
        super().validate()
        if self.energy_weight < 0:
            raise ConfigError(f"energy_weight must be >= 0 (0: off), got {self.energy_weight}")


def energy_regression(model, fake: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """|E_tot / E_inc - r(c)| / s(c) per generated shower (B,) of model-space cells ``fake`` (B, D)."""
    return model.response_residual(fake, c).abs()


class CaloGANObjective(GANObjective):
    """WGAN-GP with CaloGAN's energy-regression term (see the module); needs a ``models.shower_gan.CaloGAN``."""

    config_class = CaloGANGameConfig

    def check_model(self, model) -> None:
        super().check_model(model)
        if not hasattr(model, "fit_energy_reference"):
            raise ConfigError(f"the calogan game needs the calogan model, got {type(model).__name__}")

    def begin_fit(self, ctx, train) -> None:
        """Fit the model's energy reference r(c), s(c) on the training showers and (a fresh run) set the
        generator's per-cell offsets and gains to the cells' occupancy and mean (``CaloGAN.init_output_bias``),
        then the GAN's set-up."""
        if hasattr(train, "head") or "c" not in train:
            raise ConfigError("calogan fits its energy reference on the training showers in memory with their "
                              "conditions; train without --stream, with --cond-key conditions")
        x, c = train["x"].to(ctx.device), train["c"].to(ctx.device)
        ctx.model.fit_energy_reference(x, c)
        if self.critic_steps == 0:  # a fresh run, not a resumed one
            ctx.model.init_output_bias(x, c, seed=ctx.config.seed)
        super().begin_fit(ctx, train)

    def discriminator_terms(self, model, batch: dict[str, torch.Tensor], generator=None, *,
                            keep_fake: bool = False) -> dict[str, torch.Tensor]:
        """The game's critic terms (``GANObjective.discriminator_terms``) with the critic scoring the cells and
        their energy features (``CaloGAN.critic_input``) and the penalties taken in that space."""
        x, c = batch["x"], batch.get("c")
        with torch.set_grad_enabled(keep_fake):
            kept = self.fake(model, x.shape[0], c, generator)
        real_in = model.critic_input(self.d_input(model, x, generator), c)
        fake_in = model.critic_input(self.d_input(model, kept.detach(), generator), c)
        real_out, fake_out = model.critic(real_in, c), model.critic(fake_in, c)
        loss = self.game.discriminator(real_out, fake_out, self.config.label_smoothing)
        out: dict[str, torch.Tensor] = {}
        gp = self.game.penalty(lambda h: model.critic(h, c), real_in, fake_in, generator)
        if gp is not None:
            loss = loss + self.config.gp_weight * gp
            out["gp"] = gp.detach()
        if self.config.r1_weight > 0:
            r1 = r1_penalty(lambda h: model.critic(h, c), real_in)
            loss = loss + 0.5 * self.config.r1_weight * r1
            out["r1"] = r1.detach()
        with torch.no_grad():
            acc = self.game.accuracy(real_out, fake_out)
        out.update(loss=loss, d_real=self.game.realness(real_out).mean().detach(),
                   d_fake=self.game.realness(fake_out).mean().detach(), d_acc=acc)
        if keep_fake:
            out["fake"] = kept
        return out

    def generator_terms(self, model, batch: dict[str, torch.Tensor], generator=None, *,
                        fake: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """-E[critic(G(z))] plus ``energy_weight`` times the energy-regression term (``energy_regression``)."""
        x, c = batch["x"], batch["c"]
        if fake is None:
            fake = self.fake(model, x.shape[0], c, generator)
        fake_out = model.critic(model.critic_input(self.d_input(model, fake, generator), c), c)
        e = energy_regression(model, fake, c).mean()
        return {"loss": self.game.generator(fake_out) + self.config.energy_weight * e,
                "d_fake_g": self.game.realness(fake_out).mean().detach(), "energy_regression": e.detach()}

    def __call__(self, model, batch: dict[str, torch.Tensor], generator=None) -> dict[str, torch.Tensor]:
        out = super().__call__(model, batch, generator)
        with torch.no_grad():
            fake = self.fake(model, batch["x"].shape[0], batch["c"], generator)
            out["energy_regression"] = energy_regression(model, fake, batch["c"]).mean()
        return out
