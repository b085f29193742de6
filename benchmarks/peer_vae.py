"""One peer of the VAE comparison, run as its own process by benchmarks/peers.py (whole-process timing).

    python benchmarks/peer_vae.py --peer example|pythae --train train.npy --test test.npy --epochs 3

``example``: the training loop of the standard PyTorch VAE example, re-typed without torchvision (which has no
CPU build here): a per-sample Dataset converting each stored uint8 image to a [0, 1] float tensor as ToTensor
does, a DataLoader with batch 128 and shuffling, the 784-400-20 MLP, BCE summed over pixels + KL, Adam 1e-3.
(The example also evaluates the test set and writes images after every epoch; here every peer trains first and
measures the test loss once at the end, so that the three do the same work.)
``pythae``: the same network as a pythae VAE (custom 784-400-20 encoder / decoder, BCE reconstruction loss) with
its BaseTrainer at the same settings.

Prints one JSON line: seconds inside the training loop, samples per second there, and the test loss per image
(BCE + KL with one latent draw, averaged over 5 draws).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from example_vae import ExampleVAE, mean_test_loss, train_example  # benchmarks/ is the script's folder


class PerSampleImages(Dataset):
    def __init__(self, images: np.ndarray):
        self.images = torch.from_numpy(images)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i].view(1, 28, 28).float().div(255), 0


def run_example(train: np.ndarray, test: np.ndarray, epochs: int) -> dict:
    torch.manual_seed(0)
    model = ExampleVAE()
    loader = DataLoader(PerSampleImages(train), batch_size=128, shuffle=True)
    seconds = sum(train_example(model, loader, epochs))
    xt = torch.from_numpy(test).view(-1, 784).float().div(255)
    return {"loop_seconds": seconds, "samples_per_s": epochs * len(train) / seconds,
            "test_loss": mean_test_loss(model, [xt], draws=5)}


def run_pythae(train: np.ndarray, test: np.ndarray, epochs: int) -> dict:
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)

        def forward(self, x):
            h = F.relu(self.fc1(x.reshape(-1, 784)))
            return ModelOutput(embedding=self.fc21(h), log_covariance=self.fc22(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.fc4(F.relu(self.fc3(z)))).reshape(-1, 1, 28, 28))

    torch.manual_seed(0)
    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=20, reconstruction_loss="bce")
    model = VAE(config, encoder=Encoder(), decoder=Decoder())
    trainer_config = BaseTrainerConfig(output_dir="/tmp/pythae-bench", num_epochs=epochs, learning_rate=1e-3,
                                       per_device_train_batch_size=128, optimizer_cls="Adam", steps_saving=None,
                                       no_cuda=True)
    from pythae.data.datasets import BaseDataset

    data = torch.from_numpy(train.reshape(-1, 1, 28, 28).astype(np.float32) / 255)
    trainer = BaseTrainer(model=model, train_dataset=BaseDataset(data, torch.zeros(len(data))),
                          training_config=trainer_config)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    model.eval()
    xt = torch.from_numpy(test).view(-1, 784).float().div(255)

    def forward(x):
        enc = model.encoder(x)
        mu, logvar = enc.embedding, enc.log_covariance
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return model.decoder(z).reconstruction.reshape(-1, 784), mu, logvar

    return {"loop_seconds": seconds, "samples_per_s": epochs * len(train) / seconds,
            "test_loss": mean_test_loss(forward, [xt], draws=5)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--peer", choices=("example", "pythae"), required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    train, test = np.load(a.train), np.load(a.test)
    out = (run_example if a.peer == "example" else run_pythae)(train, test, a.epochs)
    print(json.dumps({"peer": a.peer, **out}))


if __name__ == "__main__":
    main()
