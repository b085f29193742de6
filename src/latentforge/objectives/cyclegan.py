"""The CycleGAN objective (Zhu, Park, Isola & Efros 2017): two adversarial games, one per domain, tied together
by cycle consistency and identity losses, trained on unpaired examples of domain A (the data) and domain B (the
second data set, ``attach_second``).

Generators G: A -> B and F: B -> A minimise

    L_G = adv(D_B(G(a))) + adv(D_A(F(b))) + lambda_cyc (|F(G(a)) - a| + |G(F(b)) - b|) + lambda_id (|G(b) - b| + |F(a) - a|)

with |.| the mean absolute difference over the values of an example and the batch (the paper's L1), adv the
generator's side of the game chosen with ``loss`` (least squares by default, as in the paper). Each
discriminator plays the game on its own domain (real examples against the other generator's translations); as
in the paper its loss is halved. Per batch of A: one generator step (discriminators frozen), then one
discriminator step on the same translations (generators frozen). The batch of B is drawn at random from the
whole second set with the run's seeded stream, so pairs are never fixed and a resumed run draws the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..config import Config, option, positive
from ..errors import ConfigError
from ..models.base import Translates
from ..models.cyclegan import A_TO_B, B_TO_A
from .base import Objective, Player, evaluate_objective
from .gan_losses import GAN_LOSSES, GANLoss


@dataclass(frozen=True)
class CycleConfig(Config):
    loss: str = option("lsgan", "the adversarial game of both domains: lsgan (least squares, as in the paper), ns, "
                       "minimax, hinge or wgan-gp", GAN_LOSSES)
    cycle_weight: float = option(10.0, "lambda_cyc: weight of the cycle-consistency losses |F(G(a)) - a| + "
                                 "|G(F(b)) - b|")
    identity_weight: float = option(5.0, "lambda_id: weight of the identity losses |G(b) - b| + |F(a) - a| (the "
                                    "paper: lambda_cyc / 2; 0: off)")
    lr_g: float = option(2e-4, "learning rate of both generators (Adam)")
    lr_d: float = option(2e-4, "learning rate of both discriminators (Adam)")
    beta1: float = option(0.5, "Adam beta1 of both optimisers")
    beta2: float = option(0.999, "Adam beta2 of both optimisers")
    gp_weight: float = option(10.0, "wgan-gp: weight of the gradient penalty")

    def validate(self) -> None:
        positive(self, "lr_g", "lr_d")
        if min(self.cycle_weight, self.identity_weight, self.gp_weight) < 0:
            raise ConfigError("cycle_weight, identity_weight and gp_weight must be >= 0")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("beta1 and beta2 must lie in [0, 1)")


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over every value (the paper's L1 loss)."""
    return (a - b).abs().mean()


