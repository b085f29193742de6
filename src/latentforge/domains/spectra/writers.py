"""FITS output files and the names of spectra's pixels in tables (``io.writers`` hooks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...io.writers import feature_names, is_data, staged
from .fits import astropy_fits

#: the most columns of one FITS table (the standard's TFIELDS limit)
FITS_MAX_COLUMNS = 999


def flux_names(d: dict, size: int) -> tuple[list[str], list[str]] | None:
    """``flux_<wavelength>A`` in the file's flux unit for spectra on a described grid, else None."""
    wavelength = d.get("wavelength")
    if wavelength is not None and len(wavelength) == size:
        return [f"flux_{w:.2f}A" for w in np.asarray(wavelength, float)], [d.get("flux_unit", "")] * size
    return None


def _fits_column(fits, name: str, a: np.ndarray, unit: str = "", dim: tuple | None = None):
    if a.dtype.kind == "U":
        return fits.Column(name=name, format=f"{max(1, int(np.char.str_len(a).max(initial=1)))}A", array=a)
    code = {"b": "L", "i": "K", "u": "K"}.get(a.dtype.kind, "D" if a.dtype == np.float64 else "E")
    width = int(np.prod(a.shape[1:]))
    kw: dict[str, Any] = {"unit": unit} if unit else {}
    if dim is not None and len(dim) > 1:
        kw["dim"] = "(" + ",".join(str(s) for s in reversed(dim)) + ")"  # FITS counts the fastest axis first
    flat = a.reshape(len(a)) if width == 1 else a.reshape(len(a), -1)
    return fits.Column(name=name, format=f"{width if width != 1 else ''}{code}", array=flat, **kw)


def write_fits(path: Path, arrays: dict[str, np.ndarray], d: dict) -> None:
    """A binary table (EXTNAME = the first key): a table's columns by name with TUNIT, other arrays as (vector)
    columns named by key; spectra's wavelength grid in its own table ``WAVELENGTH`` (TUNIT Angstrom)."""
    fits = astropy_fits(path)
    first_key, first = next(iter(arrays.items()))
    n_data = sum(is_data(k, a, d, first) for k, a in arrays.items())
    named = (d.get("columns") is not None and d.get("wavelength") is None
             and len(d["columns"]) * n_data + len(arrays) <= FITS_MAX_COLUMNS)
    cols = []
    for key, a in arrays.items():
        if is_data(key, a, d, first) and named:
            names, units = feature_names(d, int(np.prod(a.shape[1:])))
            prefix = "" if key == first_key else f"{key}_"
            flat = a.reshape(len(a), -1)
            cols += [_fits_column(fits, prefix + n, flat[:, i], u) for i, (n, u) in enumerate(zip(names, units))]
        elif is_data(key, a, d, first):
            unit = feature_names(d, int(np.prod(a.shape[1:])))[1][0]
            cols.append(_fits_column(fits, key, a, unit, dim=a.shape[1:]))
        else:
            cols.append(_fits_column(fits, key, a, dim=a.shape[1:]))
    hdus = [fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name=first_key.upper())]
    hdus[0].header["ORIGIN"] = "latentforge"
    if d.get("wavelength") is not None:
        hdus.append(fits.BinTableHDU.from_columns([fits.Column(
            name="WAVELENGTH", format="D", unit="Angstrom", array=np.asarray(d["wavelength"], np.float64))],
            name="WAVELENGTH"))
    with staged(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
