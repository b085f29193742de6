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

#: what a layout adds that describes the whole set (kept in ``ArrayDataset.info``): the wavelength grid (Å),
#: the shower geometry and the energy unit
LAYOUT_INFO = ("wavelength", "geometry", "energy_unit")
KEY_NAMES = ("key", "labels_key", "sigma_key", "ivar_key", "mask_key", "cond_key")


@dataclass(frozen=True)
class FileLayout:
    """``matches(source) -> bool`` (cheap; ``source`` may be a folder or a glob) and ``read(source, **keys)`` ->
    read_file's dict, or None to leave the source to the generic reader."""

    summary: str
    matches: Callable[[str], bool]
    read: Callable[..., dict | None]


LAYOUTS: Registry[FileLayout] = Registry("file layout", error=DataError)


def read_known_layout(source: str | os.PathLike, *, labels: str | os.PathLike | None = None,
                      **keys: Any) -> dict | None:
    """read_file's dict for a source in a known layout (labels from their own file where given), else None."""
    s = str(source)
    for name, layout in LAYOUTS.items():
        if layout.matches(s):
            try:
                out = layout.read(s, **{k: keys.get(k) for k in KEY_NAMES})
            except DataError:
                raise
            except (OSError, ValueError, KeyError, TypeError, IndexError) as e:  # damaged or foreign content
                raise DataError(f"{s}: cannot read as {name} ({type(e).__name__}: {e}); is the file damaged?") from None
            if out is None:
                return None
            if labels is not None:
                from .files import read_file

                lab = np.asarray(read_file(labels, key=keys.get("labels_key"))["x"])
                out["y"] = lab[:, 0] if lab.ndim == 2 and lab.shape[1] == 1 else lab
            return out
    return None


def _unused(keys: dict, allowed: dict[str, tuple]) -> list[str]:
    return [f"{k}={v!r}" for k, v in keys.items() if v is not None and v not in allowed.get(k, ())]


# ---------------------------------------------------------------------------------------------- showers
def _showers_matches(s: str) -> bool:
    from .showers import is_shower_file

    return is_shower_file(s)


def _showers_read(s: str, **keys) -> dict | None:
    from .showers import PARTICLES, read_showers

    odd = _unused(keys, {"key": ("showers",), "cond_key": ("conditions", "incident_energies"),
                         "labels_key": ("particle",)})
    if odd:
        if s.lower().endswith(".root"):
            raise DataError(f"{s}: a ROOT file of showers gives the cells, the conditions (cond_key conditions or "
                            f"incident_energies) and the particle (labels_key particle); drop {', '.join(odd)}")
        return None  # a dataset named by the user: the generic HDF5 reader
    d = read_showers(s)
    cond = d["incident_energies"] if keys["cond_key"] == "incident_energies" else d["conditions"]
    y = None
    if keys["labels_key"]:
        if d["particle"] is None:
            raise DataError(f"{s}: the file does not say which particle made each shower; drop labels_key")
        y = np.array(PARTICLES)[d["particle"]]
    return {"x": d["showers"], "y": y, "sigma": None, "mask": None, "cond": cond, "geometry": d["geometry"],
            "energy_unit": d["energy_unit"]}


LAYOUTS.register("showers", FileLayout(
    "calorimeter showers: CaloGAN per-layer HDF5, CaloChallenge showers / incident_energies HDF5, ROOT trees",
    _showers_matches, _showers_read))


# ---------------------------------------------------------------------------------------------- SDSS spectra
def _fits_matches(s: str) -> bool:
    """FITS spectra: one file, a folder or a glob whose first FITS file holds a flux / ivar table (FITS images,
    cubes and other tables go to the generic reader)."""
    from .fits import holds_spectra, is_fits_name

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
    raise DataError(f"{s}: no catalogue column {name!r}; the files give {', '.join(known) or 'none (no SPECOBJ table)'}")


def _fits_read(s: str, **keys) -> dict:
    from .fits import read_fits_folder

    odd = _unused({k: keys[k] for k in ("key", "sigma_key", "ivar_key", "mask_key")}, {"key": ("flux",)})
    if odd:
        raise DataError(f"{s}: FITS spectra give flux with its ivar and masks as SDSS writes them; drop "
                        f"{', '.join(odd)}")
    d = read_fits_folder(s)
    cond = None
    if keys["cond_key"]:
        cond = np.asarray(_column(d, keys["cond_key"], s), np.float64).reshape(-1, 1)
    y = _column(d, keys["labels_key"], s) if keys["labels_key"] else None
    return {"x": d["x"], "y": y, "sigma": d["sigma"], "mask": d["mask"], "cond": cond, "wavelength": d["wavelength"],
            "parameters": d["parameters"], "classes": d["classes"]}


LAYOUTS.register("sdss-spectra", FileLayout(
    "SDSS-like FITS spectra: one file, a folder or a glob; different grids resampled onto one log-wavelength grid",
    _fits_matches, _fits_read))


# ---------------------------------------------------------------------------------------------- simulated spectra
def _sim_matches(s: str) -> bool:
    from .simulators.spectra import is_spectra_file

    return is_spectra_file(s)


def _sim_read(s: str, **keys) -> dict | None:
    import h5py

    from .simulators.spectra import PARAMETERS, read_spectra

    if _unused({k: keys[k] for k in ("key", "sigma_key", "ivar_key", "mask_key")}, {"key": ("flux",)}):
        return None
    d = read_spectra(s)
    with h5py.File(s, "r") as f:
        names = set(f.keys())
        missing = [k for k in (keys["cond_key"], keys["labels_key"]) if k and k not in names]
        if missing:
            raise DataError(f"{s}: no dataset {missing[0]!r}; available: {', '.join(sorted(names))}")
        cond = f[keys["cond_key"]][()] if keys["cond_key"] else None
        y = f[keys["labels_key"]][()] if keys["labels_key"] else None
    mask = np.asarray(d["mask"], bool) | (np.asarray(d["ivar"]) == 0)
    return {"x": d["flux"], "y": y, "sigma": d["sigma"], "mask": mask, "cond": cond,
            "wavelength": np.asarray(d["wavelength"], np.float64),
            "parameters": {k: np.asarray(d[k], np.float64) for k in PARAMETERS if k in d}, "classes": {}}


LAYOUTS.register("simulated-spectra", FileLayout(
    "HDF5 spectra written by `latentforge simulate spectra` (flux, ivar, mask, wavelength, parameters)",
    _sim_matches, _sim_read))
