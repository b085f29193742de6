"""Diagnostics that catch a GAN failing: sample diversity against the real data's, overall and within each
condition of a conditional model.

A conditional generator that ignores its noise gives one output per condition: the samples of all conditions
together still look varied, so the overall diversity cannot see it. ``ConditionProbe`` compares, at a few
anchor conditions, the diversity of samples drawn at that condition with the diversity of the real examples
whose conditions lie nearest to it (the examples of that class, for class labels).
"""

from __future__ import annotations

import torch

#: samples per anchor condition, and real examples nearest to it
PER_CONDITION = 32
#: at most this many distinct conditions are all probed (class labels); otherwise ANCHORS random ones
MAX_DISTINCT, ANCHORS = 16, 8


def diversity(x: torch.Tensor) -> float:
    """Mean pairwise Euclidean distance within a batch (flattened examples), (B, ...) -> float; B >= 2."""
    f = x.flatten(1).float()
    d = torch.cdist(f, f)
    n = f.shape[0]
    return float(d.sum() / (n * (n - 1)))


def describe_condition(c: torch.Tensor) -> str:
    """A condition vector for a message: ``class #k`` for a one-hot vector, else its first values."""
    values = c.flatten().tolist()
    if all(v in (0.0, 1.0) for v in values) and sum(values) == 1.0:
        return f"class #{values.index(1.0)}"
    shown = ", ".join(f"{v:.2g}" for v in values[:4]) + (", ..." if len(values) > 4 else "")
    return f"c = ({shown})"


class ConditionProbe:
    """Anchor conditions (K, P) with the diversity of the real examples nearest to each, and fixed noise for
    sampling at them. Built from the training data (x (N, ...), c (N, P), in model space) and a seed."""

    def __init__(self, x: torch.Tensor, c: torch.Tensor, latent_dim: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        c = c.float().cpu()
        distinct = torch.unique(c, dim=0).flip(0)  # one-hot rows in class order (unique sorts them backwards)
        if len(distinct) <= MAX_DISTINCT:
            self.anchors = distinct  # (K, P): every class
        else:
            self.anchors = c[torch.randperm(len(c), generator=g, device="cpu")[:ANCHORS]]
        m = min(PER_CONDITION, len(c))
        near = torch.cdist(self.anchors, c).topk(m, dim=1, largest=False).indices  # (K, m) nearest real rows
        xc = x.cpu()
        self.real = [diversity(xc[idx]) if m > 1 else 0.0 for idx in near]
        self.z = torch.randn(m, latent_dim, generator=g, device="cpu")  # moved to the model's device when used

    def ratios(self, model, device: torch.device) -> list[float]:
        """Diversity of samples at each anchor over the real diversity near it (1: as varied as the data)."""
        out = []
        z = self.z.to(device)
        with torch.no_grad():
            for anchor, real in zip(self.anchors, self.real):
                c = anchor.to(device).expand(z.shape[0], -1)
                fake = model.generate(z, c)  # the live generator, not its EMA
                out.append(diversity(fake) / real if real > 0 else float("inf"))
        return out

    def labels(self) -> list[str]:
        """How messages name each anchor."""
        return [describe_condition(a) for a in self.anchors]
