"""Decoder inversion and inpainting: find the latent vector that best explains an example.

    minimise_z  sum over observed points of (decode(z) - x)^2  +  prior_weight * ||z||^2 / 2

by Adam on z alone (the network is fixed), starting from the encoder's code when the model has an
encoder, else from z = 0 (the prior's centre). With a mask (True = missing), only observed points count,
and the missing ones are filled from the decoded output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError


def invert(run, data: Any, mask: np.ndarray | None = None, *, steps: int = 300, lr: float = 0.05,
           prior_weight: float | None = None, init: str = "auto", seed: int = 0,
           condition: Any = None) -> dict[str, np.ndarray]:
    """Latent vectors (N, d) whose decodings best match the observed points of raw examples ``data``.

    Returns ``z``, ``reconstruction`` (raw units), ``error`` (per-example mean squared error over observed
    points, model units) and ``error_start`` (the same for the starting point).
    """
    ds = run._dataset(data)
    x = torch.from_numpy(run.scaler.transform(ds.x))
    if mask is None:
        observed = torch.ones_like(x, dtype=torch.bool)
    else:
        m = np.asarray(mask, bool)
        if m.shape != tuple(x.shape):
            if m.shape == tuple(x.shape[1:]):
                m = np.broadcast_to(m, tuple(x.shape))
            else:
                raise DataError(f"mask of shape {m.shape} does not fit data of shape {tuple(x.shape)}; give one "
                                "mask per example or one for all")
        observed = ~torch.from_numpy(np.ascontiguousarray(m))
    if not observed.flatten(1).any(1).all():
        raise DataError("an example has no observed point at all; nothing to fit")
    c = run.condition_vectors(len(ds), condition, ds)
    if init == "auto":
        init = "encoder" if run.family != "gan" else "zeros"
    if init == "encoder":
        if run.family == "gan":
            raise ConfigError("a GAN has no encoder to start from; use init='zeros' or 'random'")
        z0 = torch.from_numpy(run.encode(_with_zeros(ds, observed.numpy()), None if c is None else condition))
    elif init == "zeros":
        z0 = torch.zeros(len(ds), run.model.latent_dim)
    elif init == "random":
        z0 = torch.randn(len(ds), run.model.latent_dim, generator=torch.Generator().manual_seed(seed))
    else:
        raise ConfigError(f"unknown init {init!r}; choose auto, encoder, zeros or random")
    if prior_weight is None:  # a prior to stay near: N(0, I) for VAEs and GANs; none for autoencoders
        prior_weight = 1e-3 if run.family in ("vae", "gan") else 0.0
    model = run.model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    w = observed.float()
    n_obs = w.flatten(1).sum(1)

    def per_example_error(zz: torch.Tensor) -> torch.Tensor:
        out = run._decode(zz, c)
        return ((out - x).pow(2) * w).flatten(1).sum(1) / n_obs

    try:
        with torch.no_grad():
            start = per_example_error(z0)
        for _ in range(steps):
            err = per_example_error(z)
            loss = err.sum() + 0.5 * prior_weight * z.pow(2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            final = per_example_error(z)
            recon = run._decode(z, c)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return {"z": z.detach().numpy(), "reconstruction": run.scaler.inverse_transform(recon.numpy()),
            "error": final.numpy(), "error_start": start.numpy()}


def _with_zeros(ds, observed: np.ndarray):
    """The encoder's starting guess sees missing points as 0 in model units."""
    from ..data import ArrayDataset

    x = np.where(observed, ds.x, 0.0)
    return ArrayDataset(x, ds.y, name=ds.name, source=ds.source, cond=ds.cond)


def inpaint(run, data: Any, mask: np.ndarray, **kw) -> dict[str, np.ndarray]:
    """Fill the masked (True) points of raw examples from the decoding of the best latent vector."""
    ds = run._dataset(data)
    m = np.broadcast_to(np.asarray(mask, bool), ds.x.shape)
    out = invert(run, ds, m, **kw)
    out["filled"] = np.where(m, out["reconstruction"], ds.x)
    out["mask"] = np.ascontiguousarray(m)
    return out


def mask_pattern(spec: str, shape: tuple[int, ...], *, seed: int = 0) -> np.ndarray:
    """A mask (True = missing) for one example from a pattern name:
    ``bottom`` / ``top`` / ``left`` / ``right`` (that half), ``center:K`` (a K x K square),
    ``random:P`` (each point missing with probability P)."""
    if len(shape) != 3 and not spec.startswith("random"):
        raise ConfigError(f"mask pattern {spec!r} needs images (C, H, W); vectors take random:P or a mask file")
    m = np.zeros(shape, bool)
    name, _, arg = spec.partition(":")
    if name in ("bottom", "top", "left", "right"):
        _, h, w = shape
        if name == "bottom":
            m[:, h // 2:] = True
        elif name == "top":
            m[:, :h // 2] = True
        elif name == "left":
            m[:, :, :w // 2] = True
        else:
            m[:, :, w // 2:] = True
    elif name == "center":
        _, h, w = shape
        k = int(arg or min(h, w) // 2)
        m[:, (h - k) // 2:(h - k) // 2 + k, (w - k) // 2:(w - k) // 2 + k] = True
    elif name == "random":
        m = np.random.default_rng(seed).random(shape) < float(arg or 0.5)
    else:
        raise ConfigError(f"unknown mask pattern {spec!r}; use bottom, top, left, right, center:K, random:P, "
                          "or a .npy / .npz mask file")
    return m
