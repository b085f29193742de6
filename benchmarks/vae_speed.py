"""VAE training speed: latentforge's `vae` against a loop in the style of the standard PyTorch VAE example.

Both train the same 784-400-20 MLP VAE (BCE summed over pixels + KL, Adam 1e-3, batch 128) on the same
real 28x28 digits (the built-in `mnist` set, same train / test split) for the same number of epochs, in
one process, on the same number of CPU threads. Prints one JSON line:

    samples_per_s of both, their ratio, and the test loss per image (BCE + KL with one latent draw, as in
    the example, averaged over 20 draws to take the Monte-Carlo noise out of the comparison)

latentforge runs twice: in fp32 (the same arithmetic as the reference) and with `precision="bf16"`
(bf16 autocast of the network's forward pass, losses in fp32). Each figure is the mean over --seeds seeds.

With --compile, latentforge also runs in fp32 with ``compile=True``; its whole-call figure includes the
compiling. ``*_loop_samples_per_s``: training samples per second of the epochs after the first, as the run's
history measures them (the first epoch compiles).

Usage: python benchmarks/vae_speed.py [--epochs 10] [--threads 2] [--seeds 3] [--compile]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

import latentforge as lf
from latentforge.data import split_indices
from latentforge.objectives import evaluate_objective
from example_vae import ExampleVAE, mean_test_loss, train_example  # benchmarks/ is the script's folder


# ---------------------------------------------------------------- the reference, example style
class PerSampleImages(Dataset):
    """One example at a time, converted per sample the way the example's data pipeline does it: the
    stored uint8 image becomes a PIL image, which a ToTensor-style step turns into a (1, 28, 28) float
    tensor in [0, 1]. (Written here without torchvision, which has no CPU build on this machine.)"""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = torch.from_numpy(images), torch.from_numpy(labels)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        pic = Image.fromarray(self.images[i].numpy(), mode="L")
        img = torch.from_numpy(np.array(pic, np.uint8, copy=True)).view(28, 28, 1).permute(2, 0, 1)
        return img.float().div(255), int(self.labels[i])


def run_reference(train_x, train_y, test_x, test_y, epochs: int, seed: int) -> dict:
    torch.manual_seed(seed)
    model = ExampleVAE()
    loader = DataLoader(PerSampleImages(train_x, train_y), batch_size=128, shuffle=True)
    test_loader = DataLoader(PerSampleImages(test_x, test_y), batch_size=128, shuffle=False)
    seconds = sum(train_example(model, loader, epochs))
    test_loss = mean_test_loss(model, [data for data, _ in test_loader], MC_DRAWS)
    return {"seconds": seconds, "samples_per_s": len(train_x) * epochs / seconds,
            "test_loss": test_loss}


# ---------------------------------------------------------------- latentforge
def run_latentforge(ds, idx, epochs: int, seed: int, precision: str, compile: bool = False) -> dict:
    t0 = time.perf_counter()  # the whole call: split, scaling, model build, (compiling,) training
    run = lf.train("vae", ds, hidden=(400,), latent_dim=20, likelihood="bernoulli", batch_size=128, lr=1e-3,
                   epochs=epochs, seed=seed, val_fraction=0.0, test_fraction=0.1, patience=0, progress=False,
                   precision=precision, compile=compile)
    seconds = time.perf_counter() - t0
    # inside the loop: the epochs after the first (the first compiles), samples per second of training time
    later = [row["samples_per_s"] for row in run.history[1:]] or [run.history[0]["samples_per_s"]]
    test = run.batch(ds.subset(idx["test"]))
    # one-sample BCE + KL per image, the reference's test loss, averaged over MC_DRAWS draws
    loss = np.mean([evaluate_objective(run.model, run.objective, test, seed=seed + d)["loss"]
                    for d in range(MC_DRAWS)])
    return {"seconds": seconds, "samples_per_s": len(idx["train"]) * epochs / seconds, "test_loss": float(loss),
            "loop_samples_per_s": float(np.median(later))}


MC_DRAWS = 20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--compile", action="store_true", help="also latentforge in fp32 with compile=True (torch.compile)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    ds = lf.load_dataset("mnist")
    raw = ds.x[:, 0].astype(np.uint8)
    variants = ("fp32", "bf16") + (("fp32_compiled",) if a.compile else ())
    results: dict[str, list[dict]] = {"reference": [], **{v: [] for v in variants}}
    for seed in range(a.seeds):
        idx = split_indices(len(ds), val_fraction=0.0, test_fraction=0.1, seed=seed)  # the split lf.train makes
        results["reference"].append(run_reference(raw[idx["train"]], ds.y[idx["train"]], raw[idx["test"]],
                                                  ds.y[idx["test"]], a.epochs, seed))
        for v in variants:
            results[v].append(run_latentforge(ds, idx, a.epochs, seed, v[:4], compile=v.endswith("compiled")))
    mean = {k: {m: float(np.mean([r[m] for r in v])) for m in ("samples_per_s", "test_loss", "loop_samples_per_s")
                if m in v[0]} for k, v in results.items()}
    ref = mean["reference"]
    out = {
        "benchmark": "vae_speed", "data": "mnist (5000 real MNIST digits, 4500 train / 500 test)",
        "architecture": "784-400-20 MLP VAE, Bernoulli likelihood", "batch_size": 128, "epochs": a.epochs,
        "seeds": a.seeds, "threads": a.threads, "torch": torch.__version__, "machine": platform.machine(),
        "reference_samples_per_s": round(ref["samples_per_s"], 1),
        "reference_test_loss_per_image": round(ref["test_loss"], 3),
    }
    for precision in variants:
        m = mean[precision]
        out[f"latentforge_{precision}_samples_per_s"] = round(m["samples_per_s"], 1)
        out[f"latentforge_{precision}_loop_samples_per_s"] = round(m["loop_samples_per_s"], 1)
        out[f"latentforge_{precision}_speedup"] = round(m["samples_per_s"] / ref["samples_per_s"], 3)
        out[f"latentforge_{precision}_test_loss_per_image"] = round(m["test_loss"], 3)
        out[f"latentforge_{precision}_test_loss_ratio"] = round(m["test_loss"] / ref["test_loss"], 4)
    out["goal"] = "speedup >= 2.5 with test_loss_ratio <= 1.01"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
