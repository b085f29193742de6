"""FITS files through astropy (the optional ``fits`` extra): tables of spectra with SDSS-like columns, generic
tables (columns by name), and images / cubes (``data.images``).

Two layouts of spectra are understood (column names are case-insensitive):

- one spectrum per table, one row per pixel (SDSS ``spec-*.fits``: HDU ``COADD`` with ``flux``, ``ivar``,
  ``loglam``, ``and_mask``; HDU ``SPECOBJ`` with one row of catalogue values such as ``Z``, ``Z_ERR``, ``CLASS``);
- one spectrum per row: array columns ``flux`` (N, P), ``ivar`` (N, P), optionally ``and_mask`` (N, P),
  and ``loglam`` as (N, P) (all rows on one grid) or a (P,) column.

A pixel is masked where ``and_mask`` is non-zero or ``ivar`` is 0; sigma = 1 / sqrt(ivar) elsewhere. Flux in the
file's units (SDSS: 1e-17 erg / s / cm^2 / Å), wavelengths in Å (vacuum for SDSS).

Several files (a folder, a glob such as ``'spectra/*.fits'``, or a list) are read by :func:`read_fits_folder`:
spectra on different grids are brought onto one log-wavelength grid by flux-conserving resampling
(``data.resample``), which carries the inverse variance and the masks; catalogue values stay per spectrum.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .resample import common_log_grid, lattice_offset, resample_spectra, same_grid

FITS_INSTALL = "pip install 'latentforge[fits]' (or pip install astropy)"
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz")
#: catalogue columns of SDSS's SPECOBJ HDU kept per spectrum: numbers as parameters, text as classes
SPECOBJ_NUMBERS = ("Z", "Z_ERR", "ZWARNING", "PLATE", "MJD", "FIBERID", "SN_MEDIAN_ALL")
SPECOBJ_TEXT = ("CLASS", "SUBCLASS")


def astropy_fits(path):
    """astropy.io.fits, or DataError saying how to install it."""
    try:
        from astropy.io import fits
    except ImportError:
        raise DataError(f"{path}: reading FITS files needs astropy, which is not installed; install it with "
                        f"{FITS_INSTALL}") from None
    return fits


def _catalogue(hdus, n: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-spectrum numbers and text of a SPECOBJ table with one row per spectrum (else empty)."""
    names = [h.name.upper() for h in hdus]
    if "SPECOBJ" not in names:
        return {}, {}
    table = hdus[names.index("SPECOBJ")]
    if getattr(table, "columns", None) is None or len(table.data) != n:
        return {}, {}
    cols = {c.upper(): c for c in table.columns.names}
    numbers = {}
    for k in SPECOBJ_NUMBERS:
        if k in cols:  # a TNULL value is missing (NaN), never the sentinel scaled into a number
            values, missing = column_values(table, cols[k])
            numbers[k] = np.where(missing, np.nan, values).reshape(n)
    text = {k: np.array([str(v).strip() for v in np.asarray(table.data[cols[k]]).reshape(n)]) for k in SPECOBJ_TEXT
            if k in cols}
    return numbers, text


