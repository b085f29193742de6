"""Data: built-in sets, file readers, checks, the seeded split, scalings, conditions and corruption."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import DataError
from .arrays import (ArrayDataset, as_examples, check_arrays, check_unit_range, refuse_layout_option,
                     resolve_layout, to_numpy)
from .axes import input_axes
from .convert import from_python
from .records import sigma_from_ivar
from .builtin import DATASETS, dataset_table, load_builtin
from .conditions import Conditioner
from .corruption import CORRUPTIONS, corrupt
from .files import read_file, read_record
from .records import READERS, DataRecord, supported
from .scaling import SCALINGS, Scaler
from .split import SPLITS, split_for, split_indices

__all__ = ["ArrayDataset", "CORRUPTIONS", "Conditioner", "DATASETS", "DATA_KEYWORDS", "DataRecord", "READERS",
           "SCALINGS", "SPLITS", "Scaler", "as_dataset", "as_examples", "check_arrays", "check_unit_range", "corrupt",
           "dataset_table", "load_dataset", "read_file", "read_record", "split_for", "split_indices", "supported"]

#: keyword arguments that name arrays inside a data file (or give labels), accepted wherever data is
DATA_KEYWORDS = ("key", "labels_key", "labels", "channels_last", "sigma_key", "ivar_key", "mask_key", "cond_key",
                 "header", "missing")


def load_dataset(source: str | os.PathLike, *, key: str | None = None, labels_key: str | None = None,
                 labels: str | os.PathLike | None = None, channels_last: bool | None = None,
                 sigma_key: str | None = None, ivar_key: str | None = None, mask_key: str | None = None,
                 cond_key: str | None = None, header: str | None = None, missing: str | None = None) -> ArrayDataset:
    """Load a built-in dataset by name, or data files by path: one file of a registered kind
    (``data.records.supported()``: .npy, .npz, HDF5, idx, CSV / TSV, images, and a domain's), a folder, or a glob pattern
    (``'runs/*.npy'``).

    Containers (.npz, HDF5) may also carry per-point ``sigma`` (or ``ivar``) and ``mask`` arrays and a
    ``cond`` array of per-example parameters; in tables (CSV, HDF5 compound datasets, a domain's tables) the same keys name
    columns, ``header`` (auto / yes / no) says whether a CSV's first row names them and ``missing`` adds missing
    markers (``data.tables``). Null values are masked points. Images may be stored channels first or last:
    ``channels_last`` says which, else the file kind or the shape tells (``data.arrays.image_layout``). Raises
    DataError for an unknown name, a missing or unreadable file, an option the file's reader does not use, or
    arrays that cannot be data.
    """
    s = str(source)
    if s in DATASETS:
        x, y = load_builtin(s)
        return ArrayDataset(x, y, name=s, source=s)
    looks_like_path = os.sep in s or "." in os.path.basename(s) or os.path.exists(s) or any(c in s for c in "*?[")
    if not looks_like_path:
        raise DataError(f"unknown dataset {s!r}; built-in datasets: {', '.join(DATASETS.names())}; "
                        f"or give a file path ({', '.join(s for _, r in READERS.items() for s in r.suffixes)}), a "
                        "folder or a glob")
    record = read_record(s, labels=labels, key=key, labels_key=labels_key, sigma_key=sigma_key, ivar_key=ivar_key,
                         mask_key=mask_key, cond_key=cond_key, header=header, missing=missing)
    raw = np.asarray(record.values)
    refuse_layout_option(raw.shape, channels_last, s)
    if channels_last is None and record.layout:
        channels_last = record.layout == "last"
    last = raw.ndim == 4 and resolve_layout(raw.shape, channels_last, s) == "last"
    x = as_examples(raw, channels_last=last, what=s)
    extra = {"sigma": record.sigma, "mask": record.mask}
    if last:
        extra = {k: (None if v is None else np.moveaxis(np.asarray(v), -1, 1)) for k, v in extra.items()}
    info: dict[str, Any] = {"layout": "channels last" if last else "channels first"} if raw.ndim == 4 else {}
    info["axes"] = input_axes(raw.ndim, last)  # the file's own layout, which outputs for these data come back in
    if record.files:
        info["files"] = len(dict.fromkeys(str(f) for f in record.files))  # a folder's files (e.g. one per row)
    # what describes the whole set rides along: what a domain's layout says of it, a table's columns
    for name, value in (*record.described.items(), ("columns", record.columns), ("column_units", record.column_units),
                        ("column_values", record.column_values), ("header", record.header)):
        if value is not None:
            info[name] = value
    if cond_key and record.condition is not None:  # what the condition vectors are
        info["cond_key"] = cond_key
    return ArrayDataset(x, record.labels, name=os.path.basename(s.rstrip(os.sep)) or s, source=s,
                        cond=record.condition, info=info, whole_numbers=raw.dtype.kind in "biu", **extra)


def as_dataset(data: Any, *, labels: Any = None, channels_last: bool | None = None, **keys: Any) -> ArrayDataset:
    """A built-in name, a file / folder / glob, an ArrayDataset, an array or list, a torch tensor, a torch
    ``TensorDataset`` / ``Dataset`` / ``DataLoader`` (with an optional labels array) -> ArrayDataset.

    ``keys``: for a file, key, labels_key, sigma_key, ivar_key, mask_key, cond_key, header, missing (see
    load_dataset); for an array, the arrays beside it: ``sigma`` (per-point standard deviations), ``ivar``
    (inverse variances, 0 = no measurement), ``mask`` (True = missing) and ``cond`` (per-example parameters).
    DataError (one line) for an option that would not be used.
    """
    if isinstance(data, ArrayDataset):
        unused = sorted(k for k, v in keys.items() if v is not None) + (["labels"] if labels is not None else [])
        if unused:
            raise DataError(f"as_dataset: an ArrayDataset already holds its arrays; drop {', '.join(unused)} or "
                            f"build it with them: ArrayDataset(x, y, {unused[0]}=...)")
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_dataset(data, labels=labels if isinstance(labels, (str, os.PathLike)) else None,
                            channels_last=channels_last, **{k: v for k, v in keys.items() if v is not None})
    beside = {k: keys.pop(k) for k in ("sigma", "ivar", "mask", "cond") if k in keys}
    given = sorted(k for k, v in keys.items() if v is not None)
    if given:
        raise DataError(f"as_dataset: {', '.join(given)} name(s) arrays inside a file, and the data are an array: "
                        "give the arrays themselves (sigma=, ivar=, mask=, cond=), or a file")
    x, y = from_python(data)
    if labels is not None and not isinstance(labels, (str, os.PathLike)):
        y = labels
    x = to_numpy(x)
    refuse_layout_option(x.shape, channels_last, "array")
    whole = x.dtype.kind in "biu"
    ndim = x.ndim
    last = ndim == 4 and resolve_layout(x.shape, channels_last, "array") == "last"
    x = as_examples(x, channels_last=last if ndim == 4 else channels_last, what="array")
    extra = {k: None if v is None else as_examples(to_numpy(v), channels_last=channels_last, what=k)
             if k != "cond" else np.asarray(to_numpy(v), dtype=np.float32) for k, v in beside.items()}
    ivar = extra.pop("ivar", None)
    if ivar is not None:
        if extra.get("sigma") is not None:
            raise DataError("as_dataset: give sigma or ivar, not both")
        extra["sigma"], missing = sigma_from_ivar(ivar, None, "array")
        extra["mask"] = missing if extra.get("mask") is None else (np.asarray(extra["mask"], bool) | missing)
    return ArrayDataset(x, y, name="array", source="array", whole_numbers=whole,
                        info={"axes": input_axes(ndim, last)}, **extra)
