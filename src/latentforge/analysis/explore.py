"""`latentforge explore`: the latent tools run together, written as PNGs, latents (.npz) and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.arrays import is_categorical
from ..errors import ConfigError, DataError
from ..io import write_json, write_npz
from . import latent as lt
from .filters import filters_figure, filters_summary, first_layer_filters, strongest
from .plots import image_grid, latent_scatter, save_figure


def explore(run, ds, out: str | Path, *, method: str = "pca", steps: int = 10, pair: list[int] | None = None,
            sets: list[int] | None = None, param_key: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Run the latent tools on ``ds`` and write their PNGs, ``interpolation.npz`` and ``summary.json`` into ``out``;
    returns the summary. Scatter, traversal (images), first-layer filters as patches (a dense first layer on
    images, e.g. a denoising autoencoder's), interpolation (linear and slerp), arithmetic on labelled sets and a
    probe of a per-example parameter, each where the model and data allow. Raises ConfigError /
    DataError for indices, labels or parameters that do not fit the data."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"model": run.name, "n": len(ds), "files": []}
    images = len(run.input_shape) == 3
    gan = not run.can("encoding")  # a generator without an encoder: its points are noise vectors

    def put(fig, name: str) -> None:
        save_figure(fig, out / name)
        summary["files"].append(str(out / name))

    if not gan:
        z = run.encode(ds)
        z2, name = lt.project_2d(z, method, seed)
        put(latent_scatter(z2, ds.y, title=f"{run.name} latent space", method=name), "scatter.png")
        summary["projection"] = name
    cond0 = run.conditioner.values_of(ds)[0] if run.conditional else None
    if images:
        tr = lt.traversal(run, None if run.can("sampling") else ds, condition=cond0)
        put(image_grid(tr["x"], ncols=tr["ncols"], title=f"traversal ({tr['kind']})"), "traversal.png")

    # first-layer filters of a network that reads whole images with a dense layer (Vincent et al. 2008)
    filters = first_layer_filters(run.model) if images else None
    if filters is not None:
        pixel_std = run.to_model_space(ds).numpy().std(0)  # (C, H, W): how much each pixel varies
        put(filters_figure({f"{run.name}: {len(filters)} units, the 64 strongest": strongest(filters)},
                           pixel_std=pixel_std), "filters.png")
        summary["filters"] = filters_summary(run.model, pixel_std)

    # interpolation: two inputs (or two noise vectors for a GAN)
    if gan:
        g = np.random.default_rng(seed)
        a, b = g.normal(size=run.model.latent_dim), g.normal(size=run.model.latent_dim)
        ends = "two random noise vectors"
    else:
        i, j = pair if pair else _first_pair(ds)
        for k in (i, j):
            if not 0 <= k < len(ds):
                raise DataError(f"--interpolate index {k} is outside the data (0..{len(ds) - 1})")
        a, b = ds.subset(np.array([i])), ds.subset(np.array([j]))
        ends = f"examples {i} and {j}"
    lin = lt.interpolate(run, a, b, steps=steps, method="linear", condition=cond0 if gan else None)
    sph = lt.interpolate(run, a, b, steps=steps, method="slerp", condition=cond0 if gan else None)
    write_npz(out / "interpolation.npz", linear=lin["z"], slerp=sph["z"], t=lin["t"])
    summary["files"].append(str(out / "interpolation.npz"))
    summary["interpolation"] = ends
    if images:
        put(image_grid(np.concatenate([lin["x"], sph["x"]]), ncols=steps,
                       title=f"interpolation between {ends}: linear (top), spherical (bottom)"), "interpolation.png")

    # arithmetic on labelled sets: mean(A) - mean(B) + mean(C)
    if ds.y is not None and not gan and images:
        classes = sorted(np.unique(ds.y).tolist())
        labs = sets if sets else classes[:3]
        if len(labs) != 3 or any(lab not in classes for lab in labs):
            raise ConfigError(f"--arithmetic needs three labels among {classes}, got {labs}")
        parts = [ds.subset(np.flatnonzero(ds.y == lab)) for lab in labs]
        res = lt.arithmetic(run, *parts, condition=cond0)
        row = np.concatenate([p.x[:3] for p in parts] + [res["x_means"], res["x"]])
        put(image_grid(row, ncols=len(row), title=f"examples of {labs[0]}, {labs[1]}, {labs[2]}; their decoded "
                                                  f"means; mean({labs[0]}) - mean({labs[1]}) + mean({labs[2]})"),
            "arithmetic.png")
        summary["arithmetic"] = labs

    # probe: latent -> a known parameter, and a walk along its direction
    if not gan:
        target, what = _parameter(ds, param_key)
        if target is not None and is_categorical(target):
            summary["probe"] = {"parameter": what, **lt.class_probe(run.encode(ds), target)}
        elif target is not None:
            walk = lt.probe_walk(run, ds, target, condition=cond0)
            p = walk["probe"]
            summary["probe"] = {"parameter": what, "r2_heldout": p.r2, "r2_train": p.r2_train,
                                "predicted_along_walk": [round(float(v), 4) for v in walk["predicted"]]}
            if images:
                put(image_grid(walk["x"], ncols=len(walk["x"]),
                               title=f"walk along the probe direction: {what} grows to the right (R^2 = {p.r2:.2f})"),
                    "probe.png")
    write_json(out / "summary.json", summary)
    return summary


def _first_pair(ds) -> list[int]:
    if ds.y is not None and len(np.unique(ds.y)) > 1:
        return [0, int(np.flatnonzero(ds.y != ds.y[0])[0])]
    return [0, min(1, len(ds) - 1)]


def _parameter(ds, key: str | None):
    if key in (None, "labels"):
        if ds.y is None:
            return None, None
        return ds.y, "label"
    if ds.cond is not None and key == "cond":
        return ds.cond[:, 0], "cond[0]"
    from ..data import read_file

    arrays = read_file(ds.source, cond_key=key)
    values = np.asarray(arrays["cond"], np.float64)
    values = values.reshape(len(values), -1)[:, 0]
    if "index" in ds.info:  # the examples are a split of the file
        values = values[ds.info["index"]]
    if len(values) != len(ds):
        raise DataError(f"--param {key}: {len(values)} values for {len(ds)} examples; give one value per example")
    return values, key
