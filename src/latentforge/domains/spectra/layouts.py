"""The spectra layouts of ``read_file``: one SDSS-like FITS file, a folder of them or a glob (``fits``), with
different wavelength grids resampled onto one (``cond_key`` / ``labels_key`` name a catalogue column: ``Z``,
``CLASS`` ...); and HDF5 written by ``latentforge simulate spectra`` (its wavelength grid comes along).
"""

from __future__ import annotations

import glob
import os

import numpy as np

from ...data.layouts import LAYOUTS, FileLayout
from ...data.records import DataRecord, refuse_unused
from ...errors import DataError
from .fits import holds_spectra, is_fits_name, read_fits_folder
from .simulator import PARAMETERS, is_spectra_file, read_spectra


def _fits_matches(s: str) -> bool:
    """FITS spectra: one file, a folder or a glob whose first FITS file holds a flux / ivar table (FITS images,
    cubes and other tables go to the generic reader)."""
    if os.path.isdir(s):
        files = sorted(os.path.join(s, p) for p in os.listdir(s) if is_fits_name(p))
    elif glob.has_magic(s):
        files = sorted(p for p in glob.glob(s) if is_fits_name(p) and os.path.isfile(p))
    else:
        files = [s] if is_fits_name(s) and os.path.isfile(s) else []
    return bool(files) and holds_spectra(files[0])


def _column(d: dict, name: str, s: str) -> np.ndarray:
    for group in ("parameters", "classes"):
        for k, v in d[group].items():
            if k.lower() == name.lower():
                return v
    known = [*d["parameters"], *d["classes"]]
    given = ", ".join(known) if known else ("none (no SPECOBJ table, no scalar column beside the flux, no table "
                                            "with one row per spectrum)")
    raise DataError(f"{s}: no catalogue column {name!r}; the per-spectrum columns of the files: {given}")


def _fits_read(s: str, **keys) -> DataRecord:
    if keys["key"] == "flux":
        keys = {**keys, "key": None}
    refuse_unused(s, "FITS spectra (flux with its ivar and masks as SDSS writes them)", keys,
                  {"cond_key", "labels_key"})
    d = read_fits_folder(s)
    cond = None
    if keys["cond_key"]:
        cond = np.asarray(_column(d, keys["cond_key"], s), np.float64).reshape(-1, 1)
    y = _column(d, keys["labels_key"], s) if keys["labels_key"] else None
    return DataRecord(values=d["x"], labels=y, sigma=d["sigma"], mask=d["mask"], condition=cond,
                      described={"wavelength": d["wavelength"], "flux_unit": d["flux_unit"]}, parameters=d["parameters"],
                      classes=d["classes"],
                      files=list(d["files"]), resampled=d["resampled"])


LAYOUTS.register("sdss-spectra", FileLayout(
    "SDSS-like FITS spectra: one file, a folder or a glob; different grids resampled onto one log-wavelength grid",
    _fits_matches, _fits_read))


# ---------------------------------------------------------------------------------------------- simulated spectra
def _sim_matches(s: str) -> bool:
    return is_spectra_file(s)


def _sim_read(s: str, **keys) -> DataRecord | None:
    import h5py

    if any(keys[k] is not None for k in ("sigma_key", "ivar_key", "mask_key")) or keys["key"] not in (None, "flux"):
        return None  # arrays named by the user: the generic HDF5 reader takes them
    refuse_unused(s, "simulated spectra", {**keys, "key": None}, {"cond_key", "labels_key"})
    d = read_spectra(s)
    with h5py.File(s, "r") as f:
        names = set(f.keys())
        missing = [k for k in (keys["cond_key"], keys["labels_key"]) if k and k not in names]
        if missing:
            raise DataError(f"{s}: no dataset {missing[0]!r}; available: {', '.join(sorted(names))}")
        cond = f[keys["cond_key"]][()] if keys["cond_key"] else None
        y = f[keys["labels_key"]][()] if keys["labels_key"] else None
    mask = np.asarray(d["mask"], bool) | (np.asarray(d["ivar"]) == 0)
    return DataRecord(values=d["flux"], labels=y, sigma=d["sigma"], mask=mask, condition=cond,
                      described={"wavelength": np.asarray(d["wavelength"], np.float64)},
                      parameters={k: np.asarray(d[k], np.float64) for k in PARAMETERS if k in d})


LAYOUTS.register("simulated-spectra", FileLayout(
    "HDF5 spectra written by `latentforge simulate spectra` (flux, ivar, mask, wavelength, parameters)",
    _sim_matches, _sim_read))
