"""``latentforge simulate spectra`` (galaxy spectra with per-pixel sigma, masks, clean truth and parameters, as
HDF5) and ``latentforge demo --spectra``."""

from __future__ import annotations

import time


def add_simulate_flags(sim) -> None:
    """The spectrum simulator's flags."""
    sim.add_argument("--pixels", type=int, default=2048,
                     help="spectra: pixels of the log-wavelength grid, 3800-9200 Å (default: 2048)")
    sim.add_argument("--snr-range", type=float, nargs=2, default=(3.0, 40.0), metavar=("LOW", "HIGH"),
                     help="spectra: median S/N per pixel, log-uniform (default: 3 40)")
    sim.add_argument("--outlier-fraction", type=float, default=0.0,
                     help="spectra: share of broad-line objects, flagged in broad_line (default: 0)")


def simulate(a) -> tuple[dict, str]:
    """Simulate ``a.n`` spectra and write ``a.out``; (record, summary)."""
    from .simulator import SpectrumSimulator, write_spectra

    t0 = time.perf_counter()
    sim = SpectrumSimulator(n_pix=a.pixels, snr_range=tuple(a.snr_range), seed=a.seed)
    data = sim.simulate(a.n, outlier_fraction=a.outlier_fraction)
    seconds = time.perf_counter() - t0
    write_spectra(a.out, data)
    return ({"file": a.out, "n": a.n, "pixels": a.pixels, "wavelength_range": [
        round(float(sim.wavelength[0]), 1), round(float(sim.wavelength[-1]), 1)], "snr_range": a.snr_range,
        "masked_fraction": round(float(data["mask"].mean()), 4), "broad_line": int(data["broad_line"].sum()),
        "ms_per_spectrum": round(1000 * seconds / a.n, 3)}, f"simulated {a.n} spectra")


def add_demo_flags(dm) -> None:
    """``demo --spectra``'s own flags."""
    dm.add_argument("-n", type=int, default=3000, help="--spectra: number of simulated spectra (default: 3000)")
    dm.add_argument("--pixels", type=int, default=2048, help="--spectra: pixels per spectrum (default: 2048)")


def demo(a) -> None:
    """``latentforge demo --spectra``: the spectra story (``demo.run_spectra_demo``)."""
    from .demo import run_spectra_demo

    run_spectra_demo(out=a.out or "latentforge-demo-spectra", n=a.n, pixels=a.pixels, epochs=a.epochs or 40,
                     seed=a.seed, progress=not a.no_progress, device=a.device)
