"""Variational autoencoders (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").

    encode_dist(x, c)   -> q(z|x), a DiagonalGaussian (sample / mean / kl / log_prob)
    encode(x, c)        -> its mean (the code used at inference unless sampling is asked for)
    decode_dist(z, c)   -> p(x|z), a distribution of the configured likelihood (log_prob / mean / stddev / sample)
    decode(z, c)        -> the decoder's mean in the scaled data space
    sample(n, c)        -> data generated from prior draws z ~ N(0, I)

Shapes: x (B, *input_shape), z (B, latent_dim), c (B, condition_dim) for a conditional model (Sohn et al.
2015). No losses live here (see ``objectives.elbo``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import Config, option, positive, widths
from ..data.conditions import CONDITION_CHOICES, NO_CONDITION
from ..errors import ConfigError
from ..nn import ACTIVATIONS, MLP, ConvDecoder, ConvEncoder, activation, draws
from .base import ConfiguredModel, HasPosterior, HasPrior, with_condition
from .distributions import DiagonalGaussian
from .likelihoods import LIKELIHOODS
from .prior_samplers import PRIOR_SAMPLERS


#: latent draws per row when a learned sigma is set from the decoder's residual
RESIDUAL_DRAWS = 8
#: help of the options the VAE configurations share
SIGMA_HELP = ("gaussian: the fixed sigma (scaled units); gaussian-shared: its starting value when given (by default "
              "it is set to the decoder's residual after the last epoch)")
PRIOR_SAMPLER_HELP = ("where generation draws codes: normal (the prior N(0, I)); gmm (a Gaussian mixture fitted to the "
                      "encoded training data after training, Dai & Wipf 2019); flow (a small RealNVP fitted to them)")
PRIOR_COMPONENTS_HELP = "gmm: mixture components; flow: coupling layers (at most 8)"


@dataclass(frozen=True)
class VAEConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one example (filled in from the data)", from_data=True)
    latent_dim: int = option(16, "number of latent dimensions")
    hidden: tuple[int, ...] = option((512, 256), "encoder hidden widths, comma separated; the decoder mirrors them")
    activation: str = option("relu", "hidden-layer nonlinearity", ACTIVATIONS)
    likelihood: str = option(
        "bernoulli",
        "p(x|z): bernoulli (BCE on logits, data in [0, 1]); gaussian (fixed --sigma); gaussian-shared (one "
        "learned sigma); gaussian-hetero (the decoder predicts a sigma per output); hurdle (sparse non-negative "
        "data such as log-scaled energies: per output a probability of being non-zero and a Gaussian for the "
        "non-zero value; samples are drawn from it, so they are as sparse and noisy as the data)", LIKELIHOODS)
    sigma: float = option(0.1, SIGMA_HELP)
    prior_sampler: str = option("normal", PRIOR_SAMPLER_HELP, PRIOR_SAMPLERS)
    prior_components: int = option(10, PRIOR_COMPONENTS_HELP)
    condition: str = option("none", "what the model is conditioned on: none, label (one-hot class) or vector "
                            "(continuous parameters from --cond-key)", CONDITION_CHOICES)
    condition_dim: int = option(0, "length of the condition vector (filled in from the data)", from_data=True)

    def validate(self) -> None:
        positive(self, "latent_dim", "sigma", "prior_components")
        widths(self, "hidden")
        widths(self, "input_shape")
        if self.condition != NO_CONDITION and self.input_shape and self.condition_dim <= 0:
            raise ConfigError("a conditional model needs condition_dim > 0 (it is filled in from the data)")


@dataclass(frozen=True)
class ConvVAEConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one image, channels first: C,H,W (filled in from the data)",
                                          from_data=True)
    latent_dim: int = option(16, "number of latent dimensions")
    channels: tuple[int, ...] = option((32, 64), "conv channels per level; each level halves H and W by max-pooling")
    kernel_size: int = option(3, "convolution kernel size (odd)")
    activation: str = option("relu", "nonlinearity", ACTIVATIONS)
    upsample: str = option("nearest", "decoder up-sampling: nearest (UpSampling + conv) or transpose (ConvTranspose)",
                           ("nearest", "transpose"))
    prior_sampler: str = option("normal", PRIOR_SAMPLER_HELP, PRIOR_SAMPLERS)
    prior_components: int = option(10, PRIOR_COMPONENTS_HELP)
    likelihood: str = option("bernoulli", "p(x|z): bernoulli, gaussian, gaussian-shared, gaussian-hetero or "
                             "hurdle (zero or Gaussian per output)", LIKELIHOODS)
    sigma: float = option(0.1, SIGMA_HELP)

    def validate(self) -> None:
        positive(self, "latent_dim", "kernel_size", "sigma", "prior_components")
        widths(self, "channels")
        widths(self, "input_shape")
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"--kernel-size must be odd to keep sizes, got {self.kernel_size}")
        if self.input_shape and len(self.input_shape) != 3:
            raise ConfigError(f"conv-vae needs images of shape (C, H, W), got {self.input_shape}; use vae for vectors")


class GeneratesFromPriorSampler:
    """Generation of a model with a prior sampler: codes from the fitted ``prior_sampler`` (gmm / flow over the
    encoded training means; N(0, I) until one is fitted) decoded by ``decode_dist``. A mixin for a
    ``ConfiguredModel`` with ``prior_sampler``, ``latent_dim`` and ``decode_dist``."""

    def sample(self, n: int, c: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Generate n examples (n, *input_shape) on the model's device: z from the prior sampler through p(x|z)
        (its mean; a draw for a decoder that generates, e.g. a hurdle). ``generator`` may live on the CPU or on
        the model's device."""
        return self.decode_dist(self.draw_codes(n, generator), c).generate(generator)  # type: ignore[attr-defined]

    def draw_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (n, latent_dim) on the model's device for generation, from the configured prior sampler."""
        model: Any = self
        if not (model.prior_sampler.learned and model.prior_sampler.is_fitted()):
            return draws.normal((n, model.latent_dim), generator=generator, device=model.device, dtype=model.dtype)
        return model.prior_sampler.sample(n, generator, model.device).to(model.dtype)

    def fit_prior_sampler(self, codes, *, seed: int = 0) -> str | None:
        """Fit the prior sampler to encoded training means ``codes`` (N, latent_dim); a sentence, or None for N(0, I)."""
        return self.prior_sampler.fit(codes, seed=seed)  # type: ignore[attr-defined]


