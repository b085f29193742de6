"""Building blocks shared by every model: an MLP stack and conv down / up paths for any image size."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ..registry import Registry

#: nonlinearities by name: a factory that makes a fresh module
ACTIVATIONS: Registry = Registry("activation")
for _name, _factory in (("relu", nn.ReLU), ("leaky_relu", lambda: nn.LeakyReLU(0.2)), ("elu", nn.ELU),
                        ("gelu", nn.GELU), ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid), ("identity", nn.Identity)):
    ACTIVATIONS.register(_name, _factory)


def activation(name: str) -> nn.Module:
    """A new activation module by name (ConfigError for an unknown one)."""
    return ACTIVATIONS.get(name)()


class MLP(nn.Sequential):
    """Linear layers of the given widths with ``act`` between them (none after the last layer)."""

    def __init__(self, widths: Sequence[int], act: str = "relu", *, bias: bool = True):
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b, bias=bias))
            if i < len(widths) - 2 and ACTIVATIONS.get(act) is not nn.Identity:  # no no-op layers
                layers.append(activation(act))
        super().__init__(*layers)

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]


class MinibatchStd(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, "Progressive growing of GANs", section 3): the standard
    deviation of every feature over the batch, averaged into one number, appended to each example as one more
    feature (vectors (B, F) -> (B, F + 1)) or one more constant channel (maps (B, C, H, W) -> (B, C + 1, H, W)).

    A discriminator that sees it can tell a batch of near-identical samples from a varied real batch, which
    penalises mode collapse. The statistic is over the whole batch (population std, so a batch of one gives ~0).
    """

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        std = h.float().var(0, unbiased=False).add(1e-8).sqrt().mean().to(h.dtype)  # () one number per batch
        extra = std.expand(h.shape[0], 1, *h.shape[2:])  # (B, 1) or (B, 1, H, W)
        return torch.cat([h, extra], dim=1)


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, "Improved techniques for training GANs", section 3.2): each
    example's features h_i (F,) are projected by a learned tensor T to ``kernels`` rows M_i (kernels, dims); for
    every kernel b, o_i[b] = sum over the other examples j of exp(-||M_i[b] - M_j[b]||_1). These ``kernels``
    numbers are appended to h_i: (B, F) -> (B, F + kernels). An example with many near copies in its batch gets
    large o_i, so the discriminator can tell a batch that repeats a few modes from a varied real one."""

    def __init__(self, in_features: int, kernels: int, dims: int = 5):
        super().__init__()
        self.kernels, self.dims = kernels, dims
        self.T = nn.Parameter(torch.randn(in_features, kernels * dims) * (1.0 / math.sqrt(in_features)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = (h @ self.T.to(h.dtype)).view(h.shape[0], self.kernels, self.dims)  # (B, K, D)
        l1 = (m[:, None] - m[None]).abs().sum(-1)  # (B, B, K)
        o = torch.exp(-l1).sum(1) - 1.0  # the example itself (distance 0) left out
        return torch.cat([h, o], dim=1)


def conv_sizes(h: int, w: int, levels: int) -> list[tuple[int, int]]:
    """Spatial sizes after each 2x2 max-pool with ceil mode: [(H, W), (ceil(H/2), ceil(W/2)), ...]."""
    sizes = [(h, w)]
    for _ in range(levels):
        h, w = math.ceil(h / 2), math.ceil(w / 2)
        sizes.append((h, w))
    return sizes


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_features): [conv, act, maxpool] per level, then flatten and a linear map."""

    def __init__(self, in_shape: Sequence[int], channels: Sequence[int], out_features: int, *,
                 kernel_size: int = 3, act: str = "relu"):
        super().__init__()
        c, h, w = in_shape
        layers: list[nn.Module] = []
        for c_out in channels:
            layers += [nn.Conv2d(c, c_out, kernel_size, padding=kernel_size // 2), activation(act),
                       nn.MaxPool2d(2, ceil_mode=True)]
            c = c_out
        self.features = nn.Sequential(*layers)
        hl, wl = conv_sizes(h, w, len(channels))[-1]
        self.head = nn.Linear(c * hl * wl, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))  # (B, out_features)


