"""A two-stage shower surrogate: layer energies first, normalised shapes second (the recipe of CaloFlow, Krause &
Shih 2021, and of the CaloChallenge 2022 entries that reach a classifier AUC below 0.65, arXiv 2410.21611).

Model space (``layers``): x = [y (B, L), s (B, D)], y the standardised logit u-space layer energies,
s each cell's fraction of its layer's energy, log-scaled. Given the condition vector c (B, P: log incident
energy and particle, standardised):

- energy stage: p(y | c), an autoregressive mixture density network (``energy_model``);
- shape stage: a conditional VAE (Sohn et al. 2015) of s given [c, y]: q(z | s, c, y), and p(s | z, c, y) the
  compound Poisson-Gamma reading of each cell (``cells_model``): the decoder gives each cell's expected
  share of its layer (a softmax per layer), a linear map of [c, y] gives each layer's quanta per unit of its
  energy, the Gamma shape of a quantum and a power of the share (bounded: no cell expects more quanta than its
  layer), so the noise scales with the deposit (relative spread 1 / sqrt(quanta)) and cells are exactly 0 with
  the Poisson probability. Codes for generation come from a Gaussian mixture fitted to the encoded training
  showers (``prior_sampler gmm``, Dai & Wipf 2019) unless asked otherwise.

``sample(n, c)`` draws y from the energy stage, z from the prior sampler and s from the cell noise in one
pass; the scaling's inverse rescales each layer's fractions to the sampled layer energy and applies the readout
threshold (exact zeros). ``decode(z, c)`` uses the energy stage's most probable y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ...config import Config, option, positive, widths
from ...errors import ConfigError
from .options import condition_option, require_condition_vector, threshold_option
from ...models.base import ConfiguredModel, HasPosterior, HasPrior
from ...models.distributions import DiagonalGaussian
from ...models.prior_samplers import PRIOR_SAMPLERS
from ...models.vae import GeneratesFromPriorSampler
from ...nn import ACTIVATIONS, MLP, activation
from .cells_model import LOG_LAMBDA_RANGE, CellNoise, log_layer_shares, segment_log_softmax, soft_clamp
from .energy_model import ConditionalMDN

#: initial log quanta per unit of E_l / E_inc (learned; a few hundred quanta in a layer)
INITIAL_LOG_QUANTA = 7.0
#: the noise map's parameters are stored divided by this gain, so that they move this much faster than the
#: networks' weights under one learning rate (a handful of numbers that travel several units of log quanta)
NOISE_GAIN = 30.0
#: the layer energies y enter the noise map as Y_LIMIT tanh(y / Y_LIMIT): close to y within +-2, saturating beyond
#: (an empty layer lies 10-20 standard deviations out in logit u-space, where a linear map would give absurd quanta)
Y_LIMIT = 4.0


@dataclass(frozen=True)
class ShowerFlowVAEConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one example in model space, L + D (filled in from the data)",
                                          from_data=True)
    layer_cells: tuple[int, ...] = option((), "cells of each calorimeter layer (filled in by the shower-layers "
                                          "scaling from the geometry)", from_data=True)
    u_mean: tuple[float, ...] = option((), "training mean of each logit u-space layer energy (filled in by the "
                                       "shower-layers scaling)", from_data=True)
    u_std: tuple[float, ...] = option((), "training standard deviation of each logit u-space layer energy (filled "
                                      "in by the shower-layers scaling)", from_data=True)
    share_eps: float = option(1e-4, "eps of the scaled shares log1p(f / eps) / hi (filled in by the shower-layers "
                              "scaling)", from_data=True)
    share_hi: float = option(1.0, "hi of the scaled shares log1p(f / eps) / hi (filled in by the shower-layers "
                             "scaling)", from_data=True)
    latent_dim: int = option(16, "latent dimensions of the shape VAE")
    hidden: tuple[int, ...] = option((512, 256), "shape encoder hidden widths; the decoder mirrors them")
    energy_hidden: tuple[int, ...] = option((64, 64), "hidden widths of the energy stage (masked MLP)")
    energy_components: int = option(8, "Gaussian components per layer energy in the energy stage")
    activation: str = option("relu", "hidden-layer nonlinearity of the shape VAE", ACTIVATIONS)
    prior_sampler: str = option("gmm", "where generation draws shape codes: gmm (a Gaussian mixture fitted to the "
                                "encoded training showers), flow (a small RealNVP) or normal (N(0, I))",
                                PRIOR_SAMPLERS)
    prior_components: int = option(10, "gmm: mixture components; flow: coupling layers (at most 8)")
    threshold: float = threshold_option()
    condition: str = condition_option("the model is")
    condition_dim: int = option(0, "length of the condition vector (filled in from the data)", from_data=True)

    def validate(self) -> None:
        positive(self, "latent_dim", "energy_components", "prior_components")
        widths(self, "hidden")
        widths(self, "energy_hidden")
        widths(self, "input_shape")
        require_condition_vector(self, "shower-flow-vae")
        told = self.layer_cells and len(self.u_mean) == len(self.u_std) == len(self.layer_cells)
        if self.input_shape and not told:
            raise ConfigError("shower-flow-vae needs the shower-layers scaling (--scaling shower-layers), which "
                              "fills in the cells of each layer")


class ShowerFlowVAE(GeneratesFromPriorSampler, ConfiguredModel, HasPosterior, HasPrior):
    """Energy stage (``ConditionalMDN``) and shape cVAE with a compound Poisson-Gamma cell reading; see the
    module's docstring.
    Shapes: x (B, L + D), c (B, P), z (B, latent_dim). ConfigError for an input shape that is not L + D."""

    config_class = ShowerFlowVAEConfig
    scales_from_data = False
    layer_of_cell: torch.Tensor  # (D,) the layer of each cell
    layer_start: torch.Tensor  # (L,) the first cell of each layer
    u_mean: torch.Tensor  # (L,) the scaling's logit u-space means
    u_std: torch.Tensor  # (L,) and standard deviations

    def __init__(self, config: ShowerFlowVAEConfig):
        super().__init__(config)
        self.n_layers, self.n_cells = len(config.layer_cells), int(sum(config.layer_cells))
        if self.input_shape != (self.n_layers + self.n_cells,):
            raise ConfigError(f"shower-flow-vae expects examples of {self.n_layers + self.n_cells} values (layer "
                              f"energies and cells), got shape {self.input_shape}; use --scaling shower-layers")
        if not self.conditional:
            raise ConfigError("shower-flow-vae needs a condition vector (--condition vector --cond-key conditions)")
        ctx = self.condition_dim + self.n_layers
        self.energy = ConditionalMDN(self.n_layers, self.condition_dim, tuple(config.energy_hidden),
                                     config.energy_components)
        hidden = list(config.hidden)
        self.encoder = nn.Sequential(MLP([self.n_cells + ctx, *hidden], config.activation), activation(config.activation))
        self.posterior_head = nn.Linear(hidden[-1], 2 * config.latent_dim)
        self.decoder = MLP([config.latent_dim + ctx, *hidden[::-1], self.n_cells], config.activation)
        # per layer, linear in the condition and the layer energies y: log quanta per unit of E_l / E_inc, log
        # Gamma shape of a quantum, and g of the power k = 2 sigmoid(g) of lambda = m p^k
        self.noise = nn.Linear(self.condition_dim + self.n_layers, 3 * self.n_layers)
        with torch.no_grad():
            self.noise.weight.zero_()
            self.noise.bias.copy_(torch.tensor([INITIAL_LOG_QUANTA] * self.n_layers + [0.0] * 2 * self.n_layers)
                                  / NOISE_GAIN)
        self.prior_sampler = PRIOR_SAMPLERS.get(config.prior_sampler)(config.latent_dim, config.prior_components)
        dev = torch.get_default_device()
        starts = torch.cumsum(torch.tensor((0, *config.layer_cells[:-1]), device=dev), 0)
        self.register_buffer("layer_of_cell", torch.repeat_interleave(torch.arange(self.n_layers, device=dev),
                                                                      torch.tensor(config.layer_cells, device=dev)))
        self.register_buffer("layer_start", starts)
        self.register_buffer("u_mean", torch.tensor(config.u_mean, dtype=torch.float32, device=dev))
        self.register_buffer("u_std", torch.tensor(config.u_std, dtype=torch.float32, device=dev))

    def reduced_precision_risk(self) -> str | None:
        return "the cell reading exponentiates expected quanta and log-normal parameters (bf16 keeps about 3 " \
               "significant digits)"

    # -------------------------------------------------------------- parts
    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y (B, L), s (B, D)) of model-space showers x (B, L + D)."""
        return x[:, :self.n_layers], x[:, self.n_layers:]

    def energy_log_prob(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """log p(y | c) per shower (B,), nats in the standardised u-space."""
        return self.energy.log_prob(self.split(x)[0], c)

    def shape_posterior(self, s: torch.Tensor, y: torch.Tensor, c: torch.Tensor) -> DiagonalGaussian:
        mean, logvar = self.posterior_head(self.encoder(torch.cat([s, y, c], 1))).float().chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)

    def shape_dist(self, z: torch.Tensor, y: torch.Tensor, c: torch.Tensor) -> CellNoise:
        """p(s | z, c, y): the compound Poisson-Gamma reading of the D scaled shares (``cells_model``):
        each cell expects lambda = m_l p^k_l quanta with m_l = (E_l / E_inc) exp(a_l) the layer's expected quanta
        and k_l = 2 sigmoid(g_l) in (0, 2) (1 at the start), and its quanta have Gamma shape exp(b_l); a, b, g
        linear in [c, Y_LIMIT tanh(y / Y_LIMIT)] (a shower that crosses as a minimum-ionising track has more quanta
        per unit energy than one that showers). Bounds that hold for any parameters: k > 0, so a cell (share
        p <= 1) never expects more quanta than its layer, and log m_l stays below LOG_LAMBDA_RANGE's top (smoothly)."""
        log_p = segment_log_softmax(self.decoder(torch.cat([z, y, c], 1)).float(), self.config.layer_cells)
        y_noise = Y_LIMIT * torch.tanh(y.float() / Y_LIMIT)
        a, b, g = (NOISE_GAIN * self.noise(torch.cat([c.float(), y_noise], 1))).chunk(3, dim=1)
        log_m = log_layer_shares(y.float(), self.u_mean, self.u_std) + a
        log_m = soft_clamp(log_m, -math.inf, LOG_LAMBDA_RANGE[1])
        per_cell = self.layer_of_cell
        k = 2 * torch.sigmoid(g)
        log_lam = log_p * k.index_select(1, per_cell) + log_m.index_select(1, per_cell)
        return CellNoise(log_p, log_lam, b.index_select(1, per_cell), self.config.share_eps, self.config.share_hi)

    # -------------------------------------------------------------- the VAE contract
    def encode_dist(self, x: torch.Tensor, c: torch.Tensor | None = None) -> DiagonalGaussian:
        """q(z | s, c, y) of model-space showers x (B, L + D)."""
        self.check_input(x)
        self.check_condition(c, x.shape[0])
        assert c is not None
        y, s = self.split(x)
        return self.shape_posterior(s, y, c)

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.encode_dist(x, c).mean

    def decode_dist(self, z: torch.Tensor, c: torch.Tensor | None = None) -> "TwoStage":
        """The two-stage distribution of showers given codes z (B, latent_dim) and conditions c (B, P)."""
        self.check_codes(z)
        self.check_condition(c, z.shape[0])
        assert c is not None
        return TwoStage(self, z, c)

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode_dist(z, c).mean

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, c), c)

    def keep_layers_alive(self, s: torch.Tensor, p: CellNoise) -> torch.Tensor:
        """A layer whose drawn cells are all 0 gets its largest expected share in its most probable cell, so
        that the layer's sampled energy has a cell to go to (B, D)."""
        sizes = list(self.config.layer_cells)
        alive = torch.stack([t.amax(1) for t in s.split(sizes, 1)], 1) > 0  # (B, L)
        dead = ~alive.index_select(1, self.layer_of_cell)  # (B, D): the cell's layer drew nothing
        score = p.log_p.masked_fill(~dead, float("-inf"))
        best = torch.cat([t.amax(1, keepdim=True) for t in score.split(sizes, 1)], 1)  # (B, L)
        best_cell = best.index_select(1, self.layer_of_cell)
        value = p.scaled(best_cell.exp())  # the expected share of each layer's best cell, scaled
        return torch.where((score == best_cell) & dead, value, s)


