"""What every network of the project shares: its config, the example shape, optional conditions, and the
capabilities it declares.

A capability is a small marker class a network inherits; code that needs "a model that can encode"
asks ``isinstance(model, Encodes)`` instead of comparing family names:

``Encodes``         ``encode(x, c=None) -> (B, latent_dim)``
``Decodes``         ``decode(z, c=None) -> (B, *input_shape)`` (a generator is a decoder without an encoder)
``HasPosterior``    ``encode_dist(x, c)`` (q(z|x), a ``DiagonalGaussian``) and ``decode_dist(z, c)`` (p(x|z))
``HasPrior``        ``sample(n, c, generator)``: data from z ~ N(0, I)
``Discriminates``   ``discriminate(x, c) -> (B,)`` logits or critic scores
``Translates``      ``translate(x, direction) -> (B, *input_shape)``: from one domain into another (CycleGAN)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..data.conditions import NO_CONDITION
from ..errors import ConfigError


# The methods below are declared for type checkers only: a network defines them itself, and a marker class must
# not put a method of its own into the network's method resolution order.
class Encodes:
    """Capability: ``encode(x, c=None)`` maps examples (B, *input_shape) to codes (B, latent_dim)."""

    if TYPE_CHECKING:
        latent_dim: int

        def encode(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor: ...


class Decodes:
    """Capability: ``decode(z, c=None)`` maps codes (B, latent_dim) to outputs (B, *input_shape)."""

    if TYPE_CHECKING:
        latent_dim: int

        def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor: ...


class HasPosterior(Encodes, Decodes):
    """Capability: a probabilistic encoder q(z|x) (``encode_dist``) and decoder p(x|z) (``decode_dist``)."""

    if TYPE_CHECKING:
        def encode_dist(self, x: torch.Tensor, c: torch.Tensor | None = None) -> Any: ...

        def decode_dist(self, z: torch.Tensor, c: torch.Tensor | None = None) -> Any: ...


class HasPrior:
    """Capability: ``sample(n, c=None, generator=None)`` generates data from prior draws z ~ N(0, I)."""


class Discriminates:
    """Capability: ``discriminate(x, c=None)`` scores examples, (B,) logits (or raw critic values)."""

    if TYPE_CHECKING:
        def discriminate(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor: ...


class Translates:
    """Capability: ``translate(x, direction)`` maps examples of one domain to the other (``a_to_b`` / ``b_to_a``)."""


class ConfiguredModel(nn.Module):
    """Checks the config's class and ``input_shape``; offers ``n_features`` and the condition plumbing.

    A model is conditional when its config has ``condition`` other than ``"none"``; it then takes condition
    vectors of length ``condition_dim`` next to its inputs. Raises ConfigError for a config of another class
    or one without ``input_shape``.
    """

    config_class: type = object
    config: Any  # an instance of config_class
    input_shape: tuple[int, ...]
    latent_dim: int
    condition_dim: int

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise ConfigError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        if not config.input_shape:
            raise ConfigError(f"{type(self).__name__}: config.input_shape is empty; set it to one example's shape")
        self.config = config
        self.input_shape = tuple(config.input_shape)
        self.latent_dim = getattr(config, "latent_dim", 0)  # 0: no latent space (a translator)
        self.condition_dim = config.condition_dim if getattr(config, "condition", NO_CONDITION) != NO_CONDITION else 0

    def reduced_precision_risk(self) -> str | None:
        """Why training this network under bf16 autocast would not be numerically safe (a phrase that completes
        "fp32, since ..."), or None when it is safe; ``--precision auto`` then never times bf16 for it."""
        return None

    @property
    def n_features(self) -> int:
        return math.prod(self.input_shape)

    @property
    def device(self) -> torch.device:
        """The device of the network's parameters (and buffers): where its inputs, and every tensor it makes, live."""
        first: torch.Tensor | None = next(self.parameters(), None)
        if first is None:
            first = next(self.buffers(), None)
        return first.device if first is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point type of the network's parameters (codes it draws are made in it)."""
        first = next((p for p in self.parameters() if p.is_floating_point()), None)
        return first.dtype if first is not None else torch.float32

    @property
    def conditional(self) -> bool:
        return self.condition_dim > 0

    def check_condition(self, c: torch.Tensor | None, n: int) -> None:
        """ConfigError unless ``c`` is (n, condition_dim) for a conditional model, or None for another."""
        if self.conditional and (c is None or c.shape != (n, self.condition_dim)):
            got = None if c is None else tuple(c.shape)
            raise ConfigError(f"this conditional model needs a condition of shape ({n}, {self.condition_dim}), "
                              f"got {got}")
        if not self.conditional and c is not None:
            raise ConfigError(f"{type(self).__name__} is not conditional; drop the condition")

    def check_input(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ConfigError(
                f"{type(self).__name__} expects examples of shape {self.input_shape}, got {tuple(x.shape[1:])}")

    def check_codes(self, z: torch.Tensor) -> None:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(f"decode expects codes of shape (B, {self.latent_dim}), got {tuple(z.shape)}")


def with_condition(a: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    """Append the condition vector to each row of a (B, F) tensor (no-op without a condition)."""
    return a if c is None else torch.cat([a, c], dim=1)


def repeat_condition(c: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """Conditions (B, P) for K latent draws each, in the (K * B, P) order of ``z.reshape(K * B, d)``."""
    return None if c is None else c.unsqueeze(0).expand(k, *c.shape).reshape(k * c.shape[0], -1)