class ConvDecoder(nn.Module):
    """(B, in_features) -> (B, C, H, W), mirroring ConvEncoder; every level returns exactly the encoder's size.

    ``upsample="nearest"`` uses nearest-neighbour up-sampling to the recorded size and a conv;
    ``upsample="transpose"`` uses a stride-2 ConvTranspose with the output padding that lands on that size.
    """

    def __init__(self, out_shape: Sequence[int], channels: Sequence[int], in_features: int, *,
                 kernel_size: int = 3, act: str = "relu", upsample: str = "nearest"):
        super().__init__()
        c_img, h, w = out_shape
        sizes = conv_sizes(h, w, len(channels))
        rev = list(channels)[::-1]
        self.start_shape = (rev[0], *sizes[-1])
        self.head = nn.Linear(in_features, rev[0] * sizes[-1][0] * sizes[-1][1])
        layers: list[nn.Module] = [activation(act)]
        outs = rev[1:] + [rev[-1]]
        for i, (c_in, c_out) in enumerate(zip(rev, outs)):
            (hs, ws), (ht, wt) = sizes[-1 - i], sizes[-2 - i]
            if upsample == "nearest":
                layers += [nn.Upsample(size=(ht, wt), mode="nearest"),
                           nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2)]
            else:  # out = 2*s - 1 + output_padding for kernel 3, stride 2, padding 1
                layers.append(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1,
                                                 output_padding=(ht - (2 * hs - 1), wt - (2 * ws - 1))))
            layers.append(activation(act))
        layers.append(nn.Conv2d(outs[-1], c_img, kernel_size, padding=kernel_size // 2))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(z.shape[0], *self.start_shape)  # (B, C_last, H_last, W_last)
        return self.body(h)  # (B, C, H, W), pre-activation


class Conv1dEncoder(nn.Module):
    """(B, C, L) -> (B, out_features): [stride-2 conv, act] per level (each halves L), flatten, an MLP head."""

    def __init__(self, in_channels: int, length: int, channels: Sequence[int], hidden: int, out_features: int, *,
                 kernel_size: int = 7, act: str = "relu"):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for c_out in channels:
            layers += [nn.Conv1d(c, c_out, kernel_size, stride=2, padding=kernel_size // 2), activation(act)]
            c = c_out
            length = (length + 2 * (kernel_size // 2) - kernel_size) // 2 + 1
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(c * length, hidden), activation(act), nn.Linear(hidden, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))  # (B, out_features)


class Conv1dDecoder(nn.Module):
    """(B, in_features) -> (B, out_channels, length): an MLP head to a coarse sequence, then per level
    [nearest up-sampling x2, conv, act], a last conv, cropped to ``length``. The convolutions are shared
    along the sequence, so a feature (an emission line) has one shape wherever the head puts it."""

    def __init__(self, in_features: int, out_channels: int, length: int, channels: Sequence[int], hidden: int, *,
                 kernel_size: int = 5, act: str = "relu"):
        super().__init__()
        rev = list(channels)[::-1]
        self.length = length
        self.start = (rev[0], math.ceil(length / 2 ** len(rev)))
        self.head = nn.Sequential(nn.Linear(in_features, hidden), activation(act),
                                  nn.Linear(hidden, self.start[0] * self.start[1]), activation(act))
        layers: list[nn.Module] = []
        outs = rev[1:] + [rev[-1]]
        for c_in, c_out in zip(rev, outs):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv1d(c_in, c_out, kernel_size, padding=kernel_size // 2), activation(act)]
        layers.append(nn.Conv1d(outs[-1], out_channels, kernel_size, padding=kernel_size // 2))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(z.shape[0], *self.start)  # (B, C_last, L / 2^levels)
        return self.body(h)[..., : self.length]  # (B, out_channels, length)