class TwoStage:
    """Showers given codes: ``generate(generator)`` draws y from the energy stage and s from the cell reading;
    ``mean`` takes the energy stage's most probable y and the expected shares; both (B, L + D) in model space."""

    def __init__(self, model: ShowerFlowVAE, z: torch.Tensor, c: torch.Tensor):
        self.model, self.z, self.c = model, z, c

    def generate(self, generator: torch.Generator | None = None) -> torch.Tensor:
        m = self.model
        y = m.energy.sample(self.c, self.z.shape[0], generator, device=self.z.device).to(self.z.dtype)
        p = m.shape_dist(self.z, y, self.c)
        s = m.keep_layers_alive(p.sample(generator), p)
        return torch.cat([y, s], 1)

    sample = generate

    def _mode_y(self) -> torch.Tensor:
        return self.model.energy.mode_like(self.c, self.z.shape[0], device=self.z.device).to(self.z.dtype)

    @property
    def mean(self) -> torch.Tensor:
        y = self._mode_y()
        return torch.cat([y, self.model.shape_dist(self.z, y, self.c).mean], 1)

    @property
    def stddev(self) -> torch.Tensor:
        """(B, L + D): each layer energy's mixture standard deviation given the most probable earlier ones, and
        the cell reading's standard deviation (scaled, to first order) given them."""
        y = self._mode_y()
        logw, mean, log_scale = self.model.energy.params(y, self.c)
        w = logw.exp()
        m = (w * mean).sum(2)
        var = (w * (torch.exp(2 * log_scale) + mean.pow(2))).sum(2) - m.pow(2)
        return torch.cat([var.clamp_min(0).sqrt(), self.model.shape_dist(self.z, y, self.c).stddev], 1)

    def unflatten(self, k: int) -> "_Draws":
        """The distributions of K draws per shower decoded as one batch of K * B: ``mean`` and ``stddev`` as
        (K, B, L + D), as the other decoders' distributions give them for the latent-draw predictive."""
        return _Draws(self, k)

    def log_prob(self, x: torch.Tensor, sigma: torch.Tensor | None = None,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
        """log p(y | c) + log p(s | z, c, y) per shower (B,), nats in the model's space, for x (B, L + D)."""
        if sigma is not None:
            raise ConfigError("shower-flow-vae does not take per-point measurement errors")
        y, s = self.model.split(x)
        cells = None if mask is None else mask[:, self.model.n_layers:]
        return self.model.energy.log_prob(y, self.c) + self.model.shape_dist(self.z, y, self.c).log_prob(s, None, cells)


class _Draws:
    """``TwoStage.unflatten(k)``: its moments with the K latent draws on a leading axis."""

    def __init__(self, flat: TwoStage, k: int):
        self.flat, self.k = flat, k

    @property
    def mean(self) -> torch.Tensor:
        return self.flat.mean.unflatten(0, (self.k, -1))

    @property
    def stddev(self) -> torch.Tensor:
        return self.flat.stddev.unflatten(0, (self.k, -1))

    def log_prob(self, x: torch.Tensor, sigma: torch.Tensor | None = None,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
        """(K, B): log p(x | z_k) of the B showers x (B, L + D) under each of the K draws."""
        def rep(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.unsqueeze(0).expand(self.k, *t.shape).reshape(-1, *t.shape[1:])

        xs = x.unsqueeze(0).expand(self.k, *x.shape).reshape(-1, *x.shape[1:])
        return self.flat.log_prob(xs, rep(sigma), rep(mask)).unflatten(0, (self.k, -1))
