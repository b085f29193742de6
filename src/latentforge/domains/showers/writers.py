"""Generated showers written back in the published layout they were read in (CaloGAN per-layer or
CaloChallenge HDF5), and the names of their cells in tables (``io.writers`` hooks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ConfigError
from ...io.writers import file_endings
from .files import SHOWER_LAYOUTS
from .geometry import ShowerGeometry
from .layout import ENERGY_NAMES
from .units import ENERGY_UNITS, PARTICLES


def cell_names(d: dict, size: int) -> tuple[list[str], list[str]] | None:
    """``cell_<i>`` in the energy unit for showers (a geometry and an energy unit are described), else None."""
    if d.get("energy_unit") and d.get("geometry") is not None:
        return [f"cell_{i}" for i in range(size)], [str(d["energy_unit"])] * size
    return None


def shower_energies(d: dict, n: int, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(incident energies (n, 1) in the run's energy unit, particle codes or None) from the condition vectors the
    showers were made with (``d["cond"]``, raw): [log10(E / GeV), one-hot particle], or the energy itself
    (``cond_key`` energy). ConfigError when they are not known."""
    cond, key, unit = d.get("cond"), d.get("cond_key"), d.get("energy_unit", "MeV")
    if cond is None:
        raise ConfigError(f"--out {path}: the {d.get('file_layout')} layout stores each shower's incident energy, "
                          f"which this model is not conditioned on; write one of {file_endings()} (or train with "
                          "--condition vector --cond-key energy)")
    cond = np.asarray(cond, np.float64).reshape(n, -1)
    if key is not None and key.strip().lower().replace(" ", "_").replace("-", "_") in ENERGY_NAMES:
        return cond[:, :1], None
    if key not in (None, "conditions"):
        raise ConfigError(f"--out {path}: the condition {key!r} is not the incident energy, which the "
                          f"{d.get('file_layout')} layout stores; write one of {file_endings()}")
    energies = 10 ** cond[:, :1] / ENERGY_UNITS[unit]
    particle = np.argmax(cond[:, 1:], 1) if cond.shape[1] == 1 + len(PARTICLES) else None
    return energies, particle


def write_layout(f, first: np.ndarray, d: dict, path: Path) -> bool:
    """The showers ``first`` (N, cells) into the open HDF5 file ``f`` in their layout (``d["file_layout"]``) with
    their incident energies; False when the data are not showers in a layout of ``SHOWER_LAYOUTS``."""
    layout = d.get("file_layout")
    if d.get("geometry") is None or layout not in SHOWER_LAYOUTS:
        return False
    energies, particle = shower_energies(d, len(first), path)
    unit = d.get("energy_unit", "MeV")
    showers = {"showers": first.reshape(len(first), -1), "incident_energies": energies, "energy_unit": unit,
               "geometry": ShowerGeometry.from_dict(d["geometry"]), "particle": particle}
    SHOWER_LAYOUTS.get(layout).write(f, showers, unit)
    f.attrs["kind"] = "calorimeter-showers"
    return True