def read_fits_spectra(path: str | os.PathLike, hdu: int | str | None = None) -> dict[str, np.ndarray]:
    """-> dict with ``x`` (N, P) flux, ``sigma``, ``mask`` (True = bad), ``wavelength`` (P,) in Å and, when the
    file has a SPECOBJ table, ``parameters`` (name -> (N,) numbers, e.g. ``Z``) and ``classes`` (name -> (N,)
    text, e.g. ``CLASS``). Raises DataError without astropy or without the needed columns."""
    fits = astropy_fits(path)
    try:
        hdus_cm = fits.open(path, memmap=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read as FITS ({e})") from None
    with hdus_cm as hdus:
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
        found = {name: column_values(table, cols[name]) for name in ("flux", "ivar", "loglam")}
        (flux, flux_null), (ivar, ivar_null), (loglam, grid_null) = found.values()
        if grid_null.any():
            raise DataError(f"{path}: the loglam column has {int(grid_null.sum())} missing value(s) (TNULL / NaN); "
                            "every pixel needs its wavelength")
        and_mask = (np.asarray(table.data[cols["and_mask"]]) if "and_mask" in cols
                    else np.zeros(flux.shape, np.int64))
        ivar = np.where(ivar_null, 0.0, ivar)  # a missing inverse variance: a pixel without data
        flux_missing = flux_null
        numbers, text = _catalogue(hdus, 1 if flux.ndim == 1 else len(flux))
    if flux.ndim == 1:  # one row per pixel: one spectrum
        flux, ivar, and_mask, loglam = flux[None], ivar[None], np.asarray(and_mask)[None], loglam
        flux_missing = flux_missing[None]
    else:
        if loglam.ndim == 2:
            if not np.allclose(loglam, loglam[:1], rtol=0, atol=1e-7):
                raise DataError(f"{path}: the spectra lie on different wavelength grids (loglam differs between "
                                "rows); write one spectrum per file and read the folder, which resamples them")
            loglam = loglam[0]
    if flux.shape != ivar.shape or loglam.shape != flux.shape[1:] or and_mask.shape != flux.shape:
        raise DataError(f"{path}: flux {flux.shape}, ivar {ivar.shape}, and_mask {and_mask.shape} and loglam "
                        f"{loglam.shape} do not fit together (one value per pixel)")
    if (ivar < 0).any() or not np.isfinite(ivar).all():
        raise DataError(f"{path}: ivar must be finite and >= 0 (0 marks a pixel without data)")
    mask = (and_mask != 0) | (ivar == 0) | flux_missing | ~np.isfinite(flux)
    sigma = np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), 1.0)
    return {"x": np.where(mask, 0.0, flux).astype(np.float32), "sigma": sigma.astype(np.float32), "mask": mask,
            "wavelength": 10 ** loglam, "parameters": numbers, "classes": text}


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

    def column(name: str) -> tuple[np.ndarray, np.ndarray]:
        if name.lower() not in cols:
            raise DataError(f"{path}: no column {name!r}; the table has {', '.join(table.columns.names)}")
        return column_values(table, cols[name.lower()])

    from .tables import LABEL_COLUMNS

    if labels_key is None:  # a column named like a label, as in CSV tables
        labels_key = next((cols[n] for n in LABEL_COLUMNS if n in cols), None)
    y = None
    if labels_key:
        y, y_missing = column(labels_key)
        if y_missing.any():
            raise DataError(f"{path}: the label column {labels_key!r} has {int(y_missing.sum())} missing value(s) "
                            f"(TNULL / NaN; first at row {int(np.flatnonzero(y_missing)[0])}); name another label "
                            "column with labels_key= (--labels-key NAME)")
        if y.dtype.kind == "f" and np.all(y == np.round(y)):
            y = y.astype(np.int64)  # class codes stay whole numbers
    if key:
        parts = [column(k.strip()) for k in key.split(",")]
    else:
        rest = [n for n in table.columns.names if n.lower() != (labels_key or "").lower()]
        arrays = [n for n in rest if np.asarray(table.data[n]).ndim > 1 and np.asarray(table.data[n]).dtype.kind in "biuf"]
        if arrays:  # a vector column beside scalars: which to use is the user's choice, never a silent drop
            shapes = ", ".join(f"{n} ({int(np.prod(np.asarray(table.data[n]).shape[1:]))} values)" for n in arrays)
            raise DataError(f"{path}: the table has array columns {shapes}; name the features with key= (--key "
                            f"{arrays[0]}, or --key a,b,c for scalar columns)")
        parts = [column(n) for n in rest if np.asarray(table.data[n]).ndim == 1
                 and np.asarray(table.data[n]).dtype.kind in "biuf"]
        if not parts:
            raise DataError(f"{path}: the table has no numeric columns; name the feature columns with key= (--key)")
    for p, _ in parts:
        if p.dtype.kind not in "biuf":
            raise DataError(f"{path}: a feature column holds {p.dtype} values, not numbers; pick numeric columns "
                            "with key= (--key a,b,c)")
    x = np.concatenate([p.reshape(len(p), -1).astype(np.float64) for p, _ in parts], axis=1)
    missing = np.concatenate([m.reshape(len(m), -1) for _, m in parts], axis=1)
    return {"x": np.where(missing, 0.0, x), "y": y, "mask": missing if missing.any() else None}


