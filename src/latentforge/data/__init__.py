"""Data: built-in sets, file readers, checks, the seeded split, scalings, conditions and corruption."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import DataError
from .arrays import ArrayDataset, as_examples, check_arrays, check_unit_range, resolve_layout, to_numpy
from .axes import input_axes
from .convert import from_python
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
                 labels: str | os.PathLike | None = None, channels_last: bool | None = None,
                 sigma_key: str | None = None, ivar_key: str | None = None, mask_key: str | None = None,
                 cond_key: str | None = None) -> ArrayDataset:
    """Load a built-in dataset by name, or data files by path: one file (.npy, .npz, .h5/.hdf5, idx, FITS,
    CSV / TSV, PNG / JPEG / TIFF), a folder, or a glob pattern (``'runs/*.npy'``).

    Containers (.npz, HDF5) may also carry per-point ``sigma`` (or ``ivar``) and ``mask`` arrays and a
    ``cond`` array of per-example parameters; see :func:`latentforge.data.files.read_file`. Images may be stored
    channels first or last: ``channels_last`` says which, else the file kind or the shape tells
    (``data.arrays.image_layout``). Raises DataError for an unknown name, a missing or unreadable file, or arrays
    that cannot be data.
    """
    s = str(source)
    if s in DATASETS:
        x, y = load_builtin(s)
        return ArrayDataset(x, y, name=s, source=s)
    looks_like_path = os.sep in s or "." in os.path.basename(s) or os.path.exists(s) or any(c in s for c in "*?[")
    if not looks_like_path:
        raise DataError(f"unknown dataset {s!r}; built-in datasets: {', '.join(DATASETS.names())}; "
                        "or give a file path (.npy, .npz, .h5, .hdf5, idx, FITS, CSV, images), a folder or a glob")
    arrays = read_file(s, key=key, labels_key=labels_key, labels=labels, sigma_key=sigma_key, ivar_key=ivar_key,
                       mask_key=mask_key, cond_key=cond_key)
    raw = np.asarray(arrays["x"])
    if channels_last is None and arrays.get("layout"):
        channels_last = arrays["layout"] == "last"
    last = raw.ndim == 4 and resolve_layout(raw.shape, channels_last, s) == "last"
    x = as_examples(raw, channels_last=last, what=s)
    extra = {k: arrays[k] for k in ("sigma", "mask")}
    if last:
        extra = {k: (None if v is None else np.moveaxis(np.asarray(v), -1, 1)) for k, v in extra.items()}
    info: dict[str, Any] = {"layout": "channels last" if last else "channels first"} if raw.ndim == 4 else {}
    info["axes"] = input_axes(raw.ndim, last)  # the file's own layout, which outputs for these data come back in
    files = arrays.get("files")
    if files is not None and len(files):
        info["files"] = len(dict.fromkeys(str(f) for f in files))  # a folder's files (spectra: one entry per row)
    # known layouts: the wavelength grid, geometry and energy unit ride along (data/layouts.py)
    info.update({k: arrays[k] for k in LAYOUT_INFO if arrays.get(k) is not None})
    return ArrayDataset(x, arrays["y"], name=os.path.basename(s.rstrip(os.sep)) or s, source=s, cond=arrays["cond"],
                        info=info, whole_numbers=raw.dtype.kind in "biu", **extra)


def as_dataset(data: Any, *, labels: Any = None, channels_last: bool | None = None, **keys: Any) -> ArrayDataset:
    """A built-in name, a file / folder / glob, an ArrayDataset, an array or list, a torch tensor, a torch
    ``TensorDataset`` / ``Dataset`` / ``DataLoader`` (with an optional labels array) -> ArrayDataset.

    ``keys``: key, labels_key, sigma_key, ivar_key, mask_key, cond_key name arrays inside files.
    """
    if isinstance(data, ArrayDataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_dataset(data, labels=labels if isinstance(labels, (str, os.PathLike)) else None,
                            channels_last=channels_last, **{k: v for k, v in keys.items() if v is not None})
    x, y = from_python(data)
    if labels is not None and not isinstance(labels, (str, os.PathLike)):
        y = labels
    x = to_numpy(x)
    whole = x.dtype.kind in "biu"
    ndim = x.ndim
    last = ndim == 4 and resolve_layout(x.shape, channels_last, "array") == "last"
    x = as_examples(x, channels_last=last if ndim == 4 else channels_last, what="array")
    return ArrayDataset(x, y, name="array", source="array", whole_numbers=whole,
                        info={"axes": input_axes(ndim, last)})

