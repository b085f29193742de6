"""What the spectra domain adds to the core's registries (``register`` is called once, by ``domains.load``)."""

from __future__ import annotations

from ...catalog import MODELS, ModelSpec
from ...objectives import ELBOObjective


def register() -> None:
    """Register the FITS reader and the spectra layouts (at import of their modules), the model, resampling onto
    the model's grid, the figures, the writers and the simulator."""
    from . import fits, layouts  # noqa: F401  (each registers itself in its core registry)
    from .model import SpectrumVAE

    MODELS.register("spectrum-vae", ModelSpec(
        "spectrum-vae", SpectrumVAE, ELBOObjective,
        "VAE for 1-D spectra: strided 1-D conv encoder, MLP decoder with its own sigma per pixel; "
        "likelihood with each pixel's sigma and mask; per-spectrum median normalisation",
        train_defaults={"scaling": "median", "lr": 1e-3, "batch_size": 64}))
