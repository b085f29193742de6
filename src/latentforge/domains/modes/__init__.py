"""The 2-D mode-collapse benchmarks (ring8, grid25, cs771-ring): built-in generated data sets with known modes,
and their validation (modes covered, share of high-quality samples, a picture over the true density)."""

from __future__ import annotations


def register() -> None:
    """Add the benchmarks to the built-in data sets and their validation to ``evaluate``."""
    from . import hooks

    hooks.register()
