"""Training on a file larger than the memory it is given: --stream against the in-memory path.

Writes an .npy file of float32 rows (low-rank structure plus noise; ~1.6 GB by default) chunk by chunk,
then trains an autoencoder on it with ``--stream`` in a child process, and measures that process's peak
resident memory (ru_maxrss from os.wait4). For throughput it also trains in memory on a smaller file of the
same rows (it fits in memory) and streams that smaller file too. Prints one JSON object.

    python benchmarks/out_of_core.py [--rows 1600000] [--features 256] [--mem-rows 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, sys, time, torch
import latentforge as lf
torch.set_num_threads({threads})
t0 = time.perf_counter()
run = lf.train("ae", {path!r}, stream={stream}, chunk_size={chunk}, epochs={epochs}, batch_size=1024, hidden=(32,),
               latent_dim=8, loss="mse", output="identity", scaling="standard", val_fraction=0.02,
               test_fraction=0.02, patience=0, progress=False)
h = run.history[-1]
print(json.dumps({{"seconds_total": time.perf_counter() - t0, "epoch_seconds": h["seconds"],
                  "samples_per_s": h["samples_per_s"], "train_loss": h["train_loss"], "val_loss": h["val_loss"]}}))
"""


def write_npy(path: Path, rows: int, features: int, seed: int = 0, chunk: int = 65536) -> None:
    """Rows z @ W + noise (latent dimension 8), written chunk by chunk: never the whole array in memory."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(8, features)).astype(np.float32)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                "shape": (rows, features)})
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            z = rng.normal(size=(n, 8)).astype(np.float32)
            f.write((z @ w + 0.1 * rng.normal(size=(n, features)).astype(np.float32)).tobytes())


def child(path: Path, *, stream: bool, epochs: int, chunk: int, threads: int) -> dict:
    code = CHILD.format(path=str(path), stream=stream, chunk=chunk, epochs=epochs, threads=threads)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"child failed ({p.returncode}):\n{err.decode()[-3000:]}")
    res = json.loads(out.decode().strip().splitlines()[-1])
    res["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux: kilobytes
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_600_000)
    ap.add_argument("--features", type=int, default=256)
    ap.add_argument("--mem-rows", type=int, default=200_000, help="rows of the file trained in memory")
    ap.add_argument("--chunk-size", type=int, default=8192)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where to write the files (default: a temporary folder)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        big, small = Path(d) / "big.npy", Path(d) / "small.npy"
        t0 = time.perf_counter()
        write_npy(big, a.rows, a.features, seed=0)
        write_npy(small, a.mem_rows, a.features, seed=0)
        write_s = time.perf_counter() - t0
        idle = child_idle(a.threads)
        kw = dict(epochs=a.epochs, chunk=a.chunk_size, threads=a.threads)
        streamed_big = child(big, stream=True, **kw)
        streamed_small = child(small, stream=True, **kw)
        in_memory_small = child(small, stream=False, **kw)
        size_mb = big.stat().st_size / 2 ** 20
    result = {
        "file_mb": round(size_mb, 1), "rows": a.rows, "features": a.features, "chunk_size": a.chunk_size,
        "buffer_chunks": 4, "epochs": a.epochs, "threads": a.threads, "write_seconds": round(write_s, 1),
        "python_torch_latentforge_idle_rss_mb": idle,
        "stream_big": streamed_big,
        "stream_big_peak_rss_over_file": round(streamed_big["peak_rss_mb"] / size_mb, 3),
        "stream_big_rss_above_idle_mb": round(streamed_big["peak_rss_mb"] - idle, 1),
        "small_file_mb": round(a.mem_rows * a.features * 4 / 2 ** 20, 1),
        "stream_small": streamed_small, "in_memory_small": in_memory_small,
        "stream_over_in_memory_throughput": round(streamed_small["samples_per_s"] / in_memory_small["samples_per_s"], 3),
    }
    print(json.dumps(result, indent=2))


def child_idle(threads: int) -> float:
    """Peak RSS of a child that only imports torch and latentforge (the floor under every run)."""
    p = subprocess.Popen([sys.executable, "-c", "import torch, latentforge"], env={**os.environ,
                                                                                 "OMP_NUM_THREADS": str(threads)})
    _, _, usage = os.wait4(p.pid, 0)
    return round(usage.ru_maxrss / 1024, 1)


if __name__ == "__main__":
    main()
