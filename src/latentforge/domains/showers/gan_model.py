"""CaloGAN's calorimeter-shower GAN (Paganini, de Oliveira & Nachman 2018, arXiv 1705.02355 / 1712.10321) as a
Wasserstein GAN with gradient penalty, on the ``layer-log`` scaling (each cell's share of E_inc, log-scaled per
layer into [0, 1]).

Generator: noise z (B, latent_dim) and the condition c (B, P: log incident energy and one-hot particle,
standardised) -> a shared trunk -> one generator head per layer, each seeing the trunk's features, c and the
cells the previous layer's head produced (CaloGAN's per-layer generators passing information down the stack) ->
a learned offset and gain per cell (a mean image plus a scaled residual, set at the start to the training cells'
occupancy and mean, ``init_output_bias``) -> a ReLU bounded by a tanh (``bounded_relu``), so empty cells are exactly 0 and no cell exceeds the training range.

Critic: the cells, c, and CaloGAN's energy features computed from the cells through the scaling's exact inverse
(differentiable; compressed beyond 4 standard deviations; the gradient penalty treats the cells and these
features as the critic's input, so that it stays 1-Lipschitz in each feature on the scale of its own spread): each
layer's log energy share log(E_l / E_inc), the standardised response residual
t = (E_tot / E_inc - r(c)) / s(c), each layer's centre and width of energy in x and y (when the scaling gives the
cells' centres) and each layer's fraction of non-empty cells; minibatch discrimination
(Salimans et al. 2016) on its last hidden features and on the energy features, then one score. r(c) and s(c),
the response's expectation and spread given the condition, are least-squares fits on the training showers
(``fit_energy_reference``): r on [c, c_0^2, 1], log s on the same design from log |E_tot / E_inc - r| (+ 0.635,
the offset of E log |N(0, 1)|). The objective's energy-regression term (CaloGAN's |E_total - E_inc|) uses them.

No losses here (``objectives.shower_gan``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from ...config import Config, option, positive, widths
from ...errors import ConfigError
from .options import condition_option, require_condition_vector, threshold_option
from ...nn import ACTIVATIONS, MLP, MinibatchDiscrimination, activation
from ...models.base import ConfiguredModel
from ...models.gan import GAN

#: E log|N(0, 1)| = -(gamma + log 2) / 2: log s = E log|residual| + this
LOG_ABS_NORMAL_OFFSET = 0.6351814227307391
#: shares of E_inc below this are treated as 0 inside the log energy features
TINY_SHARE = 1e-9
#: model-space values above this are held there inside the energy features (the training cells reach 1): a
#: wild generator output cannot overflow expm1
FEATURE_CLAMP = 2.0
#: the standardised energy features are compressed beyond this (b asinh(f / b), logarithmic growth): a layer a
#: generated shower leaves empty (log share -20 sigma off, and no gradient through the ReLU's zeros) cannot run
#: the critic's scores away, while a feature far off (a centre of energy 20 of its spreads away) keeps a gradient
#: (b / |f|), which b tanh(f / b) flattens to nothing
SOFT_CLIP = 4.0


def bounded_relu(raw: torch.Tensor) -> torch.Tensor:
    """The generator's output: relu(tanh(raw)), exactly 0 for raw <= 0 and below 1 (the largest training cell of
    every layer under the layer-log scaling): an unbounded ReLU in log space lets one cell at 1.3 carry several
    times the shower's energy (eps_l expm1(hi_l v) grows as e^(10 v))."""
    return torch.relu(torch.tanh(raw))


