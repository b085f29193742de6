"""Shower files of any size, simulated and written a chunk of rows at a time (never the whole array in memory).

:func:`simulate_shower_file` writes the CaloChallenge layout that ``files.write_showers`` writes
(``showers`` (N, n_cells) float32 and ``incident_energies`` (N, 1) in ``unit``, ``particle`` (N,),
``conditions`` (N, 1 + len(PARTICLES)), the geometry and energy unit as attributes), so that CaloChallenge
dataset 2 (100 000 showers x 6480 voxels, 2.6 GB) and dataset 3 (50 000 x 40 500, 8.1 GB) sized files can be
made on a machine with a few GB of memory. Memory: one chunk of ``chunk_rows`` showers in float32 plus the
simulator's batch (``MAX_BATCH_DEPOSITS``).
"""

from __future__ import annotations

import os
import time

import numpy as np

from ...errors import ConfigError
from .geometry import GridLayer
from .files import SHOWERS_KIND, shower_conditions
from .units import ENERGY_UNITS, PARTICLES
from .simulator import RESOLUTION_EM, RESOLUTION_HADRONIC, ShowerSimulator, draw_energies


def simulate_shower_file(path: str | os.PathLike, simulator: ShowerSimulator, n: int,
                         particles: tuple[str, ...] = ("e+",), energy_range: tuple[float, float] = (1.0, 100.0),
                         *, spectrum: str = "log-uniform", chunk_rows: int = 1000, unit: str = "MeV",
                         compression: str | None = None) -> dict:
    """Simulate ``n`` showers into ``path`` (HDF5, CaloChallenge layout) ``chunk_rows`` at a time.

    ``particles``: one particle, or several sharing the ``n`` rows equally (rows in a seeded random order);
    incident energies from ``draw_energies(spectrum, energy_range)`` (GeV), stored in ``unit``;
    ``compression``: None (contiguous float32, as the challenge's files, so a row slab is one read) or ``gzip``.
    Written to ``path + ".tmp"`` and renamed; nothing is left behind on an error.

    Returns a summary: ``n``, ``bytes`` of the file, ``seconds``, ``chunk_rows``, ``cells``, and the deposited
    fraction sum(cells) / E_inc (mean, largest) over all rows. ConfigError for an unknown particle, spectrum or
    unit, n < 1 or chunk_rows < 1.
    """
    import h5py

    unknown = [p for p in particles if p not in PARTICLES]
    if unknown or not particles:
        raise ConfigError(f"unknown particle(s) {unknown}; choose from {', '.join(PARTICLES)}")
    if unit not in ENERGY_UNITS:
        raise ConfigError(f"unknown energy unit {unit!r}; choose one of {', '.join(ENERGY_UNITS)}")
    if n < 1 or chunk_rows < 1:
        raise ConfigError(f"n ({n}) and chunk_rows ({chunk_rows}) must be at least 1")
    t0 = time.perf_counter()
    rng = simulator.rng
    energies = draw_energies(rng, n, energy_range, spectrum)  # GeV, (n,): 8 bytes a row
    codes = np.array([PARTICLES.index(p) for p in particles], np.int64)
    particle = codes[rng.permutation(np.arange(n) % len(codes))] if len(codes) > 1 else np.full(n, codes[0])
    g = simulator.geometry
    per_unit = ENERGY_UNITS["GeV"] / ENERGY_UNITS[unit]  # GeV -> unit
    path = str(path)
    tmp = path + ".tmp"
    frac_sum, frac_max = 0.0, 0.0
    try:
        with h5py.File(tmp, "w") as f:
            kw = {} if compression is None else {"compression": compression,
                                                 "chunks": (max(1, min(n, (1 << 20) // (4 * g.n_cells))), g.n_cells)}
            showers = f.create_dataset("showers", shape=(n, g.n_cells), dtype=np.float32, **kw)
            f.create_dataset("incident_energies", data=(energies * per_unit).reshape(-1, 1).astype(np.float32))
            f.create_dataset("particle", data=particle)
            f.create_dataset("conditions", data=shower_conditions(energies, "GeV", particle))
            for start in range(0, n, chunk_rows):
                stop = min(n, start + chunk_rows)
                block = np.empty((stop - start, g.n_cells), np.float32)
                for code in np.unique(particle[start:stop]):
                    rows = np.flatnonzero(particle[start:stop] == code)
                    d = simulator.simulate(len(rows), PARTICLES[int(code)], energies=energies[start:stop][rows])
                    block[rows] = d["showers"].astype(np.float64) * per_unit  # as write_showers: scaled in float64
                showers[start:stop] = block
                frac = block.sum(1, dtype=np.float64) / (energies[start:stop] * per_unit)
                frac_sum, frac_max = frac_sum + float(frac.sum()), max(frac_max, float(frac.max()))
                del block
            f.attrs["energy_unit"] = unit
            f.attrs["geometry"] = g.to_json()
            if not any(isinstance(layer, GridLayer) for layer in g.all_layers):
                f.attrs["binning_xml"] = g.to_binning_xml()
            f.attrs["kind"] = SHOWERS_KIND
            f.attrs["particles"] = ",".join(PARTICLES)
            f.attrs["sampling_fraction"] = float(simulator.sampling_fraction)
            f.attrs["resolution"] = "; ".join(
                f"sigma/E = {a:g}/sqrt(E/GeV) (+) {b:g}" for a, b in sorted(
                    {RESOLUTION_HADRONIC if p == PARTICLES[2] else RESOLUTION_EM for p in particles}))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {"n": n, "cells": g.n_cells, "bytes": os.path.getsize(path), "chunk_rows": chunk_rows,
            "seconds": round(time.perf_counter() - t0, 2), "mean_deposited_fraction": round(frac_sum / n, 4),
            "max_deposited_fraction": round(frac_max, 4)}