class VAE(GeneratesFromPriorSampler, ConfiguredModel, HasPosterior, HasPrior):
    """Base class: the posterior, the likelihood and the shape checks; subclasses give ``_encode`` (to
    2 * latent_dim numbers: mean, then log-variance) and ``_decode`` (to out_factor * the example)."""

    config_class: type = VAEConfig

    def __init__(self, config):
        super().__init__(config)
        self.likelihood = LIKELIHOODS.get(config.likelihood)(config.sigma)
        self.out_factor = self.likelihood.out_factor
        self.prior_sampler = PRIOR_SAMPLERS.get(getattr(config, "prior_sampler", "normal"))(
            config.latent_dim, getattr(config, "prior_components", 10))
        # the factor c of the calibrated reconstruction predictive (``predictive_scale`` in learned_scales): its
        # draws' means spread c times as far about their mean and its sigmas c times as wide; 1 until fitted
        self.register_buffer("predictive_scale", torch.ones((), device=torch.get_default_device()))

    #: a learned likelihood scale is set from the decoder's residual after the last epoch
    #: (``start_scales_from_residual``)
    scales_from_data: bool = True

    @torch.no_grad()
    def start_scales_from_residual(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                                   c: torch.Tensor | None = None) -> str | None:
        """A learned sigma (shared, or the decoder's per-output prediction) set to the residual x - mu(z),
        z ~ q(z|x), of training rows x (B, *input_shape, scaled units): its maximum-likelihood value for the
        decoder as it is (called after the last epoch); a sentence saying so, or None."""
        if not self.scales_from_data:
            return None
        xin = x.masked_fill(mask, 0.0) if mask is not None else x
        q = self.encode_dist(xin, c)
        draws = [self.decode_dist(q.sample(None), c) for _ in range(RESIDUAL_DRAWS)]
        if not hasattr(draws[0], "log_sigma"):
            return None
        means = torch.stack([p.mean for p in draws])  # (K, B, ...)
        # the predictive is a mixture over z ~ q(z|x): its variance is Var_z[mu(z)] + sigma^2, so sigma^2 takes
        # the squared residual of the predictive mean less the part the spread of the means already explains
        # (an effective residual of that size, with its sign)
        resid = x - means.mean(0)
        spare = (resid.pow(2) - means.var(0, unbiased=False)).clamp_min(0.0)
        return self.likelihood.start_from_residual(self.decoder, resid.sign() * spare.sqrt(), mask,
                                                   torch.stack([p.log_sigma for p in draws]).mean(0))

    def reduced_precision_risk(self) -> str | None:
        return self.likelihood.bf16_risk

    def _check(self, x: torch.Tensor, c: torch.Tensor | None) -> None:
        self.check_input(x)
        self.check_condition(c, x.shape[0])

    # -------------------------------------------------------------- encoder / decoder
    def encode_dist(self, x: torch.Tensor, c: torch.Tensor | None = None) -> DiagonalGaussian:
        """q(z|x) for examples x (B, *input_shape)."""
        self._check(x, c)
        h = self._encode(x, c).float()  # (B, 2 * latent); fp32 even under bf16 autocast
        mean, logvar = h.chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.encode_dist(x, c).mean

    def decoder_output(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """The decoder network's raw output for codes z (B, latent_dim): (B, out_factor * ...)."""
        return self._decode(z, c).float()

    def decode_dist(self, z: torch.Tensor, c: torch.Tensor | None = None):
        """p(x|z) for codes z (B, latent_dim): a distribution over examples (B, *input_shape)."""
        self.check_codes(z)
        self.check_condition(c, z.shape[0])
        return self.likelihood.distribution(self.decoder_output(z, c), (z.shape[0], *self.input_shape))

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode_dist(z, c).mean

    def reconstruct(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, c), c)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.reconstruct(x, c)

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


def upgrade_state_dict(tensors: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Weights written by earlier versions under their old names: a VAE's ``log_sigma`` now belongs to its
    likelihood (``likelihood.log_sigma``); a VAE without ``predictive_scale`` gets 1 (its predictive as it was)."""
    if "log_sigma" in tensors and "likelihood.log_sigma" in model.state_dict():
        tensors = {("likelihood.log_sigma" if k == "log_sigma" else k): v for k, v in tensors.items()}
    if "predictive_scale" in model.state_dict() and "predictive_scale" not in tensors:  # runs before calibration
        tensors = {**tensors, "predictive_scale": torch.ones(())}
    return tensors
