"""CycleGAN (Zhu, Park, Isola & Efros 2017, "Unpaired image-to-image translation using cycle-consistent
adversarial networks"): two generators G: A -> B and F: B -> A, and two discriminators D_A, D_B, for examples of
one shape from two domains that are not paired.

    translate(x, "a_to_b")   -> G(x); ``"b_to_a"`` -> F(x)      (B, *input_shape) in the scaled space [0, 1]
    discriminate_a(x), discriminate_b(x)                        -> (B,) scores

Here the networks are MLPs over the flattened example (vectors such as detector cells, or small
images). A generator is residual: G(x) = clip(x + f(x) / 2, 0, 1) with f an MLP on the networks' [-1, 1] view of
x whose last layer starts at zero, so each generator starts as the identity (the identity loss is then 0, and
training moves away from it only as far as the two domains differ). The output is clipped, not squashed: a sigmoid
or tanh saturates on sparse data (most cells of a detector image are exactly 0, and the L1 losses push every mostly-empty
cell down until its unit saturates and no gradient is left), while a clipped value passes its gradient everywhere
inside [0, 1], and an exact 0 (an empty cell) stays reachable. Unclipped, a value above 1 would decode beyond the
largest energy seen. No losses here (see ``objectives.cyclegan``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, option, widths
from ..errors import ConfigError
from ..nn import ACTIVATIONS, MLP, MinibatchStd, activation
from .base import ConfiguredModel, Translates

#: the two translation directions
A_TO_B, B_TO_A = "a_to_b", "b_to_a"
DIRECTIONS = (A_TO_B, B_TO_A)


@dataclass(frozen=True)
class CycleGANConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one example, the same in both domains (filled in from the data)",
                                          from_data=True)
    g_hidden: tuple[int, ...] = option((512, 512), "hidden widths of each generator, comma separated")
    d_hidden: tuple[int, ...] = option((512, 256), "hidden widths of each discriminator, comma separated")
    activation: str = option("leaky_relu", "hidden-layer nonlinearity of all four networks", ACTIVATIONS)
    spectral_norm: bool = option(False, "spectral normalisation of every discriminator layer (Miyato et al. 2018)")
    minibatch_std: bool = option(False, "minibatch standard deviation before each discriminator's last layer "
                                 "(Karras et al. 2018)")

    def validate(self) -> None:
        widths(self, "g_hidden")
        widths(self, "d_hidden")
        widths(self, "input_shape")


class _ResidualGenerator(nn.Module):
    """x (B, D) in [0, 1] -> clip(x + f(2x - 1) / 2, 0, 1); f an MLP whose last layer starts at zero (the identity
    at first)."""

    def __init__(self, d: int, hidden: tuple[int, ...], act: str):
        super().__init__()
        self.f = MLP([d, *hidden, d], act)
        last = self.f.linears[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 0.5 * self.f(2.0 * x - 1.0)).clamp(0.0, 1.0)  # the MLP works in the [-1, 1] convention


def _discriminator(d: int, hidden: tuple[int, ...], act: str, minibatch_std: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = d
    for w in hidden:
        layers += [nn.Linear(width, w), activation(act)]
        width = w
    if minibatch_std:
        layers.append(MinibatchStd())
        width += 1
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class CycleGAN(ConfiguredModel, Translates):
    """Generators ``generators[0]`` = G (A -> B), ``generators[1]`` = F (B -> A); discriminators
    ``discriminators[0]`` = D_A, ``discriminators[1]`` = D_B. Not conditional, no latent space (``latent_dim`` 0)."""

    config_class = CycleGANConfig

    def __init__(self, config: CycleGANConfig):
        super().__init__(config)
        d = self.n_features
        self.generators = nn.ModuleList([_ResidualGenerator(d, config.g_hidden, config.activation) for _ in range(2)])
        self.discriminators = nn.ModuleList([_discriminator(d, config.d_hidden, config.activation, config.minibatch_std)
                                             for _ in range(2)])
        if config.spectral_norm:
            for m in list(self.discriminators.modules()):
                if isinstance(m, nn.Linear):
                    nn.utils.parametrizations.spectral_norm(m)

    def translate(self, x: torch.Tensor, direction: str = A_TO_B) -> torch.Tensor:
        """Examples of one domain (B, *input_shape) in [0, 1] -> their translations into the other domain.
        ``direction``: ``a_to_b`` (G) or ``b_to_a`` (F); ConfigError for anything else or a wrong shape."""
        if direction not in DIRECTIONS:
            raise ConfigError(f"unknown translation direction {direction!r}; choose {' or '.join(DIRECTIONS)}")
        self.check_input(x)
        net = self.generators[DIRECTIONS.index(direction)]
        return net(x.flatten(1).float()).reshape(x.shape[0], *self.input_shape)

    def discriminate_a(self, x: torch.Tensor) -> torch.Tensor:
        """D_A's scores (B,) for examples (B, *input_shape) in [0, 1]: is it from domain A?"""
        self.check_input(x)
        return self.discriminators[0](2.0 * x.flatten(1) - 1.0).float().reshape(-1)

    def discriminate_b(self, x: torch.Tensor) -> torch.Tensor:
        """D_B's scores (B,) for examples (B, *input_shape) in [0, 1]: is it from domain B?"""
        self.check_input(x)
        return self.discriminators[1](2.0 * x.flatten(1) - 1.0).float().reshape(-1)
