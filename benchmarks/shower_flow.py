"""The two-stage shower surrogate (``shower-flow-vae``) against the one-stage conditional VAE (``cvae``, the recipe
of benchmarks/shower_timing.py) on the project's simulated showers of one particle.

1. Simulate ``--train`` training and ``--reference`` reference showers (CaloGAN's 504-cell geometry by default,
   incident energies log-uniform in 1-100 GeV, files in MeV) with the project's simulator.
2. Train ``cvae`` (fractions-response scaling, hurdle likelihood, condition [log10 E / GeV, one-hot particle])
   and ``shower-flow-vae`` (its defaults: shower-layers scaling, free bits, gmm codes) for ``--epochs`` each.
3. Generate at the reference set's incident energies and compare: the project's classifier AUC (with its
   bootstrap error), the separation power S of E_total / E_inc and of every observable, the shape VAE's KL
   and active units on the validation rows, training seconds, ms per shower at batch 1024 (CPU).

Prints one JSON object and a Markdown table. Usage:
    python benchmarks/shower_flow.py [--particle e+] [--train 6000] [--reference 3000] [--epochs N]

Without --epochs / --batch-size each model trains with its catalogue defaults (what a plain ``latentforge train``
gives). The separation power of two finite samples of one distribution is not 0: with 40 bins and N showers per
set it is about 40 / (2 N) (0.0067 at N = 3000), which the floor row measures.
"""

from __future__ import annotations

import argparse
import os
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import latentforge as lf
from latentforge.domains.showers.calo_dnn import dnn_auc
from latentforge.domains.showers.files import read_showers, write_showers
from latentforge.domains.showers.simulator import ShowerSimulator
from latentforge.domains.showers.units import ENERGY_UNITS
from latentforge.domains.showers.validation import validate


def train(model: str, data: Path, out: Path, a, **options) -> tuple[object, float]:
    t0 = time.perf_counter()
    given = {k: v for k, v in (("epochs", a.epochs), ("batch_size", a.batch_size), ("time_limit", a.time_limit))
             if v is not None}
    run = lf.train(model, data, out=out, cond_key="conditions", lr_schedule="cosine", seed=a.seed, progress=False,
                   overwrite=True, val_fraction=0.05, test_fraction=0.0, patience=0, **given, **options)
    return run, time.perf_counter() - t0


