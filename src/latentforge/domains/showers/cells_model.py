"""The cell noise of two-stage shower surrogates: a calorimeter cell's reading as a compound Poisson-Gamma sum.

A cell of a layer collects N quanta, N ~ Poisson(lambda), each quantum Gamma(alpha, theta) distributed with theta
= p / (alpha lambda) in units of the layer energy, so that the cell's expected share of its layer is p. This is
the Tweedie compound Poisson-Gamma model of sampling calorimetry (each charged track crossing an active layer is
one quantum; Jorgensen 1987 for the family): the variance of a share is p^2 (1 + 1/alpha) / lambda, and a cell is
exactly 0 with probability exp(-lambda). With lambda = m p (m the layer's expected number of quanta) the
relative noise of a cell shrinks as 1/sqrt(deposit); the shape stage (``flow_model``) takes
lambda = m p^(1 + gamma), a Tweedie-like power that lets the core and the sparse tail of a layer differ.

Given N >= 1 the share is drawn from the log-normal with the same first two moments as the compound sum given
N >= 1 (fast: one uniform and one normal draw per cell):

    E[f | f > 0]   = p / (1 - e^-lambda)
    E[f^2 | f > 0] = (p^2 (1 + 1/alpha) / lambda + p^2) / (1 - e^-lambda)
    sigma^2 = log(E[f^2 | f > 0] / E[f | f > 0]^2) = log((1 - e^-lambda) / lambda) + log(lambda + 1 + 1/alpha)
    mu = log E[f | f > 0] - sigma^2 / 2

The same law is the training likelihood (a hurdle: log(e^-lambda) for a 0, log(1 - e^-lambda) plus the
log-normal density for a reading), written for the scaled shares s = log1p(f / eps) / hi of the shower-layers
scaling (``layers``), Jacobian included.
"""

from __future__ import annotations

import math

import torch
from torch.utils.checkpoint import checkpoint

from ...nn import draws

#: bounds of log lambda (expected quanta per cell), so that exp and log stay finite in float32
LOG_LAMBDA_RANGE = (-30.0, 25.0)
#: the smallest log-normal variance a cell is read with (a relative spread of 1e-5), so its density stays finite
SIGMA2_FLOOR = 1e-10
#: values (rows x cells) per block of the training likelihood: under autograd each block keeps only its inputs and
#: recomputes its ~30 temporaries in the backward pass (activation checkpointing, Chen et al. 2016), so a batch's
#: likelihood over tens of thousands of cells holds ~4 (B, D) tensors, not ~30
LOG_PROB_BLOCK_VALUES = 1 << 17


