"""Data: built-in sets, file readers, checks, split, scaling and corruption."""

from __future__ import annotations

import os

from ..errors import DataError
from .arrays import ArrayDataset, as_examples, check_arrays, check_unit_range
from .builtin import DATASETS, dataset_table, load_builtin
from .corruption import corrupt
from .files import read_file
from .split import split_indices
from .transforms import Scaler

__all__ = ["ArrayDataset", "DATASETS", "Scaler", "as_examples", "check_arrays", "check_unit_range", "corrupt",
           "dataset_table", "load_dataset", "read_file", "split_indices"]


def load_dataset(source: str | os.PathLike, *, key: str | None = None, labels_key: str | None = None,
                 labels: str | os.PathLike | None = None, channels_last: bool = False) -> ArrayDataset:
    """Load a built-in dataset by name, or a file (.npy, .npz, .h5/.hdf5, idx) by path."""
    s = str(source)
    if s in DATASETS:
        x, y = load_builtin(s)
        return ArrayDataset(x, y, name=s, source=s)
    looks_like_path = os.sep in s or "." in os.path.basename(s) or os.path.exists(s)
    if not looks_like_path:
        raise DataError(f"unknown dataset {s!r}; built-in datasets: {', '.join(DATASETS.names())}; "
                        "or give a file path (.npy, .npz, .h5, .hdf5, idx)")
    x, y = read_file(s, key=key, labels_key=labels_key, labels=labels)
    x = as_examples(x, channels_last=channels_last, what=s)
    return ArrayDataset(x, y, name=os.path.basename(s), source=s)
