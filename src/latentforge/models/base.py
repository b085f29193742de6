"""What every network of the project shares: its config, the example shape, and optional conditions."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError


class ConfiguredModel(nn.Module):
    """Checks the config's class and ``input_shape``; offers ``n_features`` and the condition plumbing.

    A model is conditional when its config has ``condition`` other than ``"none"``; it then takes condition
    vectors of length ``condition_dim`` next to its inputs.
    """

    config_class: type = object

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise ConfigError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        if not config.input_shape:
            raise ConfigError(f"{type(self).__name__}: config.input_shape is empty; set it to one example's shape")
        self.config = config
        self.input_shape = tuple(config.input_shape)
        self.latent_dim = config.latent_dim
        self.condition_dim = config.condition_dim if getattr(config, "condition", "none") != "none" else 0

    @property
    def n_features(self) -> int:
        return math.prod(self.input_shape)

    @property
    def conditional(self) -> bool:
        return self.condition_dim > 0

    def _check_c(self, c: torch.Tensor | None, n: int) -> None:
        if self.conditional and (c is None or c.shape != (n, self.condition_dim)):
            got = None if c is None else tuple(c.shape)
            raise ConfigError(f"this conditional model needs a condition of shape ({n}, {self.condition_dim}), "
                              f"got {got}")


def with_condition(a: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    """Append the condition vector to each row of a (B, F) tensor (no-op without a condition)."""
    return a if c is None else torch.cat([a, c], dim=1)


def repeat_condition(c: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """Conditions (B, P) for K latent draws each, in the (K * B, P) order of ``z.reshape(K * B, d)``."""
    return None if c is None else c.unsqueeze(0).expand(k, *c.shape).reshape(k * c.shape[0], -1)
