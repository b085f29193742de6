"""Calorimeter-shower surrogates per particle and on a CaloChallenge-dataset-2-shaped set: the CaloChallenge's
evaluation beside the project's, the response per energy bin, training seconds and generation speed.

Sets (the project's Monte-Carlo simulator, files in MeV as CaloChallenge stores them; incident energies
log-uniform in ``--energy-range`` GeV):
- one per particle of ``--particles`` (e+, gamma, pi+) in ``--geometry`` (CaloGAN's 504 cells by default);
- ``ds2`` (unless ``--no-ds2``): e+ in the CaloChallenge dataset-2 geometry (45 layers x 16 x 9 = 6480 voxels).
Each set has ``--train`` training showers (``--ds2-train`` for ds2) and ``--reference`` reference showers (a
separate seed). Per set and model of ``--models`` (the two-stage ``shower-flow-vae`` with its defaults; ``cvae``,
the one-stage conditional VAE of the earlier benchmark, for reference), trained ``--epochs`` epochs on the CPU:

1. generate as many showers as the reference set at its conditions (incident energy, particle);
2. ``domains.showers.validation.validate``: the project's classifier (boosted trees on log features) and the
   CaloChallenge's low-level (linear voxels) and high-level DNN classifiers, each AUC the mean over ``--folds``
   folds with its standard error, beside its floor (reference half against reference half: the simulator
   against itself); the separation power S of every observable (bootstrap errors); response E_total / E_inc
   and resolution per incident-energy bin, reference against generated;
3. training seconds (wall clock, ``--threads`` CPU threads) and ms per shower of ``run.sample`` at batch 1024 on
   the CPU, beside the simulator's at the same batch.

Goals (the issue's, at 20000 training showers per particle and <= 20 minutes of training on two CPU cores):
low-level DNN AUC <= 0.65 for e+ and gamma, <= 0.75 for pi+, <= 0.85 on the DS2-shaped set; S(E_total / E_inc)
<= 0.005; generated resolution within 10 % and response within 1 % of the simulator's in every bin; <= 0.05 ms
per shower at batch 1024 on the CPU.

Prints one JSON object, then Markdown tables. Usage (a quick run, then the full one):
    OMP_NUM_THREADS=1 python benchmarks/shower_timing.py --train 2000 --reference 1000 --epochs 5
    python benchmarks/shower_timing.py [--train 20000] [--reference 5000] [--epochs 60] [--models ...]
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
from latentforge.domains.showers.classifiers import NAMES
from latentforge.domains.showers.files import read_showers, write_showers
from latentforge.domains.showers.simulator import ShowerSimulator
from latentforge.domains.showers.units import to_gev
from latentforge.domains.showers.validation import validate

GOALS = {"e+": 0.65, "gamma": 0.65, "pi+": 0.75, "ds2": 0.85}
SHORT = {"project": "project (trees)", "calochallenge_low_level": "DNN low-level",
         "calochallenge_high_level": "DNN high-level"}
BATCH = 1024


def recipe(model: str) -> dict:
    """The training options of each model (``shower-flow-vae``: its own defaults)."""
    if model == "cvae":
        return dict(condition="vector", scaling="fractions-response", likelihood="hurdle", latent_dim=32,
                    hidden=(1024, 512), lr=2e-3)
    return {}


def ms_per_shower(sample, cond: np.ndarray, reps: int = 3) -> float:
    """ms per shower of ``sample(n, cond, seed)`` at batch BATCH (after one warm-up call)."""
    c = np.resize(cond, (BATCH, cond.shape[1]))
    sample(BATCH, c, 0)
    t0 = time.perf_counter()
    for i in range(reps):
        sample(BATCH, c, i + 1)
    return 1000 * (time.perf_counter() - t0) / (reps * BATCH)


def simulator_ms(particle: str, geometry: str, energy_range, seed: int) -> float:
    sim = ShowerSimulator(seed=seed, geometry=geometry)
    t0 = time.perf_counter()
    sim.simulate(BATCH, particle, energy_range)
    return 1000 * (time.perf_counter() - t0) / BATCH


def make_set(out: Path, key: str, particle: str, geometry: str, n_train: int, n_ref: int, energy_range,
             seed: int) -> tuple[Path, dict]:
    write_showers(out / f"{key}_train.h5",
                  ShowerSimulator(seed=seed, geometry=geometry).simulate(n_train, particle, energy_range))
    write_showers(out / f"{key}_reference.h5",
                  ShowerSimulator(seed=seed + 1000, geometry=geometry).simulate(n_ref, particle, energy_range))
    return out / f"{key}_train.h5", read_showers(out / f"{key}_reference.h5")


def check(name: str, ref: dict, run, seconds: float, a, floors: dict | None) -> dict:
    gen = {"showers": run.sample(len(ref["showers"]), ref["conditions"], seed=a.seed),
           "incident_energies": ref["incident_energies"]}
    v = validate(ref, gen, seed=a.seed, folds=a.folds, dnn_epochs=a.dnn_epochs, floors=floors)
    c = v["classifiers"]
    sep, err = v["separation_power"], v["separation_power_err"]
    bins = [{"E_GeV": [round(float(to_gev(r["E_low"], r["unit"])), 3), round(float(to_gev(r["E_high"], r["unit"])), 3)],
             "n": r["n"],
             "response_reference": round(r["response"], 5), "response_generated": round(g["response"], 5),
             "response_ratio": round(g["response"] / r["response"], 4),
             "resolution_reference": round(r["resolution"], 5), "resolution_generated": round(g["resolution"], 5),
             "resolution_ratio": round(g["resolution"] / r["resolution"], 4)}
            for r, g in zip(v["response_reference"], v["response_generated"])]
    return {"model": name, "train_seconds": round(seconds, 1),
            "ms_per_shower_batch_1024": round(ms_per_shower(lambda n, cc, s: run.sample(n, cc, seed=s),
                                                            ref["conditions"]), 4),
            "classifiers": {k: {f: (round(x, 4) if isinstance(x, float) else x) for f, x in c[k].items()
                                if f not in ("fold_aucs", "floor_fold_aucs")} for k in NAMES if k in c},
            "classifiers_skipped": c.get("skipped", {}), "n_per_side": c["n_per_side"], "folds": c["folds"],
            "S_E_total_over_E_inc": round(sep["E_total/E_inc"], 5),
            "S_E_total_over_E_inc_err": round(err["E_total/E_inc"], 5),
            "worst_observable": {k: (round(x, 4) if isinstance(x, float) else x)
                                 for k, x in v["worst_observable"].items()},
            "median_S": round(float(np.median(list(sep.values()))), 4),
            "separation_power": {k: [round(s, 4), round(err.get(k, float("nan")), 4)] for k, s in sep.items()},
            "response_per_bin": bins, "_floors": c}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--particles", default="e+,gamma,pi+", help="comma-separated; '' for none")
    p.add_argument("--geometry", default="calogan")
    p.add_argument("--no-ds2", action="store_true", help="leave out the CaloChallenge-dataset-2-shaped set")
    p.add_argument("--train", type=int, default=20000, help="training showers per particle")
    p.add_argument("--ds2-train", type=int, default=None, help="training showers of the ds2 set (default --train)")
    p.add_argument("--reference", type=int, default=5000, help="reference showers per set")
    p.add_argument("--energy-range", default="1,100", help="incident energies, GeV (log-uniform)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--models", default="shower-flow-vae,cvae")
    p.add_argument("--folds", type=int, default=5, help="folds of every classifier test")
    p.add_argument("--dnn-epochs", type=int, default=50, help="epochs of the CaloChallenge DNN (its 50)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for files and runs (default: a temporary one)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    warnings.simplefilter("ignore")
    out = Path(a.out or tempfile.mkdtemp(prefix="shower-timing-"))
    out.mkdir(parents=True, exist_ok=True)
    lo, hi = (float(v) for v in a.energy_range.split(","))
    sets = [(pt, pt, a.geometry, a.train) for pt in (s.strip() for s in a.particles.split(",")) if pt]
    if not a.no_ds2:
        sets.append(("ds2", "e+", "calochallenge-2", a.ds2_train or a.train))
    result: dict = {"benchmark": "shower_timing", "device": "cpu", "threads": a.threads, "torch": torch.__version__,
                    "epochs": a.epochs, "reference_showers": a.reference, "energy_range_GeV": [lo, hi],
                    "folds": a.folds, "dnn_epochs": a.dnn_epochs, "sets": {}}
    for k, (key, particle, geometry, n_train) in enumerate(sets):
        train_file, ref = make_set(out, key, particle, geometry, n_train, a.reference, (lo, hi), a.seed + 10 * k)
        entry: dict = {"particle": particle, "geometry": geometry, "cells": int(ref["showers"].shape[1]),
                       "train_showers": n_train, "models": {},
                       "simulator_ms_per_shower_batch_1024": round(simulator_ms(particle, geometry, (lo, hi),
                                                                                a.seed), 4)}
        floors = None
        for model in a.models.split(","):
            t0 = time.perf_counter()
            run = lf.train(model, train_file, out=out / f"{key}-{model}", cond_key="conditions", epochs=a.epochs,
                           batch_size=a.batch_size, lr_schedule="cosine", seed=a.seed, progress=False,
                           overwrite=True, val_fraction=0.05, test_fraction=0.0, patience=0, **recipe(model))
            c = check(model, ref, run, time.perf_counter() - t0, a, floors)
            floors = c.pop("_floors")  # the floors depend on the reference set only: measured once per set
            entry["models"][model] = c
        result["sets"][key] = entry
    result["units"] = ("AUC: mean over folds ± standard error (std of the fold AUCs / sqrt(folds)), floor: reference "
                       "half vs reference half, n_per_side showers a side; S: separation power of the histograms "
                       "(0 same, 1 disjoint) [value, bootstrap error]; response: mean E_total / E_inc per bin, "
                       "resolution: its std / mean; train_seconds wall clock; ms per shower of run.sample at batch "
                       "1024 on the CPU")
    result["out"] = str(out)
    print(json.dumps(result))
    print_tables(result)


def print_tables(result: dict) -> None:
    print("\n| set / model | " + " | ".join(f"AUC {SHORT[n]} (floor)" for n in NAMES) +
          " | S(E_tot/E_inc) | worst S | median S | trained | ms/shower @1024 (sim) |")
    print("|---|" + "---|" * (len(NAMES) + 5))
    for key, s in result["sets"].items():
        for model, r in s["models"].items():
            cells = []
            for n in NAMES:
                c = r["classifiers"].get(n)
                cells.append(f"{c['auc']:.3f} ± {c['auc_err']:.3f} ({c['floor']:.3f} ± {c['floor_err']:.3f})"
                             if c else "not run")
            w = r["worst_observable"]
            print(f"| {key} / {model} | " + " | ".join(cells) + f" | {r['S_E_total_over_E_inc']:.4f} ± "
                  f"{r['S_E_total_over_E_inc_err']:.4f} | {w['S']:.3f} ({w['name']}) | {r['median_S']:.3f} | "
                  f"{r['train_seconds']:.0f} s | {r['ms_per_shower_batch_1024']:.4f} "
                  f"({s['simulator_ms_per_shower_batch_1024']:.3f}) |")
    print("\nGoal of the low-level DNN AUC: " + ", ".join(f"{k} <= {v}" for k, v in GOALS.items()))
    print("\n| set / model | E_inc (GeV) | n | response ref / gen (ratio) | resolution ref / gen (ratio) |")
    print("|---|---|---|---|---|")
    for key, s in result["sets"].items():
        for model, r in s["models"].items():
            for b in r["response_per_bin"]:
                print(f"| {key} / {model} | {b['E_GeV'][0]:.3g}-{b['E_GeV'][1]:.3g} | {b['n']} | "
                      f"{b['response_reference']:.4f} / {b['response_generated']:.4f} ({b['response_ratio']:.3f}) | "
                      f"{b['resolution_reference']:.4f} / {b['resolution_generated']:.4f} "
                      f"({b['resolution_ratio']:.3f}) |")


if __name__ == "__main__":
    main()
