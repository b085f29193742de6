"""Random draws that land on the device of the tensors they serve, from a seeded stream wherever it lives.

A ``torch.Generator`` lives on one device and draws only there (a CPU stream cannot fill a CUDA tensor). Each
function here draws on the generator's own device, then moves the result to ``device``; without a generator it
draws on ``device`` directly. So a model on a GPU takes its noise from a CPU stream (inference: the same numbers
for one seed on every device) or from a stream on the GPU (training: no copy), and every result is on ``device``
with ``dtype``.
"""

from __future__ import annotations

from typing import Sequence

import torch


def _where(generator: torch.Generator | None, device: torch.device | str) -> torch.device:
    return generator.device if generator is not None else torch.device(device)


def _to(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    return t if t.device == torch.device(device) else t.to(device)


def normal(shape: Sequence[int], *, device: torch.device | str, dtype: torch.dtype = torch.float32,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal draws N(0, 1) of ``shape`` on ``device``."""
    return _to(torch.randn(tuple(shape), generator=generator, dtype=dtype, device=_where(generator, device)), device)


def uniform(shape: Sequence[int], *, device: torch.device | str, dtype: torch.dtype = torch.float32,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform draws U[0, 1) of ``shape`` on ``device``."""
    return _to(torch.rand(tuple(shape), generator=generator, dtype=dtype, device=_where(generator, device)), device)


def integers(low: int, high: int, shape: Sequence[int], *, device: torch.device | str,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Integers uniform in [low, high) (int64) of ``shape`` on ``device``."""
    return _to(torch.randint(low, high, tuple(shape), generator=generator, device=_where(generator, device)), device)


def permutation(n: int, *, device: torch.device | str, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random permutation of 0 .. n-1 (int64) on ``device``."""
    return _to(torch.randperm(n, generator=generator, device=_where(generator, device)), device)


def bernoulli(p: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """0 / 1 draws with probabilities ``p`` (1 where a uniform draw falls below p), on ``p``'s device and with its
    dtype; the uniform numbers come from the generator's device, ``p`` itself never moves."""
    u = uniform(p.shape, device=p.device, dtype=p.dtype, generator=generator)
    return (u < p.detach()).to(p.dtype)
