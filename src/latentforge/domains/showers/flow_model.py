"""A two-stage shower surrogate: layer energies first, normalised shapes second (the recipe of CaloFlow, Krause &
Shih 2021, and of the CaloChallenge 2022 entries that reach a classifier AUC below 0.65, arXiv 2410.21611).

Model space (``data.shower_layers``): x = [y (B, L), s (B, D)], y the standardised logit u-space layer energies,
s each cell's fraction of its layer's energy, log-scaled. Given the condition vector c (B, P: log incident
energy and particle, standardised):

- energy stage: p(y | c), an autoregressive mixture density network (``models.shower_energy``);
- shape stage: a conditional VAE (Sohn et al. 2015) of s given [c, y]: q(z | s, c, y), and p(s | z, c, y) a
  hurdle distribution per cell (zero or a Gaussian of the log-scaled fraction: multiplicative noise, so it scales
  with the deposit). Codes for generation come from a Gaussian mixture fitted to the encoded training showers
  (``prior_sampler gmm``, Dai & Wipf 2019) unless asked otherwise.

``sample(n, c)`` draws y from the energy stage, z from the prior sampler and s from the hurdle decoder in one
pass; the scaling's inverse rescales each layer's fractions to the sampled layer energy and applies the readout
threshold (exact zeros). ``decode(z, c)`` uses the energy stage's most probable y.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import Config, option, positive, widths
from ...data.conditions import CONDITION_CHOICES, CONDITIONS, NO_CONDITION
from ...errors import ConfigError
from ...nn import ACTIVATIONS, MLP, activation, draws
from ...models.base import ConfiguredModel, HasPosterior, HasPrior
from ...models.distributions import DiagonalGaussian, Hurdle
from ...models.likelihoods import HurdleLikelihood
from ...models.prior_samplers import PRIOR_SAMPLERS
from .energy_model import ConditionalMDN


@dataclass(frozen=True)
class ShowerFlowVAEConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one example in model space, L + D (filled in from the data)",
                                          from_data=True)
    layer_cells: tuple[int, ...] = option((), "cells of each calorimeter layer (filled in by the shower-layers "
                                          "scaling from the geometry)", from_data=True)
    latent_dim: int = option(16, "latent dimensions of the shape VAE")
    hidden: tuple[int, ...] = option((512, 256), "shape encoder hidden widths; the decoder mirrors them")
    energy_hidden: tuple[int, ...] = option((64, 64), "hidden widths of the energy stage (masked MLP)")
    energy_components: int = option(8, "Gaussian components per layer energy in the energy stage")
    activation: str = option("relu", "hidden-layer nonlinearity of the shape VAE", ACTIVATIONS)
    prior_sampler: str = option("gmm", "where generation draws shape codes: gmm (a Gaussian mixture fitted to the "
                                "encoded training showers), flow (a small RealNVP) or normal (N(0, I))",
                                PRIOR_SAMPLERS)
    prior_components: int = option(10, "gmm: mixture components; flow: coupling layers (at most 8)")
    threshold: float = option(-1.0, "readout threshold in the data's energy unit: generated cells below it are "
                              "exactly 0; < 0: the geometry's, else the smallest non-zero training deposit")
    condition: str = option("vector", "what the model is conditioned on: vector (the shower's condition vector, "
                            "[log10(E_inc / GeV), one-hot particle], from --cond-key)", CONDITION_CHOICES)
    condition_dim: int = option(0, "length of the condition vector (filled in from the data)", from_data=True)

    def validate(self) -> None:
        positive(self, "latent_dim", "energy_components", "prior_components")
        widths(self, "hidden")
        widths(self, "energy_hidden")
        widths(self, "input_shape")
        if self.input_shape and (self.condition == NO_CONDITION or CONDITIONS.get(self.condition).source != "cond"):
            raise ConfigError("shower-flow-vae is conditioned on each shower's condition vector; use --condition "
                              "vector --cond-key conditions")
        if self.input_shape and not self.layer_cells:
            raise ConfigError("shower-flow-vae needs the shower-layers scaling (--scaling shower-layers), which "
                              "fills in the cells of each layer")


class ShowerFlowVAE(ConfiguredModel, HasPosterior, HasPrior):
    """Energy stage (``ConditionalMDN``) and shape cVAE with a hurdle decoder; see the module's docstring.
    Shapes: x (B, L + D), c (B, P), z (B, latent_dim). ConfigError for an input shape that is not L + D."""

    config_class = ShowerFlowVAEConfig
    scales_from_data = False
    layer_of_cell: torch.Tensor  # (D,) the layer of each cell
    layer_start: torch.Tensor  # (L,) the first cell of each layer

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
        self.likelihood = HurdleLikelihood()
        self.decoder = MLP([config.latent_dim + ctx, *hidden[::-1], 3 * self.n_cells], config.activation)
        self.prior_sampler = PRIOR_SAMPLERS.get(config.prior_sampler)(config.latent_dim, config.prior_components)
        dev = torch.get_default_device()
        starts = torch.cumsum(torch.tensor((0, *config.layer_cells[:-1]), device=dev), 0)
        self.register_buffer("layer_of_cell", torch.repeat_interleave(torch.arange(self.n_layers, device=dev),
                                                                      torch.tensor(config.layer_cells, device=dev)))
        self.register_buffer("layer_start", starts)

    def reduced_precision_risk(self) -> str | None:
        return self.likelihood.bf16_risk

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

    def shape_dist(self, z: torch.Tensor, y: torch.Tensor, c: torch.Tensor) -> Hurdle:
        """p(s | z, c, y): a hurdle distribution over the D scaled fractions."""
        return self.likelihood.distribution(self.decoder(torch.cat([z, y, c], 1)).float(), (z.shape[0], self.n_cells))

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

    def sample(self, n: int, c: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """n showers (n, L + D) in model space, in one pass through both stages."""
        return self.decode_dist(self.draw_codes(n, generator), c).generate(generator)

    def draw_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n shape codes (n, latent_dim) from the prior sampler (N(0, I) until a learned one is fitted)."""
        if not (self.prior_sampler.learned and self.prior_sampler.is_fitted()):
            return draws.normal((n, self.latent_dim), generator=generator, device=self.device, dtype=self.dtype)
        return self.prior_sampler.sample(n, generator, self.device).to(self.dtype)

    def fit_prior_sampler(self, codes, *, seed: int = 0) -> str | None:
        """Fit the prior sampler to encoded training means ``codes`` (N, latent_dim)."""
        return self.prior_sampler.fit(codes, seed=seed)

    def keep_layers_alive(self, s: torch.Tensor, p: Hurdle) -> torch.Tensor:
        """A layer whose drawn cells are all 0 gets its most probable cell at its predicted value, so that the
        layer's sampled energy has cells to go to (B, D)."""
        b = s.shape[0]
        idx = self.layer_of_cell.expand(b, -1)
        alive = torch.zeros(b, self.n_layers, device=s.device).scatter_add(1, idx, (s > 0).float()) > 0
        score = p.logit.masked_fill(alive.gather(1, idx), float("-inf"))
        best = torch.full((b, self.n_layers), float("-inf"), device=s.device).scatter_reduce(1, idx, score, "amax")
        pick = (score == best.gather(1, idx)) & torch.isfinite(score)
        return torch.where(pick, p.loc.clamp_min(1e-6), s)


class TwoStage:
    """Showers given codes: ``generate(generator)`` draws y from the energy stage and s from the hurdle decoder;
    ``mean`` takes the energy stage's most probable y and the decoder's mean; both (B, L + D) in model space."""

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
        the hurdle's standard deviation of each cell given them."""
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

        return self.flat.log_prob(rep(x), rep(sigma), rep(mask)).unflatten(0, (self.k, -1))