@dataclass(frozen=True)
class CaloGANConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one shower in model space, D cells (filled in from the data)",
                                          from_data=True)
    layer_cells: tuple[int, ...] = option((), "cells of each calorimeter layer (filled in by the layer-log scaling)",
                                          from_data=True)
    layer_eps: tuple[float, ...] = option((), "each layer's eps of the layer-log scaling (filled in)", from_data=True)
    layer_hi: tuple[float, ...] = option((), "each layer's hi of the layer-log scaling (filled in)", from_data=True)
    cell_x: tuple[float, ...] = option((), "x of each cell's centre in mm (filled in by the layer-log scaling)",
                                       from_data=True)
    cell_y: tuple[float, ...] = option((), "y of each cell's centre in mm (filled in)", from_data=True)
    latent_dim: int = option(64, "length of the generator's noise vector z")
    g_hidden: tuple[int, ...] = option((256, 512), "widths of the generator's shared trunk")
    head_hidden: int = option(256, "hidden width of each layer's generator head")
    d_hidden: tuple[int, ...] = option((512, 256), "critic hidden widths")
    activation: str = option("leaky_relu", "hidden-layer nonlinearity of both networks", ACTIVATIONS)
    minibatch_features: int = option(8, "minibatch-discrimination kernels on the critic's last hidden features "
                                     "(Salimans et al. 2016; CaloGAN); as many again / 4 on the energy features "
                                     "(its cost grows with batch^2 x kernels: 32 kernels take 2.5x the time of "
                                     "a critic step at batch 128)")
    soft_occupancy: float = option(0.0, "tau (model-space units) of a differentiable count of each layer's "
                                   "non-empty cells, sum of x / (x + tau), standardised, among the critic's energy "
                                   "features: the generator gets a gradient towards the showers' sparsity (0: off)")
    ema_decay: float = option(0.999, "exponential moving average of the generator's weights for sampling (0: off)")
    threshold: float = threshold_option()
    condition: str = condition_option("both networks are")
    condition_dim: int = option(0, "length of the condition vector (filled in from the data)", from_data=True)

    def validate(self) -> None:
        positive(self, "latent_dim", "head_hidden")
        widths(self, "g_hidden")
        widths(self, "d_hidden")
        widths(self, "input_shape")
        if self.minibatch_features < 0 or not 0 <= self.ema_decay < 1 or self.soft_occupancy < 0:
            raise ConfigError("minibatch_features and soft_occupancy must be >= 0 and ema_decay in [0, 1)")
        require_condition_vector(self, "calogan")
        if self.input_shape and not (self.layer_cells and len(self.layer_eps) == len(self.layer_hi)
                                     == len(self.layer_cells)):
            raise ConfigError("calogan needs the layer-log scaling (--scaling layer-log), which fills in the cells "
                              "and the log scale of each layer")
        if len(self.cell_x) != len(self.cell_y) or (self.cell_x and len(self.cell_x) != sum(self.layer_cells)):
            raise ConfigError(f"calogan needs a centre for every cell: {len(self.cell_x)} x and {len(self.cell_y)} "
                              f"y for {sum(self.layer_cells)} cells; refit with --scaling layer-log")
        if self.input_shape and tuple(self.input_shape) != (sum(self.layer_cells),):
            raise ConfigError(f"calogan expects showers of {sum(self.layer_cells)} cells, got shape "
                              f"{tuple(self.input_shape)}; use --scaling layer-log")


class LayerGenerator(nn.Module):
    """[z, c] -> trunk features h; for each layer l: r_l = head_l([h, c, bounded_relu(cells_{l-1})]) and the
    pre-activation cells_l = offset_l + gain_l r_l, with a learned offset and gain per cell (a mean image of the
    cells plus a scaled residual; ``CaloGAN.init_output_bias`` sets both from the training showers).
    forward(z (B, latent), c (B, P)) -> (B, D)."""

    def __init__(self, latent_dim: int, cdim: int, trunk: tuple[int, ...], head: int, sizes: tuple[int, ...],
                 act: str):
        super().__init__()
        self.trunk = nn.Sequential(MLP([latent_dim + cdim, *trunk], act), activation(act))
        self.heads = nn.ModuleList()
        prev = 0
        for n in sizes:
            self.heads.append(MLP([trunk[-1] + cdim + prev, head, n], act))
            prev = n
        self.offset = nn.Parameter(torch.zeros(sum(sizes)))
        self.gain = nn.Parameter(torch.ones(sum(sizes)))
        self.starts = [0, *torch.cumsum(torch.tensor(sizes), 0).tolist()]

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.trunk(torch.cat([z, c], 1))
        out: list[torch.Tensor] = []
        for l, head in enumerate(self.heads):
            inputs = [h, c] + ([bounded_relu(out[-1])] if out else [])
            a, b = self.starts[l], self.starts[l + 1]
            out.append(self.offset[a:b] + self.gain[a:b] * head(torch.cat(inputs, 1)))
        return torch.cat(out, 1)


