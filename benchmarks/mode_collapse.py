"""Mode collapse on the 2-D benchmarks: the plain non-saturating GAN against the same GAN with its stabilisers.

For each benchmark (ring8, grid25, cs771-ring; see ``latentforge.domains.modes.benchmarks``) two MLP GANs with the same
networks, data, seed and number of epochs are trained:

- ``plain``: the non-saturating game, constant learning rates, nothing else (the MLP GAN's default stabilisers
  turned off: ``PLAIN``);
- ``stabilised``: the same game with the options given by --stabilisers (default: the minibatch standard
  deviation in the discriminator, an EMA of the generator's weights for sampling and a cosine learning-rate
  decay).

Each is scored on 2500 samples (modes covered: >= 20 high-quality samples; high quality: within 3 standard
deviations of a mode), printed as one JSON object; the pictures (samples over the true density, plain on top,
stabilised below) go to --figure. Usage:
    python benchmarks/mode_collapse.py [--benchmarks ring8,grid25,cs771-ring] [--epochs 300] [--figure PNG]
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
from latentforge.domains.modes.validation import modes_figure
from latentforge.analysis.plots import save_figure
from latentforge.domains.modes.benchmarks import COVER_PER, MODE_BENCHMARKS, mode_statistics

#: both runs: PacGAN's sizes (generator 4 x 400, discriminator 3 x 400), 2-d noise, a linear generator output
#: (minmax scaling puts the outermost modes at the edges of [0, 1], where a tanh would have to saturate)
NETWORKS = dict(g_hidden=(400, 400, 400, 400), d_hidden=(400, 400, 400), latent_dim=2, dropout=0.0, output="linear")
STABILISED = {"minibatch_std": True, "lr_schedule": "cosine", "ema_decay": 0.999}
#: the plain game: the stabilisers that ``gan`` has on by default turned off, DCGAN's Adam settings
PLAIN = {"minibatch_std": False, "spectral_norm": False, "ema_decay": 0.0, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5,
         "beta2": 0.999}


def cpu_seconds() -> float:
    """CPU time this process has used so far (user + system, all threads): a fair clock on a shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def train_one(name: str, options: dict, epochs: int, seed: int, out: Path) -> dict:
    t0, c0 = time.perf_counter(), cpu_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collapse warnings are the point of the plain run
        run = lf.train("gan", name, out=out, overwrite=True, epochs=epochs, batch_size=128, seed=seed,
                       progress=False, sample_every=0, **NETWORKS, **options)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    samples = run.sample(COVER_PER, seed=seed).reshape(COVER_PER, -1)
    return {"samples": samples, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
            **mode_statistics(MODE_BENCHMARKS.get(name), samples)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--benchmarks", default="ring8,grid25,cs771-ring")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--stabilisers", default=json.dumps(STABILISED),
                   help="JSON object of the stabilised run's extra options (default: %(default)s)")
    p.add_argument("--figure", default=None, help="PNG of all pictures (default: none)")
    p.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    stabilisers = json.loads(a.stabilisers)
    out = Path(a.out or tempfile.mkdtemp(prefix="modes-"))
    names = [n.strip() for n in a.benchmarks.split(",") if n.strip()]
    result = {"benchmark": "mode_collapse", "epochs": a.epochs, "seed": a.seed, "threads": a.threads,
              "networks": {k: list(v) if isinstance(v, tuple) else v for k, v in NETWORKS.items()},
              "stabilisers": stabilisers, "torch": torch.__version__}
    panels = {}
    for name in names:
        for label, options in (("plain", PLAIN), ("stabilised", {**PLAIN, **stabilisers})):
            r = train_one(name, options, a.epochs, a.seed, out / f"{name}-{label}")
            panels[(name, label)] = r.pop("samples")
            result[f"{name}/{label}"] = {k: r[k] for k in ("modes_covered", "modes_total", "high_quality",
                                                             "mode_kl", "seconds", "cpu_seconds")}
            print(json.dumps({f"{name}/{label}": result[f"{name}/{label}"]}), flush=True)
    print(json.dumps(result))
    if a.figure:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, len(names), figsize=(3.9 * len(names), 7.6), squeeze=False)
        for j, name in enumerate(names):
            for i, label in enumerate(("plain", "stabilised")):
                modes_figure(MODE_BENCHMARKS.get(name), panels[(name, label)], title=f"{name}: {label} GAN",
                             ax=axes[i, j])
        fig.tight_layout()
        save_figure(fig, a.figure, dpi=80)
        print(f"wrote {a.figure}")


if __name__ == "__main__":
    main()
