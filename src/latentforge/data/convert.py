"""Data as Python and PyTorch users hold it: arrays, nested lists, tensors (with or without grad, on any device),
``TensorDataset`` / ``Dataset`` / ``DataLoader`` objects, and objects with ``to_numpy`` (data frames)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError
from .arrays import to_numpy


def from_python(data: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, y) from in-memory data. A torch dataset or loader gives examples as tensors, or (x, y) pairs whose
    second part is the label; it is read once, into memory. Raises DataError for items of another form."""
    try:
        import torch.utils.data as tud
    except ImportError:  # pragma: no cover - torch is a dependency
        tud = None
    if tud is not None and isinstance(data, tud.TensorDataset):
        tensors = data.tensors
        if len(tensors) not in (1, 2):
            raise DataError(f"a TensorDataset of {len(tensors)} tensors; give (x,) or (x, labels)")
        return to_numpy(tensors[0]), (to_numpy(tensors[1]) if len(tensors) == 2 else None)
    if tud is not None and isinstance(data, tud.DataLoader):
        return _stack(list(data), "DataLoader", batched=True)
    if tud is not None and isinstance(data, tud.Dataset):
        try:
            items = [data[i] for i in range(len(data))]
        except TypeError:
            raise DataError("a torch Dataset without a length (an IterableDataset); wrap it in a DataLoader") \
                from None
        return _stack(items, "Dataset", batched=False)
    if hasattr(data, "to_numpy") and not hasattr(data, "detach"):
        return np.asarray(data.to_numpy()), None
    return to_numpy(data), None


def _stack(items: list, what: str, batched: bool) -> tuple[np.ndarray, np.ndarray | None]:
    if not items:
        raise DataError(f"the {what} is empty")
    first = items[0]
    if isinstance(first, dict):
        raise DataError(f"the {what} gives dicts; give examples as tensors or (x, label) pairs")
    pairs = isinstance(first, (tuple, list)) and len(first) == 2
    if isinstance(first, (tuple, list)) and len(first) not in (1, 2):
        raise DataError(f"the {what} gives tuples of {len(first)}; give examples as tensors or (x, label) pairs")
    xs = [to_numpy(it[0] if isinstance(it, (tuple, list)) else it) for it in items]
    ys = [to_numpy(it[1]) for it in items] if pairs else None
    join = np.concatenate if batched else np.stack
    return join(xs), (join(ys) if ys is not None else None)