def ms_per_shower(run, cond: np.ndarray, batch: int = 1024, reps: int = 5) -> float:
    c = np.resize(cond, (batch, cond.shape[1]))
    run.sample(batch, c)
    t0 = time.perf_counter()
    for i in range(reps):
        run.sample(batch, c, seed=i)
    return 1000 * (time.perf_counter() - t0) / (reps * batch)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--particle", default="e+")
    p.add_argument("--geometry", default="calogan")
    p.add_argument("--train", type=int, default=6000)
    p.add_argument("--reference", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=None, help="default: each model's catalogue default")
    p.add_argument("--batch-size", type=int, default=None, help="default: each model's catalogue default")
    p.add_argument("--time-limit", type=float, default=None, help="seconds of training per model (stops after the "
                   "epoch that passes it)")
    p.add_argument("--models", default="cvae,shower-flow-vae")
    p.add_argument("--dnn-epochs", type=int, default=50, help="epochs of the CaloChallenge DNN classifier (its 50)")
    p.add_argument("--dnn-folds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    warnings.simplefilter("ignore")
    out = Path(a.out or tempfile.mkdtemp(prefix="shower-flow-"))
    out.mkdir(parents=True, exist_ok=True)
    write_showers(out / "train.h5", ShowerSimulator(seed=a.seed, geometry=a.geometry).simulate(a.train, a.particle))
    write_showers(out / "reference.h5",
                  ShowerSimulator(seed=a.seed + 1000, geometry=a.geometry).simulate(a.reference, a.particle))
    ref = read_showers(out / "reference.h5")
    write_showers(out / "floor.h5",
                  ShowerSimulator(seed=a.seed + 2000, geometry=a.geometry).simulate(a.reference, a.particle))
    floor = read_showers(out / "floor.h5")
    recipes = {"cvae": dict(condition="vector", scaling="fractions-response", likelihood="hurdle", latent_dim=32,
                            hidden=(1024, 512), lr=2e-3),
               "shower-flow-vae": {}}
    result: dict = {"benchmark": "shower_flow", "particle": a.particle, "geometry": a.geometry,
                    "train_showers": a.train, "reference_showers": a.reference, "epochs": a.epochs,
                    "threads": a.threads, "torch": torch.__version__, "device": "cpu", "models": {}}

    def dnn(gen: dict) -> dict:
        return dnn_auc(ref["showers"], gen["showers"], ref["incident_energies"], gen["incident_energies"],
                       unit=ref["energy_unit"], folds=a.dnn_folds, epochs=a.dnn_epochs, seed=a.seed)

    def spread(v: dict, key: str) -> str:
        pairs = zip(v["response_reference"], v["response_generated"])
        vals = [g[key] / r[key] - (1 if key == "response" else 0) for r, g in pairs]
        return f"{min(vals):+.4f} .. {max(vals):+.4f}" if key == "response" else f"{min(vals):.3f} .. {max(vals):.3f}"

    gev = ENERGY_UNITS[ref["energy_unit"]]
    v = validate(ref, floor, seed=a.seed)
    d = dnn(floor)
    result["floor_simulator_vs_simulator"] = {"auc": round(v["auc"], 4), "auc_err": round(v["auc_err"], 4),
                                              "dnn_auc": round(d["auc"], 4), "dnn_auc_err": round(d["auc_err"], 4),
                                              "S_E_total_over_E_inc": round(v["S_E_total_over_E_inc"], 5),
                                              "response_reference": v["response_reference"],
                                              "resolution_ratio_range": spread(v, "resolution"),
                                              "response_diff_range": spread(v, "response")}
    for name in a.models.split(","):
        run, seconds = train(name, out / "train.h5", out / name, a, **recipes[name])
        gen = {"showers": run.sample(len(ref["showers"]), ref["conditions"], seed=a.seed),
               "incident_energies": ref["incident_energies"]}
        v = validate(ref, gen, seed=a.seed)
        d = dnn(gen)
        last = run.history[-1]
        result["models"][name] = {
            "auc": round(v["auc"], 4), "auc_err": round(v["auc_err"], 4), "auc_features": v["auc_features"],
            "dnn_auc": round(d["auc"], 4), "dnn_auc_err": round(d["auc_err"], 4), "dnn_fold_aucs": d["fold_aucs"],
            "S_E_total_over_E_inc": round(v["S_E_total_over_E_inc"], 5),
            "S_E_total_over_E_inc_err": round(v["S_E_total_over_E_inc_err"], 5),
            "worst": {k: (round(x, 4) if isinstance(x, float) else x) for k, x in v["worst_observable"].items()},
            "separation_power": {k: round(s, 4) for k, s in v["separation_power"].items()},
            "kl_nats_per_shower_val": round(float(last.get("val_kl", float("nan"))), 3),
            "active_units": last.get("active_units"), "latent_dim": run.model.latent_dim,
            "train_seconds": round(seconds, 1), "load_average_after_training": os.getloadavg(),
            "ms_per_shower_batch_1024": round(ms_per_shower(run, ref["conditions"]), 4),
            "response_reference": v["response_reference"], "response_generated": v["response_generated"]}
    result["dnn"] = {"folds": a.dnn_folds, "epochs": a.dnn_epochs, "features": "log10 E_inc / GeV, voxels / E_inc"}
    result["units"] = ("auc: the project's classifier (reference vs generated, its bootstrap error); dnn_auc: the "
                       "CaloChallenge's low-level DNN on linear voxels (mean of k test folds, error std / sqrt(k)); "
                       "floor: a second simulated set against the reference; S: separation "
                       "power of the histograms (0 same, 1 disjoint); KL in nats per shower of the shape VAE on the "
                       "validation rows (5 %); ms per shower of run.sample at batch 1024 on the CPU")
    result["out"] = str(out)
    print(json.dumps(result))
    print()
    fl = result["floor_simulator_vs_simulator"]
    print("| model | AUC (project's) | AUC (CaloChallenge DNN) | S(E_total/E_inc) | worst other S | KL (nats) / "
          "active units | trained in | ms/shower @1024 |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| simulator vs simulator (floor) | {fl['auc']:.4f} +- {fl['auc_err']:.4f} | {fl['dnn_auc']:.4f} +- "
          f"{fl['dnn_auc_err']:.4f} | {fl['S_E_total_over_E_inc']:.4f} | | | | |")
    for name, r in result["models"].items():
        print(f"| {name} | {r['auc']:.4f} +- {r['auc_err']:.4f} | {r['dnn_auc']:.4f} +- {r['dnn_auc_err']:.4f} | "
              f"{r['S_E_total_over_E_inc']:.4f} | "
              f"{r['worst']['S']:.4f} ({r['worst']['name']}) | {r['kl_nats_per_shower_val']} / {r['active_units']} "
              f"of {r['latent_dim']} | {r['train_seconds']:.0f} s | {r['ms_per_shower_batch_1024']:.4f} |")
    print()
    print("| E_inc bin (GeV) | showers | resolution: reference | " + " | ".join(
        f"{n}: resolution (ratio) | {n}: response / reference - 1" for n in result["models"]) + " |")
    print("|---|---|---|" + "---|---|" * len(result["models"]))
    for i, row in enumerate(fl["response_reference"]):
        cells = [f"{row['E_low'] * gev:.3g}-{row['E_high'] * gev:.3g}", str(row["n"]), f"{row['resolution']:.4f}"]
        for r in result["models"].values():
            g = r["response_generated"][i]
            cells += [f"{g['resolution']:.4f} ({g['resolution'] / row['resolution']:.3f})",
                      f"{g['response'] / row['response'] - 1:+.4f}"]
        print("| " + " | ".join(cells) + " |")
    print(f"| floor: a second simulated set | | | {fl['resolution_ratio_range']} (resolution ratio range) | "
          f"{fl['response_diff_range']} (response difference range) |")


if __name__ == "__main__":
    main()
