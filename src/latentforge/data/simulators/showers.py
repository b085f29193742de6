"""A particle-level Monte-Carlo simulator of electromagnetic and hadronic showers in a three-layer
calorimeter laid out like CaloGAN's (Paganini, de Oliveira, Nachman 2018): 3x96, 12x12 and 12x6 cells,
504 in all.

Physics, simplified but with the right trends:
- Longitudinal: the energy density along the depth t (radiation lengths X0) follows a Gamma profile
  dE/dt ~ t^(a-1) exp(-b t), b = 0.5, with the maximum at t_max = ln(E / E_c) + C (C = -0.5 for e+, +0.5
  for photons, E_c = 10 MeV), so the mean depth grows with log E; a and b fluctuate from event to event.
- Start: e+ showers start at the front face, photons after an exponential conversion depth (mean 9/7 X0),
  pi+ after an exponential interaction depth (lambda_I = 25 X0 here), and a pion that does not interact
  crosses as a minimum-ionising particle (about 0.012 GeV per X0 along its track).
- Lateral: each deposit lands at a radius drawn from a core + tail mixture of exponentials in Molière radii
  (R_M = 16 mm; tail fraction growing with depth); hadronic showers are three times wider, deeper (longer
  profile) and irregular (the energy goes into a few sub-showers displaced from the axis).
- Sampling: every shower is made of many deposits (``deposits_per_gev`` per GeV of visible energy), whose
  energies fluctuate (Gamma-distributed weights) and are normalised to the visible energy E_vis = f E (1 +
  N(0, 0.1 / sqrt(E))), f = 1 for e+ / photons and a fluctuating 0.4 - 0.8 for pions. The deposits of a
  shower sum exactly to E_vis; what falls outside the calorimeter (behind it, or outside its window)
  leaks. The cost grows with E, like a real simulator's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ...errors import ConfigError, DataError

PARTICLES = ("e+", "gamma", "pi+")
#: (rows, columns, front depth in X0, back depth in X0) of each layer; every layer spans the same
#: 480 mm x 480 mm window centred on the particle's entry point
LAYERS = ((3, 96, 0.0, 3.0), (12, 12, 3.0, 19.0), (12, 6, 19.0, 25.0))
N_CELLS = sum(r * c for r, c, _, _ in LAYERS)
WINDOW_MM = 480.0
MOLIERE_MM = 16.0
E_CRITICAL = 0.010  # GeV
LAMBDA_X0 = 25.0  # nuclear interaction length in X0
MIP_GEV_PER_X0 = 0.012


@dataclass
class ShowerSimulator:
    deposits_per_gev: int = 400
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def simulate(self, n: int, particle: str = "e+", energy_range: tuple[float, float] = (1.0, 100.0),
                 energies: np.ndarray | None = None, batch: int = 256, return_deposits: bool = False):
        """n showers; incident energies log-uniform in ``energy_range`` (GeV) unless given.

        Returns a dict: ``showers`` (n, 504) in GeV, ``incident_energies`` (n, 1), ``particle`` (n,) codes,
        ``visible`` (n,) the sampled visible energies; with ``return_deposits`` also the last batch's raw
        deposits (for tests)."""
        if particle not in PARTICLES:
            raise ConfigError(f"unknown particle {particle!r}; choose one of {', '.join(PARTICLES)}")
        lo, hi = energy_range
        if not 0 < lo <= hi:
            raise ConfigError(f"energy range must satisfy 0 < low <= high, got {energy_range}")
        if energies is None:
            energies = np.exp(self.rng.uniform(np.log(lo), np.log(hi), size=n))
        energies = np.asarray(energies, np.float64).reshape(-1)
        out = np.zeros((len(energies), N_CELLS), np.float32)
        visible = np.zeros(len(energies))
        deposits = None
        for s in range(0, len(energies), batch):
            e = energies[s:s + batch]
            cells, vis, deposits = self._batch(e, PARTICLES.index(particle))
            out[s:s + len(e)] = cells
            visible[s:s + len(e)] = vis
        result = {"showers": out, "incident_energies": energies[:, None].astype(np.float32),
                  "particle": np.full(len(energies), PARTICLES.index(particle), np.int64), "visible": visible}
        if return_deposits:
            result["deposits"] = deposits
        return result

    # ------------------------------------------------------------------ one batch, vectorised over deposits
    def _batch(self, e: np.ndarray, kind: int):
        rng = self.rng
        b = len(e)
        hadron = kind == 2
        if hadron:
            frac = rng.uniform(0.4, 0.8, size=b)
            interacts = rng.random(b) < 1 - np.exp(-25.0 / LAMBDA_X0 * 1.2)
            t0 = rng.exponential(LAMBDA_X0 / 3.0, size=b)
        else:
            frac = np.ones(b)
            interacts = np.ones(b, bool)
            t0 = np.zeros(b) if kind == 0 else rng.exponential(9.0 / 7.0, size=b)
        e_vis = e * frac * (1 + rng.normal(0, 0.1 / np.sqrt(e), size=b))
        e_vis = np.clip(e_vis, 0.05 * e, None)
        e_vis = np.where(interacts, e_vis, MIP_GEV_PER_X0 * 25.0)  # a crossing pion leaves a track only
        n_dep = np.maximum(20, (self.deposits_per_gev * e_vis).astype(np.int64))
        owner = np.repeat(np.arange(b), n_dep)  # shower index of each deposit
        m = len(owner)
        # longitudinal: Gamma profile with per-event fluctuating shape
        c = (-0.5, 0.5, 1.5)[kind]
        tmax = np.log(np.maximum(e_vis, 2 * E_CRITICAL) / E_CRITICAL) + c
        bpar = 0.5 * np.exp(rng.normal(0, 0.08, size=b)) * (0.6 if hadron else 1.0)
        a = np.maximum(1.2, tmax * bpar + 1) * np.exp(rng.normal(0, 0.1, size=b))
        depth = rng.gamma(a[owner], 1.0 / bpar[owner]) + t0[owner]
        # a non-interacting pion: uniform along its straight track
        mip = ~interacts[owner]
        depth[mip] = rng.uniform(0, 25.0, size=int(mip.sum()))
        # lateral: core + tail in Moliere radii, tail share growing with depth; hadrons wider and lumpy
        width = MOLIERE_MM * (3.0 if hadron else 1.0)
        tail_share = np.clip(0.1 + 0.02 * depth, 0.1, 0.6)
        tail = rng.random(m) < tail_share
        r = np.where(tail, rng.exponential(0.7 * width, m), rng.exponential(0.12 * width, m))
        r[mip] = rng.exponential(0.5, size=int(mip.sum()))
        phi = rng.uniform(0, 2 * np.pi, m)
        x, y = r * np.cos(phi), r * np.sin(phi)
        if hadron:  # sub-showers: each deposit belongs to one of 3 clusters offset from the axis
            offsets = rng.normal(0, 1.2 * MOLIERE_MM, size=(b, 3, 2))
            pick = rng.integers(0, 3, m)
            x = x + np.where(mip, 0, offsets[owner, pick, 0])
            y = y + np.where(mip, 0, offsets[owner, pick, 1])
        # energies: fluctuating weights normalised so that each shower's deposits sum to its E_vis
        w = rng.gamma(2.0, 1.0, m)
        sums = np.bincount(owner, weights=w, minlength=b)
        energy = w * (e_vis / sums)[owner]
        cells = self._bin(owner, depth, x, y, energy, b)
        return cells, e_vis, {"owner": owner, "depth": depth, "x": x, "y": y, "energy": energy}

    @staticmethod
    def _bin(owner, depth, x, y, energy, b) -> np.ndarray:
        out = np.zeros(b * N_CELLS)
        offset = 0
        for rows, cols, front, back in LAYERS:
            inside = (depth >= front) & (depth < back) & (np.abs(x) < WINDOW_MM / 2) & (np.abs(y) < WINDOW_MM / 2)
            ix = ((x[inside] + WINDOW_MM / 2) / (WINDOW_MM / cols)).astype(np.int64)
            iy = ((y[inside] + WINDOW_MM / 2) / (WINDOW_MM / rows)).astype(np.int64)
            flat = owner[inside] * N_CELLS + offset + iy * cols + ix
            out += np.bincount(flat, weights=energy[inside], minlength=b * N_CELLS)
            offset += rows * cols
        return out.reshape(b, N_CELLS).astype(np.float32)


def layer_slices() -> list[slice]:
    """The slice of each layer's cells in a flattened shower of ``N_CELLS``."""
    out, start = [], 0
    for rows, cols, _, _ in LAYERS:
        out.append(slice(start, start + rows * cols))
        start += rows * cols
    return out


