"""Shower files at the CaloChallenge's size, trained by streaming: peak memory against the goal.

For a dataset-2-sized file (100 000 e+ showers x 6480 voxels, float32: 2.6 GB) and a dataset-3-sized one
(50 000 x 40 500: 8.1 GB), incident energies log-uniform over 1 GeV - 1 TeV as in the challenge:
1. the project's simulator writes the file a chunk of showers at a time (``latentforge simulate showers
   --chunk-rows``), in a child process whose peak resident memory is measured;
2. a shower model trains on it with ``--stream`` (one chunk in the shuffle buffer) in a child process: the
   scaling and the conditioner fitted in streamed passes, conditions read per chunk, one epoch. To keep the
   run short on a CPU, only ``--train-fraction`` of the rows (2 %, spread over the whole file) are training
   rows and 1 % validation rows (the rest is the test split): every pass still reads and scales every chunk
   of the file, only the network's steps are fewer;
3. peak RSS (ru_maxrss from os.wait4) against the goal 2 x one chunk + 400 MB, where one chunk is
   chunk_size showers in float32 as stored.
The files go to a temporary folder, deleted at the end (``--files DIR`` keeps them there, and a later run with
the same sizes trains on them again without writing them). Prints one JSON object. ``--ds2-showers`` /
``--ds3-showers`` run smaller files (the sizes run are printed); ``--deposits-per-gev`` sets the simulator's
Monte-Carlo sampling (the default 400 takes about 20 ms per shower at these energies; fewer deposits make
grainier showers of the same size and energy, which is all a memory measurement needs).

    python benchmarks/calochallenge_streaming.py [--ds2-showers 100000] [--ds3-showers 50000]
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

TRAIN = """
import json, time, torch
import numpy as np
import latentforge as lf
torch.set_num_threads({threads})
t0 = time.perf_counter()
run = lf.train({model!r}, {path!r}, stream=True, chunk_size={chunk}, buffer_chunks=1, epochs={epochs},
               batch_size={batch}, hidden={hidden!r}, progress=False, val_fraction=0.01,
               test_fraction={test_fraction}, **{extra!r})
h = run.history[-1]
n_params = sum(p.numel() for p in run.model.parameters())
t1 = time.perf_counter()
gen = run.sample(8, np.array([[np.log10(50.0), 1, 0, 0]]))  # 50 GeV e+
print(json.dumps({{"train_seconds": round(t1 - t0, 1), "epoch_seconds": round(h["seconds"], 1),
                  "showers_per_s": round(h["samples_per_s"], 1), "train_loss": h["train_loss"],
                  "val_loss": h.get("val_loss"), "parameters": n_params,
                  "parameter_mb": round(n_params * 4 / 2 ** 20, 1),
                  "sample_shape": list(gen.shape), "sample_sum_mev_50gev": round(float(gen.sum(1).mean()), 1)}}))
