"""A CaloChallenge dataset-2-shaped run: 45 layers x 16 angular x 9 radial bins = 6480 voxels, energies in MeV.

1. Simulate e+ showers binned into the dataset-2 geometry (``--geometry calochallenge-2``; a training file and a
   separate reference file, CaloChallenge layout: ``showers`` (N, 6480), ``incident_energies`` (N, 1) in MeV).
2. Train an energy-conditioned VAE (fractions-response scaling, hurdle decoder) through the command line.
3. ``latentforge evaluate`` on the reference file: the full validation table (separation power of every
   observable of every layer, classifier AUC on per-ring energies, response per energy bin).

Prints the evaluate JSON and a Markdown summary (per observable kind: median and worst layer). Usage:
    python benchmarks/calochallenge_ds2.py [--train 10000] [--reference 3000] [--epochs 30]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from latentforge.analysis.plots import save_figure
from latentforge.domains.showers.figures import histogram_figure, layer_profile_figure
from latentforge.domains.showers.validation import PER_LAYER
from latentforge.cli.main import main as cli
from latentforge.domains.showers.files import read_showers
from latentforge.run import load


def run(args: list[str]) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli(args)
    if code:
        raise SystemExit(f"latentforge {' '.join(args)} failed ({code})")
    return buf.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=int, default=10000)
    p.add_argument("--reference", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--particle", default="e+")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out or tempfile.mkdtemp(prefix="ds2-"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    common = ["--geometry", "calochallenge-2", "--particle", a.particle, "--energy-range", "1", "100"]
    run(["simulate", "--json", "showers", "-n", str(a.train), "--seed", "0", *common, "--out", str(out / "train.hdf5")])
    run(["simulate", "--json", "showers", "-n", str(a.reference), "--seed", "1", *common, "--out", str(out / "reference.hdf5")])
    t1 = time.perf_counter()
    run(["train", "cvae", "--data", str(out / "train.hdf5"), "--cond-key", "conditions", "--condition", "vector",
         "--scaling", "fractions-response", "--likelihood", "hurdle", "--latent-dim", "16", "--hidden", "512,256",
         "--epochs", str(a.epochs), "--lr", "1e-3", "--lr-schedule", "cosine", "--batch-size", "128",
         "--no-progress", "--overwrite", "--out", str(out / "cvae")])
    t2 = time.perf_counter()
    m = json.loads(run(["evaluate", "--json", str(out / "cvae"), "--data", str(out / "reference.hdf5"), "--k", "20"]))
    t3 = time.perf_counter()
    m["seconds"] = {"simulate": round(t1 - t0, 1), "train": round(t2 - t1, 1), "evaluate": round(t3 - t2, 1)}
    # figures: histograms of a few layers' observables and S of every per-layer observable along the depth
    ref = read_showers(out / "reference.hdf5")
    gen = {"showers": load(out / "cvae").sample(len(ref["showers"]), ref["conditions"]),
           "incident_energies": ref["incident_energies"]}
    save_figure(histogram_figure(ref, gen), out / "observables.png")
    save_figure(layer_profile_figure(m["showers"]["separation_power"], ref["geometry"]), out / "per_layer_S.png")
    m["figures"] = [str(out / "observables.png"), str(out / "per_layer_S.png")]
    print(json.dumps(m))
    sh = m["showers"]
    sep = sh["separation_power"]
    print(f"\n{sh['geometry']}: {sh['n_cells']} voxels, energies in {sh['energy_unit']}; classifier AUC "
          f"{sh['auc']:.4f} ({sh['auc_features']}); S(E_total/E_inc) {sep['E_total/E_inc']:.4f}; voxel spectrum "
          f"S {sep['voxel_energy']:.4f}\n")
    print("| observable (45 layers) | median S | worst S (layer) |")
    print("|---|---|---|")
    for kind in PER_LAYER:
        prefix = "E_layer" if kind == "E_layer" else f"{kind}_layer"
        vals = {int(k[len(prefix):]): v for k, v in sep.items() if k.startswith(prefix) and k[len(prefix):].isdigit()}
        worst = max(vals, key=vals.get)
        print(f"| {kind} | {np.median(list(vals.values())):.4f} | {vals[worst]:.4f} ({worst}) |")
    print("\n| E_inc (MeV) | n | response ref / gen | resolution ref / gen | calibrated ref / gen |")
    print("|---|---|---|---|---|")
    for r, g in zip(sh["response_reference"], sh["response_generated"]):
        print(f"| {r['E_low']:.0f}-{r['E_high']:.0f} | {r['n']} | {r['response']:.4f} / {g['response']:.4f} | "
              f"{r['resolution']:.4f} / {g['resolution']:.4f} | {r.get('calibrated_response', float('nan')):.4f} / "
              f"{g.get('calibrated_response', float('nan')):.4f} |")


if __name__ == "__main__":
    main()
