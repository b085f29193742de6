"""Generative adversarial networks (Goodfellow et al. 2014; DCGAN: Radford et al. 2016; conditional: Mirza &
Osindero 2014): a generator G(z, c) and a discriminator / critic D(x, c) -> one logit.

    generate(z, c)      -> data in [0, 1] (the scaled data space shared by every model)
    discriminate(x, c)  -> (B,) logits (raw critic values for a WGAN)
    sample(n, c)        -> generate from z ~ N(0, I); uses the EMA generator when there is one
    decode(z, c)        -> generate: a generator is a decoder without an encoder

No losses here (see ``objectives.gan``).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from dataclasses import dataclass

from ..config import Config, option, positive, widths
from ..data.conditions import CONDITION_CHOICES, NO_CONDITION
from ..errors import ConfigError
from ..nn import ACTIVATIONS, MLP, MinibatchDiscrimination, MinibatchStd, activation, conv_sizes, draws
from ..registry import Registry
from .base import ConfiguredModel, Decodes, Discriminates, HasPrior, with_condition

#: the generator's last nonlinearity, mapping its raw output to the data space [0, 1]
GENERATOR_OUTPUTS: Registry = Registry("generator output")


def tanh_to_unit(raw: torch.Tensor) -> torch.Tensor:
    """DCGAN's tanh output, mapped from [-1, 1] to the data space [0, 1]."""
    return 0.5 * (torch.tanh(raw) + 1.0)


GENERATOR_OUTPUTS.register("tanh", tanh_to_unit)
GENERATOR_OUTPUTS.register("sigmoid", torch.sigmoid)
# no squashing: raw outputs in the networks' [-1, 1] convention, mapped to [0, 1]; data at the edges of the range
# (low-dimensional data scaled by minmax put their extreme points there) stay reachable without saturating a tanh
GENERATOR_OUTPUTS.register("linear", lambda raw: 0.5 * (raw + 1.0))


@dataclass(frozen=True)
class MLPGANConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one example (filled in from the data)", from_data=True)
    latent_dim: int = option(64, "length of the generator's noise vector z")
    g_hidden: tuple[int, ...] = option((256, 512), "generator hidden widths, comma separated")
    d_hidden: tuple[int, ...] = option((512, 256), "discriminator hidden widths, comma separated")
    activation: str = option("leaky_relu", "hidden-layer nonlinearity of both networks", ACTIVATIONS)
    dropout: float = option(0.3, "dropout after each discriminator hidden layer")
    output: str = option("tanh", "generator output for data in [0, 1]: tanh mapped to [0, 1], sigmoid, or linear "
                         "(unbounded; suits low-dimensional data whose extreme points sit at the range's edges)",
                         GENERATOR_OUTPUTS)
    condition: str = option("none", "what both networks are conditioned on: none, label (one-hot class) or "
                            "vector (continuous parameters from --cond-key)", CONDITION_CHOICES)
    condition_dim: int = option(0, "length of the condition vector (filled in from the data)", from_data=True)
    ema_decay: float = option(0.0, "keep an exponential moving average of the generator's weights for sampling "
                              "(e.g. 0.999; 0: off)")
    spectral_norm: bool = option(False, "spectral normalisation of every discriminator layer (Miyato et al. 2018): "
                                 "each layer's largest singular value held at 1, so the critic is 1-Lipschitz")
    minibatch_std: bool = option(False, "minibatch standard deviation (Karras et al. 2018): the discriminator's last "
                                 "layer also sees the batch's mean feature std, so a collapsed batch looks fake")
    minibatch_features: int = option(0, "minibatch discrimination (Salimans et al. 2016): the discriminator's last "
                                     "layer also sees this many kernels' measures of how close each example is "
                                     "to the others in its batch, so a batch that repeats a few modes looks fake "
                                     "(0: off)")

    def validate(self) -> None:
        positive(self, "latent_dim")
        if self.minibatch_features < 0:
            raise ConfigError(f"minibatch_features must be >= 0 (0: off), got {self.minibatch_features}")
        widths(self, "g_hidden")
        widths(self, "d_hidden")
        widths(self, "input_shape")
        if not 0 <= self.dropout < 1 or not 0 <= self.ema_decay < 1:
            raise ConfigError("dropout and ema_decay must lie in [0, 1)")
        if self.condition != NO_CONDITION and self.input_shape and self.condition_dim <= 0:
            raise ConfigError("a conditional model needs condition_dim > 0 (it is filled in from the data)")


