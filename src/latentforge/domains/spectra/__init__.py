"""Spectra: FITS files (SDSS-like tables, generic tables and images), simulated galaxy spectra, resampling onto
the model's wavelength grid, ``spectrum-vae``, the spectra validation and figures, and ``demo --spectra``."""

from __future__ import annotations


def register() -> None:
    """Add the FITS reader, the spectra layouts, the model, resampling, figures, writers and simulator to the
    core."""
    from . import hooks

    hooks.register()
