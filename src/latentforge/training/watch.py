"""The finiteness of the training losses, watched on the device: no host synchronisation per step.

Reading a GPU tensor on the host (``bool(torch.isfinite(loss))``) waits for every kernel queued before it, so a
check on every step leaves the GPU idle while Python queues the next one. Here each step's loss is kept as a
device scalar and folded into a device flag, which the fused Adam step reads as its ``found_inf`` argument (the
same mechanism ``torch.amp.GradScaler`` uses): once a loss is not finite, every later step of that window changes
no weight and no optimiser moment, so the parameters stay those of the last good step. The host reads the window
once every ``every`` steps and at the end of each epoch (``first_bad``): one read of one scalar, plus one
all-reduce of it under torchrun, so that every process stops together. The window then names the first step
whose loss was not finite: its epoch, batch, player and value, and the batch itself for the advice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..spelling import speak


@dataclass(frozen=True)
class Step:
    """One optimiser step as the divergence message names it: 1-based ``epoch``, 0-based ``batch`` in it, the
    ``player`` updated, and ``updates``, the optimiser steps this process took before it."""

    epoch: int
    batch: int
    player: str
    updates: int


@dataclass(frozen=True)
class BadStep:
    """The first step of a window whose loss was not finite: ``step``, the loss ``value`` (nan, inf or -inf) and
    ``x``, the batch's examples (B, ...) as trained on (None when the batch cannot be recalled)."""

    step: Step
    value: float
    x: torch.Tensor | None


class LossWatch:
    """Losses of the steps since the last read, their non-finite flag on ``device``, and a way back to each
    step's batch. ``every``: steps between reads of the flag (the trainer reads at each epoch's end too)."""

    #: bytes of recalled batches (streamed data: host copies, not slices of a permutation) a window holds at most
    #: before it is read: the memory of the window stays this small whatever the batch and the row size
    RECALL_BYTES = 16 << 20

    def __init__(self, device: torch.device, every: int = 50):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.device, self.every = device, every
        self.reset()

    def reset(self) -> None:
        """Empty the window and clear the flag (at the start of a fit)."""
        #: 1.0 once a loss of this window was not finite, else 0.0: a float32 scalar on the device
        self.flag = torch.zeros((), dtype=torch.float32, device=self.device)
        self._losses: list[torch.Tensor] = []
        self._steps: list[Step] = []
        self._recall: dict[tuple[int, int], Callable[[], torch.Tensor]] = {}
        self._held = 0

    def batch(self, epoch: int, index: int, recall: Callable[[], torch.Tensor], held_bytes: int = 0) -> None:
        """Register how to get batch ``index`` of ``epoch`` back (its ``x``) should one of its losses be bad:
        a closure over a slice of the permutation or over the host batch, so nothing is copied or computed.
        ``held_bytes``: what the closure keeps alive (a host batch: its size; a slice: 0), counted towards
        RECALL_BYTES."""
        self._recall[(epoch, index)] = recall
        self._held += held_bytes

    def record(self, loss: torch.Tensor, step: Step) -> torch.Tensor:
        """Add the loss of ``step`` (a scalar tensor on the device) to the window without reading it; returns
        the flag (float32 scalar on the device: 1.0 once any loss of the window was not finite), for the
        optimiser's ``found_inf``."""
        value = loss.detach()
        self.flag = torch.where(torch.isfinite(value), self.flag, 1.0)
        self._losses.append(value)
        self._steps.append(step)
        return self.flag

    @property
    def due(self) -> bool:
        """Whether the window holds ``every`` steps, or recalled batches of RECALL_BYTES: time to read it."""
        return len(self._losses) >= self.every or self._held >= self.RECALL_BYTES

    def first_bad(self, dist=None) -> BadStep | None:
        """Read the window (one host read; under torchrun first one all-reduce, so that every process learns the
        earliest step at which any of them saw a loss that was not finite) and empty it. Returns None when every
        loss was finite, else the first bad step. ``dist``: the trainer's ``distributed.Dist``, or None."""
        losses, steps, recall = self._losses, self._steps, self._recall
        self._losses, self._steps, self._recall, self._held = [], [], {}, 0
        if not losses:
            return None
        n = len(losses)
        values = torch.stack([v.reshape(()).float() for v in losses])  # (n,)
        finite = torch.isfinite(values)
        first = torch.where(finite, n, torch.arange(n, device=values.device)).min()  # n when all are finite
        if dist is not None and dist.enabled:
            first = dist.all_reduce_min(first)
        i = int(first)  # the one read of the window
        if i >= n:
            return None
        value = torch.where(finite[i], 0.0, values[i])
        if dist is not None and dist.enabled:  # the value seen by the process(es) where step i went wrong
            value = dist.all_reduce_sum(value.reshape(1)).reshape(())
        step = steps[i]
        back = recall.get((step.epoch, step.batch))
        return BadStep(step, float(value), back() if back is not None else None)


def grad_norm(module: torch.nn.Module) -> torch.Tensor:
    """The L2 norm of all of ``module``'s gradients together (a scalar tensor on their device, not read), 0 when
    there are none."""
    grads = [p.grad.detach() for p in module.parameters() if p.grad is not None]
    if not grads:
        first = next(module.parameters(), None)
        return torch.zeros((), device=first.device if first is not None else None)
    return torch.linalg.vector_norm(torch.stack([n.float() for n in torch._foreach_norm(grads)]))


def divergence_message(trainer, bad: BadStep | None, value: float) -> str:
    """The one-line message of TrainingDiverged: where the loss stopped being finite (``bad``: a training step;
    None: the validation loss ``value`` of the epoch after the last finished one), the precision, the last good
    epoch and what to try, spelled for the command line or Python (``trainer._switches``)."""
    t = trainer
    epoch = bad.step.epoch if bad is not None else t.epoch + 1
    where = f"epoch {epoch}" + (f", batch {bad.step.batch}" if bad is not None else " (validation)")
    who = "" if bad is None or len(t.players) == 1 else f"{t.players[bad.step.player].title} "
    kept = f"the last good epoch was {t.epoch}" if t.epoch else "no epoch finished"
    precision = f"computed in {t.precision}" + (
        f" ({t.precision_choice.reason})" if t.precision_choice and t.precision_choice.reason.startswith("auto")
        else "")
    advice = []
    if t.precision != "fp32":
        advice.append("train with --precision fp32")
    x = bad.x if bad is not None else None
    updates = bad.step.updates if bad is not None else t._updates
    if x is not None and not bool(torch.isfinite(x).all()):
        advice.append("the batch itself holds NaN or infinite values: check the data and its scaling (--scaling)")
    elif updates == 0 and t.epoch == 0:
        span = (f"; this batch spans {float(x.min()):.4g} to {float(x.max()):.4g} after scaling"
                if x is not None and x.numel() else "")
        advice.append("the loss was not finite before the first update, so the learning rate is not the cause: "
                      f"check the data scaling (--scaling{span}) and that the model's options fit the data")
    else:
        advice.append(t.objective.divergence_advice(t.config))
    if x is not None and t.objective.needs_unit_range and x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
        advice.append(f"the loss needs data in [0, 1] but this batch spans {float(x.min()):.4g} to "
                      f"{float(x.max()):.4g}")
    return speak(f"the {who}loss became {value} at {where}, {precision}; {kept}. "
                 + "; or ".join(a[0].upper() + a[1:] if i == 0 else a for i, a in enumerate(advice)) + ".",
                 t._switches)
