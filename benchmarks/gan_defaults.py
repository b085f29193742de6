"""The GANs at their defaults on the built-in MNIST (5000 digits): the plain command a user types,
``latentforge train gan --data mnist`` (and ``dcgan``), with nothing else given, then its samples read by the
project's offline feature classifier (``latentforge.analysis.quality``): every digit class's share of the
samples, the classifier's mean confidence, fd_classifier and the mode-collapse sentence when classes are dropped.

Prints one JSON object per model as it finishes and then one with all of them. Seconds are wall-clock and CPU
(user + system, all threads) of the training command alone; the metrics are measured on as many samples as
real digits (5000), with bootstrap standard errors (``_err``).

Goals: the MLP GAN: every class >= 5 % of the samples and mean confidence >= 0.8 at the default epochs on two
CPU cores; the DCGAN: fd_classifier <= 30.

Usage:
    python benchmarks/gan_defaults.py [--models gan,dcgan] [--threads 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import warnings
from pathlib import Path

import torch

import latentforge as lf
from latentforge.analysis.quality import sample_quality
from latentforge.cli.main import main as cli

KEEP = ("class_histogram", "class_histogram_real", "min_class_share", "min_class_share_err", "mean_confidence",
        "mean_confidence_err", "mode_coverage", "fd_classifier", "fd_classifier_err", "precision", "recall",
        "classifier_val_accuracy", "n_real", "n_generated")


def cpu_seconds() -> float:
    """CPU time this process has used so far (user + system, all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(model: str, out: Path, seed: int) -> dict:
    command = ["train", model, "--data", "mnist", "--out", str(out), "--overwrite", "--no-progress"]
    t0, c0 = time.perf_counter(), cpu_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cli(command) != 0:
            raise SystemExit(f"latentforge {' '.join(command)} failed")
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    run = lf.load(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = sample_quality(run, "mnist", "all", seed=seed)
    cfg = run.config_dict()
    return {"command": "latentforge " + " ".join(command[:4]), "epochs": len(run.history),
            "batch_size": run.train_config.batch_size, "train_seconds": round(seconds, 1),
            "train_cpu_seconds": round(cpu, 1), "model_config": cfg["model_config"],
            "objective_config": cfg["objective_config"], **{k: m[k] for k in KEEP},
            "mode_collapse": m.get("mode_collapse"),
            "goal_met": (m["min_class_share"] >= 0.05 and m["mean_confidence"] >= 0.8) if model == "gan"
            else m["fd_classifier"] <= 30}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="gan,dcgan")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and the bootstrap (training: the default)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out or tempfile.mkdtemp(prefix="gan-defaults-"))
    result = {"benchmark": "gan_defaults", "data": "mnist (built in, 5000 digits)", "threads": a.threads,
              "torch": torch.__version__}
    for model in [m.strip() for m in a.models.split(",") if m.strip()]:
        result[model] = measure(model, out / model, a.seed)
        print(json.dumps({model: result[model]}, default=str), flush=True)
    result["out"] = str(out)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
