"""Known file layouts of the sciences, consulted by ``read_file`` before its generic rules.

``LAYOUTS`` holds, in order:

``showers``            calorimeter showers: CaloGAN's per-layer HDF5, CaloChallenge's ``showers`` /
                       ``incident_energies`` HDF5 (``data.showers``) and ROOT trees of per-cell energies
                       (``data.root``). ``x`` = the cells (N, n_cells) in the file's energy unit, ``cond`` = the
                       conditioning vector [log10(E_inc / GeV), one-hot particle] (``cond_key="incident_energies"``:
                       the incident energies), ``y`` = particle names with ``labels_key="particle"``.
``sdss-spectra``       one SDSS-like FITS file, a folder of them or a glob (``data.fits``); different wavelength
                       grids are resampled onto one. ``cond_key`` / ``labels_key`` name a catalogue column
                       (``Z``, ``CLASS`` ...).
``simulated-spectra``  HDF5 written by ``latentforge simulate spectra`` (its wavelength grid comes along).

A layout's ``read`` returns None when the keys asked for fall outside it (e.g. ``key="layer_1"`` in a CaloGAN
file): the generic reader then picks the named array. Beside read_file's keys, the dict may hold ``wavelength``
(P,) in Å, ``parameters`` (name -> (N,) numbers), ``classes`` (name -> (N,) text) and ``geometry``.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import DataError
from ..registry import Registry
from .fits import holds_spectra, is_fits_name, read_fits_folder
from .records import KEY_OPTIONS, DataRecord, refuse_unused
from .showers import PARTICLES, is_shower_file, read_showers
from .simulators.spectra import PARAMETERS, is_spectra_file, read_spectra

#: what a layout adds that describes the whole set (kept in ``ArrayDataset.info``): the wavelength grid (Å),
#: the shower geometry and the energy unit
LAYOUT_INFO = ("wavelength", "geometry", "energy_unit")
KEY_NAMES = KEY_OPTIONS
#: names of the incident energy in shower files and in words (case and spaces aside): ``cond_key`` with one of
#: them selects the incident energies of a shower file in any layout
ENERGY_NAMES = ("incident_energies", "incident_energy", "energy", "e_inc", "primary_energy")


@dataclass(frozen=True)
class FileLayout:
    """``matches(source) -> bool`` (cheap; ``source`` may be a folder or a glob) and ``read(source, **keys)`` ->
    a DataRecord, or None to leave the source to the generic reader."""

    summary: str
    matches: Callable[[str], bool]
    read: Callable[..., DataRecord | None]


LAYOUTS: Registry[FileLayout] = Registry("file layout", error=DataError)


def read_known_layout(source: str | os.PathLike, **keys: Any) -> DataRecord | None:
    """The record of a source in a known layout, else None."""
    s = str(source)
    for name, layout in LAYOUTS.items():
        if layout.matches(s):
            try:
                return layout.read(s, **{k: keys.get(k) for k in KEY_NAMES})
            except DataError:
                raise
            except (OSError, ValueError, KeyError, TypeError, IndexError) as e:  # damaged or foreign content
                raise DataError(f"{s}: cannot read as {name} ({type(e).__name__}: {e}); is the file damaged?") from None
    return None


# ---------------------------------------------------------------------------------------------- showers
def _showers_matches(s: str) -> bool:
    return is_shower_file(s)


def _energy_name(name: str | None) -> bool:
    return name is not None and name.strip().lower().replace(" ", "_").replace("-", "_") in ENERGY_NAMES


def _layer(s: str, key: str | None) -> np.ndarray | None:
    """The cells of one layer dataset (e.g. CaloGAN's ``layer_1``) of an HDF5 shower file, as stored; else None."""
    if key is None or not key.startswith("layer_") or s.lower().endswith(".root"):
        return None
    import h5py

    with h5py.File(s, "r") as f:
        return np.asarray(f[key][()]) if key in f and isinstance(f[key], h5py.Dataset) else None


def _showers_read(s: str, **keys) -> DataRecord | None:
    layer = _layer(s, keys["key"])
    if keys["key"] not in (None, "showers") and layer is None:
        if s.lower().endswith(".root"):
            raise DataError(f"{s}: a ROOT file of showers gives the cells (no key), the conditions (cond_key "
                            f"conditions or energy) and the particle (labels_key particle); drop key={keys['key']!r}")
        return None  # another dataset named by the user: the generic HDF5 reader
    cond_key = keys["cond_key"]
    if cond_key not in (None, "conditions") and not _energy_name(cond_key):
        raise DataError(f"{s}: a shower file gives cond_key 'conditions' (log10 E / GeV and the one-hot particle) "
                        f"or 'energy' (the incident energy); {cond_key!r} is neither (CLI: --cond-key energy)")
    if keys["labels_key"] not in (None, "particle"):
        raise DataError(f"{s}: a shower file gives labels_key 'particle' only; drop labels_key="
                        f"{keys['labels_key']!r} (CLI: --labels-key particle)")
    refuse_unused(s, "shower", keys, {"key", "cond_key", "labels_key"})
    d = read_showers(s)
    cond = d["incident_energies"] if _energy_name(cond_key) else d["conditions"]
    y = None
    if keys["labels_key"]:
        if d["particle"] is None:
            raise DataError(f"{s}: the file does not say which particle made each shower; drop labels_key")
        y = np.array(PARTICLES)[d["particle"]]
    if layer is not None:  # one layer's cells as stored, with the layout's conditions and labels
        return DataRecord(values=layer, labels=y, condition=cond, units=d["energy_unit"])
    return DataRecord(values=d["showers"], labels=y, condition=cond, geometry=d["geometry"], units=d["energy_unit"],
                      file_layout=d.get("layout"))


LAYOUTS.register("showers", FileLayout(
    "calorimeter showers: CaloGAN per-layer HDF5, CaloChallenge showers / incident_energies HDF5, ROOT trees",
    _showers_matches, _showers_read))


# ---------------------------------------------------------------------------------------------- SDSS spectra
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
                      wavelength=d["wavelength"], flux_unit=d["flux_unit"], parameters=d["parameters"],
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
                      wavelength=np.asarray(d["wavelength"], np.float64),
                      parameters={k: np.asarray(d[k], np.float64) for k in PARAMETERS if k in d})


LAYOUTS.register("simulated-spectra", FileLayout(
    "HDF5 spectra written by `latentforge simulate spectra` (flux, ivar, mask, wavelength, parameters)",
    _sim_matches, _sim_read))
