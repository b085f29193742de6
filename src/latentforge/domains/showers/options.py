"""Options and checks that every shower model's configuration shares: the readout threshold, the condition on
each shower's condition vector [log10(E_inc / GeV), one-hot particle], and its check."""

from __future__ import annotations

from ...config import option
from ...data.conditions import CONDITION_CHOICES, CONDITIONS, NO_CONDITION
from ...errors import ConfigError

THRESHOLD_HELP = ("readout threshold in the data's energy unit: generated cells below it are exactly 0; < 0: the "
                  "geometry's, else the smallest non-zero training deposit")


def threshold_option():
    """The ``threshold`` field of a shower model's configuration (data's energy unit; -1: from the geometry)."""
    return option(-1.0, THRESHOLD_HELP)


def condition_option(what: str):
    """The ``condition`` field: ``what`` (e.g. "the model", "both networks") is conditioned on the vector."""
    return option("vector", f"what {what} conditioned on: vector (the shower's condition vector, "
                            "[log10(E_inc / GeV), one-hot particle], from --cond-key)", CONDITION_CHOICES)


def require_condition_vector(config, model: str) -> None:
    """ConfigError unless ``config`` (with ``input_shape`` and ``condition``) is conditioned on each shower's
    condition vector; the message names ``model`` and the flags that fix it."""
    if config.input_shape and (config.condition == NO_CONDITION
                               or CONDITIONS.get(config.condition).source != "cond"):
        raise ConfigError(f"{model} is conditioned on each shower's condition vector; use --condition vector "
                          "--cond-key conditions")
