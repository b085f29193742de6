"""Peers and limits on one device: training loops in the style of pytorch/examples (the VAE of examples/vae and
the DCGAN of examples/dcgan, written here, data moved to the device batch by batch from a DataLoader), a
hand-written limit for the 784-400-20 VAE at batch 128 (data kept on the device; on CUDA the whole step, forward,
backward and Adam, captured in one CUDA graph and replayed), latentforge's `vae` on the same data (eager and
with compile=True), and the shower surrogate's generation time (a hurdle cVAE, ms per shower at batch 128, 1024
and 16384). Every figure: training samples per second (median over the epochs after the first) or ms per
generated shower (wall time over >= 0.5 s of repeated calls, the device synchronised), measured once.

Prints one JSON object. Run by benchmarks/gpu_check.sh on a GPU; `--device cpu --quick` checks that it runs
(small data, tiny DCGAN, few repeats: its figures are not comparable with a full run).

Usage: python benchmarks/gpu_peers.py [--device cuda] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

import latentforge as lf
from example_vae import ExampleVAE, example_loss as vae_loss, train_example  # benchmarks/ is the script's folder


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- the examples' loops
def epochs_rate(times: list[float], n: int) -> float:
    """Samples per second: the median epoch after the first (which warms up)."""
    return round(n / float(np.median(times[1:] if len(times) > 1 else times)), 1)


def example_vae(x: torch.Tensor, device: torch.device, epochs: int) -> float:
    torch.manual_seed(0)
    model = ExampleVAE().to(device)
    loader = DataLoader(TensorDataset(x), batch_size=128, shuffle=True)
    times = train_example(model, loader, epochs, device)
    return epochs_rate(times, len(x))


def _vae_out(model, data):
    recon, mu, logvar = model(data)
    return recon, data, mu, logvar


class Generator(nn.Module):
    """The DCGAN generator of pytorch/examples/dcgan (64x64 output, one channel here)."""

    def __init__(self, nz: int, ngf: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.main(z)


class Discriminator(nn.Module):
    """The DCGAN discriminator of pytorch/examples/dcgan (64x64 input, one channel here)."""

    def __init__(self, ndf: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, x):
        return self.main(x).view(-1)


def example_dcgan(x: torch.Tensor, device: torch.device, epochs: int, width: int) -> float:
    """The examples' loop: D on real (label 1) and fake (label 0), then G against label 1; Adam 2e-4, beta1 0.5."""
    torch.manual_seed(0)
    nz = 100
    g, d = Generator(nz, width).to(device), Discriminator(width).to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(TensorDataset(x), batch_size=128, shuffle=True, drop_last=True)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for (real,) in loader:
            real = real.to(device)
            b = real.shape[0]
            ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)
            d.zero_grad()
            fake = g(torch.randn(b, nz, 1, 1, device=device))
            loss_d = F.binary_cross_entropy(d(real), ones) + F.binary_cross_entropy(d(fake.detach()), zeros)
            loss_d.backward()
            opt_d.step()
            g.zero_grad()
            F.binary_cross_entropy(d(fake), ones).backward()
            opt_g.step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return epochs_rate(times, len(loader) * 128)


# ---------------------------------------------------------------- the hand-written limit
def vae_limit(x: torch.Tensor, device: torch.device, steps: int) -> dict:
    """The 784-400-20 VAE at batch 128 with the data on the device, batches drawn by index: eager, and on CUDA the
    whole step (forward, backward, Adam with capturable state) captured in one CUDA graph and replayed."""
    torch.manual_seed(0)
    data = x.reshape(len(x), 784).to(device)
    out = {}
    model = ExampleVAE().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=device.type == "cuda")
    static = data[:128].clone()

    def step():
        opt.zero_grad(set_to_none=False)
        vae_loss(*_vae_out(model, static)).backward()
        opt.step()

    def rate(fn) -> float:
        for _ in range(5):
            fn()
        sync(device)
        t0 = time.perf_counter()
        for i in range(steps):
            idx = torch.randint(0, len(data), (128,), device=device)
            static.copy_(data[idx])
            fn()
        sync(device)
        return round(steps * 128 / (time.perf_counter() - t0), 1)

    out["eager_samples_per_s"] = rate(step)
    if device.type == "cuda":
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm-up on a side stream, as CUDA graph capture requires
            for _ in range(3):
                step()
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        out["cuda_graph_samples_per_s"] = rate(graph.replay)
    else:
        out["cuda_graph_samples_per_s"] = None  # no CUDA graphs on this device
    return out


