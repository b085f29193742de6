"""``latentforge simulate showers``: calorimeter showers from the project's simulator, written as
CaloChallenge-style (or CaloGAN) HDF5."""

from __future__ import annotations

import time

import numpy as np

from ...errors import LatentforgeError
from .files import ENERGY_UNITS, SHOWER_LAYOUTS


def add_flags(sim) -> None:
    """The shower simulator's flags."""
    sim.add_argument("--particle", default="e+", help="showers: incident particle, e+, gamma or pi+, or a comma list "
                                                      "(e+,gamma,pi+: -n showers of each, rows shuffled)")
    sim.add_argument("--geometry", default="calogan",
                     help="showers: calogan (504 cells), calochallenge-1-photons (368), calochallenge-1-pions (533), "
                          "calochallenge-2 (6480), calochallenge-3 (40500) or a CaloChallenge binning XML file")
    sim.add_argument("--layout", choices=SHOWER_LAYOUTS.names(), default="calochallenge",
                     help="showers: file layout; calochallenge: showers (N, cells) and incident_energies (N, 1) in "
                          "--unit; calogan: layer_0/1/2 in MeV, energy in GeV, overflow (needs --geometry calogan)")
    sim.add_argument("--unit", choices=tuple(ENERGY_UNITS), default="MeV",
                     help="showers, calochallenge layout: energy unit of the file (default: MeV, as the challenge)")
    sim.add_argument("--energy-range", type=float, nargs=2, default=(1.0, 100.0), metavar=("LOW", "HIGH"),
                     help="showers: incident energies, log-uniform, in GeV (default: 1 100)")
    sim.add_argument("--deposits-per-gev", type=int, default=400,
                     help="showers: Monte-Carlo deposits per GeV (default: 400)")


def simulate(a) -> tuple[dict, str]:
    """Simulate ``a.n`` showers (of each particle of ``a.particle``), write ``a.out``; (record, summary)."""
    from .files import write_showers
    from .simulator import ShowerSimulator

    if not a.out.lower().endswith((".h5", ".hdf5")):
        raise LatentforgeError(f"--out {a.out}: give a file name ending in .h5")
    t0 = time.perf_counter()
    particles = tuple(p.strip() for p in a.particle.split(",") if p.strip())
    sim = ShowerSimulator(seed=a.seed, deposits_per_gev=a.deposits_per_gev, geometry=a.geometry)
    if len(particles) == 1:
        data = sim.simulate(a.n, particles[0], tuple(a.energy_range))
    else:
        data = sim.simulate_mix(a.n, particles, tuple(a.energy_range))
    seconds = time.perf_counter() - t0
    write_showers(a.out, data, layout=a.layout, unit=a.unit)
    fraction = data["showers"].astype(np.float64).sum(1) / data["incident_energies"][:, 0]
    return ({"file": a.out, "n": len(fraction), "particles": list(particles), "geometry": sim.geometry.name,
             "cells": sim.geometry.n_cells, "layout": a.layout, "energy_unit": a.unit,
             "energy_range_gev": a.energy_range, "ms_per_shower": round(1000 * seconds / len(fraction), 3),
             "sampling_fraction": round(sim.sampling_fraction, 4), "resolution": data["resolution"],
             "mean_deposited_fraction": round(float(fraction.mean()), 4),
             "max_deposited_fraction": round(float(fraction.max()), 4),
             "mean_calibrated_response": round(float(fraction.mean() / sim.sampling_fraction), 4)},
            f"simulated {len(fraction)} showers")
