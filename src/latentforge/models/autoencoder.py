"""The autoencoder family. Models map data to codes and back; they know nothing of losses or optimisers.

Every model here offers
    encode(x)      -> z                  (B, *input_shape) -> (B, latent_dim)
    decode_raw(z)  -> pre-activation output (logits when the output is a sigmoid)
    decode(z)      -> output in data space
    reconstruct(x) -> decode(encode(x))
"""

from __future__ import annotations


import torch
from torch import nn
from torch.nn import functional as F

from ..config import ConvAutoencoderConfig, LinearAutoencoderConfig, MLPAutoencoderConfig
from ..errors import ConfigError
from ..nn import MLP, ConvDecoder, ConvEncoder, activation
from .base import ConfiguredModel


class Autoencoder(ConfiguredModel):
    """Base class: shape checks and the encode / decode / reconstruct contract."""

    config_class: type = MLPAutoencoderConfig
    output: str = "identity"

    def __init__(self, config):
        super().__init__(config)
        self.code_act = activation(getattr(config, "code_activation", "identity"))

    def _check_input(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ConfigError(
                f"{type(self).__name__} expects examples of shape {self.input_shape}, got {tuple(x.shape[1:])}"
            )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.code_act(self._encode(x).float())  # fp32 even under bf16 autocast

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(f"decode expects codes of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self._decode(z).float()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_raw(z)
        return torch.sigmoid(out) if self.output == "sigmoid" else out

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

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
        self.output = config.output
        widths = [self.n_features, *config.hidden, config.latent_dim]
        self.encoder = MLP(widths, config.activation)
        self.decoder = MLP(widths[::-1], config.activation)

    def _encode(self, x):
        return self.encoder(x.flatten(1))  # (B, latent)

    def _decode(self, z):
        return self.decoder(z).view(z.shape[0], *self.input_shape)


class LinearAutoencoder(Autoencoder):
    """No nonlinearity anywhere: with a squared loss its decoder spans the top-k principal subspace."""

    config_class = LinearAutoencoderConfig
    output = "identity"

    def __init__(self, config: LinearAutoencoderConfig):
        super().__init__(config)
        widths = [self.n_features, *config.hidden, config.latent_dim]
        self.encoder = MLP(widths, "identity")
        self.decoder = MLP(widths[::-1], "identity")

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
        self.output = config.output
        widths = [self.n_features, *config.hidden, config.latent_dim]
        self.encoder = MLP(widths, config.activation)
        self.decoder_bias = nn.ParameterList([nn.Parameter(torch.zeros(w)) for w in widths[::-1][1:]])
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
        self.output = config.output
        self.encoder = ConvEncoder(self.input_shape, config.channels, config.latent_dim,
                                   kernel_size=config.kernel_size, act=config.activation)
        self.decoder = ConvDecoder(self.input_shape, config.channels, config.latent_dim,
                                   kernel_size=config.kernel_size, act=config.activation, upsample=config.upsample)

    def _encode(self, x):
        return self.encoder(x)

    def _decode(self, z):
        return self.decoder(z)
