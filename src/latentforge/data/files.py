"""Readers for user files: .npy, .npz, HDF5 (.h5/.hdf5) and MNIST idx (.idx / *-ubyte, optionally .gz) here,
CSV / TSV in ``data.tables``, images in ``data.images``, a science domain's own formats in its package; each registered in the one
registry of ``data.records`` and read into one ``DataRecord``. Known layouts of the sciences (``data.layouts``)
come first, folders and globs through ``data.collections``.

Only ``data`` (and ``io``) touch file formats. Nothing here unpickles: npy/npz are read with
``allow_pickle=False``.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import images as _images  # noqa: F401  (registers the image reader)
from .collections import expand, read_many
from .layouts import read_known_layout
from .records import (CONTAINER_OPTIONS, READERS, DataRecord, Reader, file_kind, read_one, sigma_from_ivar,
                      supported)
from .tables import LABEL_COLUMNS, assemble, read_text

__all__ = ["DATA_KEYS", "LABEL_KEYS", "add_data_keys", "file_kind", "h5_datasets", "pick_key", "read_file", "read_idx",
           "read_record", "sigma_from_ivar", "supported"]

#: names tried, in order, when a container holds several arrays and none was named; a science domain appends
#: its own (``add_data_keys``)
DATA_KEYS: list[str] = ["x", "X", "data", "images", "features"]
LABEL_KEYS = ("y", "labels", "label", "targets", "classes")



def add_data_keys(*names: str) -> None:
    """Try ``names`` too (after the others) when a container holds several arrays and none was named."""
    DATA_KEYS.extend(n for n in names if n not in DATA_KEYS)


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an MNIST idx file: two zero bytes, a dtype byte, the rank, big-endian int32 sizes, then data."""
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
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


def pick_key(available: list[str], key: str | None, candidates: tuple[str, ...], path, what: str) -> str | None:
    """The array to use for ``what``: the one named ``key`` (DataError if absent), the only one, or the first of
    ``candidates`` present; None for optional arrays that are not there, DataError for data that is ambiguous."""
    if key is not None:
        if key not in available:
            raise DataError(f"{path}: no {what} named {key!r}; available: {', '.join(available) or 'none'}")
        return key
    if what == "data" and len(available) == 1:
        return available[0]
    for c in candidates:
        if c in available:
            return c
    if what == "data" and not available:
        raise DataError(f"{path}: holds no arrays; write the data into it (np.savez(path, x=x))")
    if what == "data":
        raise DataError(
            f"{path}: holds several arrays ({', '.join(available)}); choose one with key={available[0]!r} (CLI: "
            f"--key {available[0]})"
        )
    return None


def h5_datasets(f) -> list[str]:
    """Paths of every dataset in an open HDF5 file."""
    import h5py

    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


EXTRA_KEYS = {"sigma": ("sigma",), "ivar": ("ivar",), "mask": ("mask",), "cond": ()}


def read_record(path: str | os.PathLike, *, labels: str | os.PathLike | None = None, **options) -> DataRecord:
    """A file, a folder or a glob as one DataRecord (see ``data.records``): a known layout of the sciences first
    (``data.layouts``), then the registered reader of the file kind. ``options`` (key, labels_key, sigma_key,
    ivar_key, mask_key, cond_key, header, missing) name what to take from the file; one a reader does not use is
    refused. Labels may come from their own file (``labels``). Raises DataError for a missing, unreadable or
    ambiguous source."""
    options = {k: v for k, v in options.items() if v is not None}
    record = read_known_layout(path, **options)
    if record is None:
        files = expand(path)
        record = read_many(path, files, **options) if files is not None else read_one(path, **options)
    record.source = str(path)
    labels = labels if labels is not None else record.labels_file
    if labels is not None:
        lab = np.asarray(_table_labels(labels, options.get("labels_key")) if _is_table(labels) else
                         read_record(labels, key=options.get("labels_key")).values)
        record.labels = lab[:, 0] if lab.ndim == 2 and lab.shape[1] == 1 else lab
    return record


