"""Calorimeter-shower surrogates: a CaloGAN-style timing table and CaloChallenge-style physics checks.

1. Simulate a training set and a separate reference set with the project's Monte-Carlo simulator.
2. Train an energy-conditioned VAE (`cvae`) and an energy-conditioned WGAN-GP (`cgan --loss wgan-gp`) on the
   training set. Both see each shower as its cells' log-scaled fractions of the shower's total plus the log
   total (`--scaling fractions`), conditioned on [log10 E, particle one-hot] (standardised). The VAE's decoder
   is a hurdle likelihood (per cell: probability of being non-empty, Gaussian of the log-scaled fraction) and
   its samples are draws from it. Cosine learning-rate decay for both.
3. Generate showers at the reference set's incident energies; compare observables (separation power),
   a classifier's AUC, and response / resolution.
4. Time the simulator and each surrogate at batch sizes 1, 10, 128, 1024 (ms per shower, CPU threads as
   given; on a GPU too when one is present).

Prints one JSON object and a Markdown timing table. Usage:
    python benchmarks/shower_timing.py [--particle e+] [--train 20000] [--reference 5000] [--epochs-vae 40]
                                       [--epochs-gan 100] [--models cvae,wgan-gp] [--threads 2]
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
from latentforge.analysis.showers import validate
from latentforge.data.simulators import ShowerSimulator, write_showers
from latentforge.data.simulators.showers import conditions

BATCHES = (1, 10, 128, 1024)


def time_simulator(particle: str, seed: int) -> dict[int, float]:
    sim = ShowerSimulator(seed=seed)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--particle", default="e+", choices=("e+", "gamma", "pi+"))
    p.add_argument("--train", type=int, default=20000)
    p.add_argument("--reference", type=int, default=5000)
    p.add_argument("--epochs-vae", type=int, default=40)
    p.add_argument("--epochs-gan", type=int, default=100)
    p.add_argument("--models", default="cvae,wgan-gp", help="comma-separated subset of cvae,wgan-gp")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    warnings.simplefilter("ignore")
    out = Path(a.out or tempfile.mkdtemp(prefix="showers-"))
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    train = ShowerSimulator(seed=a.seed).simulate(a.train, a.particle)
    sim_seconds = time.perf_counter() - t0
    ref = ShowerSimulator(seed=a.seed + 1000).simulate(a.reference, a.particle)
    write_showers(out / "train.h5", train)
    ref_cond = conditions(ref["incident_energies"], ref["particle"])

    common = dict(cond_key="conditions", condition="vector", scaling="fractions", lr_schedule="cosine",
                  seed=a.seed, progress=False, overwrite=True, val_fraction=0.05, test_fraction=0.0, patience=0)
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    runs, train_seconds = {}, {}
    if "cvae" in models:
        t0 = time.perf_counter()
        runs["cvae"] = lf.train("cvae", out / "train.h5", out=out / "cvae", likelihood="hurdle", latent_dim=16,
                                hidden=(512, 256), epochs=a.epochs_vae, batch_size=128, lr=2e-3, **common)
        train_seconds["cvae"] = time.perf_counter() - t0
    if "wgan-gp" in models:
        t0 = time.perf_counter()
        runs["wgan-gp"] = lf.train("cgan", out / "train.h5", out=out / "wgan", loss="wgan-gp", n_critic=5, lr_g=1e-4,
                                   lr_d=1e-4, beta1=0.0, beta2=0.9, dropout=0.0, output="sigmoid", latent_dim=32,
                                   g_hidden=(256, 512), d_hidden=(512, 256), epochs=a.epochs_gan, batch_size=128,
                                   sample_every=0, **common)
        train_seconds["wgan-gp"] = time.perf_counter() - t0

    result = {"benchmark": "shower_timing", "particle": a.particle, "device": "cpu", "train_showers": a.train,
              "reference_showers": a.reference, "threads": a.threads, "torch": torch.__version__,
              "simulator_ms_per_shower_in_training_set": round(1000 * sim_seconds / a.train, 3),
              "train_seconds": {k: round(v, 1) for k, v in train_seconds.items()}}
    timing = {"simulator": time_simulator(a.particle, a.seed)}
    for name, run in runs.items():
        gen = {"showers": run.sample(a.reference, ref_cond, seed=a.seed), "incident_energies": ref["incident_energies"]}
        v = validate(ref, gen, seed=a.seed)
        result[name] = {"auc": round(v["auc"], 4), "S_E_total_over_E_inc": round(v["S_E_total_over_E_inc"], 5),
                        "separation_power": {k: round(s, 4) for k, s in v["separation_power"].items()},
                        "response_generated": v["response_generated"]}
        result["response_reference"] = v["response_reference"]
        from latentforge.analysis.plots import save_figure
        from latentforge.analysis.showers import histogram_figure

        save_figure(histogram_figure(ref, gen), out / f"observables_{name}.png")
        timing[name] = time_surrogate(run, ref_cond)
    result["ms_per_shower"] = {k: {str(b): round(t, 4) for b, t in v.items()} for k, v in timing.items()}
    result["speedup_at_1024"] = {k: round(timing["simulator"][1024] / timing[k][1024], 1) for k in runs}
    result["goals"] = "surrogate <= 0.5 ms/shower at batch 1024; AUC <= 0.75; S(E_total/E_inc) <= 0.01"
    result["out"] = str(out)
    print(json.dumps(result))
    print()
    print("| ms / shower (CPU, %d threads) | batch 1 | batch 10 | batch 128 | batch 1024 |" % a.threads)
    print("|---|---|---|---|---|")
    for k, v in timing.items():
        print(f"| {k} | " + " | ".join(f"{v[b]:.4g}" for b in BATCHES) + " |")
    for k in runs:
        print(f"| speed-up of {k} | " + " | ".join(f"{timing['simulator'][b] / timing[k][b]:.3g}x" for b in BATCHES)
              + " |")
    if runs:
        print()
        print(f"| separation power S ({a.particle}) | " + " | ".join(runs) + " |")
        print("|---|" + "---|" * len(runs))
        for obs in result[next(iter(runs))]["separation_power"]:
            print(f"| {obs} | " + " | ".join(f"{result[k]['separation_power'][obs]:.4f}" for k in runs) + " |")
        print("| classifier AUC | " + " | ".join(f"{result[k]['auc']:.4f}" for k in runs) + " |")


if __name__ == "__main__":
    main()
