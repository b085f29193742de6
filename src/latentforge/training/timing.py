"""One training step of a model timed in each precision, for ``--precision auto`` (``runtime.choose_precision``)."""

from __future__ import annotations

import copy
from typing import Callable

import torch

from ..data.batches import Batch, device_scope, noise_generator
from . import runtime


def timing_step(trainer, batch: Batch) -> Callable[[str], None]:
    """``step(precision)``: one forward and backward pass of ``trainer``'s training step on ``batch``, on copies
    of the model and objective (the weights, optimiser states, counters and random streams of the real training
    are untouched), waiting for the device."""
    model = copy.deepcopy(trainer.model).train()
    objective = copy.deepcopy(trainer.objective)

    class _Timing:
        precision = "fp32"
        batch_index = 0

        def __init__(self):
            self.model = model

        def __getattr__(self, name):  # what a step reads of its trainer (device, config, dist ...)
            return getattr(trainer, name)

        def forward(self, player, fn, *args, **kwargs):
            with runtime.autocast(self.device, self.precision), device_scope(self.device):
                return fn(model, *args, **kwargs)

        def step(self, player, loss):
            loss.backward()
            model.zero_grad(set_to_none=True)

        def log(self, terms, n):
            pass

    ctx = _Timing()
    devices = [trainer.device] if trainer.device.type == "cuda" else []

    def step(precision: str) -> None:
        ctx.precision = precision
        with torch.random.fork_rng(devices=devices, device_type=trainer.device.type if devices else "cuda"):
            noise = noise_generator(trainer.device, trainer.config.seed) if trainer.device.type != "cpu" else \
                torch.Generator().manual_seed(trainer.config.seed)
            objective.train_step(ctx, batch, noise)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)

    return step
