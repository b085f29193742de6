"""Spectra as a data kind: a run's wavelength grid and flux unit, spectra drawn against wavelength in Å with
their masked pixels shaded (``analysis.hooks.DATA_KINDS``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...analysis.columns import data_info


def wavelength_grid(run, ds) -> np.ndarray | None:
    """The wavelength of each pixel (P,) in Å of spectra (the model's grid), else None."""
    grid = run.preprocess.grid("wavelength") if hasattr(run.preprocess, "grid") else None
    if grid is None:
        grid = data_info(run, ds).get("wavelength")
    return None if grid is None or len(grid) != int(np.prod(run.input_shape)) else np.asarray(grid, np.float64)


def flux_unit(run, ds) -> str:
    """The flux unit the spectra file states, else "units of the file, not stated"."""
    return str(data_info(run, ds).get("flux_unit") or "units of the file, not stated")


def detects(run, ds) -> bool:
    """Spectra: the run or the data has a wavelength grid of the model's length."""
    return wavelength_grid(run, ds) is not None


def spectra_figure(wave: np.ndarray, flux: np.ndarray | None, unit: str, *, mask: np.ndarray | None = None,
                   model: np.ndarray | None = None, sigma: np.ndarray | None = None, title: str = "",
                   model_label: str = "reconstruction"):
    """One panel per spectrum: observed flux (N, P) against wavelength ``wave`` (P,) in Å with masked pixels
    (``mask`` True) shaded and not drawn, the model's spectrum (``model``) and, with ``sigma``, its band
    mean ± sigma. ``flux`` None: the model's spectra alone (samples)."""
    from ...analysis.plots import plt

    n = len(model if flux is None else flux)
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.4 * n), squeeze=False, sharex=True)
    for i, ax in enumerate(axes[:, 0]):
        if flux is not None:
            m = np.zeros(flux.shape[1], bool) if mask is None else mask[i].astype(bool)
            ax.plot(wave, np.where(m, np.nan, flux[i]), color="0.55", lw=0.6, label="observed flux")
            if m.any():
                ax.fill_between(wave, 0, 1, where=m, transform=ax.get_xaxis_transform(), color="tab:orange",
                                alpha=0.25, step="mid", lw=0, label=f"masked ({int(m.sum())} pixels)")
        if model is not None and sigma is not None:
            ax.fill_between(wave, model[i] - sigma[i], model[i] + sigma[i], color="tab:red", alpha=0.2, lw=0,
                            label="predicted mean ± sigma")
        if model is not None:
            ax.plot(wave, model[i], color="tab:red", lw=0.8, label=model_label)
        ax.set_ylabel(f"flux ({unit})", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1, 0].set_xlabel("wavelength (Å)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def reconstructions(run, ds, *, seed: int = 0, what: str = "held-out") -> list[tuple[Any, str]]:
    """Three spectra of ``ds`` spread over it, with the model's predictive mean ± sigma (30 draws of the code)
    where the likelihood is Gaussian, else its reconstruction."""
    from ...analysis.kind_figures import spread_rows

    shown = spread_rows(ds, 3)
    wave = np.asarray(shown.info.get("wavelength", wavelength_grid(run, ds)), np.float64)
    sigma = None
    if run.can("posterior") and getattr(run.model.likelihood, "gaussian", False):
        model, sigma = run.predict(shown, samples=30, seed=seed)
        label = "predicted mean"
    else:
        model, label = run.reconstruct(shown), "reconstruction"
    fig = spectra_figure(wave, shown.x, flux_unit(run, ds), mask=shown.mask, model=model, sigma=sigma,
                         model_label=label, title=f"{run.name}: {len(shown)} {what} spectra of {len(ds)}")
    return [(fig, f"{what} spectra (grey; masked pixels shaded, not drawn) and the model's "
             + ("predictive mean ± sigma (30 draws of the code)" if sigma is not None else "reconstruction"))]


def samples(run, x: np.ndarray, ds, *, title: str = ""):
    """At most four generated spectra ``x`` (N, P) against the model's wavelength grid."""
    k = min(len(x), 4)
    return spectra_figure(wavelength_grid(run, ds), None, flux_unit(run, ds), model=x[:k], model_label="sample",
                          title=f"{title}: {k} of {len(x)} samples")