"""


def run_child(args: list[str], threads: int) -> tuple[str, float, float]:
    """(stdout, peak RSS in MB, seconds) of a child process, reaped by os.wait4 (ru_maxrss of that child);
    SystemExit with its stderr when it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([sys.executable, *args], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if p.returncode:
            raise SystemExit(f"child failed ({p.returncode}):\n{err.read().decode()[-3000:]}")
        text = out.read().decode()
    return text, round(usage.ru_maxrss / 1024, 1), round(time.perf_counter() - t0, 1)


def one(name: str, geometry: str, n: int, chunk: int, batch: int, a, folder: Path, idle: float) -> dict:
    import h5py
    import numpy as np

    path = folder / f"{name}-{n}-{a.deposits_per_gev}.h5"
    written = None
    if a.files and path.exists():  # written by an earlier run with these settings: train on it again
        with h5py.File(path, "r") as f:
            cells = int(f["showers"].shape[1])
        write_rss = write_s = None
    else:
        out, write_rss, write_s = run_child(
            ["-m", "latentforge", "simulate", "showers", "--json", "-n", str(n), "--geometry", geometry,
             "--particle", "e+", "--energy-range", "1", "1000", "--deposits-per-gev", str(a.deposits_per_gev),
             "--chunk-rows", str(a.write_chunk), "--seed", "0", "--out", str(path)], a.threads)
        written = json.loads(out)
        cells = written["cells"]

    with h5py.File(path, "r") as f:
        e = np.asarray(f["incident_energies"][()], np.float64)
    code = TRAIN.format(threads=a.threads, model=a.model, path=str(path), chunk=chunk, epochs=a.epochs,
                        batch=batch, hidden=tuple(a.hidden), extra={"latent_dim": 8},
                        test_fraction=round(0.99 - a.train_fraction, 4))
    out, train_rss, train_s = run_child(["-c", code], a.threads)
    trained = json.loads(out.strip().splitlines()[-1])
    chunk_mb = chunk * cells * 4 / 2 ** 20
    goal = 2 * chunk_mb + 400
    size = path.stat().st_size
    if not a.files:
        path.unlink()
    return {"geometry": geometry, "showers": n, "voxels": cells, "file_gb": round(size / 1e9, 3),
            "file_gib": round(size / 2 ** 30, 3), "incident_energy_mev": [round(float(e.min()), 1),
                                                                       round(float(e.max()), 1)],
            "write": None if written is None else {
                "seconds": write_s, "peak_rss_mb": write_rss, "chunk_rows": a.write_chunk,
                "ms_per_shower": written["ms_per_shower"], "deposits_per_gev": a.deposits_per_gev,
                "mean_deposited_fraction": written["mean_deposited_fraction"]},
            "train": {"model": a.model, "hidden": a.hidden, "batch_size": batch,
                      "training_rows": int(a.train_fraction * n),
                      "chunk_size": chunk, "buffer_chunks": 1, "chunk_mb": round(chunk_mb, 1),
                      "goal_peak_rss_mb": round(goal, 1), "peak_rss_mb": train_rss,
                      "peak_rss_above_idle_mb": round(train_rss - idle, 1), "meets_goal": train_rss <= goal,
                      "process_seconds": train_s, **trained}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ds2-showers", type=int, default=100_000)
    ap.add_argument("--ds3-showers", type=int, default=50_000)
    ap.add_argument("--ds2-chunk", type=int, default=2048, help="showers per chunk, dataset 2 (53 MB)")
    ap.add_argument("--ds3-chunk", type=int, default=512, help="showers per chunk, dataset 3 (83 MB)")
    ap.add_argument("--write-chunk", type=int, default=1000, help="showers simulated and written at a time")
    ap.add_argument("--deposits-per-gev", type=int, default=20)
    ap.add_argument("--model", default="shower-flow-vae")
    ap.add_argument("--hidden", type=int, nargs="+", default=[32])
    ap.add_argument("--ds2-batch", type=int, default=64)
    ap.add_argument("--ds3-batch", type=int, default=16, help="batch size, dataset 3 (activations of 40 500 cells)")
    ap.add_argument("--train-fraction", type=float, default=0.02, help="share of the rows that are training rows")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=("ds2", "ds3"), default=None)
    ap.add_argument("--dir", default="/tmp", help="where the temporary folder of the files goes")
    ap.add_argument("--files", default=None, help="keep the files in this folder (not deleted) and train on one "
                    "written there before with the same showers and deposits instead of writing it again")
    a = ap.parse_args()
    _, idle, _ = run_child(["-c", "import torch, latentforge, latentforge.run"], a.threads)
    result = {"python_torch_latentforge_idle_rss_mb": idle, "threads": a.threads,
              "goal": "peak RSS <= 2 x one chunk + 400 MB", "energy_range_gev": [1, 1000],
              "energy_spectrum": "log-uniform"}
    with tempfile.TemporaryDirectory(dir=a.dir, prefix="calo-stream-") as d:
        folder = Path(a.files or d)
        folder.mkdir(parents=True, exist_ok=True)
        if a.only in (None, "ds2"):
            result["ds2"] = one("ds2", "calochallenge-2", a.ds2_showers, a.ds2_chunk, a.ds2_batch, a, folder, idle)
        if a.only in (None, "ds3"):
            result["ds3"] = one("ds3", "calochallenge-3", a.ds3_showers, a.ds3_chunk, a.ds3_batch, a, folder, idle)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
