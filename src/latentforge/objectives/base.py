"""What every objective shares: its config, the players it trains, and the hooks the trainer calls.

An objective wraps a network (lucidrains' ``GaussianDiffusion(model, ...)`` idea, with the network passed in
each call) and knows nothing of optimisers. It declares:

``players(model, train_config)``   the networks to update, each with its own Adam settings (one for most
                                   objectives; a discriminator and a generator for a GAN)
``train_step(ctx, batch, noise)``  the steps on one batch, through ``ctx.forward`` / ``ctx.step`` / ``ctx.log``
``begin_fit`` / ``begin_epoch`` / ``end_epoch``   hooks at the start of fitting, of each epoch, after each epoch
``metrics(model, batch, ...)``     its own evaluation numbers
``state_dict`` / ``load_state_dict``  JSON-able state that a resumed run needs (counters, streaks)
``second_domain`` / ``attach_second``  an objective that learns from two unpaired data sets (a CycleGAN) says so
                                   and is handed the second one (domain B, model space) before fitting

``__call__(model, batch, generator)`` gives the named loss terms of one batch without an update; ``loss`` is
what a single-network objective minimises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..data.batches import Batch, as_batch, device_scope, noise_generator, take, to_device

#: rows per batch when an objective is evaluated over a whole dataset
EVAL_BATCH = 1024


def model_device(model: nn.Module) -> torch.device:
    """The device of a network's parameters (the CPU for a network without any)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def over_rows(model: nn.Module, batch: Batch, fn, rows: int = EVAL_BATCH) -> torch.Tensor:
    """``fn(slice)`` over slices of ``rows`` rows of ``batch`` (any device), each moved to the model's device; the
    results concatenated on the CPU. No gradients; the network's mode is left as it is."""
    device = model_device(model)
    n = batch["x"].shape[0]
    return torch.cat([fn(to_device(take(batch, slice(i, i + rows)), device)).cpu() for i in range(0, n, rows)])


@dataclass
class Player:
    """One network the trainer updates with its own fused Adam optimiser (Kingma & Ba 2015).

    ``module``: the network whose parameters it updates (and which DistributedDataParallel wraps);
    ``log_grad_norm``: log the mean gradient norm of its steps as ``grad_norm_<name>``.
    """

    name: str
    module: nn.Module
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    log_grad_norm: bool = False
    title: str = ""  # how messages name it ("discriminator"); the name when empty

    def __post_init__(self) -> None:
        self.title = self.title or self.name


class Objective:
    """Base class of every objective; a single network trained on ``self(model, batch, noise)["loss"]``."""

    config_class: ClassVar[type] = object
    #: the validation loss ranks epochs (early stopping keeps the best); an adversarial loss does not
    ranks_epochs: ClassVar[bool] = True
    #: prefix of the training terms in each epoch's row of metrics
    train_prefix: ClassVar[str] = "train_"
    #: trains on a second, unpaired data set (domain B) beside the first (domain A)
    second_domain: ClassVar[bool] = False

    def __init__(self, config=None):
        self.config = config or self.config_class()

    @classmethod
    def data_options(cls, n_train: int) -> dict[str, Any]:
        """Config values filled in from the training data (as ``condition_dim`` is for a model)."""
        return {}

    # ------------------------------------------------------------------ checks
    def check_model(self, model: nn.Module) -> None:
        """Raise ConfigError when the network cannot be trained by this objective."""

    @property
    def needs_unit_range(self) -> bool:
        """True when the training data must lie in [0, 1] (a Bernoulli likelihood, a BCE loss, a GAN)."""
        return False

    @property
    def sample_grid_every(self) -> int:
        """Write a grid of samples every this many epochs while training (0: never)."""
        return 0

    # ------------------------------------------------------------------ training
    def players(self, model: nn.Module, train_config) -> list[Player]:
        return [Player("model", model, train_config.lr, weight_decay=train_config.weight_decay)]

    def attach_second(self, train: Batch, val: Batch | None) -> None:
        """Hand over the second data set's training and validation rows (model space); only objectives with
        ``second_domain`` take them."""
        raise NotImplementedError(f"{type(self).__name__} trains on one data set")

    def begin_fit(self, ctx, train) -> None:
        """Called once before the first epoch of a fit (also of a resumed one), with the training data."""

    def begin_epoch(self, epoch: int) -> None:
        """Called before each epoch (1-based); must depend on the epoch only, so that a resumed run agrees."""

    def train_step(self, ctx, batch: Batch, noise: torch.Generator | None) -> None:
        terms = ctx.forward("model", self, batch, noise)
        ctx.step("model", terms["loss"])
        ctx.log(terms, batch["x"].shape[0])

    def end_epoch(self, ctx, row: dict[str, Any], val) -> list[str]:
        """Add diagnostics to the epoch's row; return warnings (one line each)."""
        return []

    def end_fit(self, ctx) -> None:
        """Called once when fitting stops, normally or not (undo what the steps changed on the model)."""

    def divergence_advice(self, train_config) -> str:
        """What to try when the loss stops being finite after some updates: a phrase without a final full stop."""
        return (f"try a lower learning rate (--lr, now {train_config.lr:g}), check the data scaling (--scaling), or "
                "a smaller model")

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    # ------------------------------------------------------------------ evaluation
    def __call__(self, model: nn.Module, batch: Batch, generator: torch.Generator | None = None
                 ) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def metrics(self, model: nn.Module, batch: Batch, *, seed: int = 0, **options: Any) -> dict[str, Any]:
        """This objective's evaluation numbers on ``batch`` (model space): its loss terms, as ``loss`` and
        ``loss_<term>``, averaged over the batch with randomness from ``seed``."""
        terms = evaluate_objective(model, self, batch, seed=seed)
        return {name if name == "loss" or name.startswith(("penalty_", "active")) else f"loss_{name}": v
                for name, v in terms.items()}


@torch.no_grad()
def evaluate_objective(model: nn.Module, objective, data, *, seed: int) -> dict[str, float]:
    """Objective terms averaged over ``data`` (a tensor, a batch dict, or a stream with ``ordered``) in eval
    mode; randomness from ``seed``, so repeatable. Batches go to the model's device."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    g = noise_generator(device, seed)
    sums: dict[str, torch.Tensor] = {}  # kept on the device and read once at the end
    wide = torch.float32 if device.type == "mps" else torch.float64  # no float64 on Apple's GPU
    n = 0
    if hasattr(data, "ordered"):
        batches = data.ordered(EVAL_BATCH)
    else:
        data = as_batch(data)
        batches = (take(data, slice(s, s + EVAL_BATCH)) for s in range(0, data["x"].shape[0], EVAL_BATCH))
    with device_scope(device):
        for batch in batches:
            batch = to_device(batch, device)
            b = batch["x"].shape[0]
            for k, v in objective(model, batch, g).items():
                v = torch.as_tensor(v, device=device).detach().to(wide) * b
                sums[k] = sums[k] + v if k in sums else v
            n += b
    model.train(was_training)
    if not sums:
        return {}
    totals = torch.stack([sums[k].reshape(()) for k in sums]).tolist()  # one read
    return {k: v / max(n, 1) for k, v in zip(sums, totals)}