@dataclass(frozen=True)
class DCGANConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one image, channels first: C,H,W (filled in from the data)",
                                          from_data=True)
    latent_dim: int = option(100, "length of the generator's noise vector z")
    g_channels: int = option(64, "generator channels at full resolution; doubled at each coarser level")
    d_channels: int = option(64, "discriminator channels after its first strided conv; doubled per level")
    norm: str = option("batch", "normalisation: batch (DCGAN: every generator layer but the output, every "
                       "discriminator layer but the first) or none (needed by a WGAN-GP critic)", ("batch", "none"))
    output: str = option("tanh", "generator output for data in [0, 1]: tanh mapped to [0, 1], sigmoid, or linear "
                         "(unsquashed; for data at the range's edges)", GENERATOR_OUTPUTS)
    ema_decay: float = option(0.0, "exponential moving average of the generator's weights for sampling (0: off)")
    spectral_norm: bool = option(False, "spectral normalisation of every discriminator layer (Miyato et al. 2018)")
    minibatch_std: bool = option(False, "minibatch standard deviation (Karras et al. 2018): one more channel before "
                                 "the discriminator's head holding the batch's mean feature std")

    def validate(self) -> None:
        positive(self, "latent_dim", "g_channels", "d_channels")
        widths(self, "input_shape")
        if self.input_shape and len(self.input_shape) != 3:
            raise ConfigError(f"dcgan needs images (C, H, W), got {self.input_shape}; use gan for vectors")
        if self.input_shape and min(self.input_shape[1:]) < 4:
            raise ConfigError(f"dcgan needs images of at least 4x4, got {self.input_shape}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError("ema_decay must lie in [0, 1)")


class GAN(ConfiguredModel, Decodes, HasPrior, Discriminates):
    """Base class: the generator's output map, the EMA copy and the shape checks; subclasses build
    ``generator`` and ``discriminator`` and give ``_generate`` / ``_discriminate``."""

    config_class: type = MLPGANConfig

    def __init__(self, config):
        super().__init__(config)
        self.output_map = GENERATOR_OUTPUTS.get(config.output)

    def _finish(self) -> None:
        """Called by subclasses once both networks exist: spectral normalisation of the discriminator's layers
        and the EMA copy of the generator, when asked for."""
        if self.config.spectral_norm:
            for m in list(self.discriminator.modules()):
                if isinstance(m, (nn.Linear, nn.Conv2d)):
                    nn.utils.parametrizations.spectral_norm(m)
        if self.config.ema_decay > 0:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        else:
            self.generator_ema = None

    def generate(self, z: torch.Tensor, c: torch.Tensor | None = None, *, ema: bool = False) -> torch.Tensor:
        """Noise z (B, latent_dim) -> data (B, *input_shape) in [0, 1]; ``ema``: the averaged generator."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(f"the generator takes noise of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        self.check_condition(c, z.shape[0])
        net = self.generator_ema if ema and self.generator_ema is not None else self.generator
        return self.output_map(self._generate(net, z, c).float()).reshape(z.shape[0], *self.input_shape)

    def discriminate(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Examples x (B, *input_shape) in [0, 1] -> (B,) logits (raw scores for a critic)."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ConfigError(f"the discriminator takes examples of shape {self.input_shape}, got {tuple(x.shape[1:])}")
        self.check_condition(c, x.shape[0])
        # the networks see data in [-1, 1], as DCGAN's tanh generator produces
        return self._discriminate(2.0 * x - 1.0, c).float().reshape(-1)

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.generate(z, c, ema=True)

    def sample(self, n: int, c: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """n examples (n, *input_shape) on the model's device from z ~ N(0, I), through the EMA generator when
        there is one; ``generator`` may live on the CPU or on the model's device."""
        z = draws.normal((n, self.latent_dim), generator=generator, device=self.device, dtype=self.dtype)
        return self.generate(z, c, ema=True)

    @torch.no_grad()
    def update_ema(self) -> None:
        """One EMA step. The decay warms up as min(decay, (1 + t) / (10 + t)) after t updates, so that
        the average does not drag the random initial weights along through a short run."""
        if self.generator_ema is None:
            return
        # the weight is computed on the device from the counter there: no read of it per step
        t = self.ema_updates.to(torch.float32)
        d = torch.clamp((1.0 + t) / (10.0 + t), max=self.config.ema_decay)
        self.ema_updates += 1
        for pe, p in zip(self.generator_ema.parameters(), self.generator.parameters()):
            pe.lerp_(p, (1.0 - d).to(pe.dtype))
        for be, b in zip(self.generator_ema.buffers(), self.generator.buffers()):
            be.copy_(b)

    def _generate(self, net, z, c):  # pragma: no cover - abstract
        raise NotImplementedError

    def _discriminate(self, x, c):  # pragma: no cover - abstract
        raise NotImplementedError


class MLPGAN(GAN):
    """MLP generator z (+ c) -> hidden... -> data and MLP discriminator with dropout -> one logit."""

    config_class = MLPGANConfig

    def __init__(self, config: MLPGANConfig):
        super().__init__(config)
        d, cdim = self.n_features, self.condition_dim
        self.generator = MLP([config.latent_dim + cdim, *config.g_hidden, d], config.activation)
        layers: list[nn.Module] = []
        width = d + cdim
        for w in config.d_hidden:
            layers += [nn.Linear(width, w), activation(config.activation), nn.Dropout(config.dropout)]
            width = w
        if config.minibatch_features:
            layers.append(MinibatchDiscrimination(width, config.minibatch_features))  # (B, width) -> (B, width + K)
            width += config.minibatch_features
        if config.minibatch_std:
            layers.append(MinibatchStd())  # (B, width) -> (B, width + 1)
            width += 1
        layers.append(nn.Linear(width, 1))
        self.discriminator = nn.Sequential(*layers)
        self._finish()

    def _generate(self, net, z, c):
        return net(with_condition(z, c))  # (B, D) pre-activation

    def _discriminate(self, x, c):
        return self.discriminator(with_condition(x.flatten(1), c))  # (B, 1)


class _ConvGenerator(nn.Module):
    """z -> linear projection to (C0, h0, w0) -> [ConvTranspose stride 2, BN, ReLU] per level -> (C, H, W)."""

    def __init__(self, shape, latent_dim: int, channels: int, levels: int, norm: str):
        super().__init__()
        c_img, h, w = shape
        sizes = conv_sizes(h, w, levels)  # [(H, W), ..., (h0, w0)]
        widths = [channels * 2 ** i for i in range(levels)][::-1]  # coarse -> fine
        h0, w0 = sizes[-1]
        self.start = (widths[0], h0, w0)
        self.project = nn.Linear(latent_dim, widths[0] * h0 * w0, bias=norm == "none")
        self.project_norm = nn.BatchNorm1d(widths[0] * h0 * w0) if norm == "batch" else nn.Identity()
        layers: list[nn.Module] = []
        for i in range(levels):
            (hs, ws), (ht, wt) = sizes[-1 - i], sizes[-2 - i]
            c_in = widths[i]
            last = i == levels - 1
            c_out = c_img if last else widths[i + 1]
            # kernel 4 doubles exactly (DCGAN); kernel 3 with output padding lands on odd sizes
            if (ht, wt) == (2 * hs, 2 * ws):
                layers.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=last or norm == "none"))
            else:
                layers.append(nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, output_padding=(ht - 2 * hs + 1, wt - 2 * ws + 1),
                                                 bias=last or norm == "none"))
            if not last:
                layers += [nn.BatchNorm2d(c_out) if norm == "batch" else nn.Identity(), nn.ReLU()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.project_norm(self.project(z)))
        return self.body(h.view(z.shape[0], *self.start))  # (B, C, H, W) pre-activation


