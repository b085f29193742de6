"""The shower layout of ``read_file``: CaloGAN's per-layer HDF5, CaloChallenge's ``showers`` /
``incident_energies`` HDF5 (``files``) and ROOT trees of per-cell energies (``root``). ``x`` = the cells
(N, n_cells) in the file's energy unit, ``cond`` = the conditioning vector [log10(E_inc / GeV), one-hot particle]
(``cond_key="incident_energies"``: the incident energies), ``y`` = particle names with ``labels_key="particle"``.
"""

from __future__ import annotations

import os

import numpy as np

from ...data.files import DATA_KEYS
from ...data.layouts import LAYOUTS, FileLayout
from ...data.records import DataRecord, refuse_unused
from ...errors import DataError
from .files import PARTICLES, is_shower_file, read_showers

#: names of the incident energy in shower files and in words (case and spaces aside): ``cond_key`` with one of
#: them selects the incident energies of a shower file in any layout
ENERGY_NAMES = ("incident_energies", "incident_energy", "energy", "e_inc", "primary_energy")


def _cells_misnamed(s: str) -> list[str]:
    """For an HDF5 file with CaloChallenge's ``incident_energies`` but no ``showers`` dataset and no generic data
    array (``x``, ``data`` ...): its other datasets, the cells among them under another name; else []."""
    if not s.lower().endswith((".h5", ".hdf5")) or not os.path.isfile(s):
        return []
    import h5py

    try:
        with h5py.File(s, "r") as f:
            names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
    except OSError:
        return []
    if "incident_energies" not in names or any(k in names for k in DATA_KEYS):
        return []
    return [k for k in names if k not in ("incident_energies", "particle", "conditions")]


def _showers_matches(s: str) -> bool:
    return is_shower_file(s) or bool(_cells_misnamed(s))


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
    if not is_shower_file(s):  # the CaloChallenge layout's incident energies, its cells under another name
        if keys["key"] is not None:
            return None  # an array named by the user: the generic reader
        other = _cells_misnamed(s)[0]
        raise DataError(f"{s}: holds the CaloChallenge layout's incident_energies but no showers dataset; rename the "
                        f"cells' dataset to showers (h5py: f.move({other!r}, 'showers')), or read it as plain data "
                        f"with --key {other}")
    layer = _layer(s, keys["key"])
    if keys["key"] not in (None, "showers") and layer is None:
        if s.lower().endswith(".root"):
            raise DataError(f"{s}: a ROOT file of showers gives the cells without --key (and the conditions with "
                            "--cond-key conditions or --cond-key energy, the particle with --labels-key particle); "
                            "drop --key")
        return None  # another dataset named by the user: the generic HDF5 reader
    cond_key = keys["cond_key"]
    if cond_key not in (None, "conditions") and not _energy_name(cond_key):
        raise DataError(f"{s}: a shower file has no --cond-key {cond_key}; give --cond-key conditions (log10 E / "
                        "GeV and the one-hot particle) or --cond-key energy (the incident energy alone)")
    if keys["labels_key"] not in (None, "particle"):
        raise DataError(f"{s}: a shower file has no --labels-key {keys['labels_key']}; give --labels-key particle "
                        "or drop --labels-key")
    refuse_unused(s, "shower", keys, {"key", "cond_key", "labels_key"})
    d = read_showers(s)
    cond = d["incident_energies"] if _energy_name(cond_key) else d["conditions"]
    y = None
    if keys["labels_key"]:
        if d["particle"] is None:
            raise DataError(f"{s}: the file does not say which particle made each shower; drop --labels-key")
        y = np.array(PARTICLES)[d["particle"]]
    if layer is not None:  # one layer's cells as stored, with the layout's conditions and labels
        return DataRecord(values=layer, labels=y, condition=cond, described={"energy_unit": d["energy_unit"]})
    return DataRecord(values=d["showers"], labels=y, condition=cond, described={
        "geometry": d["geometry"], "energy_unit": d["energy_unit"], "file_layout": d.get("layout")})


LAYOUTS.register("showers", FileLayout(
    "calorimeter showers: CaloGAN per-layer HDF5, CaloChallenge showers / incident_energies HDF5, ROOT trees",
    _showers_matches, _showers_read))
