"""What the spectra domain adds to the core's registries (``register`` is called once, by ``domains.load``)."""

from __future__ import annotations

from ...analysis.hooks import DATA_KINDS, DataKind
from ...catalog import MODELS, ModelSpec
from ...hooks import DEMOS, SIMULATORS, Demo, Simulator
from ...data.files import add_data_keys
from ...data.records import INFO_KEYS, InfoKey
from ...data.grids import GRIDS, Grid
from ...io.writers import VALUE_NAMES, register_output
from ...objectives import ELBOObjective


def register() -> None:
    """Register the FITS reader and the spectra layouts (at import of their modules), the model, resampling onto
    the model's grid, the figures, the writers and the simulator."""
    from . import commands, fits, kind, layouts, writers  # noqa: F401  (fits and layouts register themselves)
    from .model import SpectrumVAE
    from .resample import resample_spectra, resample_values, same_grid

    MODELS.register("spectrum-vae", ModelSpec(
        "spectrum-vae", SpectrumVAE, ELBOObjective,
        "VAE for 1-D spectra: strided 1-D conv encoder, MLP decoder with its own sigma per pixel; "
        "likelihood with each pixel's sigma and mask; per-spectrum median normalisation",
        train_defaults={"scaling": "median", "lr": 1e-3, "batch_size": 64}))
    DATA_KINDS.register("spectra", DataKind(kind.detects, kind.reconstructions, kind.samples, kind.flux_unit))
    GRIDS.register("wavelength", Grid(
        same_grid, resample_spectra, resample_values,
        "the model was trained on data without a wavelength grid, so spectra on another grid cannot be resampled "
        "for it (train on FITS or simulated spectra files)", unit="Angstrom"))
    VALUE_NAMES.register("spectra", writers.flux_names)
    register_output("fits", (".fits", ".fit", ".fts"), writers.write_fits)
    INFO_KEYS.register("flux_unit", InfoKey())
    SIMULATORS.register("spectra", Simulator(
        "galaxy spectra with per-pixel sigma, masks, clean truth and parameters", commands.add_simulate_flags,
        commands.simulate))
    DEMOS.register("spectra", Demo(
        "the spectra story instead: simulate galaxy spectra, train spectrum-vae, measure denoising, calibration, "
        "inpainting, latent probes and outlier detection; summary.md + plots", commands.add_demo_flags,
        commands.demo))
    add_data_keys("flux")
