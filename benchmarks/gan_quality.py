"""Sample quality of the MLP GAN and the DCGAN on the built-in MNIST (5000 real digits), measured with the
project's offline metrics (a seeded feature classifier trained on the real digits; see
``latentforge.analysis.quality``): every digit class's share of the samples (as read by that classifier), its
mean confidence, fd_classifier, precision and recall. Each model is trained with the options given (defaults:
the settings the README's goals are stated for) and its training time (CPU) is printed with the metrics. The
options are given on top of each model's defaults (``gan`` has its stabilisers on by default; the plain default
command is measured by ``benchmarks/gan_defaults.py``).

Goals (issue 16): MLP GAN: every class >= 5 % of samples and mean confidence >= 0.8 within a 10-minute CPU run;
DCGAN: fd_classifier <= 60 at the budget of the earlier measurement (40 epochs, EMA 0.999; it gave 83.9).

Usage:
    python benchmarks/gan_quality.py [--models gan,dcgan] [--gan-options JSON] [--dcgan-options JSON]
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

import latentforge as lf

GAN = {"epochs": 150, "batch_size": 64, "ema_decay": 0.999, "minibatch_std": True, "lr_schedule": "cosine"}
DCGAN = {"epochs": 40, "ema_decay": 0.999}
KEEP = ("fd_classifier", "precision", "recall", "mode_coverage", "min_class_share", "mean_confidence",
        "class_histogram", "classifier_val_accuracy")


def cpu_seconds() -> float:
    """CPU time this process has used so far (user + system, all threads): a fair clock on a shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(model: str, options: dict, out: Path, seed: int) -> dict:
    t0, c0 = time.perf_counter(), cpu_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = lf.train(model, "mnist", out=out, overwrite=True, seed=seed, progress=False, sample_every=0, **options)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    m = run.evaluate("mnist", "all", seed=seed)
    return {"train_seconds": round(seconds, 1), "train_cpu_seconds": round(cpu, 1), "options": options,
            **{k: m[k] for k in KEEP}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="gan,dcgan")
    p.add_argument("--gan-options", default=json.dumps(GAN))
    p.add_argument("--dcgan-options", default=json.dumps(DCGAN))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out or tempfile.mkdtemp(prefix="gan-quality-"))
    options = {"gan": json.loads(a.gan_options), "dcgan": json.loads(a.dcgan_options)}
    result = {"benchmark": "gan_quality", "data": "mnist", "threads": a.threads, "torch": torch.__version__}
    for model in [m.strip() for m in a.models.split(",") if m.strip()]:
        r = measure(model, options[model], out / model, a.seed)
        result[model] = r
        print(json.dumps({model: r}), flush=True)
    result["goals"] = ("gan: min_class_share >= 0.05 and mean_confidence >= 0.8 within 600 s of CPU; "
                       "dcgan: fd_classifier <= 60 at 40 epochs")
    result["out"] = str(out)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
