"""The particles and energy units of calorimeter showers, shared by the shower readers (``files``,
``root``) and the simulator."""

from __future__ import annotations

import numpy as np

from ...errors import DataError

#: the particles the project's simulator and conditioning vectors know, in one-hot order
PARTICLES = ("e+", "gamma", "pi+")
#: energy units and their size in GeV
ENERGY_UNITS = {"MeV": 1e-3, "GeV": 1.0}


def to_gev(values: np.ndarray, unit: str) -> np.ndarray:
    """Energies in ``unit`` (MeV or GeV) as GeV (float64); DataError for an unknown unit."""
    if unit not in ENERGY_UNITS:
        raise DataError(f"unknown energy unit {unit!r}; use one of {', '.join(ENERGY_UNITS)}")
    return np.asarray(values, np.float64) * ENERGY_UNITS[unit]


def particle_code(particle: str) -> int:
    """The index of ``particle`` in ``PARTICLES``; DataError naming the known ones otherwise."""
    if particle not in PARTICLES:
        raise DataError(f"unknown particle {particle!r}; choose one of {', '.join(PARTICLES)}")
    return PARTICLES.index(particle)