def conditions(energies: np.ndarray, particle: np.ndarray) -> np.ndarray:
    """The conditioning vector of each shower: log10 E and a one-hot particle type."""
    onehot = np.eye(len(PARTICLES), dtype=np.float32)[np.asarray(particle, np.int64)]
    return np.concatenate([np.log10(np.asarray(energies, np.float32).reshape(-1, 1)), onehot], 1)


def write_showers(path: str | os.PathLike, data: dict) -> None:
    """CaloChallenge-style HDF5: ``showers`` (N, 504), ``incident_energies`` (N, 1), plus ``particle`` (N,)
    and ``conditions`` (N, 4) = [log10 E, one-hot e+ / gamma / pi+]. Written to a temporary file, then renamed."""
    import h5py

    path = str(path)
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("showers", data=data["showers"], compression="gzip")
        f.create_dataset("incident_energies", data=data["incident_energies"])
        f.create_dataset("particle", data=data["particle"])
        f.create_dataset("conditions", data=conditions(data["incident_energies"], data["particle"]))
        f.attrs["kind"] = "calorimeter-showers"
        f.attrs["layers"] = np.array([[r, c] for r, c, _, _ in LAYERS])
        f.attrs["particles"] = ",".join(PARTICLES)
    os.replace(tmp, path)


def read_showers(path: str | os.PathLike) -> dict:
    """A shower file written by ``write_showers`` as a dict of arrays (energies in GeV)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            showers = f["showers"][()]
            energies = f["incident_energies"][()].reshape(-1, 1)
            particle = f["particle"][()] if "particle" in f else np.zeros(len(showers), np.int64)
    except (OSError, KeyError) as e:
        raise DataError(f"{path}: not a shower file with datasets showers and incident_energies ({e})") from None
    if showers.shape[1] != N_CELLS:
        raise DataError(f"{path}: showers have {showers.shape[1]} cells; this layout has {N_CELLS}")
    return {"showers": showers, "incident_energies": energies, "particle": particle}


def is_shower_file(source) -> bool:
    """True for an HDF5 file of calorimeter showers (written by ``write_showers``, or with ``showers`` and
    ``incident_energies`` datasets as in the CaloChallenge layout)."""
    s = str(source)
    if not s.lower().endswith((".h5", ".hdf5")) or not os.path.exists(s):
        return False
    import h5py

    try:
        with h5py.File(s, "r") as f:
            return f.attrs.get("kind") == "calorimeter-showers" or ("showers" in f and "incident_energies" in f)
    except OSError:
        return False
