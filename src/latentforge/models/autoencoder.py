"""The autoencoder family (Hinton & Salakhutdinov 2006; Baldi & Hornik 1989 for the linear case). Models map
data to codes and back; they know nothing of losses or optimisers.

Every model here offers
    encode(x)      -> z                  (B, *input_shape) -> (B, latent_dim)
    decode_raw(z)  -> pre-activation output (logits when the output is a sigmoid)
    decode(z)      -> output in data space
    reconstruct(x) -> decode(encode(x))
Autoencoders are not conditional; ``c`` is accepted (and must be None) so that every model shares one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..config import Config, option, positive, widths
from ..errors import ConfigError
from ..nn import ACTIVATIONS, MLP, ConvDecoder, ConvEncoder, activation
from ..registry import Registry
from .base import ConfiguredModel, Decodes, Encodes

#: decoder outputs: sigmoid (data in [0, 1]; the raw output is a logit) or identity (real values)
OUTPUTS: Registry = Registry("decoder output")
OUTPUTS.register("sigmoid", torch.sigmoid)


def identity(raw: torch.Tensor) -> torch.Tensor:
    """The decoder's raw output as it is (real-valued data)."""
    return raw


OUTPUTS.register("identity", identity)


@dataclass(frozen=True)
class MLPAutoencoderConfig(Config):
    """The network of ``ae``, ``tied-ae``, ``sparse-ae`` and ``denoising-ae``: examples of any shape, flattened,
    through fully connected layers to codes (N, latent_dim) and back."""

    input_shape: tuple[int, ...] = option((), "shape of one example, e.g. 1,28,28 (filled in from the data)",
                                          from_data=True)
    latent_dim: int = option(2, "size of the bottleneck (the code)")
    hidden: tuple[int, ...] = option((256, 64), "encoder hidden widths, comma separated; the decoder mirrors them")
    activation: str = option("relu", "hidden-layer nonlinearity", ACTIVATIONS)
    output: str = option("sigmoid", "decoder output: sigmoid for data in [0, 1], identity for real values", OUTPUTS)
    code_activation: str = option("identity", "nonlinearity applied to the code", ACTIVATIONS)

    def validate(self) -> None:
        positive(self, "latent_dim")
        widths(self, "hidden")
        widths(self, "input_shape")


@dataclass(frozen=True)
class LinearAutoencoderConfig(Config):
    """The network of ``linear-ae``: linear maps only; with a squared loss its decoder spans the top
    ``latent_dim`` principal subspace."""

    input_shape: tuple[int, ...] = option((), "shape of one example (filled in from the data)", from_data=True)
    latent_dim: int = option(2, "size of the bottleneck (the number of principal directions learned)")
    hidden: tuple[int, ...] = option((), "optional linear hidden widths (the map stays linear)")

    def validate(self) -> None:
        positive(self, "latent_dim")
        widths(self, "hidden")
        widths(self, "input_shape")


@dataclass(frozen=True)
class ConvAutoencoderConfig(Config):
    """The network of ``conv-ae`` and ``denoising-conv-ae``: images (N, C, H, W) of any size through conv +
    max-pool levels to codes (N, latent_dim), and up-sampling levels back."""

    input_shape: tuple[int, ...] = option((), "shape of one image, channels first: C,H,W (filled in from the data)",
                                          from_data=True)
    latent_dim: int = option(16, "size of the bottleneck (the code)")
    channels: tuple[int, ...] = option((16, 32), "conv channels per level; each level halves H and W by max-pooling")
    kernel_size: int = option(3, "convolution kernel size (odd)")
    activation: str = option("relu", "nonlinearity", ACTIVATIONS)
    output: str = option("sigmoid", "decoder output: sigmoid for data in [0, 1], identity for real values", OUTPUTS)
    upsample: str = option("nearest", "decoder up-sampling: nearest (UpSampling + conv) or transpose (ConvTranspose)",
                           ("nearest", "transpose"))
    code_activation: str = option("identity", "nonlinearity applied to the code", ACTIVATIONS)

    def validate(self) -> None:
        positive(self, "latent_dim", "kernel_size")
        widths(self, "channels")
        widths(self, "input_shape")
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"--kernel-size must be odd to keep sizes, got {self.kernel_size}")
        if not self.channels:
            raise ConfigError("--channels needs at least one level, e.g. 16,32")
        if self.input_shape and len(self.input_shape) != 3:
            raise ConfigError(
                f"conv models need images of shape (C, H, W), got {self.input_shape}; "
                "use an MLP model (ae) for vector data"
            )


