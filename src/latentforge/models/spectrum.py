"""A VAE for 1-D spectra: a strided 1-D convolutional encoder and an MLP decoder.

The encoder sees the (median-normalised) flux with masked pixels set to 0, shape (B, D) -> (B, 1, D);
the decoder gives the mean spectrum and, with ``gaussian-hetero``, its own sigma_model per pixel. The
likelihood (``objectives.likelihoods.gaussian_log_likelihood``) uses sigma_model^2 + sigma_i^2 with each
pixel's measurement sigma_i and gives masked pixels no weight.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import SpectrumVAEConfig
from ..errors import ConfigError
from ..nn import MLP, Conv1dEncoder
from .vae import VAE


class SpectrumVAE(VAE):
    config_class = SpectrumVAEConfig

    def __init__(self, config: SpectrumVAEConfig):
        super().__init__(config)
        if len(self.input_shape) != 1:
            raise ConfigError(f"spectrum-vae needs spectra as vectors (D,), got example shape {self.input_shape}")
        d = self.input_shape[0]
        self.encoder = Conv1dEncoder(1, d, config.channels, config.hidden[0], 2 * config.latent_dim,
                                     kernel_size=config.kernel_size, act=config.activation)
        self.decoder = MLP([config.latent_dim, *config.hidden, d * self.out_factor], config.activation)
        if self.out_factor == 2:  # start with a small sigma_model (normalised units): log 0.05
            with torch.no_grad():
                self.decoder.linears[-1].bias[d:].fill_(math.log(0.05))

    def _encode(self, x, c):
        return self.encoder(x.unsqueeze(1))  # (B, 1, D) -> (B, 2 * latent)

    def _decode(self, z, c):
        return self.decoder(z)  # (B, factor * D): loc first, then log_sigma