class _ConvDiscriminator(nn.Module):
    """[Conv 4x4 stride 2, (BN), LeakyReLU 0.2] per level, (the minibatch-std channel), then one logit; no BN on
    the first layer."""

    def __init__(self, shape, channels: int, levels: int, norm: str, minibatch_std: bool = False):
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        for i in range(levels):
            c_out = channels * 2 ** i
            layers.append(nn.Conv2d(c, c_out, 4, 2, 1, bias=i == 0 or norm == "none"))
            if i > 0 and norm == "batch":
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            c = c_out
        if minibatch_std:
            layers.append(MinibatchStd())  # (B, C, h, w) -> (B, C + 1, h, w)
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            n = self.features(torch.zeros(1, *shape)).numel()
        self.head = nn.Linear(n, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def _dcgan_init(m: nn.Module) -> None:
    """DCGAN's initialisation: conv weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02), biases 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def dcgan_levels(h: int, w: int) -> int:
    """Halve until the coarser side is at most 7: 28x28 -> 2 levels (7x7), 64x64 -> 4 levels (4x4)."""
    levels = 0
    while min(h, w) > 7:
        h, w = math.ceil(h / 2), math.ceil(w / 2)
        levels += 1
    return max(levels, 1)


class DCGAN(GAN):
    """DCGAN: transposed-convolution generator and strided-convolution discriminator, any (C, H, W)."""

    config_class = DCGANConfig

    def __init__(self, config: DCGANConfig):
        super().__init__(config)
        c, h, w = self.input_shape
        levels = dcgan_levels(h, w)
        self.generator = _ConvGenerator(self.input_shape, config.latent_dim, config.g_channels, levels, config.norm)
        self.discriminator = _ConvDiscriminator(self.input_shape, config.d_channels, levels, config.norm,
                                                config.minibatch_std)
        self.apply(_dcgan_init)
        # channels-last (NHWC) weights and activations: the layout oneDNN / cuDNN convolutions run fastest in
        self.to(memory_format=torch.channels_last)
        self._finish()

    def _generate(self, net, z, c):
        return net(z)

    def _discriminate(self, x, c):
        return self.discriminator(x.contiguous(memory_format=torch.channels_last))
