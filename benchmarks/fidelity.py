"""Fidelity and calibration of every generating model at its defaults, on data of several kinds, in one table.

For each case the model is trained exactly as a user would (``lf.train(model, data)``, no option beyond the ones
named in the case) and measured with ``evaluate`` on rows it did not train on:

- ``auc`` +- ``auc_error``: the classifier two-sample test (Lopez-Paz & Oquab 2017), generated vs held-out real
  rows, and ``auc_floor`` the same classifier on two halves of the real rows (what a perfect generator scores);
- ``fd_classifier``: Frechet distance in the project's digit-classifier features (images only);
- ``coverage_68`` / ``coverage_95``: held-out share of values inside the predictive's central intervals (models
  with a continuous predictive: Gaussian-decoder VAEs);
- ``nll_iwae``: the importance-sampled negative log-likelihood, nats per example **in the data's own units**,
  with the truth where it is known (the Gaussian toy);
- ``train_seconds``: wall-clock seconds of ``lf.train`` (and ``train_cpu_seconds``: CPU seconds, a fairer clock
  on a shared machine).

Cases: ``toy`` (a VAE on N(300, 50^2 I_4)), ``table`` (a VAE on a catalogue with columns in K, dex, mag and
erg/s/cm^2/A), ``spectra`` (``spectrum-vae`` on simulated galaxy spectra), and on the built-in MNIST
``vae`` / ``vae-gmm`` / ``vae-flow`` (the VAE with each prior sampler), ``vae-gaussian`` (a Gaussian decoder,
whose predictive calibration is measured), ``conv-vae``, ``gan``, ``dcgan``.

Goals (two CPU cores): toy and MNIST coverage 68 +- 3 % and 95 +- 2 %; toy ``nll_iwae`` within 0.2 nats of the
truth; the two-stage sampler's fd_classifier at most 0.8x that of N(0, I); the floor within 0.02 of 0.5.

Usage:
    python benchmarks/fidelity.py [--cases toy,table,...] [--rows N] [--epochs E] [--out results.json]

``--rows`` and ``--epochs`` (default: the defaults) shrink the MNIST cases for a quick look; the README's table
comes from a run without them. Prints one JSON object per case as it finishes, then the table.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import norm

import latentforge as lf

MNIST_CASES = {"vae": ("vae", {}), "vae-gaussian": ("vae", {"likelihood": "gaussian-shared"}),
               "vae-gmm": ("vae", {"prior_sampler": "gmm"}),
               "vae-flow": ("vae", {"prior_sampler": "flow"}), "conv-vae": ("conv-vae", {}),
               "gan": ("gan", {}), "dcgan": ("dcgan", {})}
CASES = ("toy", "table", "spectra", *MNIST_CASES)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def gaussian_toy(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(300.0, 50.0, (n, 4)).astype(np.float32)


def catalogue(n: int, seed: int) -> np.ndarray:
    """A stellar catalogue with correlated columns in four units: Teff (K), log g (dex), [Fe/H] (dex), a colour
    (mag) and a flux (erg/s/cm^2/A, about 1e-17)."""
    r = np.random.default_rng(seed)
    teff = r.normal(5500.0, 600.0, n)
    logg = 4.4 - 0.0004 * (teff - 5500.0) + r.normal(0, 0.15, n)
    feh = r.normal(-0.2, 0.3, n)
    colour = 0.65 - 0.00025 * (teff - 5500.0) + 0.1 * feh + r.normal(0, 0.02, n)
    flux = 1e-17 * np.exp(r.normal(0.0, 0.5, n)) * (teff / 5500.0) ** 4
    return np.stack([teff, logg, feh, colour, flux], 1)


def row(name: str, run, m: dict, seconds: float, cpu: float, **extra) -> dict:
    two = m.get("two_sample", {})
    cal = m.get("calibration", {})
    out = {"case": name, "model": run.name, "n_heldout": m.get("n"), "train_seconds": round(seconds, 1),
           "train_cpu_seconds": round(cpu, 1)}
    if two:
        out.update(auc=round(two["auc"], 4), auc_error=round(two["auc_error"], 4),
                   auc_floor=round(two["auc_floor"], 4), auc_floor_error=round(two["auc_floor_error"], 4))
        if "by_prior_sampler" in two:
            out["auc_by_prior_sampler"] = {k: round(v["auc"], 4) for k, v in two["by_prior_sampler"].items()}
    if "fd_classifier" in m:
        out["fd_classifier"] = round(m["fd_classifier"], 2)
    if cal:
        out.update(coverage_68=round(cal["coverage"]["0.68"], 4), coverage_95=round(cal["coverage"]["0.95"], 4))
    if "nll_iwae" in m:
        out["nll_iwae"] = round(m["nll_iwae"], 3)
    for key in ("mode_coverage", "min_class_share", "mean_confidence"):
        if key in m:
            out[key] = m[key]
    out.update(extra)
    return out


def timed_train(model: str, data, **options):
    t0, c0 = time.perf_counter(), cpu_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = lf.train(model, data, progress=False, **options)
    return run, time.perf_counter() - t0, cpu_seconds() - c0


def case(name: str, a, tmp: Path) -> dict:
    opts = {"epochs": a.epochs} if a.epochs else {}
    if name == "toy":
        run, s, c = timed_train("vae", gaussian_toy(2000, 0))
        fresh = gaussian_toy(2000, 5)
        m = run.evaluate(fresh, "all", k=1000)
        truth = float(-norm.logpdf(fresh, 300.0, 50.0).sum(1).mean())
        return row(name, run, m, s, c, nll_true=round(truth, 3))
    if name == "table":
        run, s, c = timed_train("vae", catalogue(4000, 0))
        return row(name, run, run.evaluate(catalogue(2000, 7), "all", k=200), s, c)
    if name == "spectra":
        from latentforge.domains.spectra.simulator import SpectrumSimulator, write_spectra

        path = tmp / "spectra.h5"
        write_spectra(path, SpectrumSimulator(n_pix=512, seed=0).simulate(3000))
        run, s, c = timed_train("spectrum-vae", path, **opts)
        held = tmp / "spectra-heldout.h5"
        write_spectra(held, SpectrumSimulator(n_pix=512, seed=1).simulate(1000))
        return row(name, run, run.evaluate(held, "all", k=100), s, c)
    model, options = MNIST_CASES[name]
    data = lf.load_dataset("mnist")
    if a.rows:
        data = data.subset(np.arange(a.rows))
    run, s, c = timed_train(model, data, **options, **opts)
    m = run.evaluate("mnist", "unseen", k=100)
    if "fd_classifier" not in m:  # evaluate scores a VAE by its likelihood; its samples are scored here alike
        from latentforge.analysis.quality import sample_quality

        m.update(sample_quality(run, "mnist", "unseen", seed=0))
    return row(name, run, m, s, c)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default=",".join(CASES), help="comma list of " + ", ".join(CASES))
    p.add_argument("--rows", type=int, default=0, help="MNIST training rows (0: the built-in set)")
    p.add_argument("--epochs", type=int, default=0, help="epochs for the MNIST and spectra cases (0: the default)")
    p.add_argument("--out", type=Path, help="also write the rows as a JSON list here")
    a = p.parse_args()
    names = [c.strip() for c in a.cases.split(",") if c.strip()]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        p.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            r = case(name, a, Path(tmp))
            print(json.dumps(r), flush=True)
            rows.append(r)
    cols = ("case", "auc", "auc_floor", "fd_classifier", "coverage_68", "coverage_95", "nll_iwae", "train_seconds")
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(k, "")) for k in cols) + " |")
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
