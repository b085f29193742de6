"""Seeded input corruption for denoising: additive Gaussian, masking ("dropout") and salt-and-pepper noise.

All levels are in the model's scaled units; images scaled with ``minmax`` live in [0, 1].
"""

from __future__ import annotations

import torch

from ..errors import ConfigError

KINDS = ("gaussian", "masking", "salt-pepper")


def corrupt(x: torch.Tensor, kind: str, level: float, *, generator: torch.Generator | None = None,
            clip: bool = True) -> torch.Tensor:
    """Return a corrupted copy of ``x``; the same generator state gives the same corruption."""
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        out = x + level * noise
    elif kind == "masking":
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= level
        out = x * keep
    elif kind == "salt-pepper":
        u = torch.rand(x.shape, generator=generator, device=x.device)
        out = x.clone()
        out[u < level / 2] = 0.0
        out[(u >= level / 2) & (u < level)] = 1.0
    else:
        raise ConfigError(f"unknown corruption {kind!r}; choose one of {', '.join(KINDS)}")
    return out.clamp(0.0, 1.0) if clip else out