def read_file(path: str | os.PathLike, *, key: str | None = None, labels_key: str | None = None,
              labels: str | os.PathLike | None = None, sigma_key: str | None = None, ivar_key: str | None = None,
              mask_key: str | None = None, cond_key: str | None = None, header: str | None = None,
              missing: str | None = None) -> dict:
    """:func:`read_record` as a dict with ``x`` and, where present, ``y``, ``sigma``, ``mask``, ``cond``,
    ``layout`` ("last" when images are stored channels last) and what a domain's layout describes.

    In .npz / HDF5 containers the arrays are picked by name: the ``*_key`` arguments name them; without
    them ``y``/``labels``, ``sigma``, ``ivar`` (inverse variance, turned into sigma; ivar = 0 masks the
    point) and ``mask`` (True = ignore the point) are used when present. In tables (CSV, a domain's tables, HDF5 compound
    datasets) they name columns (``data.tables``). Raises DataError for a missing, unreadable or ambiguous file,
    and for an option the file's reader does not use.
    """
    return read_record(path, labels=labels, key=key, labels_key=labels_key, sigma_key=sigma_key, ivar_key=ivar_key,
                       mask_key=mask_key, cond_key=cond_key, header=header, missing=missing).to_dict()


def _table_labels(path, labels_key: str | None) -> np.ndarray:
    """Labels from a text table: its label column, or its only column (whole numbers as integers; text as class
    names, a first line named like a label column taken as the header)."""

    def whole_as_int(values: np.ndarray) -> np.ndarray:
        return values.astype(np.int64) if np.all(values == np.round(values)) else values

    if labels_key is None:
        lines = [ln.strip() for ln in read_text(path).splitlines() if ln.strip()]
        if lines and not any(sep in ln for ln in lines for sep in ",\t;"):  # one column, no delimiter
            if lines[0].lower() in LABEL_COLUMNS:
                lines = lines[1:]
            try:
                values = np.array([float(v) for v in lines])
            except ValueError:
                return np.array(lines)  # class names
            return whole_as_int(values)
    t = read_record(path, labels_key=labels_key)
    if t.labels is not None:
        return np.asarray(t.labels)
    x = np.asarray(t.values)
    if x.ndim != 2 or x.shape[1] != 1:
        raise DataError(f"{path}: a labels table needs one column, or a column named label / class / target "
                        "(or --labels-key NAME)")
    return whole_as_int(x[:, 0])


def _is_table(path) -> bool:
    try:
        return file_kind(path) == "table"
    except DataError:
        return False


def _read_npy(path) -> DataRecord:
    if str(path).lower().endswith(".gz"):  # a gzip-compressed .npy (np.load reads the decompressed stream)
        with gzip.open(path, "rb") as f:
            return DataRecord(values=np.load(f, allow_pickle=False))
    return DataRecord(values=np.load(path, allow_pickle=False))


def _read_container(path, *, key=None, labels_key=None, sigma_key=None, ivar_key=None, mask_key=None,
                    cond_key=None) -> DataRecord:
    kind = file_kind(path)
    wanted = {"sigma": sigma_key, "ivar": ivar_key, "mask": mask_key, "cond": cond_key}
    with _container(path, kind) as (names, get):
        fields = _compound(names, get, key)
        if fields is not None:  # an HDF5 table of named fields: its fields are columns
            return _compound_table(path, fields, key=key, labels_key=labels_key, sigma_key=sigma_key,
                                   ivar_key=ivar_key, mask_key=mask_key, cond_key=cond_key)
        k = pick_key(names, key, DATA_KEYS, path, "data")
        out = DataRecord(values=get(k))
        rest = [n for n in names if n != k]
        lk = pick_key(rest, labels_key, LABEL_KEYS, path, "labels")
        out.labels = get(lk) if lk else None
        extras = {}
        for what, explicit in wanted.items():
            name = pick_key(rest, explicit, EXTRA_KEYS[what], path, what)
            extras[what] = get(name) if name else None
    if extras["sigma"] is not None and extras["ivar"] is not None:
        raise DataError(f"{path}: holds both sigma and ivar arrays; name the one to use with sigma_key / ivar_key")
    if extras["ivar"] is not None:
        extras["sigma"], extras["mask"] = sigma_from_ivar(extras["ivar"], extras["mask"], path)
    out.sigma, out.mask, out.condition = extras["sigma"], extras["mask"], extras["cond"]
    return out