def _reading(log_p: torch.Tensor, log_lam: torch.Tensor, log_alpha: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(lam, 1 / alpha, log(1 - e^-lam), sigma^2, mu) of the log-normal reading given N >= 1 (module docstring)."""
    lam = log_lam.exp()
    inv_alpha = torch.exp(-log_alpha)
    log_hit = torch.log(-torch.expm1(-lam))
    sigma2 = (log_hit + torch.log1p((1 + inv_alpha) / lam)).clamp_min(SIGMA2_FLOOR)
    return lam, inv_alpha, log_hit, sigma2, log_p - log_hit - 0.5 * sigma2


def _cell_log_prob(s: torch.Tensor, log_p: torch.Tensor, log_lam: torch.Tensor, log_alpha: torch.Tensor,
                   mask: torch.Tensor | None, eps: float, hi: float) -> torch.Tensor:
    """Summed log density (B,) of the scaled shares s of a block of cells (``CellNoise.log_prob``)."""
    lam, _, log_hit, sigma2, mu = _reading(log_p, log_lam, log_alpha)
    hit = s > 0
    f = eps * torch.expm1(hi * s.clamp_min(0))
    log_f = torch.log(f.clamp_min(1e-30))
    z2 = (log_f - mu).pow(2) / sigma2
    dens = (log_hit - 0.5 * z2 - 0.5 * torch.log(2 * math.pi * sigma2) - log_f + math.log(eps * hi) + hi * s)
    per_cell = torch.where(hit, dens, -lam)
    if mask is not None:
        per_cell = torch.where(mask, torch.zeros_like(per_cell), per_cell)
    return per_cell.sum(1)


def segment_log_softmax(logits: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """log of each cell's share of its layer (B, D): a log-softmax over each layer's contiguous cells."""
    return torch.cat([t.log_softmax(1) for t in logits.split(list(sizes), 1)], 1)


def layer_shares(y: torch.Tensor, u_mean: torch.Tensor, u_std: torch.Tensor) -> torch.Tensor:
    """E_l / E_inc (B, L) of standardised u-space layer energies y (B, L) (``layers``: u_0 = E_tot /
    E_inc, u_k = E_{k-1} / sum_{j >= k-1} E_j), the logit's epsilon neglected."""
    u = torch.sigmoid(y * u_std + u_mean)
    left = u[:, 0]
    out = []
    for k in range(1, y.shape[1]):
        out.append(u[:, k] * left)
        left = left * (1 - u[:, k])
    out.append(left)
    return torch.stack(out, 1)


class CellNoise:
    """The compound Poisson-Gamma reading of every cell, as scaled shares s (B, D) (see the module's docstring).

    ``log_p`` (B, D) log expected shares (each layer's shares sum to 1), ``log_lam`` (B, D) log expected quanta
    of the cell, ``log_alpha`` (B, D) log Gamma shape of a quantum, ``eps`` and ``hi`` the scaling's
    log1p(f / eps) / hi constants."""

    measurement_errors = False

    def __init__(self, log_p: torch.Tensor, log_lam: torch.Tensor, log_alpha: torch.Tensor, eps: float, hi: float):
        self.log_p, self.log_alpha, self.eps, self.hi = log_p, log_alpha, eps, hi
        self.log_lam = log_lam.clamp(*LOG_LAMBDA_RANGE)
        self._moments: tuple[torch.Tensor, ...] | None = None

    def _reading(self) -> tuple[torch.Tensor, ...]:
        """(lam, inv_alpha, log_hit, sigma2, mu), each (B, D), computed when first asked for (``log_prob`` asks
        for none of them)."""
        if self._moments is None:
            self._moments = _reading(self.log_p, self.log_lam, self.log_alpha)
        return self._moments

    lam = property(lambda self: self._reading()[0], doc="expected quanta of each cell (B, D)")
    inv_alpha = property(lambda self: self._reading()[1], doc="1 / Gamma shape of a quantum (B, D)")
    log_hit = property(lambda self: self._reading()[2], doc="log(1 - e^-lambda): the cell reads > 0 (B, D)")
    sigma2 = property(lambda self: self._reading()[3], doc="log-normal sigma^2 of a reading (B, D)")
    mu = property(lambda self: self._reading()[4], doc="log-normal mu of a reading (B, D)")

    @property
    def hit_probability(self) -> torch.Tensor:
        """P(cell > 0) = 1 - exp(-lambda), (B, D)."""
        return self.log_hit.exp()

    @property
    def share_variance(self) -> torch.Tensor:
        """Var(f) = p^2 (1 + 1/alpha) / lambda of each cell's share (B, D)."""
        return torch.exp(2 * self.log_p - self.log_lam) * (1 + self.inv_alpha)

    def scaled(self, f: torch.Tensor) -> torch.Tensor:
        return torch.log1p(f / self.eps) / self.hi

    @property
    def mean(self) -> torch.Tensor:
        """The expected shares, scaled (B, D)."""
        return self.scaled(self.log_p.exp())

    @property
    def stddev(self) -> torch.Tensor:
        """Standard deviation of the scaled share (B, D), to first order around the expected share."""
        p = self.log_p.exp()
        return self.share_variance.sqrt() / ((self.eps + p) * self.hi)

    # -------------------------------------------------------------- likelihood and draws
    def log_prob(self, s: torch.Tensor, sigma=None, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log density of scaled shares s (B, D) per shower (B,): -lambda for a 0, else log(1 - e^-lambda) + the
        log-normal log density of f = eps expm1(hi s) + log(df / ds); cells where ``mask`` is True are left out."""
        cols = self.log_p.shape[1]
        step = max(1, LOG_PROB_BLOCK_VALUES // max(1, len(s)))
        grad = torch.is_grad_enabled() and any(t.requires_grad for t in (self.log_p, self.log_lam, self.log_alpha))
        total = None
        for a in range(0, cols, step):
            args = (s[:, a:a + step], self.log_p[:, a:a + step], self.log_lam[:, a:a + step],
                    self.log_alpha[:, a:a + step], None if mask is None else mask.reshape(s.shape)[:, a:a + step])
            if grad and cols > step:  # keep only the block's inputs for backward; its temporaries are recomputed
                part = checkpoint(_cell_log_prob, *args, self.eps, self.hi, use_reentrant=False)
            else:
                part = _cell_log_prob(*args, self.eps, self.hi)
            total = part if total is None else total + part
        assert total is not None
        return total

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Scaled shares (B, D): 0 with probability exp(-lambda), else a log-normal draw."""
        u = draws.uniform(self.mu.shape, generator=generator, dtype=self.mu.dtype, device=self.mu.device)
        n = draws.normal(self.mu.shape, generator=generator, dtype=self.mu.dtype, device=self.mu.device)
        f = torch.exp(self.mu + self.sigma2.sqrt() * n)
        return torch.where(u < self.hit_probability, self.scaled(f), torch.zeros_like(f))

    generate = sample
