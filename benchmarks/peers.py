"""latentforge against the peers a user would otherwise pick, whole process from the shell, in one run.

VAE: the 784-400-20 MLP VAE of the PyTorch example (BCE summed over pixels + KL, Adam 1e-3, batch 128) on
Fashion-MNIST's 60000 training images (Debian's dataset-fashion-mnist) for --epochs epochs, tested on its 10000
test images, as three processes: the example's loop re-typed (benchmarks/peer_vae.py --peer example), pythae's
VAE and trainer when pythae is installed (--pythae-python: a Python with pythae), and
`latentforge train vae ... --precision fp32` (then `--precision auto`). The DCGAN against the PyTorch DCGAN
example's loop is benchmarks/dcgan_speed.py (in one process, samples per second and sample quality); this script
does not run it.

The peers run in alternation (A B C A B C ...) for --rounds rounds; each figure is the median over rounds.
Per run: whole-process seconds, seconds and samples per second inside the training loop, peak resident
memory (the child's ru_maxrss), and the test loss per image. Beside them: the machine's matmul limit (a plain
fp32 matmul loop of the VAE's largest layer, same threads) and the share of it the VAE loop reaches (fwd + bwd
about 3.9 MFLOP per sample). --growth adds time per epoch and peak memory for N = 10k, 60k and 600k rows (the
last streamed from disk) and for latent sizes 2 to 64.

Usage: python benchmarks/peers.py [--epochs 3] [--threads 2] [--rounds 2] [--pythae-python PATH] [--growth]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VAE_FLOP = 3 * 2 * (784 * 400 + 400 * 40 + 20 * 400 + 400 * 784)  # fwd + bwd multiply-adds of the 784-400-20 VAE


def run_measured(argv: list[str], threads: int) -> dict:
    """Run one child process: its wall seconds, peak resident memory from the kernel (wait4) and the last JSON
    line it printed."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    out_f = tempfile.TemporaryFile(mode="w+")
    err_f = tempfile.TemporaryFile(mode="w+")
    # Linux carries the parent's peak RSS into a child's ru_maxrss across fork / vfork and exec, so a parent that
    # holds large arrays would inflate every child's figure: GNU time, a small process, forks the child instead
    # and prints the child's own peak (KB) as the last line of stderr
    timer = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(([timer, "-f", "%M"] if timer else []) + [str(a) for a in argv], stdout=out_f,
                            stderr=err_f, env=env, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    out_f.seek(0)
    err_f.seek(0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(map(str, argv[:5]))}... failed:\n{err_f.read()[-2000:]}")
    lines = [line for line in out_f.read().splitlines() if line.startswith("{")]
    peak_kb = usage.ru_maxrss
    if timer:
        tail = err_f.read().strip().splitlines()
        peak_kb = int(tail[-1]) if tail and tail[-1].strip().isdigit() else peak_kb
    return {"process_seconds": round(seconds, 2), "peak_rss_mb": round(peak_kb / 1024, 1),
            **(json.loads(lines[-1]) if lines else {})}


def matmul_limit(threads: int, seconds: float = 2.0) -> float:
    """fp32 GFLOP/s of the VAE's largest layer as a plain matmul loop (batch 128 x 784 by 784 x 400)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(128, 784), torch.randn(784, 400)
    for _ in range(50):
        a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            a @ b
        n += 100
    return 2 * 128 * 784 * 400 * n / (time.perf_counter() - t0) / 1e9


def latentforge_vae(data: Path, test: Path, out: Path, epochs: int, threads: int, precision: str) -> dict:
    argv = [sys.executable, "-m", "latentforge", "train", "vae", "--data", str(data), "--hidden", "400",
            "--latent-dim", "20", "--batch-size", "128", "--lr", "1e-3", "--epochs", str(epochs), "--val-fraction",
            "0", "--test-fraction", "0", "--patience", "0", "--precision", precision, "--threads", str(threads),
            "--likelihood", "bernoulli", "--scaling", "minmax", "--out", str(out), "--overwrite", "--no-progress"]
    res = run_measured(argv, threads)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    loop = sum(r["seconds"] for r in rows)
    res.update(loop_seconds=round(loop, 2), samples_per_s=round(epochs * 60000 / loop, 1))
    # the test loss per image, as the example measures it (one latent draw; mean over 5 draws)
    code = ("import latentforge as lf, numpy as np, json; r = lf.load(%r); "
            "print(json.dumps({'test_loss': float(np.mean([r.evaluate(%r, 'all', seed=s, k=1)['loss'] "
            "for s in range(5)]))}))" % (str(out), str(test)))
    res["test_loss"] = run_measured([sys.executable, "-c", code], threads)["test_loss"]
    return res


def prepare(tmp: Path) -> tuple[Path, Path]:
    """Fashion-MNIST's official train / test images as uint8 .npy files."""
    import latentforge as lf

    ds = lf.load_dataset("fashion-mnist")
    x = ds.x.reshape(len(ds), 28, 28).astype(np.uint8)
    np.save(tmp / "train.npy", x[:60000])
    np.save(tmp / "test.npy", x[60000:])
    return tmp / "train.npy", tmp / "test.npy"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--pythae-python", help="a Python interpreter with pythae installed")
    p.add_argument("--growth", action="store_true", help="also time epochs for N = 10k, 60k, 600k and latent 2-64")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lf-peers-"))
    train, test = prepare(tmp)
    peers = {
        "example": lambda: run_measured([sys.executable, str(HERE / "peer_vae.py"), "--peer", "example", "--train",
                                         str(train), "--test", str(test), "--epochs", str(a.epochs), "--threads",
                                         str(a.threads)], a.threads),
        "latentforge_fp32": lambda: latentforge_vae(train, test, tmp / "lf32", a.epochs, a.threads, "fp32"),
        "latentforge_auto": lambda: latentforge_vae(train, test, tmp / "lfauto", a.epochs, a.threads, "auto"),
    }
    if a.pythae_python:
        peers["pythae"] = lambda: run_measured([a.pythae_python, str(HERE / "peer_vae.py"), "--peer", "pythae",
                                                "--train", str(train), "--test", str(test), "--epochs",
                                                str(a.epochs), "--threads", str(a.threads)], a.threads)
    results: dict[str, list[dict]] = {k: [] for k in peers}
    for _ in range(a.rounds):
        for name, fn in peers.items():
            results[name].append(fn())
    limit = matmul_limit(a.threads)

    def median(name: str, key: str) -> float:
        return float(np.median([r[key] for r in results[name] if key in r]))

    vae = {name: {k: round(median(name, k), 3) for k in ("process_seconds", "loop_seconds", "samples_per_s",
                                                          "peak_rss_mb", "test_loss")} for name in peers}
    ref = vae["example"]
    for name, v in vae.items():
        v["whole_process_vs_example"] = round(ref["process_seconds"] / v["process_seconds"], 2)
        v["loop_vs_example"] = round(v["samples_per_s"] / ref["samples_per_s"], 2)
        v["fixed_cost_seconds"] = round(v["process_seconds"] - v["loop_seconds"], 2)
        v["share_of_matmul_limit"] = round(v["samples_per_s"] * VAE_FLOP / 1e9 / limit, 3)
    if "pythae" in vae:
        for name in ("latentforge_fp32", "latentforge_auto"):
            vae[name]["whole_process_vs_pythae"] = round(vae["pythae"]["process_seconds"]
                                                         / vae[name]["process_seconds"], 2)
    out = {"machine": platform.processor() or platform.machine(), "threads": a.threads, "epochs": a.epochs,
           "rounds": a.rounds, "matmul_limit_gflops": round(limit, 1), "vae": vae,
           "goals": "latentforge fp32 whole process >= 2.5x the example and >= 2x pythae; loop >= 50 % of the "
                    "matmul limit; fixed cost <= 2.5 s; peak RSS <= 2 x data (188 MB) + 400 MB"}
    if a.growth:
        from growth import growth  # benchmarks/growth.py

        out["growth"] = growth(tmp, a.threads)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
