"""Calorimeter showers: CaloGAN / CaloChallenge files and ROOT trees, geometries, the shower simulator, the
shower scalings, the two-stage ``shower-flow-vae``, the CaloChallenge-style validation, figures and report
sections, and files written back in the layout they were read in."""

from __future__ import annotations


def register() -> None:
    """Add the shower readers, scalings, model, validation, figures, writers and simulator to the core."""
    from . import hooks

    hooks.register()