class CycleGANObjective(Objective):
    """Trains a ``CycleGAN`` network on domain A (the batches the trainer gives) and domain B (attached)."""

    config_class = CycleConfig
    ranks_epochs = False  # adversarial losses do not rank epochs: the last epoch is kept
    train_prefix = ""
    second_domain = True

    def __init__(self, config: CycleConfig | None = None):
        super().__init__(config)
        self.game: GANLoss = GAN_LOSSES.get(self.config.loss)()
        self.domain_b: torch.Tensor | None = None
        self.val_b: torch.Tensor | None = None

    @property
    def needs_unit_range(self) -> bool:  # the generators' outputs live in [0, 1]
        return True

    def check_model(self, model) -> None:
        if not isinstance(model, Translates):
            raise ConfigError(f"the CycleGAN objective needs a translating model, got {type(model).__name__}")

    def attach_second(self, train, val) -> None:
        """Domain B's training rows (its ``x`` (N_B, *S) in model space) and validation rows (or None)."""
        self.domain_b = train["x"]
        self.val_b = None if val is None else val["x"]

    # ------------------------------------------------------------------ terms
    def generator_terms(self, model, batch: dict[str, torch.Tensor], generator=None) -> dict[str, torch.Tensor]:
        """Both generators' loss on a batch with ``x`` (domain A) and ``x_b`` (domain B); the translations are
        returned as ``fake_a`` = F(b) and ``fake_b`` = G(a) for the discriminator step."""
        o, a, b = self.config, batch["x"], batch["x_b"]
        fake_b, fake_a = model.translate(a, A_TO_B), model.translate(b, B_TO_A)
        adv = self.game.generator(model.discriminate_b(fake_b)) + self.game.generator(model.discriminate_a(fake_a))
        cycle = l1(model.translate(fake_b, B_TO_A), a) + l1(model.translate(fake_a, A_TO_B), b)
        loss = adv + o.cycle_weight * cycle
        out = {"g_adv": adv.detach(), "cycle": cycle.detach()}
        if o.identity_weight > 0:
            identity = l1(model.translate(b, A_TO_B), b) + l1(model.translate(a, B_TO_A), a)
            loss = loss + o.identity_weight * identity
            out["identity"] = identity.detach()
        return {"loss": loss, **out, "fake_a": fake_a, "fake_b": fake_b}

    def discriminator_terms(self, model, batch: dict[str, torch.Tensor], fake_a: torch.Tensor, fake_b: torch.Tensor,
                            generator=None) -> dict[str, torch.Tensor]:
        """Half the sum of D_A's game (a against F(b)) and D_B's (b against G(a)), translations detached."""
        out: dict[str, torch.Tensor] = {}
        total = 0.0
        for name, disc, real, fake in (("a", model.discriminate_a, batch["x"], fake_a.detach()),
                                       ("b", model.discriminate_b, batch["x_b"], fake_b.detach())):
            r, f = disc(real), disc(fake)
            loss = self.game.discriminator(r, f, 0.0)
            gp = self.game.penalty(disc, real, fake, generator)
            if gp is not None:
                loss = loss + self.config.gp_weight * gp
            total = total + 0.5 * loss
            with torch.no_grad():
                out[f"d_acc_{name}"] = self.game.accuracy(r, f)
        return {"loss": total, **out}

    def __call__(self, model, batch: dict[str, torch.Tensor], generator=None) -> dict[str, torch.Tensor]:
        """Evaluation terms without an update. Domain A alone (``x``): the cycle error |F(G(a)) - a|, the identity
        error |F(a) - a| and D_B's mean score of G(a) (``loss`` is the cycle error); with ``x_b`` also both
        players' losses."""
        a = batch["x"]
        with torch.no_grad():
            fake_b = model.translate(a, A_TO_B)
            out = {"loss": l1(model.translate(fake_b, B_TO_A), a), "identity_a": l1(model.translate(a, B_TO_A), a),
                   "d_b_of_translated": self.game.realness(model.discriminate_b(fake_b)).mean()}
        out["cycle_a"] = out["loss"]
        if "x_b" in batch:
            g = self.generator_terms(model, batch, generator)
            d = self.discriminator_terms(model, batch, g.pop("fake_a"), g.pop("fake_b"), generator)
            out.update(g_loss=g["loss"].detach(), d_loss=d["loss"].detach(),
                       **{k: v for k, v in g.items() if k != "loss"}, **{k: v for k, v in d.items() if k != "loss"})
        return out

    def metrics(self, model, batch, *, seed=0, **options) -> dict[str, Any]:
        """The game's name (``game``) and the domain-A evaluation terms (``cycle_a``, ``identity_a``,
        ``d_b_of_translated``) averaged over ``batch``."""
        terms = evaluate_objective(model, self, batch, seed=seed)
        return {"game": self.config.loss, **{k: v for k, v in terms.items() if k != "loss"}}

    # ------------------------------------------------------------------ training
    def players(self, model, train_config) -> list[Player]:
        o = self.config
        betas = (o.beta1, o.beta2)
        return [Player("d", model.discriminators, o.lr_d, betas, log_grad_norm=True, title="discriminators"),
                Player("g", model.generators, o.lr_g, betas, log_grad_norm=True, title="generators")]

    def begin_fit(self, ctx, train) -> None:
        if self.domain_b is None:
            raise ConfigError("cyclegan learns from two data sets: give the second one (domain B) with --data-b FILE "
                              "(Python: train('cyclegan', data_a, data_b=data_b))")
        self.domain_b = self.domain_b.to(ctx.device)

    def freeze(self, model, train_d: bool) -> None:
        """Train the discriminators (generators frozen) or the generators (discriminators frozen)."""
        model.discriminators.requires_grad_(train_d)
        model.generators.requires_grad_(not train_d)

    def train_step(self, ctx, batch, noise) -> None:
        n = batch["x"].shape[0]
        pick = torch.randint(0, self.domain_b.shape[0], (n,), generator=noise, device=self.domain_b.device)
        batch = {**batch, "x_b": self.domain_b[pick]}  # (B, *S): a fresh unpaired draw from domain B
        self.freeze(ctx.model, train_d=False)
        g = ctx.forward("g", self.generator_terms, batch, noise)
        fake_a, fake_b = g.pop("fake_a"), g.pop("fake_b")
        ctx.step("g", g["loss"])
        ctx.log({"g_loss" if k == "loss" else k: v for k, v in g.items()}, n)
        self.freeze(ctx.model, train_d=True)
        d = ctx.forward("d", self.discriminator_terms, batch, fake_a, fake_b, noise)
        ctx.step("d", d["loss"])
        ctx.log({"d_loss" if k == "loss" else k: v for k, v in d.items()}, n)

    def end_fit(self, ctx) -> None:
        ctx.model.discriminators.requires_grad_(True)
        ctx.model.generators.requires_grad_(True)

    def end_epoch(self, ctx, row: dict[str, Any], val) -> list[str]:
        """The generators' loss as the epoch's loss; the cycle error of held-out A (``val_cycle_a``)."""
        self.end_fit(ctx)
        row["train_loss"] = row.get("g_loss", float("nan"))
        if val is not None and not hasattr(val, "ordered") and len(val["x"]):
            was = ctx.model.training
            ctx.model.eval()
            row["val_cycle_a"] = float(self(ctx.model, {"x": val["x"][:1024].to(ctx.device)})["cycle_a"])
            ctx.model.train(was)
        return []

    def divergence_advice(self, train_config) -> str:
        o = self.config
        return f"try lower learning rates (--lr-g {o.lr_g:g}, --lr-d {o.lr_d:g}) or check the data scaling"
