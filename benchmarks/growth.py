"""How latentforge's cost grows: seconds per epoch and peak memory of `latentforge train vae` (784-400-20, batch
128, fp32) for N = 10k, 60k (in memory) and 600k rows (streamed from an .npy file), and for latent sizes 2 to 64
on 60k rows. Used by benchmarks/peers.py --growth (each figure from its own process)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from peers import run_measured


def train_once(data: Path, out: Path, threads: int, latent: int = 20, stream: bool = False, epochs: int = 2) -> dict:
    argv = [sys.executable, "-m", "latentforge", "train", "vae", "--data", str(data), "--hidden", "400",
            "--latent-dim", str(latent), "--batch-size", "128", "--epochs", str(epochs), "--val-fraction", "0",
            "--test-fraction", "0", "--patience", "0", "--precision", "fp32", "--threads", str(threads),
            "--likelihood", "bernoulli", "--scaling", "minmax", "--out", str(out), "--overwrite", "--no-progress"]
    if stream:
        argv += ["--stream", "--chunk-size", "8192"]
    res = run_measured(argv, threads)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"seconds_per_epoch": round(float(np.median([r["seconds"] for r in rows])), 2),
            "peak_rss_mb": res["peak_rss_mb"], "process_seconds": res["process_seconds"]}


def growth(tmp: Path, threads: int) -> dict:
    train = np.load(tmp / "train.npy")  # 60000 x 28 x 28 uint8
    sizes = {}
    for n in (10_000, 60_000):
        np.save(tmp / f"n{n}.npy", train[:n])
        sizes[str(n)] = train_once(tmp / f"n{n}.npy", tmp / f"g{n}", threads)
    # 600k rows: the training images ten times over, streamed (float32 on disk, as a large measurement would be)
    big = np.lib.format.open_memmap(tmp / "n600000.npy", mode="w+", dtype=np.float32, shape=(600_000, 28, 28))
    for i in range(10):
        big[i * 60_000:(i + 1) * 60_000] = train
    big.flush()
    del big
    sizes["600000_streamed"] = train_once(tmp / "n600000.npy", tmp / "g600k", threads, stream=True, epochs=1)
    sizes["60000_streamed"] = train_once(tmp / "n60000.npy", tmp / "g60ks", threads, stream=True)
    latents = {str(d): train_once(tmp / "n60000.npy", tmp / f"l{d}", threads, latent=d, epochs=1)
               for d in (2, 8, 16, 32, 64)}
    per_row = {k: v["seconds_per_epoch"] / int(k.split("_")[0]) * 1e6 for k, v in sizes.items()}
    return {"rows": sizes, "microseconds_per_row": {k: round(v, 2) for k, v in per_row.items()},
            "streamed_vs_in_memory_60k": round(sizes["60000_streamed"]["seconds_per_epoch"]
                                               / sizes["60000"]["seconds_per_epoch"], 2),
            "latent": latents}
