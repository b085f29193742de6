"""FITS files through astropy (the optional ``fits`` extra): tables of spectra with SDSS-like columns, generic
tables (columns by name), and images / cubes (``data.images``).

Two layouts of spectra are understood (column names are case-insensitive):

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


def astropy_fits(path):
    """astropy.io.fits, or DataError saying how to install it."""
    try:
        from astropy.io import fits
    except ImportError:
        raise DataError(f"{path}: reading FITS files needs astropy, which is not installed; install it with "
                        f"{FITS_INSTALL}") from None
    return fits


def read_fits_spectra(path: str | os.PathLike, hdu: int | str | None = None) -> dict[str, np.ndarray]:
    """-> dict with ``x`` (N, P) flux, ``sigma``, ``mask`` (True = bad) and ``wavelength`` (P,) in Å."""
    fits = astropy_fits(path)
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


def read_fits(path: str | os.PathLike, *, key: str | None = None, labels_key: str | None = None) -> dict:
    """A FITS file: SDSS-like spectra (a table with flux and ivar), a generic table (feature columns named by
    ``key``, comma-separated, else every numeric scalar column; labels from the ``labels_key`` column), or an
    image / cube (``data.images.read_fits_image``). Returns a dict with ``x`` and, where present, ``y``,
    ``sigma``, ``mask``, ``wavelength``."""
    fits = astropy_fits(path)
    with fits.open(path, memmap=False) as hdus:
        tables = [h for h in hdus if getattr(h, "columns", None) is not None and h.data is not None]
        names = [{n.lower() for n in h.columns.names} for h in tables]
        if any({"flux", "ivar"} <= n for n in names) and key is None:
            spectra = True
        elif tables and (key is not None or not any(
                isinstance(h, (fits.PrimaryHDU, fits.ImageHDU)) and h.data is not None for h in hdus)):
            return _fits_table(path, tables[0], key, labels_key)
        else:
            spectra = False
    if spectra:
        return read_fits_spectra(path)
    from .images import read_fits_image

    return {"x": read_fits_image(path)}


def _fits_table(path, table, key: str | None, labels_key: str | None) -> dict:
    cols = {n.lower(): n for n in table.columns.names}

    def column(name: str) -> np.ndarray:
        if name.lower() not in cols:
            raise DataError(f"{path}: no column {name!r}; the table has {', '.join(table.columns.names)}")
        return np.asarray(table.data[cols[name.lower()]])

    y = column(labels_key) if labels_key else None
    if key:
        parts = [column(k.strip()) for k in key.split(",")]
    else:
        parts = [np.asarray(table.data[n]) for n in table.columns.names
                 if n.lower() != (labels_key or "").lower() and np.asarray(table.data[n]).ndim == 1
                 and np.asarray(table.data[n]).dtype.kind in "biuf"]
        if not parts:
            raise DataError(f"{path}: the table has no numeric columns; name the feature columns with key= (--key)")
    for p in parts:
        if p.dtype.kind not in "biuf":
            raise DataError(f"{path}: a feature column holds {p.dtype} values, not numbers; pick numeric columns "
                            "with key= (--key a,b,c)")
    x = np.concatenate([p.reshape(len(p), -1).astype(np.float64) for p in parts], axis=1)
    return {"x": x, "y": y}


def read_fits_many(files, **keys) -> dict | None:
    """Several FITS files as one dataset: images / cubes stacked (one example per 2-D image, N per cube) and tables
    concatenated; None for spectra (their wavelength grids need resampling, which ``read_file`` on each file or a
    spectra reader does), so that the caller concatenates them as they are."""
    parts = [read_fits(p, **{k: v for k, v in keys.items() if k in ("key", "labels_key")}) for p in files]
    if any("wavelength" in part for part in parts):
        return None
    return concatenate_parts(files, parts)


def concatenate_parts(files, parts: list[dict]) -> dict:
    """Concatenate per-file dicts of arrays along the first axis; DataError names a file of another shape."""
    first = np.asarray(parts[0]["x"])
    for p, part in zip(files, parts):
        if np.asarray(part["x"]).shape[1:] != first.shape[1:]:
            raise DataError(f"{p}: examples of shape {np.asarray(part['x']).shape[1:]}, but {files[0]} has "
                            f"{first.shape[1:]}; the files must hold examples of one shape")
    out = {"x": np.concatenate([np.asarray(part["x"]) for part in parts])}
    if all(part.get("y") is not None for part in parts):
        out["y"] = np.concatenate([np.asarray(part["y"]) for part in parts])
    return out