class Autoencoder(ConfiguredModel, Encodes, Decodes):
    """Base class: shape checks and the encode / decode / reconstruct contract.

    ``sigmoid_output``: the decoder ends in a sigmoid, so ``decode_raw`` gives logits (what a BCE loss takes).
    """

    config_class: type = MLPAutoencoderConfig

    def __init__(self, config):
        super().__init__(config)
        self.code_act = activation(getattr(config, "code_activation", "identity"))
        self.output_map = OUTPUTS.get(getattr(config, "output", "identity"))
        self.sigmoid_output = self.output_map is torch.sigmoid

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        self.check_input(x)
        self.check_condition(c, x.shape[0])
        return self.code_act(self._encode(x).float())  # fp32 even under bf16 autocast

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        self.check_codes(z)
        return self._decode(z).float()

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        self.check_condition(c, z.shape[0])
        out = self.decode_raw(z)
        return self.output_map(out)

    def reconstruct(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, c), c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class MLPAutoencoder(Autoencoder):
    """Fully connected encoder D -> hidden... -> latent and a mirrored decoder."""

    config_class = MLPAutoencoderConfig

    def __init__(self, config: MLPAutoencoderConfig):
        super().__init__(config)
        sizes = [self.n_features, *config.hidden, config.latent_dim]
        self.encoder = MLP(sizes, config.activation)
        self.decoder = MLP(sizes[::-1], config.activation)

    def _encode(self, x):
        return self.encoder(x.flatten(1))  # (B, latent)

    def _decode(self, z):
        return self.decoder(z).view(z.shape[0], *self.input_shape)


class LinearAutoencoder(Autoencoder):
    """No nonlinearity anywhere: with a squared loss its decoder spans the top-k principal subspace."""

    config_class = LinearAutoencoderConfig

    def __init__(self, config: LinearAutoencoderConfig):
        super().__init__(config)
        sizes = [self.n_features, *config.hidden, config.latent_dim]
        self.encoder = MLP(sizes, "identity")
        self.decoder = MLP(sizes[::-1], "identity")

    def _encode(self, x):
        return self.encoder(x.flatten(1))

    def _decode(self, z):
        return self.decoder(z).view(z.shape[0], *self.input_shape)

    def decoder_matrix(self) -> torch.Tensor:
        """The decoder's overall linear map (D, latent_dim): its columns span the learned subspace."""
        m = None
        for lin in self.decoder.linears:
            m = lin.weight if m is None else lin.weight @ m
        return m.detach()


class TiedAutoencoder(Autoencoder):
    """MLP autoencoder whose decoder uses the transposes of the encoder's weights (own biases only)."""

    config_class = MLPAutoencoderConfig

    def __init__(self, config: MLPAutoencoderConfig):
        super().__init__(config)
        sizes = [self.n_features, *config.hidden, config.latent_dim]
        self.encoder = MLP(sizes, config.activation)
        self.decoder_bias = nn.ParameterList([nn.Parameter(torch.zeros(w)) for w in sizes[::-1][1:]])
        self.act = activation(config.activation)

    def _encode(self, x):
        return self.encoder(x.flatten(1))

    def _decode(self, z):
        h = z
        layers = self.encoder.linears[::-1]
        for i, (lin, b) in enumerate(zip(layers, self.decoder_bias)):
            h = F.linear(h, lin.weight.t(), b)  # weight (out, in) -> its transpose maps back
            if i < len(layers) - 1:
                h = self.act(h)
        return h.view(z.shape[0], *self.input_shape)


class ConvAutoencoder(Autoencoder):
    """Conv + max-pool encoder, up-sampling (nearest + conv, or ConvTranspose) decoder, any (C, H, W)."""

    config_class = ConvAutoencoderConfig

    def __init__(self, config: ConvAutoencoderConfig):
        super().__init__(config)
        if len(self.input_shape) != 3:
            raise ConfigError(f"conv-ae needs images (C, H, W); got example shape {self.input_shape}")
        self.encoder = ConvEncoder(self.input_shape, config.channels, config.latent_dim,
                                   kernel_size=config.kernel_size, act=config.activation)
        self.decoder = ConvDecoder(self.input_shape, config.channels, config.latent_dim,
                                   kernel_size=config.kernel_size, act=config.activation, upsample=config.upsample)

    def _encode(self, x):
        return self.encoder(x)

    def _decode(self, z):
        return self.decoder(z)
