"""``latentforge simulate showers``: calorimeter showers from the project's simulator, written as
CaloChallenge-style (or CaloGAN) HDF5."""

from __future__ import annotations

import time

import numpy as np

from ...errors import LatentforgeError
from .files import ENERGY_UNITS, SHOWER_LAYOUTS
from .simulator import SPECTRA


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
    sim.add_argument("--energy-spectrum", choices=SPECTRA, default="log-uniform",
                     help="showers: incident energies log-uniform over --energy-range (CaloChallenge datasets 2 and "
                          "3: 1 1000), or powers-of-two: 2^k MeV within it, equally likely (dataset 1: 0.256 4194.304)")
    sim.add_argument("--chunk-rows", type=int, default=0,
                     help="showers, calochallenge layout: simulate and write this many showers at a time (memory: "
                          "one chunk), for files larger than memory; the showers are stored uncompressed "
                          "(default 0: all at once, gzip-compressed)")
    sim.add_argument("--deposits-per-gev", type=int, default=400,
                     help="showers: Monte-Carlo deposits per GeV (default: 400)")


def simulate(a) -> tuple[dict, str]:
    """Simulate ``a.n`` showers (of each particle of ``a.particle``), write ``a.out``; (record, summary)."""
    from .files import write_showers
    from .simulator import ShowerSimulator

    if a.chunk_rows < 0:
        raise LatentforgeError(f"--chunk-rows {a.chunk_rows}: give 0 (all at once, the default) or the showers to "
                               "simulate and write at a time, e.g. --chunk-rows 10000")
    if a.chunk_rows and a.layout != "calochallenge":
        raise LatentforgeError(f"--chunk-rows writes the calochallenge layout; drop --layout {a.layout} or "
                               "--chunk-rows")
    t0 = time.perf_counter()
    particles = tuple(p.strip() for p in a.particle.split(",") if p.strip())
    sim = ShowerSimulator(seed=a.seed, deposits_per_gev=a.deposits_per_gev, geometry=a.geometry)
    record = {"file": a.out, "particles": list(particles), "geometry": sim.geometry.name, "layout": a.layout,
              "energy_unit": a.unit, "energy_range_gev": a.energy_range, "energy_spectrum": a.energy_spectrum}
    if a.chunk_rows:
        from .simulator_files import simulate_shower_file

        done = simulate_shower_file(a.out, sim, a.n * len(particles), particles, tuple(a.energy_range),
                                    spectrum=a.energy_spectrum, chunk_rows=a.chunk_rows, unit=a.unit)
        return ({**record, "ms_per_shower": round(1000 * done["seconds"] / done["n"], 3), **done},
                f"simulated {done['n']} showers")
    if len(particles) == 1:
        data = sim.simulate(a.n, particles[0], tuple(a.energy_range), spectrum=a.energy_spectrum)
    else:
        data = sim.simulate_mix(a.n, particles, tuple(a.energy_range), spectrum=a.energy_spectrum)
    seconds = time.perf_counter() - t0
    write_showers(a.out, data, layout=a.layout, unit=a.unit)
    fraction = data["showers"].astype(np.float64).sum(1) / data["incident_energies"][:, 0]
    return ({**record, "n": len(fraction), "cells": sim.geometry.n_cells,
             "ms_per_shower": round(1000 * seconds / len(fraction), 3),
             "sampling_fraction": round(sim.sampling_fraction, 4), "resolution": data["resolution"],
             "mean_deposited_fraction": round(float(fraction.mean()), 4),
             "max_deposited_fraction": round(float(fraction.max()), 4),
             "mean_calibrated_response": round(float(fraction.mean() / sim.sampling_fraction), 4)},
            f"simulated {len(fraction)} showers")
