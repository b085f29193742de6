"""Seeded input corruption for denoising: additive Gaussian, masking ("dropout") and salt-and-pepper noise,
each a class in the ``CORRUPTIONS`` registry (Vincent et al. 2008, "Extracting and composing robust features
with denoising autoencoders").

All levels are in the model's scaled units; images scaled with ``minmax`` live in [0, 1].
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ..registry import Registry


class Corruption:
    """``corruption(x, level, generator)`` -> a corrupted copy of ``x`` (same shape, dtype, device).

    ``level_is_fraction``: the level is the share of values hit, so it must lie in [0, 1].
    """

    level_is_fraction: ClassVar[bool] = True

    def __call__(self, x: torch.Tensor, level: float, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract


CORRUPTIONS: Registry[Corruption] = Registry("corruption")


class GaussianNoise(Corruption):
    """x + level * N(0, 1) per value (level: the noise sigma in scaled units)."""

    level_is_fraction = False

    def __call__(self, x, level, generator):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x + level * noise


class Masking(Corruption):
    """Each value set to 0 with probability ``level``."""

    def __call__(self, x, level, generator):
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= level
        return x * keep


class SaltPepper(Corruption):
    """Each value set to 0 or 1 (half each) with probability ``level``."""

    def __call__(self, x, level, generator):
        u = torch.rand(x.shape, generator=generator, device=x.device)
        out = x.clone()
        out[u < level / 2] = 0.0
        out[(u >= level / 2) & (u < level)] = 1.0
        return out


CORRUPTIONS.register("gaussian", GaussianNoise())
CORRUPTIONS.register("masking", Masking())
CORRUPTIONS.register("salt-pepper", SaltPepper())


def corrupt(x: torch.Tensor, kind: str, level: float, *, generator: torch.Generator | None = None,
            clip: bool = True) -> torch.Tensor:
    """Return a corrupted copy of ``x`` (B, ...); the same generator state gives the same corruption.

    Raises ConfigError for an unknown ``kind``. With ``clip`` the result is clipped to [0, 1].
    """
    out = CORRUPTIONS.get(kind)(x, level, generator)
    return out.clamp(0.0, 1.0) if clip else out
