"""FITS files through astropy (the optional ``fits`` extra): tables of spectra with SDSS-like columns, generic
tables (columns by name), and images / cubes (``data.images``).

Two layouts of spectra are understood (column names are case-insensitive):

- one spectrum per table, one row per pixel (SDSS ``spec-*.fits``: HDU ``COADD`` with ``flux``, ``ivar``,
  ``loglam``, ``and_mask``; HDU ``SPECOBJ`` with one row of catalogue values such as ``Z``, ``Z_ERR``, ``CLASS``);
- one spectrum per row: array columns ``flux`` (N, P), ``ivar`` (N, P), optionally ``and_mask`` (N, P),
  and ``loglam`` as (N, P) (all rows on one grid) or a (P,) column; scalar columns beside them (``Z``, ``CLASS``)
  are per-spectrum catalogue values, as are the columns of any other table with one row per spectrum.

A pixel is masked where ``and_mask`` is non-zero or ``ivar`` is 0; sigma = 1 / sqrt(ivar) elsewhere. Flux in the
file's units (SDSS: 1e-17 erg / s / cm^2 / Å), wavelengths in Å (vacuum for SDSS).

Several files (a folder, a glob such as ``'spectra/*.fits'``, or a list) are read by :func:`read_fits_folder`:
spectra on different grids are brought onto one log-wavelength grid by flux-conserving resampling
(``resample``), which carries the inverse variance and the masks; catalogue values stay per spectrum.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...data.records import READERS, DataRecord, Reader, join_records, refuse_unused, suffixes_of
from .resample import common_log_grid, lattice_offset, resample_spectra, same_grid
from ...data.tables import assemble

FITS_INSTALL = "pip install 'latentforge[fits]' (or pip install astropy)"
#: the pixel columns of spectra: never a per-spectrum catalogue value
PIXEL_COLUMNS = frozenset({"flux", "ivar", "loglam", "and_mask", "or_mask"})


def astropy_fits(path):
    """astropy.io.fits, or DataError saying how to install it."""
    try:
        from astropy.io import fits
    except ImportError:
        raise DataError(f"{path}: reading FITS files needs astropy, which is not installed; install it with "
                        f"{FITS_INSTALL}") from None
    return fits


def _catalogue(hdus, n: int, spectra=None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-spectrum numbers and text: the scalar columns of every table with one row per spectrum, SDSS's SPECOBJ
    first, then the table of the spectra itself (one spectrum per row, e.g. a ``Z`` column beside ``FLUX``), then
    the others in file order; a name met again (in any case) keeps its first values."""
    tables = [h for h in hdus if getattr(h, "columns", None) is not None and h.data is not None and len(h.data) == n]
    tables.sort(key=lambda h: (h.name.upper() != "SPECOBJ", h is not spectra))
    numbers: dict[str, np.ndarray] = {}
    text: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    for table in tables:
        for name in table.columns.names:
            values = np.asarray(table.data[name])
            if name.lower() in seen or name.lower() in PIXEL_COLUMNS or values.ndim != 1:
                continue
            seen.add(name.lower())
            if values.dtype.kind in "biuf":  # a TNULL value is missing (NaN), never the sentinel scaled into a number
                found, missing = column_values(table, name)
                numbers[name] = np.where(missing, np.nan, found).reshape(n)
            elif values.dtype.kind in "SU":
                text[name] = np.array([str(v).strip() for v in values.reshape(n)])
    return numbers, text


def read_fits_spectra(path: str | os.PathLike, hdu: int | str | None = None) -> dict[str, np.ndarray]:
    """-> dict with ``x`` (N, P) flux, ``sigma``, ``mask`` (True = bad), ``wavelength`` (P,) in Å, and the
    per-spectrum catalogue values of every table with one row per spectrum (``_catalogue``: a SPECOBJ table, scalar
    columns beside the flux, ...): ``parameters`` (name -> (N,) numbers, e.g. ``Z``) and ``classes`` (name -> (N,)
    text, e.g. ``CLASS``), and ``flux_unit`` (the flux column's TUNIT, or None). Raises DataError without astropy or
    without the needed columns."""
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
        numbers, text = _catalogue(hdus, 1 if flux.ndim == 1 else len(flux), table)
        flux_unit = str(table.columns[cols["flux"]].unit or "").strip() or None  # TUNIT, where the file gives it
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
            "wavelength": 10 ** loglam, "parameters": numbers, "classes": text, "flux_unit": flux_unit}


def read_fits(path: str | os.PathLike, *, key: str | None = None, labels_key: str | None = None,
              **columns: str | None) -> DataRecord:
    """A FITS file: SDSS-like spectra (a table with flux and ivar), a generic table (columns chosen as in
    ``data.tables.assemble``: ``key`` the features, ``labels_key``, ``sigma_key`` / ``ivar_key``, ``mask_key``,
    ``cond_key``; by default every numeric scalar column is a feature), or an image / cube (:func:`read_fits_image`).
    Null values (TNULL, NaN) are masked points. Raises DataError without astropy, for options the content does
    not use, or columns that are not there."""
    fits = astropy_fits(path)
    options = {"key": key, "labels_key": labels_key, **columns}
    with fits.open(path, memmap=False) as hdus:
        tables = [h for h in hdus if getattr(h, "columns", None) is not None and h.data is not None]
        names = [{n.lower() for n in h.columns.names} for h in tables]
        if any({"flux", "ivar"} <= n for n in names) and key is None:
            kind = "spectra"
        elif tables and (key is not None or not any(
                isinstance(h, (fits.PrimaryHDU, fits.ImageHDU)) and h.data is not None for h in hdus)):
            return _fits_table(path, tables[0], options)
        else:
            kind = "image"
    refuse_unused(path, f"FITS {kind}", options, set())  # spectra with catalogue keys: the sdss-spectra layout
    if kind == "spectra":
        d = read_fits_spectra(path)
        return DataRecord(values=d["x"], sigma=d["sigma"], mask=d["mask"], parameters=d["parameters"],
                          classes=d["classes"], described={"wavelength": d["wavelength"], "flux_unit": d["flux_unit"]})
    return DataRecord(values=read_fits_image(path))


