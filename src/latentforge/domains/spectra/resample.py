"""Spectra onto another wavelength grid by flux-conserving resampling (Carnall 2017, the ``spectres`` package,
installed with the ``fits`` extra), carrying the measurement errors and the masks.

Each new pixel's flux is the overlap-weighted mean of the old pixels it covers, so the integral of the flux over
wavelength is kept; its error combines the old errors in quadrature with the same weights (independent pixels).
A new pixel is masked when any old pixel it overlaps is masked, or when it reaches beyond the old grid.
Wavelengths are pixel centres in Å; pixel edges lie halfway between centres (spectres' convention).
"""

from __future__ import annotations

import numpy as np

from ...errors import DataError

RESAMPLE_INSTALL = "pip install 'latentforge[fits]' (or pip install spectres)"


def _spectres():
    try:
        from spectres import spectres
    except ImportError:
        raise DataError("resampling spectra onto a common wavelength grid needs the spectres package, which is not "
                        f"installed; install it with {RESAMPLE_INSTALL}") from None
    return spectres


def check_grid(wave: np.ndarray, what: str = "wavelength grid") -> np.ndarray:
    """``wave`` as a float64 (P,) array of finite, strictly increasing, positive wavelengths; DataError otherwise."""
    w = np.asarray(wave, np.float64)
    if w.ndim != 1 or len(w) < 2 or not np.isfinite(w).all() or (w <= 0).any() or (np.diff(w) <= 0).any():
        raise DataError(f"{what}: wavelengths must be a 1-D, strictly increasing list of positive values (Å), "
                        f"at least two; got shape {w.shape}")
    return w


def log_grid(loglam_start: float, dloglam: float, n: int) -> np.ndarray:
    """``n`` pixel centres (Å) uniform in log10(wavelength): 10 ** (loglam_start + dloglam * arange(n))."""
    return 10.0 ** (loglam_start + dloglam * np.arange(n))


def common_log_grid(grids: list[np.ndarray]) -> np.ndarray:
    """One log-wavelength grid covering every input grid: the finest log10 step among them, from the bluest first
    pixel to the reddest last one, its pixels in phase with the grid that starts bluest (SDSS grids, all on the
    1e-4 lattice, stay on it)."""
    logs = [np.log10(check_grid(g)) for g in grids]
    step = min((lg[-1] - lg[0]) / (len(lg) - 1) for lg in logs)  # the mean step: robust to float32 loglam
    start = min(lg[0] for lg in logs)
    stop = max(lg[-1] for lg in logs)
    n = int(np.floor((stop - start) / step + 1e-6)) + 1
    return log_grid(start, step, n)


def lattice_offset(new_wave: np.ndarray, wave: np.ndarray, tol: float = 0.01) -> int | None:
    """The index in ``new_wave`` of ``wave``'s first pixel when ``wave`` is a run of ``new_wave``'s own pixels
    (both uniform in log wavelength, the same step, in phase to ``tol`` of a pixel everywhere): such spectra are
    copied, not resampled (SDSS spectra on the common 1e-4 lattice, stored as float32 loglam). Else None."""
    ln, lw = np.log10(np.asarray(new_wave, np.float64)), np.log10(np.asarray(wave, np.float64))
    step = (ln[-1] - ln[0]) / (len(ln) - 1)
    pos = (lw - ln[0]) / step  # positions of wave's pixels in new_wave's pixel units
    k0 = int(np.round(pos[0]))
    if k0 < 0 or k0 + len(lw) > len(ln) or not np.allclose(np.diff(ln), step, rtol=1e-3, atol=0):
        return None
    return k0 if np.abs(pos - (k0 + np.arange(len(lw)))).max() < tol else None


def same_grid(a: np.ndarray, b: np.ndarray, rtol: float = 1e-7) -> bool:
    """True when two wavelength grids have the same pixels (to ``rtol``)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=0)


def resample_spectra(new_wave: np.ndarray, wave: np.ndarray, flux: np.ndarray, sigma: np.ndarray | None = None,
                     mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Spectra (N, P) on ``wave`` (P,) -> on ``new_wave`` (P',): flux (N, P'), sigma (N, P') or None, mask (N, P')
    (True = no usable data). Masked and uncovered pixels get flux 0 and sigma 1, the dataset convention.
    Raises DataError for grids that are not increasing or arrays of the wrong shape."""
    spectres = _spectres()
    new_wave, wave = check_grid(new_wave, "new wavelength grid"), check_grid(wave)
    flux = np.atleast_2d(np.asarray(flux, np.float64))
    if flux.shape[-1] != len(wave):
        raise DataError(f"spectra of {flux.shape[-1]} pixels on a grid of {len(wave)} wavelengths")
    bad = np.zeros(flux.shape, bool) if mask is None else np.atleast_2d(np.asarray(mask, bool))
    bad = bad | ~np.isfinite(flux)
    clean = np.where(bad, 0.0, flux)
    # the share of each new pixel that old masked pixels cover; > 0 masks it (NaN: beyond the old grid)
    covered_bad = spectres(new_wave, wave, bad.astype(np.float64), fill=np.nan, verbose=False)
    new_mask = ~(covered_bad == 0)
    if sigma is None:
        new_flux, new_sigma = spectres(new_wave, wave, clean, fill=0.0, verbose=False), None
    else:
        s = np.where(bad, 0.0, np.atleast_2d(np.asarray(sigma, np.float64)))
        new_flux, new_sigma = spectres(new_wave, wave, clean, spec_errs=s, fill=0.0, verbose=False)
        new_sigma = np.where(new_mask, 1.0, new_sigma)
    return np.where(new_mask, 0.0, new_flux), new_sigma, new_mask


def resample_values(new_wave: np.ndarray, wave: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-pixel values (N, P) on ``wave`` -> (N, P') on ``new_wave`` as overlap-weighted means (used for model
    means and for standard deviations, which this treats as fully correlated between neighbouring pixels, the
    conservative choice for a smooth model); NaN where ``new_wave`` reaches beyond ``wave``."""
    spectres = _spectres()
    return spectres(check_grid(new_wave, "new wavelength grid"), check_grid(wave),
                    np.atleast_2d(np.asarray(values, np.float64)), fill=np.nan, verbose=False)
