"""The main job: train a 2-D autoencoder on built-in MNIST digits, evaluate it and write its plots."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .api import train


def run_demo(out: str = "latentforge-demo", data: str = "mnist", epochs: int = 30, progress: bool = True,
             overwrite: bool = True):
    t0 = time.perf_counter()
    print(f"latentforge demo: training a 784-256-64-2 autoencoder on built-in '{data}' for up to {epochs} epochs")
    run = train("ae", data, out=out, latent_dim=2, hidden=(256, 64), epochs=epochs, batch_size=64, lr=2e-3,
                seed=0, progress=progress, overwrite=overwrite)
    metrics = run.evaluate(data, "test")
    seconds = time.perf_counter() - t0
    out = Path(out)
    print(json.dumps({k: metrics[k] for k in ("model", "split", "n", "recon_mse", "psnr_recon", "loss")}))
    print(f"done in {seconds:.1f} s; run directory {out}/ holds:")
    for name in ("config.json", "model.safetensors", "transform.json", "metrics.jsonl", "checkpoint.safetensors",
                 "loss.png", "reconstructions.png", "latent.png"):
        if (out / name).exists():
            print(f"  {out / name}")
    print(f"next: latentforge evaluate {out} --data {data}   |   latentforge info {out}")
    return run