# ---------------------------------------------------------------- latentforge
def latentforge_vae(x: np.ndarray, device: str, epochs: int, compile: bool) -> float:
    run = lf.train("vae", x, hidden=(400,), latent_dim=20, likelihood="bernoulli", batch_size=128, epochs=epochs,
                   device=device, precision="fp32", compile=compile, patience=0, val_fraction=0.0,
                   test_fraction=0.0, progress=False)
    return round(float(np.median([r["samples_per_s"] for r in (run.history[1:] or run.history)])), 1)


def shower_ms(device: str, batches: tuple[int, ...], seconds: float) -> dict[str, float]:
    """ms per shower of a hurdle cVAE shower surrogate's ``model.sample`` on the device (trained 1 epoch on 2000
    simulated e+ showers: the time does not depend on how well it is trained)."""
    from latentforge.domains.showers.files import shower_conditions
    from latentforge.domains.showers.simulator import ShowerSimulator

    sim = ShowerSimulator(seed=0).simulate(2000, "e+", (1, 100))
    x, cond = sim["showers"], shower_conditions(sim["incident_energies"], "GeV", sim["particle"])
    run = lf.train("cvae", lf.data.ArrayDataset(x, cond=cond), condition="vector", likelihood="hurdle",
                   scaling="fractions", latent_dim=16, epochs=1, device=device, progress=False)
    dev = torch.device(device)
    model = run.model.to(dev).eval()
    out = {}
    for b in batches:
        c = torch.from_numpy(run.preprocess.conditioner.transform(np.repeat(cond[:1], b, 0))).to(dev)
        with torch.no_grad():
            for _ in range(3):
                model.sample(b, c)
            sync(dev)
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < seconds:
                model.sample(b, c)
                n += 1
            sync(dev)
        out[str(b)] = round(1000 * (time.perf_counter() - t0) / (n * b), 6)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--quick", action="store_true", help="a check that it runs: small data, tiny DCGAN, few repeats")
    a = p.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_peers.py: no CUDA GPU is visible; use --device cpu --quick to check it runs")
    device = torch.device(a.device)
    mnist = lf.load_dataset("mnist").x.astype(np.float32) / 255.0  # (5000, 1, 28, 28) in [0, 1]
    x = np.concatenate([mnist] * (1 if a.quick else 12))[: 1024 if a.quick else None]
    xt = torch.from_numpy(x)
    n64 = 256 if a.quick else 20000
    img64 = F.pad(xt[:n64] * 2 - 1, (18, 18, 18, 18), value=-1.0)  # 64x64, in [-1, 1] as the example's
    epochs = 2 if a.quick else 3
    out = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "torch": torch.__version__, "quick": a.quick, "threads": torch.get_num_threads(),
           "rows": {"vae": len(x), "dcgan_64x64": n64}}
    out["example_vae_samples_per_s"] = example_vae(xt, device, epochs)
    out["example_dcgan_64_samples_per_s"] = example_dcgan(img64, device, epochs, 8 if a.quick else 64)
    out["vae_limit_batch_128"] = vae_limit(xt, device, 50 if a.quick else 2000)
    out["latentforge_vae_samples_per_s"] = latentforge_vae(x, a.device, epochs, compile=False)
    out["latentforge_vae_compiled_samples_per_s"] = latentforge_vae(x, a.device, epochs, compile=True)
    out["shower_ms_per_shower"] = shower_ms(a.device, (128, 1024, 16384), 0.2 if a.quick else 1.0)
    out["units"] = ("training samples per second (median epoch after the first); ms per generated shower; "
                    "one measurement each")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
