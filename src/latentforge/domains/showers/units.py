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


def particle_codes(values, source) -> np.ndarray:
    """The particle of each shower as codes into PARTICLES, int64 (N,), from codes (whole numbers 0 to
    len(PARTICLES) - 1) or names as PARTICLES spells them (str or bytes). DataError naming ``source`` and the
    values that are neither, with the fix."""
    v = np.asarray(values).reshape(-1)
    if v.dtype.kind in "SUO":
        names = [x.decode() if isinstance(x, bytes) else str(x) for x in v.tolist()]
        bad = sorted(set(names) - set(PARTICLES))
        if not bad:
            return np.array([PARTICLES.index(n) for n in names], np.int64)
    elif v.dtype.kind in "iuf" and np.isfinite(v).all() and (v == np.round(v)).all():
        codes = v.astype(np.int64)
        bad = sorted(set(codes[(codes < 0) | (codes >= len(PARTICLES))].tolist()))
        if not bad:
            return codes
    else:
        bad = sorted({str(x) for x in v.tolist() if not (isinstance(x, float) and x == round(x))})
    known = ", ".join(f"{k}: {p}" for k, p in enumerate(PARTICLES))
    raise DataError(f"{source}: particle values {bad[:5]} are neither codes nor names of the known particles "
                    f"({known}); rewrite the particle dataset with those, or delete it to condition on the "
                    "incident energy alone")