def column_values(table, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, missing) of one column of a FITS table. Numeric values come in physical units (TSCAL / TZERO
    applied, float64); ``missing`` is True where the stored integer equals the column's TNULL or a floating-point
    value is NaN (the FITS standard's null values, section 7.3.2). Text columns come as they are, none missing."""
    values = np.asarray(table.data[name])
    if values.dtype.kind not in "biuf":
        return values, np.zeros(values.shape, bool)
    stored = np.asarray(table.data.view(np.ndarray)[name])  # the integers as written, before TSCAL / TZERO
    null = table.columns[name].null
    missing = np.zeros(values.shape, bool)
    if null is not None and str(null).strip() != "" and stored.dtype.kind in "iu":
        missing |= stored == int(null)
    values = values.astype(np.float64)
    missing |= np.isnan(values)
    return values, missing


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


def holds_spectra(path: str | os.PathLike) -> bool:
    """Whether a FITS file holds SDSS-like spectra (a table with ``flux`` and ``ivar`` columns); False for
    images, cubes, other tables, unreadable files or without astropy (the generic reader then says why)."""
    try:
        from astropy.io import fits
    except ImportError:
        return False
    try:
        with fits.open(path, memmap=True) as hdus:
            return any({"flux", "ivar"} <= {n.lower() for n in h.columns.names}
                       for h in hdus if getattr(h, "columns", None) is not None)
    except (OSError, ValueError, TypeError):
        return False


def is_fits_name(path: str | os.PathLike) -> bool:
    """True for a file name ending in a FITS suffix."""
    return str(path).lower().endswith(FITS_SUFFIXES)


def fits_sources(source: str | os.PathLike | list) -> list[Path]:
    """The FITS files a source names: a list of paths, a folder (its FITS files), a glob pattern or one file;
    sorted by name. Raises DataError when nothing matches."""
    if isinstance(source, (list, tuple)):
        files = [Path(p) for p in source]
    else:
        s = str(source)
        if os.path.isdir(s):
            files = sorted(p for p in Path(s).iterdir() if p.is_file() and is_fits_name(p))
        elif glob.has_magic(s):
            files = sorted(Path(p) for p in glob.glob(s) if os.path.isfile(p))
        else:
            files = [Path(s)]
    if not files:
        raise DataError(f"{source}: no FITS files found; give a folder of spec-*.fits files, a glob such as "
                        "'spectra/*.fits' (quoted), or a file")
    return files


def read_fits_folder(source: str | os.PathLike | list, *, grid: np.ndarray | None = None) -> dict:
    """Spectra of several FITS files (:func:`fits_sources`) as one set, on one wavelength grid.

    Files on the same grid are stacked as they are; otherwise every spectrum is brought onto ``grid`` (Å), by
    default one log-wavelength grid spanning them all (``common_log_grid``): copied where its pixels are pixels
    of that grid (SDSS spectra share one 1e-4 lattice in log10 wavelength and differ only in their ends),
    resampled otherwise; pixels a spectrum does not cover are masked. Returns read_fits_spectra's keys plus ``files`` (the file of each spectrum) and ``resampled``.
    ``resampled``: whether any spectrum had to be resampled. Catalogue values missing from some files are NaN
    (numbers) or "" (text) there.
    """
    files = fits_sources(source)
    parts = [read_fits_spectra(f) for f in files]
    grids = [p["wavelength"] for p in parts]
    if grid is None:
        grid = grids[0] if all(same_grid(g, grids[0]) for g in grids) else common_log_grid(grids)
    xs, sigmas, masks, resampled = [], [], [], False
    for p, g in zip(parts, grids):
        k0 = 0 if same_grid(g, grid) else lattice_offset(grid, g)
        if k0 is not None:  # the file's pixels are pixels of the grid: copied, the rest masked
            n, k1 = len(p["x"]), k0 + len(g)
            x, s, m = np.zeros((n, len(grid))), np.ones((n, len(grid))), np.ones((n, len(grid)), bool)
            x[:, k0:k1], s[:, k0:k1], m[:, k0:k1] = p["x"], p["sigma"], p["mask"]
        else:
            x, s, m = resample_spectra(grid, g, p["x"], p["sigma"], p["mask"])
            resampled = True
        xs.append(x), sigmas.append(s), masks.append(m)
    counts = [len(p["x"]) for p in parts]
    numbers = {k for p in parts for k in p["parameters"]}
    text = {k for p in parts for k in p["classes"]}
    return {"x": np.concatenate(xs).astype(np.float32), "sigma": np.concatenate(sigmas).astype(np.float32),
            "mask": np.concatenate(masks), "wavelength": np.asarray(grid, np.float64),
            "parameters": {k: np.concatenate([p["parameters"].get(k, np.full(c, np.nan)) for p, c in zip(parts, counts)])
                           for k in sorted(numbers)},
            "classes": {k: np.concatenate([p["classes"].get(k, np.full(c, "")) for p, c in zip(parts, counts)])
                        for k in sorted(text)},
            "files": np.repeat(np.array([str(f) for f in files]), counts), "resampled": resampled}
