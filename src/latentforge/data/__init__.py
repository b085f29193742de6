"""Data: built-in sets, file readers, checks, the seeded split, scalings, conditions and corruption."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import DataError
from .arrays import ArrayDataset, as_examples, check_arrays, check_unit_range
from .builtin import DATASETS, dataset_table, load_builtin
from .conditions import Conditioner
from .corruption import CORRUPTIONS, corrupt
from .files import read_file
from .layouts import LAYOUT_INFO
from .scaling import SCALINGS, Scaler
from . import shower_scaling  # noqa: F401  (registers the fractions-response scaling of shower surrogates)
from .split import SPLITS, split_for, split_indices

__all__ = ["ArrayDataset", "CORRUPTIONS", "Conditioner", "DATASETS", "DATA_KEYWORDS", "SCALINGS", "SPLITS", "Scaler",
           "as_dataset", "as_examples", "check_arrays", "check_unit_range", "corrupt", "dataset_table",
           "load_dataset", "read_file", "split_for", "split_indices"]

#: keyword arguments that name arrays inside a data file (or give labels), accepted wherever data is
DATA_KEYWORDS = ("key", "labels_key", "labels", "channels_last", "sigma_key", "ivar_key", "mask_key", "cond_key")


def load_dataset(source: str | os.PathLike, *, key: str | None = None, labels_key: str | None = None,
                 labels: str | os.PathLike | None = None, channels_last: bool = False, sigma_key: str | None = None,
                 ivar_key: str | None = None, mask_key: str | None = None,
                 cond_key: str | None = None) -> ArrayDataset:
    """Load a built-in dataset by name, or a file (.npy, .npz, .h5/.hdf5, idx, FITS) by path.

    Containers (.npz, HDF5) may also carry per-point ``sigma`` (or ``ivar``) and ``mask`` arrays and a
    ``cond`` array of per-example parameters; see :func:`latentforge.data.files.read_file`.
    Raises DataError for an unknown name, a missing or unreadable file, or arrays that cannot be data.
    """
    s = str(source)
    if s in DATASETS:
        x, y = load_builtin(s)
        return ArrayDataset(x, y, name=s, source=s)
    looks_like_path = os.sep in s or "." in os.path.basename(s) or os.path.exists(s)
    if not looks_like_path:
        raise DataError(f"unknown dataset {s!r}; built-in datasets: {', '.join(DATASETS.names())}; "
                        "or give a file path (.npy, .npz, .h5, .hdf5, idx)")
    arrays = read_file(s, key=key, labels_key=labels_key, labels=labels, sigma_key=sigma_key, ivar_key=ivar_key,
                       mask_key=mask_key, cond_key=cond_key)
    x = as_examples(arrays["x"], channels_last=channels_last, what=s)
    extra = {k: arrays[k] for k in ("sigma", "mask")}
    if channels_last:
        extra = {k: (None if v is None else np.moveaxis(np.asarray(v), -1, 1)) for k, v in extra.items()}
    # --- known layouts: the wavelength grid, geometry and energy unit ride along (data/layouts.py) ---
    info = {k: arrays[k] for k in LAYOUT_INFO if arrays.get(k) is not None}
    return ArrayDataset(x, arrays["y"], name=os.path.basename(s), source=s, cond=arrays["cond"], info=info, **extra)


def as_dataset(data: Any, *, labels: Any = None, channels_last: bool = False, **keys: Any) -> ArrayDataset:
    """A built-in name, a file path, an ArrayDataset or an array (with an optional labels array) -> ArrayDataset.

    ``keys``: key, labels_key, sigma_key, ivar_key, mask_key, cond_key name arrays inside .npz / HDF5 files.
    """
    if isinstance(data, ArrayDataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_dataset(data, labels=labels if isinstance(labels, (str, os.PathLike)) else None,
                            channels_last=channels_last, **{k: v for k, v in keys.items() if v is not None})
    x = as_examples(data, channels_last=channels_last, what="array")
    y = None if labels is None or isinstance(labels, (str, os.PathLike)) else np.asarray(labels)
    return ArrayDataset(x, y, name="array", source="array")
