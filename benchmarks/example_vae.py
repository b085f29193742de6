"""The 784-400-20 MLP VAE of the standard PyTorch VAE example (pytorch/examples, vae/main.py), written once here
for every benchmark that compares against it: the network, its loss (BCE summed over pixels + KL) and its test
loss (one latent draw per image, averaged over draws). Imported by peer_vae.py, vae_speed.py and gpu_peers.py."""

from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class ExampleVAE(nn.Module):
    """784-400-20 MLP VAE: ReLU encoder, Gaussian posterior (mean, log-variance), sigmoid Bernoulli decoder."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x.reshape(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def example_loss(recon, x, mu, logvar):
    """BCE summed over the pixels + KL(q(z|x) || N(0, I)), summed over the batch (nats)."""
    bce = F.binary_cross_entropy(recon, x.reshape(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def train_example(model: nn.Module, loader: Iterable, epochs: int, device: torch.device | None = None) -> list[float]:
    """The example's training loop: Adam 1e-3 over `loader` (items whose first element is the image batch), each
    batch moved to `device` as it comes. Returns the wall seconds of every epoch (the device synchronised)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        for item in loader:
            x = item[0] if device is None else item[0].to(device)
            opt.zero_grad()
            recon, mu, logvar = model(x)
            example_loss(recon, x, mu, logvar).backward()
            opt.step()
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    model.eval()
    return times


def mean_test_loss(forward: Callable, batches: Iterable[torch.Tensor], draws: int) -> float:
    """The example's loss per image (nats), averaged over `draws` passes of one latent draw each.
    `forward(x)` returns (reconstruction, mu, logvar)."""
    batches = list(batches)
    n = sum(len(b) for b in batches)
    totals = []
    with torch.no_grad():
        for _ in range(draws):
            total = 0.0
            for x in batches:
                recon, mu, logvar = forward(x)
                total += float(example_loss(recon, x, mu, logvar))
            totals.append(total / n)
    return float(np.mean(totals))
