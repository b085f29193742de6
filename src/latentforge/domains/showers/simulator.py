"""A particle-level Monte-Carlo simulator of electromagnetic and hadronic showers in a sampling calorimeter,
binned into any :class:`~latentforge.domains.showers.geometry.ShowerGeometry` (CaloGAN's three layers by default, or a
CaloChallenge binning).

Energy (all in GeV):
- A sampling calorimeter shows only a share of the shower's energy in its active layers (PDG review
  "Calorimetry"). The sampling fraction here is that of a minimum-ionising particle in layers of 2 mm lead and
  4 mm liquid argon (the Geant4 detector of CaloGAN's generation code): f_s = t_LAr (dE/dx)_LAr / (t_LAr
  (dE/dx)_LAr + t_Pb (dE/dx)_Pb) with the minimum dE/dx of the PDG tables (Pb 1.122 MeV cm^2/g at 11.35 g/cm^3,
  liquid Ar 1.519 MeV cm^2/g at 1.396 g/cm^3), f_s = 0.249. (Real electron showers show e/mip < 1; not modelled.)
- The deposited energy of a shower is E_dep = E_inc x u, u ~ Beta with mean f_s (x pi/e for hadrons) and relative
  spread sigma/E = a / sqrt(E / GeV) (+) b: a = 10 %, b = 0.7 % for e+ and photons, a = 50 %, b = 3 % for pions,
  the design resolutions of the ATLAS liquid-argon electromagnetic and of its hadronic calorimetry (ATLAS
  Collaboration, JINST 3 (2008) S08003). A Beta variable lies in [0, 1], so a shower never deposits more than
  its incident energy. Non-compensation: pi/e = f_em + (h/e)(1 - f_em), f_em = 1 - (E / E0)^(k - 1), E0 = 1 GeV,
  k = 0.82 (Groom's parametrisation in the PDG "Calorimetry" review), h/e = 1 / 1.4 (e/h = 1.4, within the
  1.3-2 the review gives for non-compensating calorimeters).
- The calibrated energy is E_dep / f_s; its response is reported apart from the deposited fraction E_dep / E_inc.

Shape (X0 = radiation length):
- Longitudinal: Gamma profile dE/dt ~ t^(a-1) exp(-b t), b = 0.5, maximum at t_max = ln(E / E_c) + C (C = -0.5
  for e+, +0.5 for photons, E_c = 10 MeV), per-event fluctuating a and b. Photons start after an exponential
  conversion depth (mean 9/7 X0), pions after an exponential interaction depth (mean 25 / 1.2 X0 here), so 70 %
  interact within 25 X0; a pion that does not crosses as a minimum-ionising particle (0.012 GeV per X0, times f_s
  visible).
- Lateral: core + tail mixture of exponentials in Molière radii (R_M = 16 mm; tail share growing with depth);
  hadronic showers three times wider and lumpy (the energy goes into three sub-showers off the axis).
- Sampling: every shower is many deposits (``deposits_per_gev`` per GeV of calibrated energy) with Gamma-
  distributed weights summing exactly to E_dep. What falls behind the last layer leaks; what falls outside a
  layer's cells is that layer's ``overflow``. The cost grows with E, like a real simulator's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...errors import ConfigError
from .geometry import ShowerGeometry, resolve_geometry
from .files import PARTICLES

#: minimum ionisation (MeV cm^2 / g) and density (g / cm^3) of lead and liquid argon (PDG, atomic and nuclear
#: properties of materials); absorber / active thickness (mm) of one layer of CaloGAN's Geant4 detector
PB_DEDX, PB_DENSITY, PB_MM = 1.122, 11.35, 2.0
LAR_DEDX, LAR_DENSITY, LAR_MM = 1.519, 1.396, 4.0
SAMPLING_FRACTION = (LAR_MM * LAR_DEDX * LAR_DENSITY) / (LAR_MM * LAR_DEDX * LAR_DENSITY + PB_MM * PB_DEDX * PB_DENSITY)
#: stochastic a (at 1 GeV) and constant b terms of sigma_E / E (ATLAS, JINST 3 (2008) S08003): electromagnetic, hadronic
RESOLUTION_EM = (0.10, 0.007)
RESOLUTION_HADRONIC = (0.50, 0.03)
H_OVER_E, GROOM_E0, GROOM_K = 1 / 1.4, 1.0, 0.82
DEPTH_X0 = 25.0  # depth shared by the layers of a geometry that does not state its own
MOLIERE_MM = 16.0
E_CRITICAL = 0.010  # GeV
LAMBDA_X0 = 25.0  # nuclear interaction length in X0
MIP_GEV_PER_X0 = 0.012


#: deposits simulated at once, at most (about 100 bytes each while a batch is binned)
MAX_BATCH_DEPOSITS = 8_000_000
#: incident-energy spectra ``draw_energies`` knows
SPECTRA = ("log-uniform", "powers-of-two")


def draw_energies(rng: np.random.Generator, n: int, energy_range: tuple[float, float],
                  spectrum: str = "log-uniform") -> np.ndarray:
    """``n`` incident energies (GeV, float64) over ``energy_range`` (GeV): ``log-uniform`` (CaloChallenge datasets 2
    and 3: 1 GeV - 1 TeV), or ``powers-of-two``: 2^k MeV within the range, each equally likely (CaloChallenge
    dataset 1: 256 MeV ... 4 TeV, k = 8 ... 22). ConfigError for an unknown spectrum or a range holding no power
    of two, or a range outside 0 < low <= high."""
    lo, hi = energy_range
    if not 0 < lo <= hi < math.inf:
        raise ConfigError(f"--energy-range {lo:g} {hi:g}: incident energies need 0 < LOW <= HIGH in GeV; give e.g. "
                          "--energy-range 1 100")
    if spectrum == "log-uniform":
        return np.exp(rng.uniform(np.log(lo), np.log(hi), size=n))
    if spectrum == "powers-of-two":
        k = np.arange(math.ceil(math.log2(lo * 1e3) - 1e-9), math.floor(math.log2(hi * 1e3) + 1e-9) + 1)
        if not len(k):
            raise ConfigError(f"no power of two MeV lies in {lo:g}-{hi:g} GeV; widen the energy range "
                              "(CaloChallenge dataset 1: 0.256 4194.304)")
        return 2.0 ** rng.choice(k, size=n) / 1e3
    raise ConfigError(f"unknown energy spectrum {spectrum!r}; choose one of {', '.join(SPECTRA)}")


def pion_response(e_gev: np.ndarray) -> np.ndarray:
    """pi/e = f_em + (h/e)(1 - f_em) with f_em = 1 - (E / E0)^(k - 1) (Groom, PDG "Calorimetry"), f_em >= 0."""
    f_em = np.clip(1 - (np.asarray(e_gev, np.float64) / GROOM_E0) ** (GROOM_K - 1), 0.0, 1.0)
    return f_em + H_OVER_E * (1 - f_em)


def relative_resolution(e_gev: np.ndarray, a: float, b: float) -> np.ndarray:
    """sigma_E / E = a / sqrt(E / GeV) (+) b (added in quadrature)."""
    return np.hypot(a / np.sqrt(np.asarray(e_gev, np.float64)), b)


def bounded_fraction(rng: np.random.Generator, mean: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Beta-distributed fractions in (0, 1) with the given means and relative standard deviations (a spread too
    wide for a Beta of that mean is narrowed to 95 % of the widest one)."""
    mean = np.clip(np.asarray(mean, np.float64), 1e-6, 1 - 1e-6)
    rel = np.minimum(np.asarray(rel, np.float64), 0.95 * np.sqrt((1 - mean) / mean))
    nu = (1 - mean) / (mean * rel ** 2) - 1  # alpha + beta
    return rng.beta(mean * nu, (1 - mean) * nu)


