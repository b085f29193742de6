"""The second data set of a model that learns from two (a CycleGAN's domain B): loaded, checked against the
first and split with the run's seed, so that training, resuming and evaluation all see the same rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..catalog import MODELS, ModelSpec
from ..data import ArrayDataset, as_dataset, split_for
from ..errors import ConfigError, DataError


def translating_models() -> list[str]:
    """Catalogue names whose objective trains on two data sets."""
    return [n for n in MODELS if MODELS.get(n).objective_class.second_domain]


def second_dataset(spec: ModelSpec, data_b: Any, data_kw: dict, tc) -> tuple[ArrayDataset | None, dict | None]:
    """(domain B, its seeded split) for a model that needs it; (None, None) for the others. ConfigError when a
    second data set is missing, not wanted, or streamed; DataError when it carries masks (``scaling_rows`` refuses
    masks on the first one)."""
    wants = spec.objective_class.second_domain
    if data_b is None:
        if wants:
            raise ConfigError(f"{spec.name} learns from two unpaired data sets: give the second one (domain B) with "
                              "--data-b FILE (Python: train(..., data_b=...))")
        return None, None
    if not wants:
        raise ConfigError(f"--data-b gives a second data set, which only {', '.join(translating_models())} take(s); "
                          f"{spec.name!r} trains on --data alone: drop --data-b")
    if tc.stream:
        raise ConfigError("--stream reads one file; train on two data sets in memory (drop --stream)")
    # the same reading rules as domain A (a layout left to detection stays so: None is not False)
    ds_b = as_dataset(data_b, key=data_kw.get("key"), channels_last=data_kw.get("channels_last"))
    if ds_b.mask is not None:
        raise DataError(f"{ds_b.source}: masks are not supported for the second data set; fill or drop the points")
    return ds_b, split_for(len(ds_b), tc)


def check_same_shape(ds: ArrayDataset, ds_b: ArrayDataset) -> None:
    """DataError unless both domains hold examples of one shape."""
    if ds.example_shape != ds_b.example_shape:
        raise DataError(f"the two data sets must hold examples of one shape: {ds.source} has {ds.example_shape}, "
                        f"{ds_b.source} has {ds_b.example_shape}")


def scaling_rows(ds: ArrayDataset, idx: dict, ds_b: ArrayDataset | None, idx_b: dict | None) -> np.ndarray:
    """The training rows the scaling is fitted on: domain A's, and domain B's beside them (one scaling for both,
    so that a translation stays in the same units). DataError for examples of two shapes, or masks with two sets."""
    rows = ds.x[idx["train"]]
    if ds_b is None or idx_b is None:
        return rows
    check_same_shape(ds, ds_b)
    if ds.mask is not None:
        raise DataError(f"{ds.source}: masks are not supported when training on two data sets; fill or drop the "
                        "masked points")
    return np.concatenate([rows, ds_b.x[idx_b["train"]]])


def describe(ds_b: ArrayDataset) -> dict:
    """What config.json records of the second data set (its source is re-read by evaluation)."""
    return {"source": ds_b.source, "n": len(ds_b), "example_shape": list(ds_b.example_shape)}
