"""The WGAN-GP calorimeter-shower surrogate in CaloGAN's form (``calogan``) against its goals: classifier AUC <= 0.9
and S(E_total / E_inc) <= 0.05.

The same data as ``shower_timing.py``: 20000 e+ training showers and 5000 separate reference showers from the
project's simulator (1-100 GeV, CaloGAN's geometry), the energy- and particle-conditioned ``calogan`` with its
defaults (per-layer generator heads with a per-cell offset and gain started at the training cells' occupancy and
mean, a tanh-bounded ReLU output on the layer-log scaling, energy, centre and width features and minibatch
discrimination in the critic, the energy-regression term, WGAN-GP with 2 critic steps per generator
step); ``--model cgan`` runs the earlier surrogate (``cgan`` with ``--loss wgan-gp`` on ``--scaling fractions``,
the recipe ``BEFORE``). Any option of the model or of training (e.g. ``time_limit``) can be given as JSON. Prints
one JSON object (training seconds, epochs and critic / generator steps reached, the project's classifier AUC
and every classifier with its floor (``classifiers``), with its bootstrap error, every separation power,
the share of exact zeros, response and resolution per energy bin); the observable histograms go to --figure.

Usage:
    python benchmarks/wgan_showers.py [--train 20000] [--reference 5000] [--epochs N] [--options JSON]
                                      [--model calogan|cgan] [--figure PNG]
"""

from __future__ import annotations

import argparse
import resource
import json
import tempfile
import time
import warnings
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

import latentforge as lf
from latentforge.analysis.plots import save_figure
from latentforge.domains.showers.figures import histogram_figure
from latentforge.domains.showers.validation import validate
from latentforge.domains.showers.files import shower_conditions
from latentforge.domains.showers.simulator import ShowerSimulator
from latentforge.domains.showers.files import write_showers

#: the earlier recipe of shower_timing.py (cgan on fractions, 100 epochs: AUC 0.9999, S(E_total/E_inc) 0.62)
BEFORE = dict(loss="wgan-gp", n_critic=5, lr_g=1e-4, lr_d=1e-4, beta1=0.0, beta2=0.9, dropout=0.0, output="sigmoid",
              latent_dim=32, g_hidden=(256, 512), d_hidden=(512, 256), condition="vector", scaling="fractions",
              sample_every=0, epochs=100, batch_size=128, lr_schedule="cosine")
#: each model's options beyond its catalogue defaults
RECIPES = {"calogan": {}, "cgan": BEFORE}


def cpu_seconds() -> float:
    """CPU time this process has used so far (user + system, all threads): a fair clock on a shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--particle", default="e+", choices=("e+", "gamma", "pi+"))
    p.add_argument("--train", type=int, default=20000)
    p.add_argument("--reference", type=int, default=5000)
    p.add_argument("--model", default="calogan", choices=tuple(RECIPES))
    p.add_argument("--epochs", type=int, default=None, help="default: the model's catalogue recipe")
    p.add_argument("--batch-size", type=int, default=None, help="default: the model's catalogue recipe")
    p.add_argument("--options", default=None, help="JSON of model options replacing the recipe's")
    p.add_argument("--units", choices=("gev", "incident"), default="gev",
                   help="cell energies as simulated (GeV) or in units of the shower's incident energy (the model "
                        "then learns the response E_total / E_inc directly; generated cells are multiplied back)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", default=None)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out or tempfile.mkdtemp(prefix="wgan-showers-"))
    out.mkdir(parents=True, exist_ok=True)
    train = ShowerSimulator(seed=a.seed).simulate(a.train, a.particle)
    ref = ShowerSimulator(seed=a.seed + 1000).simulate(a.reference, a.particle)
    per = a.units == "incident"
    if per:
        train = {**train, "showers": train["showers"] / train["incident_energies"]}
    write_showers(out / "train.h5", train, unit="GeV")  # the reference below is in GeV: one unit for both
    given = {k: v for k, v in (("epochs", a.epochs), ("batch_size", a.batch_size)) if v is not None}
    options = {**RECIPES[a.model], **given, **(json.loads(a.options) if a.options else {})}
    t0, c0 = time.perf_counter(), cpu_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = lf.train(a.model, out / "train.h5", out=out / a.model, cond_key="conditions",
                       seed=a.seed, progress=False, overwrite=True, val_fraction=0.05, test_fraction=0.0, patience=0,
                       **options)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    last = json.loads((out / a.model / "metrics.jsonl").read_text().strip().splitlines()[-1])
    steps = {k: last.get(k) for k in ("epoch", "critic_steps", "generator_steps")}
    # [log10 E / GeV, one-hot particle], as the training file stores them
    cond = shower_conditions(ref["incident_energies"], ref.get("energy_unit", "GeV"), ref["particle"])
    showers = run.sample(a.reference, cond, seed=a.seed)
    gen = {"showers": showers * ref["incident_energies"] if per else showers,
           "incident_energies": ref["incident_energies"]}
    with threadpool_limits(1, "openmp"):  # the tree classifier's OpenMP threads crawl on a shared, busy CPU
        v = validate(ref, gen, seed=a.seed)
    result = {"benchmark": "wgan_showers", "model": a.model, "particle": a.particle, "cell_units": a.units,
              "train_showers": a.train,
              "reference_showers": a.reference, "threads": a.threads, "train_seconds": round(seconds, 1),
              "train_cpu_seconds": round(cpu, 1), "steps": steps,
              "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
              "auc": round(v["auc"], 4), "auc_err": round(v["auc_err"], 4),
              "classifiers": v.get("classifiers"),
              "S_E_total_over_E_inc": round(v["S_E_total_over_E_inc"], 5),
              "S_E_total_over_E_inc_err": round(v["S_E_total_over_E_inc_err"], 5),
              "exact_zero_fraction": {"reference": round(float((ref["showers"] == 0).mean()), 4),
                                      "generated": round(float((gen["showers"] == 0).mean()), 4)},
              "separation_power": {k: round(s, 4) for k, s in v["separation_power"].items()},
              "response_reference": v["response_reference"], "response_generated": v["response_generated"],
              "units": ("auc: the project's classifier (boosted trees), reference vs generated, held-out half, "
                        "bootstrap error; S: separation power of the histograms (0 same, 1 disjoint), bootstrap "
                        "error; exact_zero_fraction: cells exactly 0, per cell over all showers; seconds: wall "
                        "clock and CPU (user + system) of training"),
              "goals": "AUC <= 0.9 and S(E_total/E_inc) <= 0.05", "out": str(out)}
    print(json.dumps(result))
    if a.figure:
        save_figure(histogram_figure(ref, gen), a.figure)


if __name__ == "__main__":
    main()
