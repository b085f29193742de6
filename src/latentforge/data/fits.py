"""FITS tables of spectra with SDSS-like columns, read through astropy (the optional ``fits`` extra).

Two layouts are understood (column names are case-insensitive):

- one spectrum per table, one row per pixel (SDSS ``spec-*.fits``, HDU 1): scalar columns ``flux``,
  ``ivar``, ``loglam`` and optionally ``and_mask``;
- one spectrum per row: array columns ``flux`` (N, P), ``ivar`` (N, P), optionally ``and_mask`` (N, P),
  and ``loglam`` as (N, P) (all rows on one grid) or a (P,) column / header-free repeat.

A pixel is masked where ``and_mask`` is non-zero or ``ivar`` is 0; sigma = 1 / sqrt(ivar) elsewhere.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import DataError

FITS_INSTALL = "pip install 'latentforge[fits]' (or pip install astropy)"


def _astropy_fits(path):
    try:
        from astropy.io import fits
    except ImportError:
        raise DataError(f"{path}: reading FITS files needs astropy, which is not installed; install it with "
                        f"{FITS_INSTALL}") from None
    return fits


def read_fits_spectra(path: str | os.PathLike, hdu: int | str | None = None) -> dict[str, np.ndarray]:
    """-> dict with ``x`` (N, P) flux, ``sigma``, ``mask`` (True = bad) and ``wavelength`` (P,) in Å."""
    fits = _astropy_fits(path)
    with fits.open(path, memmap=False) as hdus:
        table = None
        if hdu is not None:
            table = hdus[hdu]
        else:
            for h in hdus:
                names = {n.lower() for n in (getattr(h, "columns", None).names if getattr(h, "columns", None)
                                             else [])}
                if {"flux", "ivar"} <= names:
                    table = h
                    break
        if table is None or getattr(table, "columns", None) is None:
            raise DataError(f"{path}: no FITS table with columns flux and ivar (SDSS-like spectra); "
                            "name the HDU with hdu= if the columns are there")
        cols = {n.lower(): n for n in table.columns.names}
        missing = [c for c in ("flux", "ivar", "loglam") if c not in cols]
        if missing:
            raise DataError(f"{path}: the table lacks column(s) {', '.join(missing)}; SDSS-like spectra need flux, "
                            f"ivar, loglam (and optionally and_mask); it has {', '.join(table.columns.names)}")
        data = table.data

        def col(name):
            return np.asarray(data[cols[name]], dtype=np.float64)

        flux, ivar, loglam = col("flux"), col("ivar"), col("loglam")
        and_mask = np.asarray(data[cols["and_mask"]]) if "and_mask" in cols else np.zeros(flux.shape, np.int64)
    if flux.ndim == 1:  # one row per pixel: one spectrum
        flux, ivar, and_mask, loglam = flux[None], ivar[None], np.asarray(and_mask)[None], loglam
    else:
        if loglam.ndim == 2:
            if not np.allclose(loglam, loglam[:1], rtol=0, atol=1e-7):
                raise DataError(f"{path}: the spectra lie on different wavelength grids (loglam differs between "
                                "rows); resample them onto one grid before training")
            loglam = loglam[0]
    if flux.shape != ivar.shape or loglam.shape != flux.shape[1:] or and_mask.shape != flux.shape:
        raise DataError(f"{path}: flux {flux.shape}, ivar {ivar.shape}, and_mask {and_mask.shape} and loglam "
                        f"{loglam.shape} do not fit together (one value per pixel)")
    if (ivar < 0).any() or not np.isfinite(ivar).all():
        raise DataError(f"{path}: ivar must be finite and >= 0 (0 marks a pixel without data)")
    mask = (and_mask != 0) | (ivar == 0) | ~np.isfinite(flux)
    sigma = np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), 1.0)
    return {"x": np.where(mask, 0.0, flux).astype(np.float32), "sigma": sigma.astype(np.float32), "mask": mask,
            "wavelength": 10 ** loglam}