@dataclass
class ShowerSimulator:
    """Simulate showers of e+, photons or pi+ binned into ``geometry`` (a built-in name, a CaloChallenge binning
    XML file or a ShowerGeometry; layers without a depth share ``DEPTH_X0``). Same seed, same showers."""

    deposits_per_gev: int = 400
    seed: int = 0
    geometry: str | ShowerGeometry = "calogan"
    sampling_fraction: float = SAMPLING_FRACTION
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.deposits_per_gev, bool) or not isinstance(self.deposits_per_gev, (int, np.integer)) \
                or self.deposits_per_gev < 1:
            raise ConfigError(f"--deposits-per-gev {self.deposits_per_gev}: give a whole number of at least 1 "
                              "(default: 400)")
        self.rng = np.random.default_rng(self.seed)
        self.geometry = resolve_geometry(self.geometry).with_depths(DEPTH_X0)
        if not 0 < self.sampling_fraction < 1:
            raise ConfigError(f"sampling_fraction must lie in (0, 1), got {self.sampling_fraction}")
        self.depth_x0 = max(layer.depth[1] for layer in self.geometry.layers)

    def simulate(self, n: int, particle: str = "e+", energy_range: tuple[float, float] = (1.0, 100.0),
                 energies: np.ndarray | None = None, batch: int = 256, return_deposits: bool = False,
                 spectrum: str = "log-uniform") -> dict:
        """``n`` showers; incident energies drawn from ``spectrum`` over ``energy_range`` (GeV; ``draw_energies``:
        log-uniform as CaloChallenge datasets 2 and 3, or ``powers-of-two`` MeV as dataset 1) unless ``energies``
        are given. Showers are simulated ``batch`` at a time, fewer when a batch would exceed
        ``MAX_BATCH_DEPOSITS`` deposits (TeV showers), so memory stays bounded at any energy.

        Returns a dict (energies in GeV, ``energy_unit`` says so): ``showers`` (n, n_cells) deposited energy per
        cell, ``incident_energies`` (n, 1), ``particle`` (n,) codes into PARTICLES, ``deposited`` (n,) the
        deposited energy before leakage, ``overflow`` (n, n_layers) energy in each layer outside its cells,
        ``geometry``, ``sampling_fraction``, ``resolution`` (text); with ``return_deposits`` also the last batch's
        raw deposits. Raises ConfigError for an unknown particle or a bad energy range.
        """
        if particle not in PARTICLES:
            raise ConfigError(f"unknown particle {particle!r}; choose one of {', '.join(PARTICLES)}")
        if energies is None:
            energies = draw_energies(self.rng, n, energy_range, spectrum)
        energies = np.asarray(energies, np.float64).reshape(-1)
        if not (np.isfinite(energies).all() and (energies > 0).all()):
            raise ConfigError("incident energies must be finite and > 0 (GeV)")
        g = self.geometry
        out = np.zeros((len(energies), g.n_cells), np.float32)
        overflow = np.zeros((len(energies), len(g.layers)), np.float32)
        deposited = np.zeros(len(energies))
        deposits = None
        for s, t in self._batches(energies, batch):
            cells, over, dep, deposits = self._batch(energies[s:t], PARTICLES.index(particle))
            out[s:t], overflow[s:t], deposited[s:t] = cells, over, dep
        a, b = RESOLUTION_HADRONIC if particle == PARTICLES[2] else RESOLUTION_EM
        result = {"showers": out, "incident_energies": energies[:, None], "energy_unit": "GeV",
                  "particle": np.full(len(energies), PARTICLES.index(particle), np.int64), "deposited": deposited,
                  "overflow": overflow, "geometry": g, "sampling_fraction": self.sampling_fraction,
                  "resolution": f"sigma/E = {a:g}/sqrt(E/GeV) (+) {b:g}"}
        if return_deposits:
            result["deposits"] = deposits
        return result

    def simulate_mix(self, n_each: int, particles: tuple[str, ...] = PARTICLES,
                     energy_range: tuple[float, float] = (1.0, 100.0), batch: int = 256,
                     spectrum: str = "log-uniform") -> dict:
        """``n_each`` showers of every particle in ``particles``, rows shuffled (seeded) so that any split mixes
        them; the same keys as :meth:`simulate`."""
        parts = [self.simulate(n_each, p, energy_range, batch=batch, spectrum=spectrum) for p in particles]
        order = self.rng.permutation(n_each * len(parts))
        out = {k: np.concatenate([d[k] for d in parts])[order]
               for k in ("showers", "incident_energies", "particle", "deposited", "overflow")}
        res = sorted({d["resolution"] for d in parts})
        return {**parts[0], **out, "resolution": "; ".join(res)}

    def _batches(self, energies: np.ndarray, batch: int):
        """(start, stop) of consecutive batches: at most ``batch`` showers and about MAX_BATCH_DEPOSITS deposits."""
        cost = np.maximum(20.0, self.deposits_per_gev * energies)
        s = 0
        while s < len(energies):
            t = min(s + batch, len(energies))
            over = np.flatnonzero(np.cumsum(cost[s:t]) > MAX_BATCH_DEPOSITS)
            t = s + max(1, int(over[0])) if len(over) else t
            yield s, t
            s = t

    # ------------------------------------------------------------------ one batch, vectorised over deposits
    def _batch(self, e: np.ndarray, kind: int):
        rng, fs = self.rng, self.sampling_fraction
        b = len(e)
        hadron = kind == 2
        if hadron:
            # first interaction: exponential in depth (mean lambda_eff), within the calorimeter for those that do
            lam, reach = LAMBDA_X0 / 1.2, 1 - np.exp(-self.depth_x0 / (LAMBDA_X0 / 1.2))
            interacts = rng.random(b) < reach
            t0 = -lam * np.log1p(-rng.random(b) * reach)
            mean = fs * pion_response(e)
            rel = relative_resolution(e, *RESOLUTION_HADRONIC)
            # a pion crossing without interacting loses MIP energy along its track (at most all it has)
            track = np.minimum(e, MIP_GEV_PER_X0 * self.depth_x0)
            mean = np.where(interacts, mean, fs * track / e)
            rel = np.where(interacts, rel, 0.1)
        else:
            interacts = np.ones(b, bool)
            t0 = np.zeros(b) if kind == 0 else rng.exponential(9.0 / 7.0, size=b)
            mean = np.full(b, fs)
            rel = relative_resolution(e, *RESOLUTION_EM)
        e_dep = e * bounded_fraction(rng, mean, rel)  # < e by construction
        n_dep = np.maximum(20, (self.deposits_per_gev * e_dep / fs).astype(np.int64))
        owner = np.repeat(np.arange(b), n_dep)  # shower index of each deposit
        m = len(owner)
        # longitudinal: Gamma profile with per-event fluctuating shape; its maximum follows the shower's energy
        c = (-0.5, 0.5, 1.5)[kind]
        tmax = np.log(np.maximum(e * (0.6 if hadron else 1.0), 2 * E_CRITICAL) / E_CRITICAL) + c
        bpar = 0.5 * np.exp(rng.normal(0, 0.08, size=b)) * (0.6 if hadron else 1.0)
        a = np.maximum(1.2, tmax * bpar + 1) * np.exp(rng.normal(0, 0.1, size=b))
        depth = rng.gamma(a[owner], 1.0 / bpar[owner]) + t0[owner]
        mip = ~interacts[owner]
        depth[mip] = rng.uniform(0, self.depth_x0, size=int(mip.sum()))
        # lateral: core + tail in Moliere radii, tail share growing with depth; hadrons wider and lumpy
        width = MOLIERE_MM * (3.0 if hadron else 1.0)
        tail = rng.random(m) < np.clip(0.1 + 0.02 * depth, 0.1, 0.6)
        r = np.where(tail, rng.exponential(0.7 * width, m), rng.exponential(0.12 * width, m))
        r[mip] = rng.exponential(0.5, size=int(mip.sum()))
        phi = rng.uniform(-math.pi, math.pi, m)
        x, y = r * np.cos(phi), r * np.sin(phi)
        if hadron:  # sub-showers: each deposit belongs to one of 3 clusters offset from the axis
            offsets = rng.normal(0, 1.2 * MOLIERE_MM, size=(b, 3, 2))
            pick = rng.integers(0, 3, m)
            x = x + np.where(mip, 0, offsets[owner, pick, 0])
            y = y + np.where(mip, 0, offsets[owner, pick, 1])
        # energies: fluctuating weights normalised so that each shower's deposits sum to its E_dep
        w = rng.gamma(2.0, 1.0, m)
        energy = w * (e_dep / np.bincount(owner, weights=w, minlength=b))[owner]
        cells, over = self._bin(owner, depth, x, y, energy, b)
        return cells, over, e_dep, {"owner": owner, "depth": depth, "x": x, "y": y, "energy": energy}

    def _bin(self, owner, depth, x, y, energy, b) -> tuple[np.ndarray, np.ndarray]:
        """Deposits -> cells (b, n_cells) and per-layer overflow (b, n_layers), float32: each layer finds the cells
        of its own deposits, then one weighted count over all (the cost follows the deposits, not b x n_cells per
        layer)."""
        g = self.geometry
        n, n_layers = g.n_cells, len(g.layers)
        flat, flat_w, out_idx, out_w = [], [], [], []
        # each deposit's layer (sorted by front; -1 in none), then the deposits grouped by layer in their order
        fronts = np.array([layer.depth[0] for layer in g.layers])
        backs = np.array([layer.depth[1] for layer in g.layers])
        by_front = np.argsort(fronts, kind="stable")
        pos = np.searchsorted(fronts[by_front], depth, side="right") - 1
        k_of = np.where(pos >= 0, by_front[np.maximum(pos, 0)], -1)
        k_of = np.where((k_of >= 0) & (depth < backs[np.maximum(k_of, 0)]), k_of, -1)
        order = np.argsort(k_of, kind="stable")
        bounds = np.searchsorted(k_of[order], np.arange(n_layers + 1), side="left")
        for k, (layer, sl) in enumerate(zip(g.layers, g.layer_slices())):
            inside = order[bounds[k]:bounds[k + 1]]
            cell = layer.cell_of(x[inside], y[inside])
            hit = cell >= 0
            flat.append(owner[inside[hit]] * n + sl.start + cell[hit])
            flat_w.append(energy[inside[hit]])
            out_idx.append(owner[inside[~hit]] * n_layers + k)
            out_w.append(energy[inside[~hit]])
        cells = np.bincount(np.concatenate(flat), weights=np.concatenate(flat_w), minlength=b * n)
        over = np.bincount(np.concatenate(out_idx), weights=np.concatenate(out_w), minlength=b * n_layers)
        return cells.reshape(b, n).astype(np.float32), over.reshape(b, n_layers).astype(np.float32)
