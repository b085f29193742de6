"""Multi-process training with DistributedDataParallel: two CPU processes (gloo) started by torchrun."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.catalog import MODELS
from latentforge.training.distributed import Dist


def test_each_rank_takes_its_own_equal_slice_of_the_shared_permutation():
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    parts = [Dist(rank=r, world=2).shard(perm) for r in range(2)]
    assert len(parts[0]) == len(parts[1]) == 898
    assert not set(parts[0].tolist()) & set(parts[1].tolist())
    assert torch.equal(torch.cat(parts), perm[:1796])
    assert torch.equal(Dist().shard(perm), perm)


def torchrun(args, tmp_path, nproc=2, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "latentforge", "train", *args, "--no-progress"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return res, time.perf_counter() - t0


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_process_streamed_autoencoder_converges_and_loads_in_one_process(tmp_path, digits):
    out = tmp_path / "ddp-ae"
    np.save(tmp_path / "digits.npy", digits.x)  # streamed from the file: each rank reads its own chunks
    res, seconds = torchrun(["ae", "--data", str(tmp_path / "digits.npy"), "--stream", "--chunk-size", "128",
                             "--hidden", "64,32", "--latent-dim", "8", "--epochs", "15", "--lr", "3e-3",
                             "--batch-size", "32", "--seed", "1", "--out", str(out)], tmp_path)
    print(f"2-process DDP autoencoder (streamed): {seconds:.1f} s")
    assert res.stdout.count("trained ae") == 1  # rank 0 reports
    rows = metrics(out)
    assert [r["epoch"] for r in rows] == list(range(1, 16))  # one writer: no line twice
    assert rows[-1]["train_loss"] < 0.8 * rows[0]["train_loss"]
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    run = lf.load(out)  # a plain single-process load
    test = run.select(digits, "test")  # the same seeded split as the streamed run's
    mse = run.evaluate(test)["recon_mse"]
    baseline = float(np.mean((run.to_model_space(test) - run.to_model_space(test).mean(0)).numpy() ** 2))
    assert mse < 0.6 * baseline, (mse, baseline)  # far better than predicting the mean image


@pytest.mark.slow
def test_two_process_gan_trains_both_players_and_loads_in_one_process(tmp_path, digits):
    out = tmp_path / "ddp-gan"
    res, seconds = torchrun(["gan", "--data", "digits", "--epochs", "6", "--batch-size", "32", "--seed", "2",
                             "--g-hidden", "64,128", "--d-hidden", "128,64", "--latent-dim", "16",
                             "--sample-every", "0", "--out", str(out)], tmp_path)
    print(f"2-process DDP GAN: {seconds:.1f} s")
    rows = metrics(out)
    assert [r["epoch"] for r in rows] == list(range(1, 7))
    assert all(np.isfinite([r["d_loss"], r["g_loss"]]).all() for r in rows)
    run = lf.load(out)
    fake = run.sample(500, seed=0)
    # the untrained generator: same seed, same build as at the start of training
    torch.manual_seed(run.train_config.seed)
    spec = MODELS.get("gan")
    net, _ = spec.build(type(run.model.config).from_dict(run.model.config.to_dict()), run.objective.config)
    start = lf.TrainedModel.compose("gan", net, run.objective, run.preprocess, run.train_config).sample(500, seed=0)
    real_mean = digits.x.mean(0)
    err_trained = float(np.mean((fake.mean(0) - real_mean) ** 2))
    err_start = float(np.mean((start.mean(0) - real_mean) ** 2))
    assert err_trained < 0.5 * err_start, (err_trained, err_start)
    assert run.score(digits.x[:10]).shape == (10,)
