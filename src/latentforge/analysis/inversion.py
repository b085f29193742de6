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
from ..registry import Registry
from ..data.axes import caller_axes, from_axes, to_axes


def invert(run, data: Any, mask: np.ndarray | None = None, *, steps: int = 300, lr: float = 0.05,
           prior_weight: float | None = None, init: str = "auto", seed: int = 0,
           condition: Any = None) -> dict[str, np.ndarray]:
    """Latent vectors (N, d) whose decodings best match the observed points of raw examples ``data``.

    ``mask`` (True = missing): one per example or one for all, in the layout of ``data``. Returns ``z``,
    ``reconstruction`` (raw units, float32, in the shape and layout of ``data``), ``error`` (per-example mean
    squared error over observed points, model units) and ``error_start`` (the same for the starting point), numpy
    arrays on the CPU. The optimisation runs on the run's device (``run.to``) in blocks of rows (each example's z
    is fitted on its own, so blocks give the numbers one pass over every row would).
    """
    ds = run.dataset(data)
    axes = caller_axes(data, ds)
    x = run.to_model_space(ds)
    if mask is None:
        observed = torch.ones_like(x, dtype=torch.bool)
    else:
        m = in_model_layout(mask, axes, tuple(x.shape))
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
        init = "encoder" if run.can("encoding") else "zeros"
    if init == "encoder":
        if not run.can("encoding"):
            raise ConfigError("a GAN has no encoder to start from; use init='zeros' or 'random'")
        z0 = torch.from_numpy(run.encode(_with_zeros(ds, observed.numpy()), None if c is None else condition))
    elif init == "zeros":
        z0 = torch.zeros(len(ds), run.model.latent_dim, device="cpu")
    elif init == "random":
        z0 = torch.randn(len(ds), run.model.latent_dim, generator=torch.Generator().manual_seed(seed), device="cpu")
    else:
        raise ConfigError(f"unknown init {init!r}; choose auto, encoder, zeros or random")
    if prior_weight is None:  # a prior to stay near: N(0, I) for VAEs and GANs; none for autoencoders
        prior_weight = 1e-3 if run.can("sampling") else 0.0
    model = run.model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    device = run.device
    parts: dict[str, list[torch.Tensor]] = {"z": [], "recon": [], "final": [], "start": []}
    try:
        for i in range(0, len(ds), INVERT_ROWS):
            rows = slice(i, i + INVERT_ROWS)
            one = _fit_block(model, z0[rows].to(device), x[rows].to(device), observed[rows].to(device),
                             None if c is None else c[rows].to(device), steps, lr, prior_weight)
            for k, v in one.items():
                parts[k].append(v.cpu())
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    z, recon, final, start = (torch.cat(parts[k]) for k in ("z", "recon", "final", "start"))
    return {"z": z.numpy(), "reconstruction": to_axes(run.preprocess.to_raw(recon, run.preprocess.factors(ds)), axes),
            "error": final.numpy(), "error_start": start.numpy()}


#: rows whose latent vectors are optimised together (on the run's device)
INVERT_ROWS = 4096


def _fit_block(model, z0: torch.Tensor, x: torch.Tensor, observed: torch.Tensor, c: torch.Tensor | None,
               steps: int, lr: float, prior_weight: float) -> dict[str, torch.Tensor]:
    """Adam on the codes of one block of rows (all tensors on the model's device); z, decoding and errors."""
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    w = observed.float()
    n_obs = w.flatten(1).sum(1)

    def per_example_error(zz: torch.Tensor) -> torch.Tensor:
        out = model.decode(zz, c)
        return ((out - x).pow(2) * w).flatten(1).sum(1) / n_obs

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
        recon = model.decode(z, c)
    return {"z": z.detach(), "recon": recon, "final": final, "start": start}


def in_model_layout(mask: Any, axes: str | None, shape: tuple[int, ...]) -> np.ndarray:
    """A mask given in the caller's layout ``axes`` (one per example, or one example's for all) -> the model's
    layout of data of ``shape``; a mask already of the model's shapes is kept."""
    m = np.asarray(mask, bool)
    if m.shape in (shape, shape[1:]):
        return m
    single = m.ndim == len(shape) - 1 - (axes == "NHW")  # one example's mask in the caller's layout
    moved = from_axes(m[None] if single else m, axes)
    return moved[0] if single else moved


def _with_zeros(ds, observed: np.ndarray):
    """The encoder's starting guess sees missing points as 0 in model units."""
    from ..data import ArrayDataset

    x = np.where(observed, ds.x, 0.0)
    return ArrayDataset(x, ds.y, name=ds.name, source=ds.source, cond=ds.cond)


def inpaint(run, data: Any, mask: np.ndarray, **kw) -> dict[str, np.ndarray]:
    """Fill the masked (True) points of raw examples from the decoding of the best latent vector: ``invert``'s
    results plus ``filled`` and ``mask``, all in the shape and layout of ``data`` (``mask`` given in it too:
    one per example or one for all)."""
    ds = run.dataset(data)
    axes = caller_axes(data, ds)
    m = np.broadcast_to(in_model_layout(mask, axes, ds.x.shape), ds.x.shape)
    out = invert(run, ds, m, **kw)
    out["filled"] = to_axes(np.where(m, out["reconstruction"], ds.x), axes)
    out["reconstruction"] = to_axes(out["reconstruction"], axes)
    out["mask"] = to_axes(np.ascontiguousarray(m), axes)
    return out


