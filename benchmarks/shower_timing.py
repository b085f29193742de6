"""Calorimeter-shower surrogates across particles: CaloChallenge-style physics checks and a CaloGAN-style timing
table.

1. Simulate a training set of e+, photons and pi+ together (``--train`` showers of each, rows shuffled) and a
   separate reference set per particle with the project's Monte-Carlo simulator (sampling calorimeter: deposited
   energy = sampling fraction x E with a / sqrt(E) (+) b fluctuations; CaloGAN's 504-cell geometry by default;
   files in MeV as CaloChallenge stores them).
2. Train ONE energy- and particle-conditioned VAE (``cvae``, condition [log10 E / GeV, one-hot e+ / gamma /
   pi+]) on all particles; with ``--per-particle`` also one per particle with the same recipe. Each shower is
   seen as its cells' log-scaled fractions of its total plus the log total (``--scaling fractions``); the
   decoder is a hurdle likelihood (per cell: probability of being non-empty, Gaussian of the log-scaled
   fraction) and samples are draws from it. Cosine learning-rate decay.
3. For each particle, generate showers at the reference set's incident energies and compare observables
   (separation power), a classifier's AUC and response / resolution.
4. Time the simulator and the surrogate at batch sizes 1, 10, 128, 1024 (ms per shower, CPU threads as given).

Goals (issue 15): a training run within 30 minutes on 2 CPU cores; classifier AUC <= 0.65 for e+ and photons,
<= 0.75 for pi+; S(E_total / E_inc) <= 0.01 for all three; <= 0.5 ms per shower at batch 1024.

Prints one JSON object and Markdown tables. Usage:
    python benchmarks/shower_timing.py [--train 20000] [--reference 5000] [--epochs 60] [--per-particle]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import latentforge as lf
from latentforge.domains.showers.validation import validate
from latentforge.domains.showers.files import PARTICLES, read_showers
from latentforge.domains.showers.simulator import ShowerSimulator
from latentforge.domains.showers.files import write_showers

BATCHES = (1, 10, 128, 1024)
GOALS = {"e+": 0.65, "gamma": 0.65, "pi+": 0.75}


def time_simulator(particle: str, geometry: str, seed: int) -> dict[int, float]:
    sim = ShowerSimulator(seed=seed, geometry=geometry)
    out = {}
    for b in BATCHES:
        reps = max(1, 300 // b) if b < 1024 else 1
        t0 = time.perf_counter()
        for _ in range(reps):
            sim.simulate(b, particle, batch=min(b, 256))
        out[b] = 1000 * (time.perf_counter() - t0) / (reps * b)
    return out


def time_surrogate(run, cond: np.ndarray) -> dict[int, float]:
    out = {}
    for b in BATCHES:
        c = cond[:b] if len(cond) >= b else np.resize(cond, (b, cond.shape[1]))
        run.sample(b, c)  # warm-up
        reps = max(3, 2000 // b)
        t0 = time.perf_counter()
        for i in range(reps):
            run.sample(b, c, seed=i)
        out[b] = 1000 * (time.perf_counter() - t0) / (reps * b)
    return out


def train_cvae(data: Path, out: Path, a) -> tuple[object, float]:
    t0 = time.perf_counter()
    run = lf.train("cvae", data, out=out, cond_key="conditions", condition="vector", scaling=a.scaling,
                   likelihood="hurdle", latent_dim=a.latent_dim, hidden=tuple(int(h) for h in a.hidden.split(",")),
                   epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, lr_schedule="cosine", seed=a.seed,
                   progress=False, overwrite=True, val_fraction=0.05, test_fraction=0.0, patience=0)
    return run, time.perf_counter() - t0


def check(run, ref: dict, seed: int) -> dict:
    gen = {"showers": run.sample(len(ref["showers"]), ref["conditions"], seed=seed),
           "incident_energies": ref["incident_energies"]}
    v = validate(ref, gen, seed=seed)
    return {"auc": round(v["auc"], 4), "S_E_total_over_E_inc": round(v["S_E_total_over_E_inc"], 5),
            "worst": {"name": v["worst_observable"]["name"], "S": round(v["worst_observable"]["S"], 4)},
            "separation_power": {k: round(s, 4) for k, s in v["separation_power"].items()},
            "response_reference": v["response_reference"], "response_generated": v["response_generated"],
            "_gen": gen}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--particles", default=",".join(PARTICLES))
    p.add_argument("--geometry", default="calogan")
    p.add_argument("--train", type=int, default=20000, help="training showers per particle")
    p.add_argument("--reference", type=int, default=5000, help="reference showers per particle")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--latent-dim", type=int, default=32)
    p.add_argument("--hidden", default="1024,512")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--scaling", default="fractions-response", help="fractions-response (the log total relative to "
                   "a fit on the condition) or fractions")
    p.add_argument("--per-particle", action="store_true", help="also train one model per particle (same recipe)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for files, runs and plots (default: a temporary one)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    warnings.simplefilter("ignore")
    out = Path(a.out or tempfile.mkdtemp(prefix="showers-"))
    out.mkdir(parents=True, exist_ok=True)
    particles = tuple(s.strip() for s in a.particles.split(","))

    t0 = time.perf_counter()
    train = ShowerSimulator(seed=a.seed, geometry=a.geometry).simulate_mix(a.train, particles)
    sim_seconds = time.perf_counter() - t0
    write_showers(out / "train.h5", train)
    refs = {}
    for k, particle in enumerate(particles):
        write_showers(out / f"reference_{k}.h5",
                      ShowerSimulator(seed=a.seed + 1000 + k, geometry=a.geometry).simulate(a.reference, particle))
        refs[particle] = read_showers(out / f"reference_{k}.h5")

    runs, seconds = {}, {}
    runs["cross-particle cvae"], seconds["cross-particle cvae"] = train_cvae(out / "train.h5", out / "cvae-all", a)
    if a.per_particle:
        full = read_showers(out / "train.h5")
        for k, particle in enumerate(particles):
            rows = full["particle"] == PARTICLES.index(particle)
            part = {**full, "showers": full["showers"][rows], "incident_energies": full["incident_energies"][rows],
                    "particle": full["particle"][rows], "energy_unit": full["energy_unit"]}
            write_showers(out / f"train_{k}.h5", part, unit=full["energy_unit"])
            runs[f"{particle} cvae"], seconds[f"{particle} cvae"] = train_cvae(out / f"train_{k}.h5",
                                                                                out / f"cvae-{k}", a)

    from latentforge.analysis.plots import save_figure
    from latentforge.domains.showers.figures import histogram_figure

    result = {"benchmark": "shower_timing", "geometry": a.geometry, "particles": list(particles), "device": "cpu",
              "train_showers_per_particle": a.train, "reference_showers_per_particle": a.reference,
              "threads": a.threads, "torch": torch.__version__, "epochs": a.epochs, "latent_dim": a.latent_dim,
              "hidden": a.hidden, "scaling": a.scaling, "simulator_ms_per_shower_in_training_set": round(1000 * sim_seconds
                                                                                  / (a.train * len(particles)), 3),
              "train_seconds": {k: round(v, 1) for k, v in seconds.items()}, "checks": {}}
    for name, run in runs.items():
        for k, particle in enumerate(particles):
            if name.endswith("cvae") and not name.startswith("cross") and not name.startswith(particle + " "):
                continue
            c = check(run, refs[particle], a.seed)
            save_figure(histogram_figure(refs[particle], c.pop("_gen")), out / f"observables_{name[:5]}_{k}.png")
            result["checks"][f"{name} / {particle}"] = c
    timing = {f"simulator {p}": time_simulator(p, a.geometry, a.seed) for p in particles}
    mixed = np.concatenate([refs[p]["conditions"] for p in particles])
    mixed = mixed[np.random.default_rng(a.seed).permutation(len(mixed))]
    timing["cross-particle cvae"] = time_surrogate(runs["cross-particle cvae"], mixed)
    result["ms_per_shower"] = {k: {str(b): round(t, 4) for b, t in v.items()} for k, v in timing.items()}
    result["goals"] = ("AUC <= 0.65 (e+, gamma), <= 0.75 (pi+); S(E_total/E_inc) <= 0.01; <= 0.5 ms/shower at "
                       "batch 1024; training <= 30 min on 2 CPU cores")
    result["out"] = str(out)
    print(json.dumps(result))
    print()
    print(f"| model / particle | classifier AUC (goal) | S(E_total/E_inc) | worst other S | trained in |")
    print("|---|---|---|---|---|")
    for key, c in result["checks"].items():
        name, particle = key.split(" / ")
        print(f"| {key} | {c['auc']:.4f} (<= {GOALS.get(particle, 0.65)}) | {c['S_E_total_over_E_inc']:.4f} | "
              f"{c['worst']['S']:.4f} ({c['worst']['name']}) | {seconds[name]:.0f} s |")
    print()
    print(f"| ms / shower (CPU, {a.threads} threads) | " + " | ".join(f"batch {b}" for b in BATCHES) + " |")
    print("|---|" + "---|" * len(BATCHES))
    for k, v in timing.items():
        print(f"| {k} | " + " | ".join(f"{v[b]:.4g}" for b in BATCHES) + " |")
    for p_ in particles:
        sim = timing[f"simulator {p_}"]
        surr = timing["cross-particle cvae"]
        print(f"| speed-up over simulator {p_} | " + " | ".join(f"{sim[b] / surr[b]:.3g}x" for b in BATCHES) + " |")


if __name__ == "__main__":
    main()
