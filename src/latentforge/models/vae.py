"""Variational autoencoders: the encoder gives q(z|x) = N(mean, diag(var)); the decoder gives p(x|z).

    encode_dist(x, c)   -> DiagonalGaussian posterior (sample / mean / kl / log_prob)
    encode(x, c)        -> posterior mean (the code used at inference unless sampling is asked for)
    decode_params(z, c) -> (loc, log_sigma): logits for a Bernoulli decoder, the mean for a Gaussian one;
                           log_sigma is None (Bernoulli), a scalar (fixed / shared) or per output (hetero);
                           for a hurdle decoder the Gaussian mean and the pair (log_sigma, logit of non-zero)
    decode(z, c)        -> the decoder's mean in data space
    decode_std(z, c)    -> the decoder's own standard deviation in data space
    decode_draw(z, c)   -> a draw from p(x|z) for a hurdle decoder (zeros included); the mean otherwise
    sample(n, c)        -> data generated from prior draws z ~ N(0, I)

No losses live here (see ``objectives.elbo``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import ConvVAEConfig, VAEConfig
from ..errors import ConfigError
from ..nn import MLP, ConvDecoder, ConvEncoder, activation
from .base import ConfiguredModel, with_condition
from .distributions import DiagonalGaussian

LOG_SIGMA_RANGE = (-7.0, 5.0)


class VAE(ConfiguredModel):
    config_class: type = VAEConfig

    def __init__(self, config):
        super().__init__(config)
        self.likelihood = config.likelihood
        self.output = "sigmoid" if config.likelihood == "bernoulli" else "identity"
        self.out_factor = {"gaussian-hetero": 2, "hurdle": 3}.get(config.likelihood, 1)
        if config.likelihood == "gaussian":
            self.register_buffer("log_sigma", torch.tensor(math.log(config.sigma)))
        elif config.likelihood == "gaussian-shared":
            self.log_sigma = nn.Parameter(torch.tensor(math.log(config.sigma)))
        else:
            self.log_sigma = None

    def _check(self, x: torch.Tensor, c: torch.Tensor | None) -> None:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ConfigError(
                f"{type(self).__name__} expects examples of shape {self.input_shape}, got {tuple(x.shape[1:])}")
        self._check_c(c, x.shape[0])

    # -------------------------------------------------------------- encoder / decoder
    def encode_dist(self, x: torch.Tensor, c: torch.Tensor | None = None) -> DiagonalGaussian:
        self._check(x, c)
        h = self._encode(x, c).float()  # (B, 2 * latent); fp32 even under bf16 autocast
        mean, logvar = h.chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.encode_dist(x, c).mean

    def decode_params(self, z: torch.Tensor, c: torch.Tensor | None = None):
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(f"decode expects codes of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        self._check_c(c, z.shape[0])
        out = self._decode(z, c).float()  # (B, factor * C, H, W) or (B, factor * D) before reshaping
        shape = (z.shape[0], *self.input_shape)
        if self.out_factor == 3:
            loc, log_sigma, logit = out.chunk(3, dim=1)
            log_sigma = log_sigma.clamp(*LOG_SIGMA_RANGE)
            return loc.reshape(shape), (log_sigma.reshape(shape), logit.reshape(shape))
        if self.out_factor == 2:
            loc, log_sigma = out.chunk(2, dim=1)
            log_sigma = log_sigma.clamp(*LOG_SIGMA_RANGE)
        else:
            loc, log_sigma = out, self.log_sigma
        return loc.reshape(z.shape[0], *self.input_shape), (
            log_sigma.reshape(z.shape[0], *self.input_shape) if self.out_factor == 2 else log_sigma)

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        loc, scale = self.decode_params(z, c)
        if self.likelihood == "hurdle":
            return torch.sigmoid(scale[1]) * loc
        return torch.sigmoid(loc) if self.likelihood == "bernoulli" else loc

    def decode_std(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        loc, log_sigma = self.decode_params(z, c)
        if self.likelihood == "bernoulli":
            p = torch.sigmoid(loc)
            return torch.sqrt(p * (1 - p))
        if self.likelihood == "hurdle":  # mixture of a point mass at 0 and N(loc, sigma^2)
            p, var = torch.sigmoid(log_sigma[1]), torch.exp(2 * log_sigma[0])
            return torch.sqrt((p * (var + loc.pow(2)) - (p * loc).pow(2)).clamp_min(0))
        return torch.exp(log_sigma).expand_as(loc)

    def decode_draw(self, z: torch.Tensor, c: torch.Tensor | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw from p(x|z) for a hurdle decoder: zero with probability 1 - p, else N(loc, sigma^2) kept
        above 0 (a non-zero entry stays non-zero); other decoders give their mean, as ``decode``."""
        if self.likelihood != "hurdle":
            return self.decode(z, c)
        loc, (log_sigma, logit) = self.decode_params(z, c)
        u = torch.rand(loc.shape, generator=generator)
        eps = torch.randn(loc.shape, generator=generator)
        value = (loc + torch.exp(log_sigma) * eps).clamp_min(1e-6)
        return torch.where(u < torch.sigmoid(logit), value, torch.zeros_like(value))

    def reconstruct(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, c), c)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.reconstruct(x, c)

    def sample(self, n: int, c: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Generate n examples: z ~ N(0, I) through the decoder (its mean; a draw for a hurdle decoder)."""
        z = torch.randn(n, self.latent_dim, generator=generator)
        return self.decode_draw(z, c, generator)

    def _encode(self, x, c):  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode(self, z, c):  # pragma: no cover - abstract
        raise NotImplementedError


class MLPVAE(VAE):
    """MLP encoder D (+ condition) -> hidden... -> (mean, logvar); mirrored decoder; conditional when asked."""

    config_class = VAEConfig

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        d, cdim = self.n_features, self.condition_dim
        hidden = list(config.hidden)
        enc_widths = [d + cdim, *hidden]
        self.encoder = nn.Sequential(MLP(enc_widths, config.activation),
                                     activation(config.activation) if hidden else nn.Identity())
        self.posterior_head = nn.Linear(enc_widths[-1], 2 * config.latent_dim)
        self.decoder = MLP([config.latent_dim + cdim, *hidden[::-1], d * self.out_factor], config.activation)

    def _encode(self, x, c):
        return self.posterior_head(self.encoder(with_condition(x.flatten(1), c)))

    def _decode(self, z, c):
        return self.decoder(with_condition(z, c))  # (B, factor * D): loc first, then log_sigma


class ConvVAE(VAE):
    """Conv + max-pool encoder to (mean, logvar), up-sampling decoder; any (C, H, W)."""

    config_class = ConvVAEConfig

    def __init__(self, config: ConvVAEConfig):
        super().__init__(config)
        if len(self.input_shape) != 3:
            raise ConfigError(f"conv-vae needs images (C, H, W); got example shape {self.input_shape}")
        c, h, w = self.input_shape
        self.encoder = ConvEncoder(self.input_shape, config.channels, 2 * config.latent_dim,
                                   kernel_size=config.kernel_size, act=config.activation)
        self.decoder = ConvDecoder((c * self.out_factor, h, w), config.channels, config.latent_dim,
                                   kernel_size=config.kernel_size, act=config.activation, upsample=config.upsample)

    def _encode(self, x, c):
        return self.encoder(x)

    def _decode(self, z, c):
        return self.decoder(z)  # (B, factor * C, H, W): loc channels first, then log_sigma