def _half(side: str):
    def fill(m: np.ndarray, arg: str, rng) -> None:
        _, h, w = m.shape
        region = {"bottom": (slice(None), slice(h // 2, None)), "top": (slice(None), slice(None, h // 2)),
                  "left": (slice(None), slice(None), slice(None, w // 2)),
                  "right": (slice(None), slice(None), slice(w // 2, None))}[side]
        m[region] = True
    return fill


def _center(m: np.ndarray, arg: str, rng) -> None:
    _, h, w = m.shape
    k = int(arg or min(h, w) // 2)
    m[:, (h - k) // 2:(h - k) // 2 + k, (w - k) // 2:(w - k) // 2 + k] = True


def _random(m: np.ndarray, arg: str, rng) -> None:
    m[...] = rng.random(m.shape) < float(arg or 0.5)


#: mask patterns by name: fill(mask of one example, the text after ":", a seeded generator)
MASK_PATTERNS: Registry = Registry("mask pattern")
for _side in ("bottom", "top", "left", "right"):
    MASK_PATTERNS.register(_side, _half(_side))
MASK_PATTERNS.register("center", _center)
MASK_PATTERNS.register("random", _random)
IMAGE_ONLY = ("bottom", "top", "left", "right", "center")


def mask_pattern(spec: str, shape: tuple[int, ...], *, seed: int = 0) -> np.ndarray:
    """A mask (True = missing) for one example from a pattern name:
    ``bottom`` / ``top`` / ``left`` / ``right`` (that half), ``center:K`` (a K x K square),
    ``random:P`` (each point missing with probability P). Raises ConfigError for an unknown pattern or an
    image pattern asked of vectors."""
    name, _, arg = spec.partition(":")
    if name not in MASK_PATTERNS:
        raise ConfigError(f"unknown mask pattern {spec!r}; use bottom, top, left, right, center:K, random:P, "
                          "or a .npy / .npz mask file")
    if len(shape) != 3 and name in IMAGE_ONLY:
        raise ConfigError(f"mask pattern {spec!r} needs images (C, H, W); vectors take random:P or a mask file")
    m = np.zeros(shape, bool)
    MASK_PATTERNS.get(name)(m, arg, np.random.default_rng(seed))
    return m


def masks_for(spec: str, ds, *, seed: int = 0) -> np.ndarray:
    """Masks (True = missing) of the shape of ``ds.x`` from a mask file (.npy / .npz / HDF5: one example's
    shape or the data's, in the model's layout or the data file's) or a pattern (``random:P`` draws a new mask per example). Raises DataError for a
    file whose mask fits neither."""
    if spec.lower().endswith((".npy", ".npz", ".h5", ".hdf5")):
        from ..data import read_file

        m = in_model_layout(np.asarray(read_file(spec)["x"]).astype(bool), ds.info.get("axes"), ds.x.shape)
        if m.shape == ds.x.shape[1:] or m.shape == ds.x.shape:
            return np.broadcast_to(m, ds.x.shape)
        if m.ndim == ds.x.ndim - 1 and m.shape[0] == len(ds) and ds.x.shape[1] == 1:
            return m[:, None]
        raise DataError(f"--mask {spec}: shape {m.shape} fits neither one example {ds.x.shape[1:]} "
                        f"nor the data {ds.x.shape}")
    if spec.startswith("random"):
        return np.stack([mask_pattern(spec, ds.x.shape[1:], seed=seed + i) for i in range(len(ds))])
    return np.broadcast_to(mask_pattern(spec, ds.x.shape[1:], seed=seed), ds.x.shape)


def training_mean(train) -> np.ndarray:
    """The mean example (1, *S) of training rows ``train`` (a dataset), each point averaged over the rows where
    it is not masked (0 where it is masked in every row): the "training mean" baseline of inpainting."""
    x = np.asarray(train.x, np.float64)
    keep = np.ones(x.shape, bool) if train.mask is None else ~train.mask
    count = keep.sum(0, keepdims=True)
    total = np.where(keep, x, 0.0).sum(0, keepdims=True)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def inpaint_summary(ds, result: dict[str, np.ndarray], train) -> dict[str, Any]:
    """How well the filled points match complete data ``ds``: the MSE over the filled region (raw units) beside
    filling it with the mean example of ``train``, the run's training rows (``TrainedModel.training_rows``; None:
    no baseline, ``mse_mean_fill`` None), and the fit over observed points. The baseline never sees ``ds``."""
    miss = result["mask"]
    out: dict[str, Any] = {"n": len(ds), "missing_fraction": float(miss.mean()),
                           "mse_filled_region": float(np.mean((result["filled"] - ds.x)[miss] ** 2))}
    if train is not None:
        mean_fill = np.broadcast_to(training_mean(train), ds.x.shape)
        out["mse_mean_fill"] = float(np.mean((mean_fill - ds.x)[miss] ** 2))
        out["mean_fill_rows"] = f"the mean of {len(train)} training rows"
    else:
        out["mse_mean_fill"] = None
    out.update(fit_error_observed=float(result["error"].mean()), fit_error_start=float(result["error_start"].mean()))
    return out