def _compound(names: list[str], get, key: str | None) -> np.ndarray | None:
    """The structured array of a container whose data is one table of named fields (an HDF5 compound dataset),
    else None."""
    candidates = [n for n in names if n == key] if key in names else names
    if len(candidates) != 1 or not get.dtype(candidates[0]).names:  # the dtype, without reading the values
        return None
    return get(candidates[0])


def _compound_table(path, table: np.ndarray, **options) -> DataRecord:
    names = list(table.dtype.names)

    def get(name: str) -> tuple[np.ndarray, np.ndarray]:
        v = np.asarray(table[name])
        if v.dtype.kind not in "biuf":
            numeric = [n for n in names if np.asarray(table[n]).dtype.kind in "biuf"]
            raise DataError(f"{path}: field {name!r} holds {v.dtype} values, not numbers; pick numeric fields with "
                            f"key={','.join(numeric)!r} (--key {','.join(numeric)})")
        v = v.astype(np.float64)
        return np.where(np.isnan(v), 0.0, v), np.isnan(v)

    def labels(name: str) -> np.ndarray:
        v = np.asarray(table[name])
        return np.char.decode(v) if v.dtype.kind == "S" else v

    def default(used: set) -> list[str]:
        return [n for n in names if n not in used and np.asarray(table[n]).dtype.kind in "biuf"
                and np.asarray(table[n]).ndim == 1]

    if options.get("key") is not None and options["key"] not in names and "," not in options["key"]:
        options["key"] = None  # the key named the dataset itself
    return assemble(path, names, get, labels, default, **options)


def _read_idx_file(path) -> DataRecord:
    return DataRecord(values=read_idx(path), labels_file=_idx_label_sibling(Path(path)))


READERS.register("npy", Reader("NumPy arrays", (".npy",), _read_npy, can_stream=True, gzip=True))
READERS.register("npz", Reader("NumPy archives (arrays picked with key=)", (".npz",), _read_container,
                               options=CONTAINER_OPTIONS))
READERS.register("hdf5", Reader("HDF5 datasets (picked with key=)", (".h5", ".hdf5"), _read_container,
                                can_stream=True, options=CONTAINER_OPTIONS))
READERS.register("idx", Reader("MNIST idx (also *-ubyte)", (".idx",), _read_idx_file, gzip=True))


class _Getter:
    """An array by name (``get(name)``) and its dtype alone (``get.dtype(name)``)."""

    def __init__(self, values, dtype):
        self.values, self.dtype = values, dtype

    def __call__(self, name: str) -> np.ndarray:
        return self.values(name)


class _container:
    """Context manager giving (names, getter) for an .npz or HDF5 file."""

    def __init__(self, path: Path, kind: str):
        self.path, self.kind = path, kind

    def __enter__(self):
        if self.kind == "npz":
            self.f = np.load(self.path, allow_pickle=False)
            return list(self.f.files), _Getter(lambda k: self.f[k], lambda k: self.f[k].dtype)
        import h5py

        self.f = h5py.File(self.path, "r")
        return h5_datasets(self.f), _Getter(lambda k: self.f[k][()], lambda k: self.f[k].dtype)

    def __exit__(self, *exc):
        self.f.close()
        return False


def _idx_label_sibling(path: Path) -> Path | None:
    name = path.name
    if "images" in name:
        cand = path.with_name(name.replace("images", "labels").replace("idx3", "idx1"))
        if cand.exists():
            return cand
    return None
