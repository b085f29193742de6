"""The games a GAN can play, each a class in the ``GAN_LOSSES`` registry. All take discriminator outputs
(logits, or raw scores for a critic), never probabilities, and return batch means.

``ns``       non-saturating: D minimises -log D(x) - log(1 - D(G(z))), G minimises -log D(G(z))
             (Goodfellow et al. 2014, section 3)
``minimax``  the literal game: G minimises log(1 - D(G(z))), whose gradient vanishes when D wins
``wgan-gp``  Wasserstein critic with gradient penalty (Gulrajani et al. 2017): critic E[C(G(z))] - E[C(x)]
             + lambda E[(||grad C(x_hat)||_2 - 1)^2], generator -E[C(G(z))]
``hinge``    hinge loss (Lim & Ye 2017; Miyato et al. 2018, with spectral normalisation): D minimises
             E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))], G minimises -E[D(G(z))]
``lsgan``    least squares (Mao et al. 2017): D minimises E[(D(x) - 1)^2] + E[D(G(z))^2], G E[(D(G(z)) - 1)^2]
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ..registry import Registry
from .losses import (critic_wasserstein, discriminator_bce, generator_minimax, generator_nonsaturating,
                     gradient_penalty)

GAN_LOSSES: Registry[type["GANLoss"]] = Registry("GAN loss")


class GANLoss:
    """One game. ``critic``: the discriminator's outputs are raw scores (a critic), not logits of P(real): it
    is scored, reported and shown as such, and it must not use batch norm when ``per_sample_penalty``."""

    critic: ClassVar[bool] = False
    per_sample_penalty: ClassVar[bool] = False
    #: the discriminator is trained on real / fake labels (so one-sided label smoothing means something)
    uses_labels: ClassVar[bool] = False
    #: what to try when the discriminator wins outright
    alternative: ClassVar[str] = "--loss wgan-gp"

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor, label_smoothing: float) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    def generator(self, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    def penalty(self, critic, real: torch.Tensor, fake: torch.Tensor, generator) -> torch.Tensor | None:
        """An extra term of the discriminator's loss (before its weight), or None."""
        return None

    def accuracy(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """How often D tells real from fake: logits above / below 0, or critic scores above / below the other
        set's mean."""
        if self.critic:
            return 0.5 * ((real > fake.mean()).float().mean() + (fake < real.mean()).float().mean())
        return 0.5 * ((real > 0).float().mean() + (fake < 0).float().mean())

    def realness(self, out: torch.Tensor) -> torch.Tensor:
        """What a user reads off the discriminator: P(real) = sigmoid(logit), or the critic's raw score."""
        return out if self.critic else torch.sigmoid(out)


@GAN_LOSSES.add("ns")
class NonSaturatingLoss(GANLoss):
    """D: BCE on logits (one-sided label smoothing possible); G: maximise log D(G(z)) (Goodfellow et al. 2014)."""

    uses_labels = True

    def discriminator(self, real, fake, label_smoothing):
        return discriminator_bce(real, fake, 1.0 - label_smoothing)

    def generator(self, fake):
        return generator_nonsaturating(fake)


@GAN_LOSSES.add("minimax")
class MinimaxLoss(NonSaturatingLoss):
    """The literal game: G minimises log(1 - D(G(z))); its gradient vanishes while D rejects the samples."""

    alternative = "--loss ns"

    def generator(self, fake):
        return generator_minimax(fake)


@GAN_LOSSES.add("wgan-gp")
class WassersteinGPLoss(GANLoss):
    """Wasserstein critic with a gradient penalty at random interpolates (Gulrajani et al. 2017)."""

    critic = True
    per_sample_penalty = True
    alternative = "a larger --gp-weight"

    def discriminator(self, real, fake, label_smoothing):
        return critic_wasserstein(real, fake)

    def generator(self, fake):
        return -fake.mean()

    def penalty(self, critic, real, fake, generator):
        with torch.enable_grad():  # the penalty differentiates the critic, also during evaluation
            return gradient_penalty(critic, real, fake, generator=generator)


@GAN_LOSSES.add("hinge")
class HingeLoss(GANLoss):
    """Margin loss on raw scores (Lim & Ye 2017; Miyato et al. 2018)."""

    critic = True  # raw scores, not probabilities; real above +1, fake below -1 at the margin
    alternative = "--spectral-norm, a lower --lr-d"

    def discriminator(self, real, fake, label_smoothing):
        return torch.relu(1.0 - real).mean() + torch.relu(1.0 + fake).mean()

    def generator(self, fake):
        return -fake.mean()

    def accuracy(self, real, fake):  # the margin's sign tells real (> 0) from fake (< 0)
        return 0.5 * ((real > 0).float().mean() + (fake < 0).float().mean())


@GAN_LOSSES.add("lsgan")
class LeastSquaresLoss(GANLoss):
    """Least squares (Mao et al. 2017; the game of CycleGAN, Zhu et al. 2017): D minimises
    E[(D(x) - 1)^2] + E[D(G(z))^2], G minimises E[(D(G(z)) - 1)^2]; raw scores, real near 1, fake near 0."""

    critic = True  # raw scores, not logits
    alternative = "--spectral-norm, a lower --lr-d"

    def discriminator(self, real, fake, label_smoothing):
        return (real - 1.0).pow(2).mean() + fake.pow(2).mean()

    def generator(self, fake):
        return (fake - 1.0).pow(2).mean()

    def accuracy(self, real, fake):  # real above 1/2, fake below
        return 0.5 * ((real > 0.5).float().mean() + (fake < 0.5).float().mean())