def read_fits_image(path: str | os.PathLike) -> np.ndarray:
    """The first image HDU with data: (H, W) -> (1, H, W); a cube (N, H, W) -> N examples (N, H, W).

    Raises DataError without astropy, without an image HDU, or for images of more than three dimensions."""
    fits = astropy_fits(path)
    with fits.open(path, memmap=False) as hdus:
        for h in hdus:
            if isinstance(h, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) and h.data is not None:
                data = np.asarray(h.data, dtype=np.float64 if h.data.dtype.kind == "f" else None)
                break
        else:
            raise DataError(f"{path}: no FITS image HDU with data (and no table of spectra)")
    data = data.astype(data.dtype.newbyteorder("=")) if data.dtype.byteorder not in ("=", "|") else data
    if data.ndim == 2:
        return data[None]
    if data.ndim == 3:
        return data
    raise DataError(f"{path}: a FITS image of {data.ndim} dimensions {data.shape}; give 2-D images or a 3-D cube "
                    "(N, H, W)")


def _fits_table(path, table, options: dict) -> DataRecord:
    names = list(table.columns.names)

    def get(name: str) -> tuple[np.ndarray, np.ndarray]:
        values, missing = column_values(table, name)
        if values.dtype.kind not in "biuf":
            raise DataError(f"{path}: column {name!r} holds {values.dtype} values, not numbers; pick numeric columns "
                            f"with key= (--key {','.join(numeric_scalars(set())) or 'a,b,c'})")
        return np.where(missing, 0.0, values), missing

    def labels(name: str) -> np.ndarray:
        y, missing = column_values(table, name)
        if missing.any():
            raise DataError(f"{path}: the label column {name!r} has {int(missing.sum())} missing value(s) (TNULL / "
                            f"NaN; first at row {int(np.flatnonzero(missing)[0])}); name another label column with "
                            "labels_key= (--labels-key NAME)")
        if y.dtype.kind == "f" and np.all(y == np.round(y)):
            return y.astype(np.int64)  # class codes stay whole numbers
        return np.array([str(v).strip() for v in y]) if y.dtype.kind in "SU" else y

    def shape(name: str) -> tuple[int, str]:
        a = np.asarray(table.data[name])
        return a.ndim, a.dtype.kind

    def numeric_scalars(used: set) -> list[str]:
        return [n for n in names if n not in used and shape(n) == (1, shape(n)[1]) and shape(n)[1] in "biuf"]

    def default_features(used: set) -> list[str]:
        arrays = [n for n in names if n not in used and shape(n)[0] > 1 and shape(n)[1] in "biuf"]
        if arrays:  # a vector column beside scalars: which to use is the user's choice, never a silent drop
            sizes = ", ".join(f"{n} ({int(np.prod(np.asarray(table.data[n]).shape[1:]))} values)" for n in arrays)
            raise DataError(f"{path}: the table has array columns {sizes}; name the features with key={arrays[0]!r}, "
                            f"or key='a,b,c' for scalar columns (CLI: --key {arrays[0]})")
        found = numeric_scalars(used)
        if not found:
            raise DataError(f"{path}: the table has no numeric columns; name the feature columns with key= (--key)")
        return found

    record = assemble(path, names, get, labels, default_features, **options)
    units = [str(table.columns[n].unit or "").strip() for n in record.columns or []]
    record.column_units = units if any(units) else None
    return record


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


def read_fits_many(files, **options) -> DataRecord | None:
    """Several FITS files as one dataset: images / cubes stacked (one example per 2-D image, N per cube) and tables
    concatenated; None for spectra (their wavelength grids need resampling, which the spectra layout does), so
    that the caller concatenates them as they are."""
    parts = [read_fits(p, **options) for p in files]
    if any(part.described.get("wavelength") is not None for part in parts):
        return None
    first = np.asarray(parts[0].values)
    for p, part in zip(files, parts):
        if np.asarray(part.values).shape[1:] != first.shape[1:]:
            raise DataError(f"{p}: examples of shape {np.asarray(part.values).shape[1:]}, but {files[0]} has "
                            f"{first.shape[1:]}; the files must hold examples of one shape")
    return join_records(files, parts)


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
    """True for a file name ending in a FITS suffix (``FITS_SUFFIXES``, from the reader registry)."""
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
            "files": np.repeat(np.array([str(f) for f in files]), counts), "resampled": resampled,
            "flux_unit": units.pop() if len(units := {p["flux_unit"] for p in parts}) == 1 else None}


READERS.register("fits", Reader("FITS spectra, tables and images", (".fits", ".fit", ".fts"), read_fits, gzip=True,
                                read_many=read_fits_many,
                                needs=FITS_INSTALL, options=frozenset({"key", "labels_key", "sigma_key", "ivar_key",
                                                                       "mask_key", "cond_key"})))
#: the FITS file-name endings, as registered
FITS_SUFFIXES = suffixes_of("fits")