class ShowerCritic(nn.Module):
    """[cells, c] -> hidden layers -> minibatch discrimination; energy features -> their own minibatch
    discrimination; both -> one score. forward(x (B, D), energy (B, F), c (B, P)) -> (B, 1)."""

    def __init__(self, d: int, n_energy: int, cdim: int, hidden: tuple[int, ...], kernels: int, act: str):
        super().__init__()
        layers: list[nn.Module] = []
        width = d + n_energy + cdim
        for w in hidden:
            layers += [nn.Linear(width, w), activation(act)]
            width = w
        self.body = nn.Sequential(*layers)
        self.mbd = MinibatchDiscrimination(width, kernels) if kernels else nn.Identity()
        self.energy_mbd = MinibatchDiscrimination(n_energy, max(kernels // 4, 1)) if kernels else nn.Identity()
        extra = (kernels + max(kernels // 4, 1) + n_energy) if kernels else n_energy
        self.head = nn.Linear(width + extra, 1)

    def forward(self, x: torch.Tensor, energy: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.mbd(self.body(torch.cat([x, energy, c], 1)))
        return self.head(torch.cat([h, self.energy_mbd(energy)], 1))


class CaloGAN(GAN):
    """CaloGAN's per-layer generator and energy-aware critic with minibatch discrimination (see the module).
    Shapes: x (B, D) model-space cells, c (B, P), z (B, latent_dim). ConfigError without a condition vector or
    the layer-log scaling's layer options."""

    config_class = CaloGANConfig
    layer_of_cell: torch.Tensor  # (D,) the layer of each cell
    cell_eps: torch.Tensor  # (D,) the eps of each cell's layer
    cell_hi: torch.Tensor  # (D,)
    response_w: torch.Tensor  # (P + 2,) r(c) = design(c) @ response_w
    spread_w: torch.Tensor  # (P + 2,) log s(c) = design(c) @ spread_w
    log_share_mean: torch.Tensor  # (L,) training mean of log(E_l / E_inc)
    log_share_std: torch.Tensor  # (L,)
    cell_x: torch.Tensor  # (D,) x of each cell's centre, mm (zeros without the geometry)
    cell_y: torch.Tensor  # (D,)
    shape_mean: torch.Tensor  # (4 L,) training mean of the centres and widths (``shape_features``); (0,) without
    shape_std: torch.Tensor  # (4 L,)
    occupancy_mean: torch.Tensor  # (L,) training mean of ``soft_occupancy``; absent when off
    occupancy_std: torch.Tensor  # (L,)

    def __init__(self, config: CaloGANConfig):
        ConfiguredModel.__init__(self, config)  # GAN's output map is replaced by a bounded ReLU
        self.output_map = bounded_relu
        sizes = tuple(config.layer_cells)
        self.n_layers = len(sizes)
        if self.input_shape != (sum(sizes),):
            raise ConfigError(f"calogan expects showers of {sum(sizes)} cells, got shape {self.input_shape}; use "
                              "--scaling layer-log")
        if not self.conditional:
            raise ConfigError("calogan needs a condition vector (--condition vector --cond-key conditions)")
        cdim = self.condition_dim
        self.generator = LayerGenerator(config.latent_dim, cdim, tuple(config.g_hidden), config.head_hidden, sizes,
                                        config.activation)
        # with the cells' centres: each layer's centre and width of energy in x and y, as the classifier sees them
        self.n_shape = 4 * self.n_layers if config.cell_x else 0
        self.n_occupancy = self.n_layers if config.soft_occupancy > 0 else 0
        self.n_energy = 2 * self.n_layers + 1 + self.n_shape + self.n_occupancy
        self.discriminator = ShowerCritic(self.n_features, self.n_energy, cdim, tuple(config.d_hidden),
                                          config.minibatch_features, config.activation)
        dev = torch.get_default_device()
        cells = torch.tensor(sizes, device=dev)
        self.register_buffer("layer_of_cell", torch.repeat_interleave(torch.arange(self.n_layers, device=dev), cells))
        per_cell = torch.repeat_interleave
        self.register_buffer("cell_eps", per_cell(torch.tensor(config.layer_eps, device=dev), cells))
        self.register_buffer("cell_hi", per_cell(torch.tensor(config.layer_hi, device=dev), cells))
        self.register_buffer("response_w", torch.zeros(cdim + 2, device=dev))
        self.register_buffer("spread_w", torch.zeros(cdim + 2, device=dev))
        self.register_buffer("log_share_mean", torch.zeros(self.n_layers, device=dev))
        self.register_buffer("log_share_std", torch.ones(self.n_layers, device=dev))
        self.register_buffer("cell_x", torch.tensor(config.cell_x or [0.0] * sum(sizes), device=dev))
        self.register_buffer("cell_y", torch.tensor(config.cell_y or [0.0] * sum(sizes), device=dev))
        for name, n in ((k, n) for k, n in (("shape", self.n_shape), ("occupancy", self.n_occupancy)) if n):
            # none when off: an empty tensor in the saved file is unreadable to safetensors 0.4.0 (our floor)
            self.register_buffer(f"{name}_mean", torch.zeros(n, device=dev))
            self.register_buffer(f"{name}_std", torch.ones(n, device=dev))
        # the averaged generator that samples (GAN.update_ema), or None
        self.generator_ema = (copy.deepcopy(self.generator).requires_grad_(False)  # type: ignore[assignment]
                              if config.ema_decay > 0 else None)
        if config.ema_decay > 0:
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long, device=dev))

    def reduced_precision_risk(self) -> str | None:
        return ("the critic's response feature resolves E_tot / E_inc to a fraction of its spread, finer than "
                "bf16's 3 significant digits")

    @torch.no_grad()
    def init_output_bias(self, x: torch.Tensor, c: torch.Tensor, seed: int = 0) -> None:
        """Data-dependent initialisation of the generator's per-cell offset b and gain g (``LayerGenerator``), so
        that at the start each cell's output relu(tanh(b + g r)) already has the training cells' occupancy and
        mean: over a batch of noise and the training conditions c (N, P), a cell's head output r is taken as
        m + sigma N(0, 1), and its pre-activation b + s N(0, 1) is given P(> 0) = p, the cell's share of non-zero
        values in the training showers x (N, D) (model space; clipped to [0.001, 0.999]), and E[pre-activation
        | > 0] = t, the mean of atanh(x) over those values (x clipped to 0.999; a cell that is never hit takes
        its layer's mean): with q = Phi^-1(p), the truncated normal's mean b + s phi(q) / p = t gives
        s = t / (q + phi(q) / p), b = s q, then g = s / sigma and offset = b - g m. The averaged generator gets
        the same weights. Without it the ReLU starts with half the cells non-zero where the showers have a few
        per cent, with no trace of the showers' mean image."""
        g = torch.Generator(device="cpu").manual_seed(seed)
        n = min(len(x), 1024)
        z = torch.randn(n, self.latent_dim, generator=g).to(device=x.device, dtype=x.dtype)
        gen = self.generator
        for head in gen.heads:
            [m for m in head.modules() if isinstance(m, nn.Linear)][-1].bias.zero_()
        gen.offset.zero_()
        gen.gain.fill_(1.0)
        target_b, target_s = self.output_targets(x)
        for layer in range(self.n_layers):  # a head sees the cells above it: set the layers in order
            lo, hi = gen.starts[layer], gen.starts[layer + 1]
            r = gen(z, c[:n])[:, lo:hi].double()  # offset 0 and gain 1 here: the head's own output
            gain = target_s[lo:hi] / r.std(0).clamp_min(1e-6)
            gen.gain[lo:hi] = gain.to(gen.gain.dtype)
            gen.offset[lo:hi] = (target_b[lo:hi] - gain * r.mean(0)).to(gen.offset.dtype)
        if isinstance(self.generator_ema, nn.Module):
            self.generator_ema.load_state_dict(gen.state_dict())

    def output_targets(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(b, s) (D,) each, float64: the mean and spread of each cell's pre-activation that give the training
        cells' occupancy and mean (``init_output_bias``) from model-space showers x (N, D)."""
        x = x.double()
        hit = x > 0
        p = hit.double().mean(0).clamp(1e-3, 1 - 1e-3)
        a = torch.atanh(x.clamp(0, 0.999))
        count = hit.sum(0)
        t = a.sum(0) / count.clamp_min(1)
        idx, zeros = self.layer_of_cell, torch.zeros(self.n_layers, dtype=x.dtype, device=x.device)
        layer_sum, layer_count = zeros.scatter_add(0, idx, a.sum(0)), zeros.scatter_add(0, idx, count.double())
        layer_mean = (layer_sum / layer_count.clamp_min(1)).clamp_min(1e-3)
        t = torch.where(count > 0, t, layer_mean[idx]).clamp_min(1e-3)
        q = torch.special.ndtri(p)
        phi = torch.exp(-0.5 * q ** 2) / (2 * torch.pi) ** 0.5
        s = t / (q + phi / p)
        return s * q, s

    # ------------------------------------------------------------------ energies
    def shares(self, x: torch.Tensor) -> torch.Tensor:
        """Model-space cells x (B, D) -> each cell's share of E_inc (B, D): eps_l expm1(hi_l x), x clipped to
        [0, FEATURE_CLAMP]."""
        return torch.expm1(x.clamp(0, FEATURE_CLAMP) * self.cell_hi.to(x.dtype)) * self.cell_eps.to(x.dtype)

    def layer_shares(self, x: torch.Tensor) -> torch.Tensor:
        """E_l / E_inc per layer (B, L) of model-space cells x (B, D)."""
        idx = self.layer_of_cell.expand(x.shape[0], -1)
        return torch.zeros(x.shape[0], self.n_layers, device=x.device, dtype=x.dtype).scatter_add(1, idx,
                                                                                                   self.shares(x))

    @staticmethod
    def design(c: torch.Tensor) -> torch.Tensor:
        """[c, c_0^2, 1] (B, P + 2) of standardised conditions c (B, P)."""
        return torch.cat([c, c[:, :1] ** 2, torch.ones_like(c[:, :1])], 1)

    def expected_response(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(r(c), s(c)) (B,) each: the fitted expectation and spread of E_tot / E_inc given the condition."""
        d = self.design(c.to(self.response_w.dtype))
        return d @ self.response_w, torch.exp(d @ self.spread_w)

    @torch.no_grad()
    def fit_energy_reference(self, x: torch.Tensor, c: torch.Tensor) -> None:
        """Fit r(c), s(c) and the log layer shares' mean and std on training showers x (N, D) (model space) with
        their conditions c (N, P), in float64 by least squares (see the module)."""
        share = self.layer_shares(x.double())
        u = share.sum(1)
        d = self.design(c.double())
        pinv = torch.linalg.pinv(d)  # minimum-norm least squares (SVD): a constant one-hot column is rank-deficient
        w = pinv @ u
        resid = (u - d @ w).abs().clamp_min(1e-12)
        v = pinv @ resid.log()
        v[-1] += LOG_ABS_NORMAL_OFFSET
        logs = torch.log(share + TINY_SHARE)
        self.response_w.copy_(w.to(self.response_w.dtype))
        self.spread_w.copy_(v.to(self.spread_w.dtype))
        self.log_share_mean.copy_(logs.mean(0).float())
        self.log_share_std.copy_(logs.std(0).clamp_min(1e-3).float())
        if self.n_shape:
            shape = self.shape_features(x.double())
            self.shape_mean.copy_(shape.mean(0).float())
            self.shape_std.copy_(shape.std(0).clamp_min(1e-3).float())
        if self.n_occupancy:
            occupancy = self.soft_occupancy(x.double())
            self.occupancy_mean.copy_(occupancy.mean(0).float())
            self.occupancy_std.copy_(occupancy.std(0).clamp_min(1e-3).float())

    def soft_occupancy(self, x: torch.Tensor) -> torch.Tensor:
        """A differentiable count of each layer's non-empty cells (B, L): sum over the layer's cells of x / (x +
        tau), tau = ``config.soft_occupancy``, of model-space cells x (B, D) (an empty cell counts 0, a cell
        far above tau about 1)."""
        tau = self.config.soft_occupancy
        idx = self.layer_of_cell.expand(x.shape[0], -1)
        soft = x.clamp_min(0) / (x.clamp_min(0) + tau)
        return torch.zeros(x.shape[0], self.n_layers, device=x.device, dtype=x.dtype).scatter_add(1, idx, soft)

    def shape_features(self, x: torch.Tensor) -> torch.Tensor:
        """Each layer's centre of energy and width in x and y (B, 4 L), mm: [centre_x (L), centre_y (L), width_x
        (L), width_y (L)], centre = sum_i e_i x_i / sum_i e_i and width = sqrt(sum_i e_i x_i^2 / sum_i e_i -
        centre^2) over the layer's cells (the CaloChallenge observables; 0 for an empty layer; a width is at least
        1e-3 mm, where the square root keeps a finite gradient), of model-space
        cells x (B, D). Needs the cells' centres (``cell_x``, ``cell_y``)."""
        e = self.shares(x)
        idx = self.layer_of_cell.expand(x.shape[0], -1)

        def per_layer(v: torch.Tensor) -> torch.Tensor:
            return torch.zeros(x.shape[0], self.n_layers, device=x.device, dtype=x.dtype).scatter_add(1, idx, v)

        total = per_layer(e)
        safe = torch.where(total > 0, total, torch.ones_like(total))
        cx, cy = self.cell_x.to(x.dtype), self.cell_y.to(x.dtype)
        mx, my = per_layer(e * cx) / safe, per_layer(e * cy) / safe
        wx = torch.sqrt((per_layer(e * cx ** 2) / safe - mx ** 2).clamp_min(1e-6))
        wy = torch.sqrt((per_layer(e * cy ** 2) / safe - my ** 2).clamp_min(1e-6))
        wx, wy = wx.masked_fill(total <= 0, 0.0), wy.masked_fill(total <= 0, 0.0)
        return torch.cat([mx, my, wx, wy], 1)

    def response_residual(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(E_tot / E_inc - r(c)) / s(c) per shower (B,) of model-space cells x (B, D)."""
        r, s = self.expected_response(c)
        return (self.layer_shares(x).sum(1) - r) / s

    def energy_features(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """CaloGAN's energy features (B, 2 L + 1 (+ 4 L) (+ L)): the standardised log(E_l / E_inc), the response
        residual, (given the cells' centres) the standardised ``shape_features`` and (``soft_occupancy`` > 0)
        the standardised ``soft_occupancy``, each compressed as
        SOFT_CLIP asinh(f / SOFT_CLIP), then the fraction of non-empty cells of each layer."""
        share = self.layer_shares(x)
        logs = (torch.log(share + TINY_SHARE) - self.log_share_mean) / self.log_share_std
        idx = self.layer_of_cell.expand(x.shape[0], -1)
        filled = torch.zeros_like(share).scatter_add(1, idx, (x > 0).to(x.dtype))
        per_layer = torch.zeros(self.n_layers, device=x.device, dtype=x.dtype).scatter_add(  # no host sync
            0, self.layer_of_cell, torch.ones_like(self.layer_of_cell, dtype=x.dtype))
        filled = filled / per_layer
        parts = [logs, self.response_residual(x, c).unsqueeze(1)]
        if self.n_shape:
            parts.append((self.shape_features(x) - self.shape_mean) / self.shape_std)
        if self.n_occupancy:
            parts.append((self.soft_occupancy(x) - self.occupancy_mean) / self.occupancy_std)
        standard = torch.cat(parts, 1)
        return torch.cat([SOFT_CLIP * torch.asinh(standard / SOFT_CLIP), filled], 1)

    # ------------------------------------------------------------------ the GAN contract
    def _generate(self, net, z, c):
        return net(z, c)

    def critic_input(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """What the critic scores: model-space cells x (B, D) -> [2 x - 1, energy features] (B, D + 2 L + 1). The
        gradient penalty is taken in this space, so the critic is 1-Lipschitz in the energy features (each on a
        scale of its own spread) as well as in the cells."""
        self.check_input(x)
        self.check_condition(c, x.shape[0])
        return torch.cat([2.0 * x - 1.0, self.energy_features(x, c)], 1)

    def critic(self, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Scores (B,) of critic inputs a (B, D + 2 L + 1) (``critic_input``)."""
        d = self.n_features
        return self.discriminator(a[:, :d], a[:, d:], c).float().reshape(-1)

    def discriminate(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Model-space cells x (B, D) -> critic scores (B,)."""
        if c is None:
            raise ConfigError("calogan's critic needs the showers' conditions")
        return self.critic(self.critic_input(x, c), c)
