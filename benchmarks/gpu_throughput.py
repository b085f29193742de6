"""GPU throughput: training samples per second of the 784-400-20 VAE and of the DCGAN on MNIST-sized data in
fp32, bf16 and fp16 (in-memory data kept on the device), and the ms per shower of a cVAE shower surrogate at
batch 128 and 1024. Run by benchmarks/gpu_check.sh; prints one JSON object. Needs a CUDA GPU."""

from __future__ import annotations

import json
import time

import numpy as np
import torch

import latentforge as lf


def throughput(model: str, data, epochs: int, precision: str, **options) -> float:
    run = lf.train(model, data, epochs=epochs, batch_size=128, device="cuda", precision=precision, patience=0,
                   val_fraction=0.0, test_fraction=0.0, progress=False, **options)
    rows = run.history[1:] or run.history  # the first epoch includes warm-up
    return round(float(np.median([r["samples_per_s"] for r in rows])), 1)


def shower_ms(batch: int) -> float:
    from latentforge.domains.showers.files import shower_conditions
    from latentforge.domains.showers.simulator import ShowerSimulator

    sim = ShowerSimulator(seed=0).simulate(2000, "e+", (1, 100))
    x, cond = sim["showers"], shower_conditions(sim["incident_energies"], "GeV", sim["particle"])
    run = lf.train("cvae", lf.data.ArrayDataset(x, cond=cond), condition="vector", likelihood="hurdle",
                   scaling="fractions", latent_dim=16, epochs=2, device="cuda", progress=False)
    model = run.model.to("cuda").eval()
    c = torch.from_numpy(run.preprocess.conditioner.transform(np.repeat(cond[:1], batch, 0))).cuda()
    with torch.no_grad():
        for _ in range(5):
            model.sample(batch, c)
        torch.cuda.synchronize()
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 2:
            model.sample(batch, c)
            n += 1
        torch.cuda.synchronize()
    return round(1000 * (time.perf_counter() - t0) / (n * batch), 5)


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("gpu_throughput.py: no CUDA GPU is visible on this machine; run it where one is")
    digits = lf.load_dataset("mnist")
    x = np.concatenate([digits.x] * 12)  # 60000 MNIST-sized images
    out = {"gpu": torch.cuda.get_device_name(0), "vae_samples_per_s": {}, "dcgan_samples_per_s": {}}
    for precision in ("fp32", "bf16", "fp16"):
        out["vae_samples_per_s"][precision] = throughput("vae", x, 3, precision, hidden=(400,), latent_dim=20)
        out["dcgan_samples_per_s"][precision] = throughput("dcgan", x[:20000], 2, precision, sample_every=0)
    out["shower_ms_per_shower"] = {str(b): shower_ms(b) for b in (128, 1024)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
