"""The energy stage of two-stage shower surrogates: a conditional autoregressive mixture density network over the
standardised u-space layer energies (``layers``) given the condition vector.

p(y | c) = prod_k p(y_k | y_<k, c), each factor a Gaussian mixture of ``components`` components whose weights,
means and log standard deviations come from one masked MLP (MADE, Germain et al. 2015) with the condition fed to
every hidden unit; a mixture density network (Bishop 1994) per dimension, autoregressive over dimensions, so the
correlations between layer energies are kept (as CaloFlow's flow I keeps them, Krause & Shih 2021). The density
is evaluated in one pass; sampling takes one pass per dimension (L passes for L layers).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...nn import draws

#: bounds of a component's log standard deviation (standardised units)
LOG_SCALE_RANGE = (-7.0, 3.0)


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (out_features, in_features)."""

    mask: torch.Tensor

    def __init__(self, n_in: int, n_out: int, mask: torch.Tensor):
        super().__init__(n_in, n_out)
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class ConditionalMDN(nn.Module):
    """Autoregressive Gaussian-mixture density of y (B, L) given c (B, P).

    ``log_prob(y, c)`` -> (B,) nats in y's (standardised) space; ``sample(c, generator)`` -> (B, L);
    ``mode_like(c)`` -> (B, L): each dimension set to its most probable component's mean in turn.
    """

    def __init__(self, dim: int, cond_dim: int, hidden: tuple[int, ...] = (64, 64), components: int = 8):
        super().__init__()
        self.dim, self.k = dim, components
        # MADE degrees: input k has degree k + 1; hidden units 0 .. dim - 1 (degree 0: the condition alone); the
        # outputs of dimension k see hidden units of degree <= k, so y_k depends on y_<k and c only
        deg_in = torch.arange(1, dim + 1)
        degs = [deg_in] + [torch.arange(h) % dim for h in hidden]
        widths = [dim, *hidden]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(MaskedLinear(a, b, degs[i + 1][:, None] >= degs[i][None, :]))
        self.hidden = nn.ModuleList(layers)
        self.cond = nn.ModuleList([nn.Linear(cond_dim, h) for h in hidden]) if cond_dim else None
        out_mask = (deg_in[:, None] > degs[-1][None, :]).repeat(3 * components, 1)  # (3K * L, H), rows k-major
        self.out = MaskedLinear(widths[-1], 3 * components * dim, out_mask)
        self.act = nn.SiLU()

    def params(self, y: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log weights, means, log scales), each (B, L, K)."""
        h = y
        for i, layer in enumerate(self.hidden):
            h = layer(h)
            if self.cond is not None and c is not None:
                h = h + self.cond[i](c)
            h = self.act(h)
        out = self.out(h).reshape(y.shape[0], 3 * self.k, self.dim).transpose(1, 2)  # (B, L, 3K)
        logit, mean, log_scale = out.chunk(3, dim=2)
        return logit.log_softmax(2), mean, log_scale.clamp(*LOG_SCALE_RANGE)

    def log_prob(self, y: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        logw, mean, log_scale = self.params(y, c)
        z = (y.unsqueeze(2) - mean) * torch.exp(-log_scale)
        comp = -0.5 * z.pow(2) - log_scale - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(logw + comp, dim=2).sum(1)

    @torch.no_grad()
    def sample(self, c: torch.Tensor | None, n: int, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
        """n draws (n, L), one dimension after the other (L passes); draws from ``generator``."""
        y = torch.zeros(n, self.dim, device=device)
        u = draws.uniform((n, self.dim), generator=generator, device=device)
        eps = draws.normal((n, self.dim), generator=generator, device=device)
        for k in range(self.dim):
            logw, mean, log_scale = self.params(y, c)
            cdf = logw[:, k].exp().cumsum(1)
            pick = (u[:, k:k + 1] > cdf).sum(1).clamp_max(self.k - 1)
            m = mean[:, k].gather(1, pick[:, None]).squeeze(1)
            s = log_scale[:, k].gather(1, pick[:, None]).squeeze(1).exp()
            y[:, k] = m + s * eps[:, k]
        return y

    @torch.no_grad()
    def mode_like(self, c: torch.Tensor | None, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
        y = torch.zeros(n, self.dim, device=device)
        for k in range(self.dim):
            logw, mean, _ = self.params(y, c)
            y[:, k] = mean[:, k].gather(1, logw[:, k].argmax(1, keepdim=True)).squeeze(1)
        return y
