"""DCGAN training speed and sample quality: latentforge's `dcgan` against a loop in the style of the
standard PyTorch DCGAN example.

Both train the same networks (latentforge's DCGAN generator and discriminator for 28x28, built with the
same seed, hence the same DCGAN initialisation) with BCE, Adam 2e-4, betas (0.5, 0.999), batch 128, on the
same real digits (the built-in `mnist` set) for the same number of epochs, in one process, on the same
number of CPU threads. The reference loop follows the example: a per-sample Dataset (PIL image,
ToTensor-style conversion, normalisation to [-1, 1]) behind a DataLoader, sigmoid + BCELoss, real and fake
discriminator passes, then the generator step through the (unfrozen) discriminator.

Quality: `fd_classifier`, precision and recall (see latentforge.analysis.quality) of 5000 generated digits
against the 5000 real ones, with one feature classifier trained once for both.

Usage: python benchmarks/dcgan_speed.py [--epochs 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import tempfile
import time
import warnings

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

import latentforge as lf
from latentforge.analysis.quality import classifier_for, quality_metrics
from latentforge.data import split_indices


class PerSampleDigits(Dataset):
    def __init__(self, images: np.ndarray):
        self.images = torch.from_numpy(images)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        pic = Image.fromarray(self.images[i].numpy(), mode="L")
        img = torch.from_numpy(np.array(pic, np.uint8, copy=True)).view(28, 28, 1).permute(2, 0, 1).float().div(255)
        return img.sub(0.5).div(0.5), 0  # Normalize((0.5,), (0.5,))


def run_reference(images: np.ndarray, template, epochs: int, seed: int) -> dict:
    torch.manual_seed(seed)
    # the example's networks live in PyTorch's default (NCHW) layout; latentforge's keep theirs channels-last
    net_g = copy.deepcopy(template.generator).to(memory_format=torch.contiguous_format)
    net_d = copy.deepcopy(template.discriminator).to(memory_format=torch.contiguous_format)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(PerSampleDigits(images), batch_size=128, shuffle=True)
    nz = template.latent_dim
    t0 = time.perf_counter()
    for _ in range(epochs):
        for real, _ in loader:
            b = real.size(0)
            net_d.zero_grad()
            label = torch.full((b,), 1.0)
            err_real = criterion(torch.sigmoid(net_d(real)).view(-1), label)
            err_real.backward()
            noise = torch.randn(b, nz)
            fake = torch.tanh(net_g(noise))
            label.fill_(0.0)
            err_fake = criterion(torch.sigmoid(net_d(fake.detach())).view(-1), label)
            err_fake.backward()
            opt_d.step()
            net_g.zero_grad()
            label.fill_(1.0)
            err_g = criterion(torch.sigmoid(net_d(fake)).view(-1), label)
            err_g.backward()
            opt_g.step()
    seconds = time.perf_counter() - t0
    net_g.eval()
    with torch.no_grad():
        z = torch.randn(5000, nz, generator=torch.Generator().manual_seed(seed + 100))
        samples = torch.cat([0.5 * (torch.tanh(net_g(z[i:i + 500])) + 1) for i in range(0, 5000, 500)]).numpy()
    return {"seconds": seconds, "samples_per_s": len(images) * epochs / seconds, "samples": samples}


def run_latentforge(ds, epochs: int, seed: int, precision: str) -> dict:
    t0 = time.perf_counter()
    run = lf.train("dcgan", ds, epochs=epochs, batch_size=128, seed=seed, val_fraction=0.0, test_fraction=0.0,
                   progress=False, precision=precision, sample_every=0)
    seconds = time.perf_counter() - t0
    samples = run.scaler.transform(run.sample(5000, seed=seed + 100))
    return {"seconds": seconds, "samples_per_s": len(ds) * epochs / seconds, "samples": samples}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    # for both loops, set before torch starts its worker threads, as the program does (subnormals are slow on x86)
    torch.set_flush_denormal(True)
    torch.set_num_threads(a.threads)
    warnings.simplefilter("ignore")  # training diagnostics are not the point here
    ds = lf.load_dataset("mnist")
    real = (ds.x / 255.0).astype(np.float32)
    torch.manual_seed(a.seed)
    template, _ = lf.build("dcgan", ds.example_shape)  # the same initial networks as lf.train's with this seed
    results = {"reference": run_reference(ds.x[:, 0].astype(np.uint8), template, a.epochs, a.seed)}
    for precision in ("fp32", "bf16"):
        results[precision] = run_latentforge(ds, a.epochs, a.seed, precision)
    idx = split_indices(len(ds), val_fraction=0.1, test_fraction=0.1, seed=a.seed)
    clf, info = classifier_for(tempfile.mkdtemp(), real[idx["train"]], ds.y[idx["train"]], source="mnist", seed=a.seed)
    out = {"benchmark": "dcgan_speed", "data": "mnist (5000 real MNIST digits)", "networks": "latentforge DCGAN 28x28",
           "batch_size": 128, "epochs": a.epochs, "threads": a.threads, "torch": torch.__version__,
           "machine": platform.machine(), "classifier_val_accuracy": round(info["val_accuracy"], 4)}
    ref_speed = results["reference"]["samples_per_s"]
    for name, r in results.items():
        q = quality_metrics(clf, info, real, r["samples"])
        out[f"{name}_samples_per_s"] = round(r["samples_per_s"], 1)
        if name != "reference":
            out[f"{name}_speedup"] = round(r["samples_per_s"] / ref_speed, 3)
        out[f"{name}_fd_classifier"] = round(q["fd_classifier"], 3)
        out[f"{name}_precision"] = round(q["precision"], 3)
        out[f"{name}_recall"] = round(q["recall"], 3)
    out["goal"] = "speedup >= 2 with fd_classifier <= the reference's"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
