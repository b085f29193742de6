"""Two-dimensional mode-collapse benchmarks with known modes, generated here (seeded, no download):

``ring8``       8 Gaussians on a circle of radius 2, standard deviation 0.02 each (VEEGAN: Srivastava, Valkov,
                Russell, Gutmann & Sutton 2017, section 5.1)
``grid25``      25 Gaussians at (-4 + 2i, -4 + 2j), i, j = 0..4, standard deviation 0.05 each (VEEGAN; PacGAN:
                Lin, Khetan, Fanti & Oh 2018, section 5)
``cs771-ring``  a continuous ring: x ~ N(0, I_2), y = x / 10 + x / ||x|| (radius 1 + ||x|| / 10); its "modes" are
                16 equal angular sectors, so that coverage of the whole ring can be counted the same way

A generated point is *high quality* when it lies within 3 standard deviations of a mode: its distance to the
nearest centre is <= 3 sigma (a ring: its radius within 3 standard deviations of the ring's mean radius). A mode
is *covered* when it receives at least 20 high-quality points per 2500 samples (PacGAN's rule). Units are those
of the data (no physical unit).
"""

from __future__ import annotations

import math

import numpy as np

from ...registry import Registry
from ...errors import DataError

#: PacGAN: a mode counts as covered with at least this many high-quality samples out of COVER_PER
COVER_MIN, COVER_PER = 20, 2500
#: points in each built-in mode-collapse data set
N_POINTS = 10000


class ModeBenchmark:
    """A 2-D distribution with countable modes: ``sample``, ``assign`` (nearest mode, high-quality flag),
    ``density`` (for pictures) and the plotting ``extent``."""

    name: str = ""
    n_modes: int = 0
    summary: str = ""
    extent: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n points (n, 2) float32 and the index of the mode each was drawn from (n,) int64."""
        raise NotImplementedError  # pragma: no cover - abstract

    def assign(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For points (n, 2): the nearest mode (n,) and whether each is high quality (n,) bool."""
        raise NotImplementedError  # pragma: no cover - abstract

    def density(self, xy: np.ndarray) -> np.ndarray:
        """The true probability density at points (m, 2) -> (m,)."""
        raise NotImplementedError  # pragma: no cover - abstract


class GaussianMixture(ModeBenchmark):
    """Equal-weight isotropic Gaussians with centres (K, 2) and one standard deviation ``std``."""

    def __init__(self, name: str, centres: np.ndarray, std: float, summary: str):
        self.name, self.summary = name, summary
        self.centres = np.asarray(centres, np.float64)
        self.std = float(std)
        self.n_modes = len(self.centres)
        lo, hi = self.centres.min(0) - 1.0, self.centres.max(0) + 1.0
        self.extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))

    def sample(self, n, rng):
        mode = rng.integers(0, self.n_modes, size=n)
        x = self.centres[mode] + self.std * rng.standard_normal((n, 2))
        return x.astype(np.float32), mode.astype(np.int64)

    def assign(self, x):
        d = np.linalg.norm(np.asarray(x, np.float64)[:, None, :] - self.centres[None], axis=2)  # (n, K)
        mode = d.argmin(1)
        return mode, d[np.arange(len(x)), mode] <= 3.0 * self.std

    def density(self, xy):
        d2 = ((np.asarray(xy, np.float64)[:, None, :] - self.centres[None]) ** 2).sum(2)
        return np.exp(-0.5 * d2 / self.std ** 2).mean(1) / (2 * math.pi * self.std ** 2)


class CS771Ring(ModeBenchmark):
    """y = x / 10 + x / ||x|| for x ~ N(0, I_2): radius r = 1 + s / 10 with s ~ Rayleigh(1), uniform angle."""

    name = "cs771-ring"
    n_modes = 16
    summary = "x ~ N(0, I), y = x / 10 + x / ||x||: a ring of radius 1.13 (16 angular sectors count as modes)"
    extent = (-1.6, 1.6, -1.6, 1.6)
    #: mean and standard deviation of the radius, 1 + s / 10 with s ~ Rayleigh(1)
    r_mean = 1.0 + 0.1 * math.sqrt(math.pi / 2)
    r_std = 0.1 * math.sqrt((4 - math.pi) / 2)

    def sample(self, n, rng):
        x = rng.standard_normal((n, 2))
        y = x / 10.0 + x / np.linalg.norm(x, axis=1, keepdims=True)
        return y.astype(np.float32), self._sector(y)

    def _sector(self, y: np.ndarray) -> np.ndarray:
        angle = np.arctan2(y[:, 1], y[:, 0]) % (2 * math.pi)
        return np.minimum((angle / (2 * math.pi) * self.n_modes).astype(np.int64), self.n_modes - 1)

    def assign(self, x):
        x = np.asarray(x, np.float64)
        r = np.linalg.norm(x, axis=1)
        return self._sector(x), np.abs(r - self.r_mean) <= 3.0 * self.r_std

    def density(self, xy):
        r = np.linalg.norm(np.asarray(xy, np.float64), axis=1)
        s = 10.0 * (r - 1.0)  # the Rayleigh variable; density of r is 10 * rayleigh(s)
        radial = np.where(s > 0, 10.0 * s * np.exp(-0.5 * s ** 2), 0.0)
        return radial / (2 * math.pi * np.maximum(r, 1e-9))


_ring_angles = 2 * math.pi * np.arange(8) / 8
MODE_BENCHMARKS: Registry[ModeBenchmark] = Registry("mode benchmark", error=DataError)
for _b in (GaussianMixture("ring8", 2.0 * np.stack([np.cos(_ring_angles), np.sin(_ring_angles)], 1), 0.02,
                           "8 Gaussians on a circle of radius 2, std 0.02 (VEEGAN)"),
           GaussianMixture("grid25", np.array([(-4.0 + 2 * i, -4.0 + 2 * j) for i in range(5) for j in range(5)]), 0.05,
                           "25 Gaussians on a 5 x 5 grid of spacing 2, std 0.05 (VEEGAN, PacGAN)"),
           CS771Ring()):
    MODE_BENCHMARKS.register(_b.name, _b)


def load_modes(name: str, n: int = N_POINTS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The built-in points of benchmark ``name``: (n, 2) float32 and their mode indices (n,) as labels."""
    return MODE_BENCHMARKS.get(name).sample(n, np.random.default_rng(seed))


def mode_statistics(benchmark: ModeBenchmark, x: np.ndarray) -> dict:
    """Modes covered, the share of high-quality points and the KL divergence of the high-quality points' mode
    histogram from the uniform one (0: every mode equally often) for points (n, 2)."""
    mode, good = benchmark.assign(x)
    counts = np.bincount(mode[good], minlength=benchmark.n_modes)
    need = max(1, int(math.ceil(COVER_MIN * len(x) / COVER_PER)))
    p = counts / max(counts.sum(), 1)
    nz = p > 0
    kl = float(np.sum(p[nz] * np.log(p[nz] * benchmark.n_modes))) if counts.sum() else float("inf")
    return {"modes_covered": int((counts >= need).sum()), "modes_total": benchmark.n_modes,
            "high_quality": float(good.mean()), "mode_kl": kl, "mode_counts": counts.tolist(),
            "cover_threshold": need, "n_samples": int(len(x))}
