"""The adversarial game: two players, a discriminator (or critic) and a generator, trained in turn.

Per batch of real examples: one discriminator step with the generator frozen; after every ``n_critic`` of
those, ``g_steps`` generator steps with the discriminator frozen (``requires_grad`` off, so no gradient is
computed for the frozen network's weights at all). Critic steps are counted across epoch boundaries (and the
count is saved for ``--resume``), so an epoch with fewer batches than ``n_critic`` still reaches the generator.
The EMA generator follows each generator step. Each epoch logs mean D(x), mean D(G(z)), the discriminator's
accuracy, both losses and gradient norms and the diversity of a fixed batch of samples (and, for a conditional
model, within each condition), and warns when the discriminator wins outright, when the samples collapse
(overall or within a condition), and when the generator has not been updated at all.

Stabilisers (``objectives.stabilisers``; each off by default): the R1 penalty (``r1_weight``), instance noise
(``instance_noise``, annealed over ``instance_noise_epochs``), DiffAugment (``diffaugment``), one-sided label
smoothing (``label_smoothing``, games with labels only) and separate learning rates (TTUR: ``lr_g``, ``lr_d``;
Heusel et al. 2017). Spectral normalisation and the minibatch-std feature are model options.

Terms: ``d_real`` / ``d_fake`` are mean D(x) / D(G(z)) (probabilities; raw critic values for a critic),
``d_acc`` the discriminator's accuracy at telling them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..config import Config, option, positive
from ..errors import ConfigError
from ..models.base import Discriminates
from ..nn import draws
from .base import Objective, Player, evaluate_objective
from .gan_diagnostics import ConditionProbe, diversity
from .gan_losses import GAN_LOSSES, GANLoss
from .stabilisers import (AUGMENTATIONS, add_instance_noise, annealed, check_policy, diff_augment, parse_policy,
                          r1_penalty)

DIVERSITY_N = 64
WIN_ACC, WIN_EPOCHS = 0.98, 3
COLLAPSE_RATIO = 0.35
COLLAPSE_ADVICE = "try --minibatch-std, --r1-weight 1, --loss hinge --spectral-norm, or a lower --lr-g"


def advice_for_collapse(model: Any, objective_config: Any) -> str:
    """COLLAPSE_ADVICE without the stabilisers the run already has on (the MLP GAN's defaults turn on the
    minibatch-std feature and spectral norm: advising them would name a cure already taken). --minibatch-std
    is a layer of the built-in discriminator: your own discriminator would have to add it."""
    cfg = getattr(model, "config", None)
    steps = []
    if getattr(model, "own_networks", None):
        steps.append("a minibatch-std feature in your discriminator")
    elif getattr(cfg, "minibatch_std", None) is False and not getattr(cfg, "minibatch_features", 0):
        steps.append("--minibatch-std")
    if not getattr(objective_config, "r1_weight", 0.0):
        steps.append("--r1-weight 1")
    if getattr(cfg, "spectral_norm", None) is False:  # a model without the option is not told to use it
        steps.append("--loss hinge --spectral-norm")
    return "try " + ", ".join(steps + ["a lower --lr-g", "or more epochs"])


@dataclass(frozen=True)
class GANConfig(Config):
    loss: str = option("ns", "the game: ns (non-saturating generator, maximise log D(G(z))), minimax (minimise "
                       "log(1 - D(G(z)))), wgan-gp (Wasserstein critic with gradient penalty) or hinge (margin "
                       "loss; pair it with --spectral-norm)", GAN_LOSSES)
    lr_g: float = option(2e-4, "generator learning rate (Adam); a different --lr-d makes the two time-scale update "
                         "rule (TTUR, Heusel et al. 2017)")
    lr_d: float = option(2e-4, "discriminator / critic learning rate (Adam)")
    beta1: float = option(0.5, "Adam beta1 of both optimisers")
    beta2: float = option(0.999, "Adam beta2 of both optimisers")
    n_critic: int = option(1, "discriminator steps per generator step")
    g_steps: int = option(1, "generator steps per generator phase")
    gp_weight: float = option(10.0, "wgan-gp: weight lambda of the gradient penalty")
    label_smoothing: float = option(0.0, "one-sided label smoothing (Salimans et al. 2016): real targets 1 - this, "
                                    "fake targets stay 0 (games with labels: ns / minimax)")
    r1_weight: float = option(0.0, "R1 penalty (Mescheder et al. 2018): the discriminator's loss gains gamma / 2 * "
                              "E[||grad_x D(x)||^2] over real x, with gamma this weight (0: off)")
    instance_noise: float = option(0.0, "instance noise: Gaussian noise of this sigma (scaled units) on every "
                                   "discriminator input, real and fake, while training (0: off)")
    instance_noise_epochs: int = option(0, "anneal the instance noise linearly to 0 over this many epochs "
                                        "(0: keep it constant)")
    diffaugment: str = option("", "DiffAugment (Zhao et al. 2020) for small data: comma-separated policies applied "
                              "to every discriminator input, real and fake, in both players' steps: "
                              + ", ".join(AUGMENTATIONS.names()) + " (empty: off)")
    sample_every: int = option(5, "write a sample grid PNG every this many epochs (0: never)")

    def validate(self) -> None:
        positive(self, "lr_g", "lr_d", "n_critic", "g_steps")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("beta1 and beta2 must lie in [0, 1)")
        if self.gp_weight < 0 or not 0 <= self.label_smoothing < 0.5 or self.sample_every < 0:
            raise ConfigError("gp_weight >= 0, label_smoothing in [0, 0.5) and sample_every >= 0 are required")
        if self.r1_weight < 0 or self.instance_noise < 0 or self.instance_noise_epochs < 0:
            raise ConfigError("r1_weight, instance_noise and instance_noise_epochs must be >= 0")
        if self.label_smoothing > 0 and not GAN_LOSSES.get(self.loss).uses_labels:
            raise ConfigError(f"--label-smoothing softens the real label of a game with labels (ns, minimax); "
                              f"--loss {self.loss} scores without labels, so it would do nothing: drop it")
        parse_policy(self.diffaugment)


class GANObjective(Objective):
    """The two-player game of a GAN, with the loss chosen from ``GAN_LOSSES``."""

    config_class = GANConfig
    ranks_epochs = False  # adversarial losses do not rank epochs: no early stopping, the last epoch is kept
    train_prefix = ""

    def __init__(self, config: GANConfig | None = None):
        super().__init__(config)
        self.game: GANLoss = GAN_LOSSES.get(self.config.loss)()
        self.policy = parse_policy(self.config.diffaugment)
        self.noise_now = self.config.instance_noise
        self.win_streak = 0
        self.active_kinds: list[str] = []  # the diagnostics warned about and still present (each said once)
        self.critic_steps = 0  # over the whole fit, across epochs (saved with the checkpoint)
        self.generator_steps = 0
        self.real_diversity: float | None = None
        self.fixed_z: torch.Tensor | None = None
        self.fixed_c: torch.Tensor | None = None
        self.probe: ConditionProbe | None = None

    @property
    def needs_unit_range(self) -> bool:  # the generator's output lives in [0, 1]
        return True

    @property
    def sample_grid_every(self) -> int:
        return self.config.sample_every

    def check_model(self, model) -> None:
        if not isinstance(model, Discriminates):
            raise ConfigError(f"the GAN objective needs a GAN, got {type(model).__name__}")
        if self.game.per_sample_penalty and any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))
                                                for m in model.discriminator.modules()):
            raise ConfigError("a WGAN-GP critic must not use batch norm (the penalty is per sample); use --norm none")
        check_policy(self.policy, model.input_shape)

    def d_input(self, model, x: torch.Tensor, generator) -> torch.Tensor:
        """What the discriminator sees of examples x while training: DiffAugment, then instance noise (both
        off in evaluation, where D scores the data as they are)."""
        if not model.training:
            return x
        return add_instance_noise(diff_augment(x, self.policy, generator), self.noise_now, generator)

    # ------------------------------------------------------------------ terms
    def fake(self, model, n: int, c, generator) -> torch.Tensor:
        z = draws.normal((n, model.latent_dim), generator=generator, device=model.device, dtype=model.dtype)
        return model.generate(z, c)

    def discriminator_terms(self, model, batch: dict[str, torch.Tensor], generator=None, *,
                            keep_fake: bool = False) -> dict[str, torch.Tensor]:
        """With ``keep_fake`` the generator's forward pass is recorded and returned as ``fake``, so that the
        generator step that follows can reuse it (as the DCGAN reference does); the discriminator only
        ever sees it detached, so no gradient reaches the generator in this phase either way."""
        x, c = batch["x"], batch.get("c")
        with torch.set_grad_enabled(keep_fake):
            kept = self.fake(model, x.shape[0], c, generator)
        real_in = self.d_input(model, x, generator)
        fake_in = self.d_input(model, kept.detach(), generator)
        real_out = model.discriminate(real_in, c)
        fake_out = model.discriminate(fake_in, c)
        loss = self.game.discriminator(real_out, fake_out, self.config.label_smoothing)
        gp = self.game.penalty(lambda h: model.discriminate(h, c), real_in, fake_in, generator)
        if gp is not None:
            loss = loss + self.config.gp_weight * gp
        r1 = r1_penalty(lambda h: model.discriminate(h, c), real_in) if self.config.r1_weight > 0 else None
        if r1 is not None:
            loss = loss + 0.5 * self.config.r1_weight * r1
        with torch.no_grad():
            acc = self.game.accuracy(real_out, fake_out)
        out = {"loss": loss, "d_real": self.game.realness(real_out).mean().detach(),
               "d_fake": self.game.realness(fake_out).mean().detach(), "d_acc": acc}
        if gp is not None:
            out["gp"] = gp.detach()
        if r1 is not None:
            out["r1"] = r1.detach()
        if keep_fake:
            out["fake"] = kept
        return out

    def generator_terms(self, model, batch: dict[str, torch.Tensor], generator=None, *,
                        fake: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Generator loss on new samples, or on ``fake`` kept (with its graph) from the discriminator step."""
        x, c = batch["x"], batch.get("c")
        if fake is None:
            fake = self.fake(model, x.shape[0], c, generator)
        fake_out = model.discriminate(self.d_input(model, fake, generator), c)
        return {"loss": self.game.generator(fake_out), "d_fake_g": self.game.realness(fake_out).mean().detach()}

    def __call__(self, model, batch: dict[str, torch.Tensor], generator=None) -> dict[str, torch.Tensor]:
        """Both players' terms on one batch without any update (for evaluation)."""
        d = self.discriminator_terms(model, batch, generator)
        with torch.no_grad():
            g = self.generator_terms(model, batch, generator)
        return {"loss": g["loss"].detach(), "d_loss": d["loss"].detach(),
                **{k: v for k, v in d.items() if k != "loss"}}

    def metrics(self, model, batch, *, seed=0, **options) -> dict[str, Any]:
        """The game's name (``game``), both players' terms (``d_loss``, ``d_real``, ``d_fake``, ``d_acc``, ``gp``,
        ``r1``) and ``g_loss``, averaged per example over ``batch``, without any update."""
        terms = evaluate_objective(model, self, batch, seed=seed)
        return {"game": self.config.loss, **{k: v for k, v in terms.items() if k != "loss"}, "g_loss": terms["loss"]}

    # ------------------------------------------------------------------ training
    def players(self, model, train_config) -> list[Player]:
        o = self.config
        betas = (o.beta1, o.beta2)
        return [Player("d", model.discriminator, o.lr_d, betas, log_grad_norm=True, title="discriminator"),
                Player("g", model.generator, o.lr_g, betas, log_grad_norm=True, title="generator")]

    def begin_fit(self, ctx, train) -> None:
        seed = ctx.config.seed
        self.fixed_z = torch.randn(DIVERSITY_N, ctx.model.latent_dim, generator=torch.Generator().manual_seed(seed + 3),
                                   device="cpu")  # kept on the CPU (saved with the objective), moved when used
        if hasattr(train, "head_batch"):  # a stream: its first rows stand in for the training set
            train = train.head_batch(DIVERSITY_N)
        head = train.head(DIVERSITY_N) if hasattr(train, "head") else train["x"][:DIVERSITY_N]
        if self.real_diversity is None:
            self.real_diversity = diversity(head)
        if not hasattr(train, "head") and "c" in train and self.fixed_c is None:
            n = train["x"].shape[0]
            self.fixed_c = train["c"][torch.arange(DIVERSITY_N, device=train["c"].device) % n]
        if not hasattr(train, "head") and "c" in train and train["x"].shape[0] > 1:
            self.probe = ConditionProbe(train["x"], train["c"], ctx.model.latent_dim, seed + 5)

    def begin_epoch(self, epoch: int) -> None:
        self.noise_now = annealed(self.config.instance_noise, epoch, self.config.instance_noise_epochs)

    def freeze(self, model, train_d: bool, record_generator: bool = False) -> None:
        """Freeze the network that is not being trained. In a discriminator step that is followed by a
        generator step, the generator's forward pass is recorded for reuse (its output reaches the
        discriminator detached, so the generator still gets no gradient)."""
        model.discriminator.requires_grad_(train_d)
        model.generator.requires_grad_(not train_d or record_generator)

    def train_step(self, ctx, batch, noise) -> None:
        o, model = self.config, ctx.model
        n = batch["x"].shape[0]
        g_phase_next = (self.critic_steps + 1) % o.n_critic == 0  # counted over the fit, not per epoch
        # a generator pass recorded in the discriminator step is reused by the generator step; under DDP each
        # network's passes must go through its own wrapper, so the generator step draws its own samples there
        keep = g_phase_next and not ctx.distributed
        self.freeze(model, train_d=True, record_generator=keep)
        d = ctx.forward("d", self.discriminator_terms, batch, noise, keep_fake=keep)
        fake = d.pop("fake", None)
        ctx.step("d", d["loss"])
        self.critic_steps += 1
        ctx.log({"d_loss" if k == "loss" else k: v for k, v in d.items()}, n)
        if g_phase_next:
            self.freeze(model, train_d=False)
            for _ in range(o.g_steps):
                g = ctx.forward("g", self.generator_terms, batch, noise, fake=fake)
                fake = None  # a second generator step draws new samples
                ctx.step("g", g["loss"])
                self.generator_steps += 1
                model.update_ema()
                ctx.log({"g_loss": g["loss"], "d_fake_g": g["d_fake_g"]}, n)

    def end_fit(self, ctx) -> None:
        ctx.model.discriminator.requires_grad_(True)
        ctx.model.generator.requires_grad_(True)

    def end_epoch(self, ctx, row: dict[str, Any], val) -> list[str]:
        """The epoch's diagnostics in ``row``; returns the warnings to print, each kind once while it lasts (all
        of this epoch's are kept in ``row['diagnostics']``, and the run's log keeps every epoch's)."""
        notes = self._diagnose(ctx, row, val)
        row["diagnostics"] = notes
        kinds = {note.split(":")[0].split(" (")[0]: note for note in notes}
        fresh = [note for kind, note in kinds.items() if kind not in self.active_kinds]
        self.active_kinds = sorted(kinds)
        return fresh

    def _diagnose(self, ctx, row: dict[str, Any], val) -> list[str]:
        model = ctx.model
        self.end_fit(ctx)
        row["train_loss"] = row.get("g_loss", float("nan"))  # the loss curve's generator line
        model.eval()
        with torch.no_grad():
            fixed_c = self.fixed_c.to(ctx.device) if self.fixed_c is not None else None
            samples = model.generate(self.fixed_z.to(ctx.device), fixed_c)  # the live generator, not its EMA
            row["diversity"] = diversity(samples)
            row["diversity_real"] = self.real_diversity
            if val is not None and len(val if hasattr(val, "ordered") else val["x"]):
                row["d_val_real"] = self._val_real(ctx, val)
            ratios = self.probe.ratios(model, ctx.device) if self.probe is not None else []
        model.train()
        row["critic_steps"], row["generator_steps"] = self.critic_steps, self.generator_steps
        if ratios:
            row["diversity_within_condition_min"] = min(ratios)
        notes = []
        self.win_streak = self.win_streak + 1 if row.get("d_acc", 0) >= WIN_ACC else 0
        if self.win_streak >= WIN_EPOCHS:
            advice = f"try {self.game.alternative}, a lower --lr-d, more --g-steps, --r1-weight 1, --instance-noise 0.1"
            if self.game.uses_labels:
                advice += " or --label-smoothing 0.1"
            notes.append(f"the discriminator wins outright (accuracy >= {WIN_ACC} for {self.win_streak} epochs): the "
                         f"generator gets little signal; {advice}")
        if self.generator_steps == 0:
            # the samples come from the initial weights: any collapse they show is not the game's doing
            notes.append(f"the generator has not been updated: a generator step follows every --n-critic "
                         f"{self.config.n_critic} critic steps and only {self.critic_steps} have been taken "
                         f"({self.critic_steps // max(row['epoch'], 1)} batches per epoch); its weights are still "
                         "the initial ones. Train more epochs, or lower --n-critic or --batch-size")
            return notes
        collapse_advice = advice_for_collapse(model, self.config)
        if row["diversity"] < COLLAPSE_RATIO * self.real_diversity:
            notes.append(f"possible mode collapse: samples are {row['diversity'] / self.real_diversity:.2f}x as "
                         f"diverse as real data; {collapse_advice}")
        low = sorted(((name, r) for name, r in zip(self.probe.labels() if self.probe else [], ratios)
                      if r < COLLAPSE_RATIO), key=lambda item: round(item[1], 2))  # the most collapsed first
        if low:
            shown = ", ".join(f"{name} ({r:.2f}x)" for name, r in low[:6]) + (", ..." if len(low) > 6 else "")
            notes.append(f"possible mode collapse within {len(low)} of {len(ratios)} conditions: samples at one "
                         f"condition are far less diverse than the real examples of that condition: {shown}; "
                         f"{collapse_advice}")
        return notes

    def _val_real(self, ctx, val) -> float:
        """Mean D(x) (a critic: mean score) over the validation data."""
        from ..data.batches import to_device

        total, n = 0.0, 0
        parts = val.ordered(4096) if hasattr(val, "ordered") else [val]
        for part in parts:
            part = to_device(part, ctx.device)
            out = ctx.model.discriminate(part["x"], part.get("c")).float()
            total += float(self.game.realness(out).sum())
            n += out.shape[0]
        return total / max(n, 1)

    def divergence_advice(self, train_config) -> str:
        o = self.config
        return (f"try lower learning rates (--lr-g {o.lr_g:g}, --lr-d {o.lr_d:g}), --loss wgan-gp, or check the "
                "data scaling")

    def state_dict(self) -> dict[str, Any]:
        return {"win_streak": self.win_streak, "real_diversity": self.real_diversity,
                "critic_steps": self.critic_steps, "generator_steps": self.generator_steps,
                "active_kinds": list(self.active_kinds)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.win_streak = int(state["win_streak"])
        self.real_diversity = state["real_diversity"]
        self.critic_steps = int(state.get("critic_steps", 0))
        self.generator_steps = int(state.get("generator_steps", 0))
        self.active_kinds = list(state.get("active_kinds", []))
