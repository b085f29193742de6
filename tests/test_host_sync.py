"""Training reads nothing from the device per step: the finiteness of the losses is watched on the device and read
every ``Trainer.check_every`` steps and at each epoch's end, logged terms are summed there and read once per
epoch. On a GPU every such read waits for the queued kernels; here the reads are counted on the CPU with a torch
function mode, which sees every conversion of a tensor to a Python value."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import latentforge as lf
from latentforge.catalog import MODELS
from latentforge.models import Translates
from latentforge.training import Trainer

#: conversions of a tensor to host values: each one waits for a GPU
READS = {"__bool__", "__float__", "__int__", "__index__", "item", "tolist", "numpy", "cpu"}


class CountReads(TorchFunctionMode):
    """Counts the conversions of tensors to host values while active."""

    def __init__(self):
        super().__init__()
        self.n = 0
        self.names: collections.Counter = collections.Counter()
        self.on = True

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if self.on and name in READS:
            self.n += 1
            self.names[name] += 1
        return func(*args, **(kwargs or {}))


IMG = (1, 8, 8)
TINY = {
    "ae": {"hidden": (8,), "latent_dim": 2},
    "conv-ae": {"channels": (4,), "latent_dim": 2},
    "denoising-ae": {"hidden": (8,), "latent_dim": 2},
    "sparse-ae": {"hidden": (8,), "latent_dim": 4},
    "vae": {"hidden": (8,), "latent_dim": 2},
    "beta-tcvae": {"hidden": (8,), "latent_dim": 2, "dataset_size": 96},
    "cvae": {"hidden": (8,), "latent_dim": 2, "condition_dim": 3},
    "gan": {"g_hidden": (8,), "d_hidden": (8,), "latent_dim": 4, "ema_decay": 0.9},
    "dcgan": {"g_channels": 4, "d_channels": 4, "latent_dim": 4},
    "wgan-gp": {"g_hidden": (8,), "d_hidden": (8,), "latent_dim": 4, "n_critic": 2},
    "cgan": {"g_hidden": (8,), "d_hidden": (8,), "latent_dim": 4, "condition_dim": 3},
    "cyclegan": {"g_hidden": (8,), "d_hidden": (8,)},
}


def fit_counting(name: str, batch_size: int, epochs: int = 1, check_every: int | None = None) -> CountReads:
    """Fit a tiny ``name`` on 96 rows for ``epochs`` at ``batch_size`` (fp32) and count the host reads, except
    those of the objective's diagnostics after each epoch (``end_epoch``: how many depends on what was learnt,
    e.g. the collapsed latent dimensions a warning lists, not on the number of batches)."""
    g = torch.Generator().manual_seed(0)
    spec = MODELS.get(name)
    net, objective = spec.build(*spec.configs(IMG, **TINY[name]))
    data = {"x": torch.rand(96, *IMG, generator=g)}
    if net.conditional:
        data["c"] = torch.eye(3)[torch.arange(96) % 3]
    if isinstance(net, Translates):
        objective.attach_second({"x": torch.rand(96, *IMG, generator=g)}, None)
    trainer = Trainer(net, objective, lf.TrainConfig(epochs=epochs, batch_size=batch_size, precision="fp32"),
                      progress=False)
    if check_every is not None:
        trainer.watch.every = check_every
    counter = CountReads()
    end_epoch = objective.end_epoch

    def diagnostics_uncounted(*args, **kwargs):
        counter.on = False
        try:
            return end_epoch(*args, **kwargs)
        finally:
            counter.on = True

    objective.end_epoch = diagnostics_uncounted
    with counter:
        trainer.fit(data)
    return counter


@pytest.mark.parametrize("name", sorted(TINY))
def test_the_host_reads_of_an_epoch_do_not_grow_with_its_batches(name):
    few, many = fit_counting(name, 16), fit_counting(name, 4)  # 6 batches, then 24
    assert many.n == few.n, (few.names, many.names)
    assert few.n < 24  # a read per step would show at least once per batch


def test_the_losses_are_read_once_every_check_every_steps():
    base = fit_counting("ae", 4, check_every=1000).n  # 24 steps: read at the epoch's end only
    assert fit_counting("ae", 4, check_every=5).n == base + 24 // 5  # and after steps 5, 10, 15, 20
    assert fit_counting("ae", 4, check_every=1).n == base - 1 + 24  # after each step; none left at the end


def _poison_at(monkeypatch, objective_class, epoch: int, batch: int, value: float):
    """The training loss of ``objective_class`` becomes ``value`` at (1-based ``epoch``, 0-based ``batch``)."""
    original = objective_class.train_step

    def poisoned(self, ctx, b, noise):
        if isinstance(ctx, Trainer) and (ctx._epoch_now, ctx.batch_index) == (epoch, batch):
            real_step = ctx.step

            def step(player, loss):
                return real_step(player, loss * value)

            ctx.step = step
            try:
                return original(self, ctx, b, noise)
            finally:
                del ctx.step
        return original(self, ctx, b, noise)

    monkeypatch.setattr(objective_class, "train_step", poisoned)


@pytest.mark.parametrize("every", [1, 4, 50])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_loss_that_is_not_finite_is_reported_at_its_batch_and_nothing_after_it_is_learnt(monkeypatch, every,
                                                                                           value):
    from latentforge.objectives import ReconstructionObjective

    _poison_at(monkeypatch, ReconstructionObjective, epoch=2, batch=5, value=value)
    x = torch.rand(96, 8, generator=torch.Generator().manual_seed(1))
    spec = MODELS.get("ae")
    net, objective = spec.build(*spec.configs((8,), hidden=(4,), latent_dim=2))
    trainer = Trainer(net, objective, lf.TrainConfig(epochs=3, batch_size=8, precision="fp32"), progress=False)
    trainer.watch.every = every
    with pytest.raises(lf.TrainingDiverged) as e:
        trainer.fit(x)
    msg = str(e.value)
    assert f"loss became {value} at epoch 2, batch 5," in msg and "the last good epoch was 1" in msg, msg
    assert "\n" not in msg
    # 12 batches per epoch (96 rows / 8): 12 good steps in epoch 1 and 5 in epoch 2 changed the weights, no other
    opt = trainer.optimizers["model"]
    assert {float(s["step"]) for s in opt.state.values()} == {12 + 5}
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_a_gan_names_the_player_whose_loss_went_bad(monkeypatch):
    from latentforge.objectives.gan import GANObjective

    _poison_at(monkeypatch, GANObjective, epoch=1, batch=3, value=float("nan"))
    data = {"x": torch.rand(64, *IMG, generator=torch.Generator().manual_seed(2))}
    spec = MODELS.get("gan")
    net, objective = spec.build(*spec.configs(IMG, **TINY["gan"]))
    trainer = Trainer(net, objective, lf.TrainConfig(epochs=2, batch_size=8, precision="fp32"), progress=False)
    with pytest.raises(lf.TrainingDiverged, match=r"the discriminator loss became nan at epoch 1, batch 3, .*no "
                                                  r"epoch finished"):
        trainer.fit(data)


def test_a_batch_holding_nan_is_named_as_the_cause():
    x = np.random.default_rng(3).uniform(0, 1, (64, 8)).astype(np.float32)
    spec = MODELS.get("ae")
    net, objective = spec.build(*spec.configs((8,), hidden=(4,), latent_dim=2))
    trainer = Trainer(net, objective, lf.TrainConfig(epochs=1, batch_size=64, precision="fp32"), progress=False)
    data = torch.from_numpy(x)
    data[10, 3] = float("nan")  # the data's checks are bypassed: the trainer is handed the tensor itself
    with pytest.raises(lf.TrainingDiverged, match=r"nan at epoch 1, batch 0.*The batch itself holds NaN"):
        trainer.fit(data)
