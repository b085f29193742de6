"""What keeps a GAN's game stable, as pure functions the GAN objective composes (the spectral normalisation and
the minibatch-std feature are parts of the networks, in ``models.gan``; the hinge loss is a game in
``gan_losses``):

``r1_penalty``        R1 gradient penalty on real data (Mescheder, Geiger & Nowozin 2018, "Which training methods
                      for GANs do actually converge?", eq. 9): gamma / 2 E_x[||grad_x D(x)||^2]
``add_instance_noise`` Gaussian noise on every discriminator input, real and fake (Sønderby et al. 2017;
                      Arjovsky & Bottou 2017): the two distributions overlap, so D cannot separate them perfectly
``diff_augment``      differentiable augmentation of every discriminator input, real and fake, in both players'
                      steps (Zhao, Liu, Lin, Zhu & Han 2020, "Differentiable augmentation for data-efficient GAN
                      training"): the policies in ``AUGMENTATIONS``

All work on examples in the scaled data space [0, 1] (B, *S) and draw their randomness from the given
``torch.Generator``, so a seeded run repeats exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import ConfigError
from ..registry import Registry


def r1_penalty(discriminate: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """E_x[||grad_x D(x)||^2] over real examples ``real`` (B, *S), each gradient flattened (the weight gamma / 2
    is applied by the caller). Differentiable in D's parameters (``create_graph``), so it trains D."""
    with torch.enable_grad():
        x = real.detach().requires_grad_(True)
        out = discriminate(x)  # (B,)
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        return grad.flatten(1).pow(2).sum(1).mean()


def add_instance_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None) -> torch.Tensor:
    """x + sigma * N(0, 1) per value (sigma in scaled units; 0 returns x itself)."""
    if sigma <= 0:
        return x
    return x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def annealed(sigma: float, epoch: int, epochs: int) -> float:
    """Linear annealing to zero: sigma * max(0, 1 - (epoch - 1) / epochs) at 1-based ``epoch``; ``epochs`` 0
    keeps sigma constant."""
    if epochs <= 0:
        return sigma
    return sigma * max(0.0, 1.0 - (epoch - 1) / epochs)


@dataclass(frozen=True)
class Augmentation:
    """One DiffAugment policy: ``fn(x, generator)`` on examples (B, *S) in [0, 1]; ``images``: it needs images
    (B, C, H, W), not vectors."""

    fn: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]
    images: bool
    summary: str


#: DiffAugment policies (Zhao et al. 2020), each differentiable in x
AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")


def _uniform(x: torch.Tensor, generator, *shape: int) -> torch.Tensor:
    """U(0, 1) of shape (B, 1, ...) broadcastable against x."""
    return torch.rand((x.shape[0], *shape), generator=generator, dtype=x.dtype, device=x.device)


def color(x: torch.Tensor, generator) -> torch.Tensor:
    """Brightness +U(-0.25, 0.25), saturation (channel spread around the channel mean) x U(0, 2) for colour
    images, contrast (spread around the example's mean) x U(0.5, 1.5): DiffAugment's colour policy, its ranges
    halved because the data live in [0, 1] rather than [-1, 1]."""
    ones = (1,) * (x.ndim - 1)
    x = x + (_uniform(x, generator, *ones) - 0.5) * 0.5
    if x.ndim == 4 and x.shape[1] > 1:
        m = x.mean(1, keepdim=True)
        x = (x - m) * (_uniform(x, generator, *ones) * 2.0) + m
    m = x.flatten(1).mean(1).reshape(-1, *ones)
    return (x - m) * (_uniform(x, generator, *ones) + 0.5) + m


def translation(x: torch.Tensor, generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by whole pixels, up to ``ratio`` of its height / width each way, filling with 0."""
    b, c, h, w = x.shape
    sh, sw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), generator=generator, device=x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), generator=generator, device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy + sh).expand(b, h, w)  # index into the padded image
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx + sw).expand(b, h, w)
    padded = torch.nn.functional.pad(x, (sw, sw, sh, sh))  # (B, C, H + 2 sh, W + 2 sw), zeros around
    batch = torch.arange(b, device=x.device).view(b, 1, 1).expand(b, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (B, C, H, W)


def cutout(x: torch.Tensor, generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero one rectangle of ``ratio`` times the image's height and width per image, at a random centre."""
    b, c, h, w = x.shape
    ch, cw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=generator, device=x.device)
    yy = torch.arange(h, device=x.device).view(1, h, 1)
    xx = torch.arange(w, device=x.device).view(1, 1, w)
    oy, ox = yy - cy + ch // 2, xx - cx + cw // 2  # position inside the rectangle
    inside = (oy >= 0) & (oy < ch) & (ox >= 0) & (ox < cw)  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTATIONS.register("color", Augmentation(color, images=False, summary="brightness, saturation, contrast"))
AUGMENTATIONS.register("translation", Augmentation(translation, images=True,
                                                   summary="shift by up to 1/8 of the size, zero fill"))
AUGMENTATIONS.register("cutout", Augmentation(cutout, images=True, summary="zero a random half-size rectangle"))


def parse_policy(text: str) -> list[str]:
    """``"color,translation"`` -> ["color", "translation"]; "" -> []. ConfigError names an unknown policy."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    for n in names:
        AUGMENTATIONS.get(n)
    if len(set(names)) != len(names):
        raise ConfigError(f"diffaugment {text!r} names a policy twice")
    return names


def check_policy(names: list[str], example_shape: tuple[int, ...]) -> None:
    """ConfigError when a policy needs images and the examples are vectors."""
    for n in names:
        if AUGMENTATIONS.get(n).images and len(example_shape) != 3:
            raise ConfigError(f"--diffaugment {n} shifts or cuts images (C, H, W); examples of shape "
                              f"{tuple(example_shape)} are vectors: use --diffaugment color, or none")


def diff_augment(x: torch.Tensor, names: list[str], generator: torch.Generator | None) -> torch.Tensor:
    """Apply the policies in order (each with fresh random draws per example); [] returns x itself."""
    for n in names:
        x = AUGMENTATIONS.get(n).fn(x, generator)
    return x
