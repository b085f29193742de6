"""Two-stage latent samplers for VAEs (Dai & Wipf 2019, "Diagnosing and enhancing VAE models"; the GMM sampler
of pythae, Chadebec et al. 2022): after training, a second density is fitted to the aggregate posterior (the
encoded training means) and generation draws z from it instead of the prior N(0, I), so that samples come from
where the decoder has seen codes. Each sampler is a module whose state is plain tensors (saved in the run's
model.safetensors beside the network; the kind and size live in its config.json).

- ``normal``: z ~ N(0, I), the VAE's prior.
- ``gmm``: a Gaussian mixture with full covariances (scikit-learn's ``GaussianMixture``, EM from k-means);
  stored as weights (K,), means (K, L) and the Cholesky factors of the covariances (K, L, L).
- ``flow``: a small RealNVP (Dinh et al. 2017): affine coupling layers with alternating masks, fitted by
  maximum likelihood (Adam) on the codes standardised by their mean and standard deviation.

Until a sampler is fitted (during training) it draws from N(0, I); ``fitted`` says which.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..registry import Registry

PRIOR_SAMPLERS: Registry[type["PriorSampler"]] = Registry("prior sampler")


class PriorSampler(nn.Module):
    """``sample(n, generator)`` -> codes (n, latent_dim) on the sampler's device; ``fit(codes)`` on encoded means
    (N, latent_dim), float64 statistics."""

    #: whether ``fit`` learns anything (normal: no)
    learned = True

    def __init__(self, latent_dim: int, components: int = 10):
        super().__init__()
        self.latent_dim = latent_dim
        if self.learned:
            self.register_buffer("fitted", torch.tensor(False, device=torch.get_default_device()))
        # the same, read without touching the buffer: asking a sampler on a GPU (or the meta device) whether it is
        # fitted must not wait for the device; kept in step by fit() and by loading weights
        self._fitted = not self.learned

    def fit(self, codes: np.ndarray, *, seed: int = 0) -> str | None:
        return None

    def is_fitted(self) -> bool:
        return self._fitted

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if self.learned and prefix + "fitted" in state_dict:
            self._fitted = bool(state_dict[prefix + "fitted"])

    def sample(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator, device=device)


@PRIOR_SAMPLERS.add("normal")
class NormalSampler(PriorSampler):
    """z ~ N(0, I)."""

    learned = False


@PRIOR_SAMPLERS.add("gmm")
class GMMSampler(PriorSampler):
    """A Gaussian mixture of ``components`` full-covariance components fitted to the codes."""

    def __init__(self, latent_dim: int, components: int = 10):
        super().__init__(latent_dim, components)
        self.register_buffer("weights", torch.full((components,), 1.0 / components, device=torch.get_default_device()))
        self.register_buffer("means", torch.zeros(components, latent_dim, device=torch.get_default_device()))
        self.register_buffer("cholesky", torch.eye(latent_dim, device=torch.get_default_device()).repeat(components, 1, 1))

    def fit(self, codes, *, seed=0):
        from sklearn.mixture import GaussianMixture

        codes = np.asarray(codes, np.float64)
        k = self.weights.shape[0]
        if len(codes) < 2 * k:
            raise ConfigError(f"the gmm prior sampler fits {k} components and needs at least {2 * k} training rows; "
                              f"got {len(codes)} (use --prior-components {max(1, len(codes) // 2)} or more data)")
        gm = GaussianMixture(k, covariance_type="full", reg_covar=1e-6, random_state=seed).fit(codes)
        dev = self.weights.device
        with torch.no_grad():
            self.weights.copy_(torch.as_tensor(gm.weights_, dtype=torch.float32, device=dev))
            self.means.copy_(torch.as_tensor(gm.means_, dtype=torch.float32, device=dev))
            self.cholesky.copy_(torch.as_tensor(np.linalg.cholesky(gm.covariances_), dtype=torch.float32, device=dev))
            self.fitted.fill_(True)
        self._fitted = True
        return (f"gmm prior sampler: {k} components fitted to {len(codes)} encoded training means "
                f"(mean log-likelihood {gm.score(codes):.3g} nats per code)")

    def sample(self, n, generator=None, device=None):
        dev = self.weights.device
        if not self._fitted:
            return super().sample(n, generator, dev)
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, 1, generator=generator, device=dev)
        return self.means[comp] + (self.cholesky[comp] @ eps).squeeze(-1)


class _Coupling(nn.Module):
    def __init__(self, dim: int, mask: torch.Tensor, hidden: int = 64):
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 2 * dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x):  # data -> base direction: returns y and log|det dy/dx|
        s, t = self.net(x * self.mask).chunk(2, dim=1)
        s = torch.tanh(s) * (1 - self.mask)
        t = t * (1 - self.mask)
        return x * self.mask + (1 - self.mask) * ((x - t) * torch.exp(-s)), -s.sum(1)

    def inverse(self, y):  # base -> data
        s, t = self.net(y * self.mask).chunk(2, dim=1)
        s = torch.tanh(s) * (1 - self.mask)
        t = t * (1 - self.mask)
        return y * self.mask + (1 - self.mask) * (y * torch.exp(s) + t)


@PRIOR_SAMPLERS.add("flow")
class FlowSampler(PriorSampler):
    """A RealNVP of ``components`` affine coupling layers (alternating halves) on the standardised codes."""

    def __init__(self, latent_dim: int, components: int = 10):
        super().__init__(latent_dim, components)
        layers = max(2, min(components, 8))
        masks = [(torch.arange(latent_dim) % 2 == i % 2).float() for i in range(layers)]
        if latent_dim == 1:  # one dimension: the affine part alone (the couplings pass it through)
            masks = [torch.zeros(1) for _ in range(layers)]
        self.couplings = nn.ModuleList(_Coupling(latent_dim, m) for m in masks)
        self.register_buffer("shift", torch.zeros(latent_dim, device=torch.get_default_device()))
        self.register_buffer("scale", torch.ones(latent_dim, device=torch.get_default_device()))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        y = (z - self.shift) / self.scale
        logdet = -torch.log(self.scale).sum().expand(len(z))
        for c in self.couplings:
            y, ld = c(y)
            logdet = logdet + ld
        return -0.5 * (y.pow(2).sum(1) + self.latent_dim * math.log(2 * math.pi)) + logdet

    def fit(self, codes, *, seed=0, steps: int = 1500, lr: float = 2e-3):
        codes64 = np.asarray(codes, np.float64)
        dev = self.shift.device
        with torch.no_grad():
            self.shift.copy_(torch.as_tensor(codes64.mean(0), dtype=torch.float32))
            self.scale.copy_(torch.as_tensor(np.maximum(codes64.std(0), 1e-6), dtype=torch.float32))
        z = torch.as_tensor(codes64, dtype=torch.float32, device=dev)
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        opt = torch.optim.Adam(self.couplings.parameters(), lr=lr)
        for _ in range(steps):
            idx = torch.randint(0, len(z), (min(256, len(z)),), generator=g)
            loss = -self.log_prob(z[idx.to(dev)]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            self.fitted.fill_(True)
            ll = float(self.log_prob(z).mean())
        self._fitted = True
        return (f"flow prior sampler: {len(self.couplings)} coupling layers fitted to {len(codes64)} encoded "
                f"training means (mean log-likelihood {ll:.3g} nats per code)")

    @torch.no_grad()
    def sample(self, n, generator=None, device=None):
        if not self._fitted:
            return super().sample(n, generator, self.shift.device)
        y = torch.randn(n, self.latent_dim, generator=generator, device=self.shift.device)
        for c in reversed(self.couplings):
            y = c.inverse(y)
        return y * self.scale + self.shift
