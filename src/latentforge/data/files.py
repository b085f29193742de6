"""Readers for user files: .npy, .npz, HDF5 (.h5/.hdf5) and MNIST idx (.idx / *-ubyte, optionally .gz).

Only this module (and ``io``) touch file formats. Nothing here unpickles: npy/npz are read with
``allow_pickle=False``.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from ..errors import DataError

# Names tried, in order, when a container holds several arrays and none was named.
DATA_KEYS = ("x", "X", "data", "images", "features", "showers", "flux")
LABEL_KEYS = ("y", "labels", "label", "targets", "classes")

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def file_kind(path: str | os.PathLike) -> str:
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".npy"):
        return "npy"
    if name.endswith(".npz"):
        return "npz"
    if name.endswith((".h5", ".hdf5")):
        return "hdf5"
    if name.endswith(".idx") or "-ubyte" in name or name.endswith("ubyte") or ".idx" in name:
        return "idx"
    raise DataError(
        f"{path}: unknown file type; supported: .npy, .npz, .h5/.hdf5 (pick the dataset with key), "
        "MNIST idx (.idx, *-ubyte, optionally .gz)"
    )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an MNIST idx file: two zero bytes, a dtype byte, the rank, big-endian int32 sizes, then data."""
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read idx file ({e}); is it truncated or not gzipped?") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an idx file (bad magic number); expected the MNIST idx format")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: idx header is truncated")
    dims = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    need = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != need:
        raise DataError(
            f"{path}: idx header promises {dims} ({need} bytes) but the file holds {len(raw) - header} bytes; "
            "the file is truncated or damaged"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _pick_key(available: list[str], key: str | None, candidates: tuple[str, ...], path, what: str) -> str | None:
    if key is not None:
        if key not in available:
            raise DataError(f"{path}: no {what} named {key!r}; available: {', '.join(available) or 'none'}")
        return key
    if what == "data" and len(available) == 1:
        return available[0]
    for c in candidates:
        if c in available:
            return c
    if what == "data":
        raise DataError(
            f"{path}: holds several arrays ({', '.join(available)}); choose one with key= (CLI: --key NAME)"
        )
    return None


def _h5_datasets(f) -> list[str]:
    import h5py

    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def read_file(path: str | os.PathLike, *, key: str | None = None, labels_key: str | None = None,
              labels: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Read examples (and labels if present) from a file. Labels may also come from their own file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; give a built-in dataset name or an existing file path")
    kind = file_kind(path)
    y = None
    try:
        if kind == "npy":
            x = np.load(path, allow_pickle=False)
        elif kind == "npz":
            with np.load(path, allow_pickle=False) as z:
                names = list(z.files)
                k = _pick_key(names, key, DATA_KEYS, path, "data")
                x = z[k]
                lk = _pick_key([n for n in names if n != k], labels_key, LABEL_KEYS, path, "labels")
                y = z[lk] if lk else None
        elif kind == "hdf5":
            import h5py

            with h5py.File(path, "r") as f:
                names = _h5_datasets(f)
                k = _pick_key(names, key, DATA_KEYS, path, "data")
                x = f[k][()]
                lk = _pick_key([n for n in names if n != k], labels_key, LABEL_KEYS, path, "labels")
                y = f[lk][()] if lk else None
        else:
            x = read_idx(path)
            if labels is None:
                sibling = _idx_label_sibling(path)
                if sibling is not None:
                    labels = sibling
    except DataError:
        raise
    except ValueError as e:  # numpy refuses pickled object arrays, bad headers ...
        raise DataError(f"{path}: cannot read as {kind} ({e}); the file may be damaged or hold Python objects") from None
    except (OSError, EOFError, KeyError, zipfile_error()) as e:
        raise DataError(f"{path}: cannot read as {kind} ({type(e).__name__}: {e}); is it truncated or damaged?") \
            from None
    if labels is not None:
        y, _ = read_file(labels, key=labels_key)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
    return x, y


def zipfile_error() -> type[Exception]:
    import zipfile

    return zipfile.BadZipFile


def _idx_label_sibling(path: Path) -> Path | None:
    name = path.name
    if "images" in name:
        cand = path.with_name(name.replace("images", "labels").replace("idx3", "idx1"))
        if cand.exists():
            return cand
    return None
