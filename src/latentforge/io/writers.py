"""Output files in the formats data come in, chosen by the name's ending (``OUTPUT_FORMATS``):

``.npz``              every array under its key (``np.load``)
``.npy``              the first array in the file named; each other array beside it as ``NAME.KEY.npy``
``.csv``              one row per example: the data's column names (with ``[unit]`` where the unit is known; a
                      domain's own names through ``VALUE_NAMES``, else ``x0 .. xD-1``), other arrays' columns
                      prefixed with their key (``std_teff``), codes as ``z0 ..``, labels as ``labels``
``.h5`` / ``.hdf5``   data in a published layout they were read in (a domain's ``LAYOUT_WRITERS``), the other
                      arrays as datasets beside; other data: one dataset per key with attributes ``columns`` /
                      ``units``, and the data's sample grid (``data.grids``) as a dataset with its unit
a folder (``out/``    images as 8-bit PNG files ``000000.png`` ... (other image arrays ``KEY_000000.png``), the
or no ending)         value range (``value_range``, data units) mapped onto 0 ... 255, and ``index.csv`` (each
                      file with the example's labels / codes)

A science domain adds formats (``register_output``), names for the values of its examples (``VALUE_NAMES``) and
HDF5 layouts (``LAYOUT_WRITERS``). What names the values comes from ``describe``
(``run.outputs.describe_outputs``): ``columns``, ``column_units``, a sample grid, ``example_shape`` and ``axes``
(the layout of one example as given), ``value_range`` and what a domain records (a layout, a unit, a geometry).
Every file is written to a temporary name in the target folder and renamed when complete: a failure leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..data.grids import GRIDS
from ..errors import ConfigError, LatentforgeError
from ..registry import Registry
from .artifacts import TMP_SUFFIX, _UMASK, staged, write_error, write_npz

#: arrays that never hold examples in data space, whatever their shape
NOT_DATA = frozenset({"z", "labels", "score"})
#: output kinds by name ending ("" and "/": a folder of PNG images)
OUTPUT_FORMATS = {".npz": "npz", ".npy": "npy", ".csv": "csv", ".h5": "hdf5", ".hdf5": "hdf5"}
#: ``writer(path, arrays, describe)`` of each output kind a domain adds (``register_output``)
WRITERS: Registry[Callable[[Path, dict, dict], None]] = Registry("output format")
#: ``names(describe, size)`` -> (names, units) of the values of one example, or None when not the domain's data
VALUE_NAMES: Registry[Callable[[dict, int], tuple[list[str], list[str]] | None]] = Registry("value names")
#: ``write(h5file, first, describe, path)`` -> True when it wrote the main array ``first`` in its published layout
#: (``describe["file_layout"]``), False when the layout is not its own
LAYOUT_WRITERS: Registry[Callable[[Any, np.ndarray, dict, Path], bool]] = Registry("HDF5 layout writer")


def register_output(kind: str, suffixes: tuple[str, ...], writer: Callable[[Path, dict, dict], None]) -> None:
    """Add an output kind: files whose name ends in one of ``suffixes`` are written by ``writer``."""
    WRITERS.register(kind, writer)
    OUTPUT_FORMATS.update({s: kind for s in suffixes})


def file_endings() -> str:
    """The endings of the output files (for advice to write another one)."""
    return ", ".join(s for s in OUTPUT_FORMATS if s != ".hdf5")


def accepted() -> str:
    """The accepted output endings, for messages and help."""
    return ", ".join(OUTPUT_FORMATS) + ", or a folder (a name ending in / or without an ending) of PNG images"


def output_format(path: str | os.PathLike) -> str:
    """The kind of output ``path`` names (``npz``, ``npy``, ``csv``, ``hdf5``, a domain's or ``png``); ConfigError
    (one line listing the accepted endings) for another ending."""
    s = str(path)
    if s.endswith(("/", os.sep)) or Path(s).suffix == "" or Path(s).is_dir():
        return "png"
    suffix = Path(s).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ConfigError(f"--out {s}: unknown output ending {suffix!r}; give one of {accepted()}")
    return OUTPUT_FORMATS[suffix]


def write_outputs(path: str | os.PathLike, arrays: dict[str, Any], describe: dict | None = None) -> list[str]:
    """Write the arrays that are not None (the first one is the main output: samples, reconstruction, codes ...)
    to ``path`` in the format its ending names (module docstring); returns the keys written. ConfigError for an
    unknown ending or content the format cannot hold (non-images as PNG; a layout without what it stores);
    ArtifactError when the file system refuses."""
    kind = output_format(path)
    keep = {k: np.asarray(v) for k, v in arrays.items() if v is not None}
    if not keep:
        raise ConfigError(f"--out {path}: nothing to write")
    d = dict(describe or {})
    if kind == "npz":
        return write_npz(path, **keep)
    own = {"npy": _write_npy, "csv": _write_csv, "hdf5": _write_hdf5, "png": _write_png}
    writer = own[kind] if kind in own else WRITERS.get(kind)
    writer(Path(path), keep, d)
    return list(keep)


# ---------------------------------------------------------------------------------------------- naming values
def is_data(key: str, a: np.ndarray, d: dict, first: np.ndarray) -> bool:
    """Whether array ``key`` holds examples in data space (the shape of one example as given)."""
    if key in NOT_DATA or a.ndim < 2:
        return False
    shape = d.get("example_shape")
    return tuple(a.shape[1:]) == tuple(shape) if shape is not None else a.shape[1:] == first.shape[1:]


def feature_names(d: dict, size: int) -> tuple[list[str], list[str]]:
    """(names, units) of the ``size`` values of one example: the data's columns, a domain's names
    (``VALUE_NAMES``), else x0 ..; units "" where unknown."""
    columns, units = d.get("columns"), d.get("column_units")
    if columns is not None and len(columns) == size:
        return [str(c) for c in columns], [str(u) for u in units] if units and len(units) == size else [""] * size
    for _, names in VALUE_NAMES.items():
        found = names(d, size)
        if found is not None:
            return found
    return [f"x{i}" for i in range(size)], [""] * size


def columns_of(arrays: dict[str, np.ndarray], d: dict) -> list[tuple[str, str, np.ndarray]]:
    """Every array as named columns (name, unit, (N,) values): the main array's data values under the data's own
    names, another data-space array's under ``KEY_name``, the rest under ``KEY`` or ``KEY0 ..``."""
    first_key, first = next(iter(arrays.items()))
    out = []
    for key, a in arrays.items():
        flat = a.reshape(len(a), -1)
        if is_data(key, a, d, first):
            names, units = feature_names(d, flat.shape[1])
            prefix = "" if key == first_key else f"{key}_"
            out += [(prefix + n, u, flat[:, i]) for i, (n, u) in enumerate(zip(names, units))]
        elif a.ndim == 1:
            out.append((key, "", a))
        else:
            out += [(f"{key}{i}", "", flat[:, i]) for i in range(flat.shape[1])]
    lengths = {len(v) for _, _, v in out}
    if len(lengths) > 1:
        raise ConfigError(f"arrays of {sorted(lengths)} rows cannot share one table; write .npz or .h5")
    return out


def with_unit(name: str, unit: str) -> str:
    """A column header: ``name [unit]``, or the name alone where the unit is not known."""
    return f"{name} [{unit}]" if unit else name


# ---------------------------------------------------------------------------------------------- formats
def _write_npy(path: Path, arrays: dict[str, np.ndarray], d: dict) -> None:
    """The first array in ``path``, each other one beside it as ``STEM.KEY.npy``; all renamed at the end."""
    stem = str(path)[:-4]
    targets = [(path, a) if i == 0 else (Path(f"{stem}.{k}.npy"), a) for i, (k, a) in enumerate(arrays.items())]
    with contextlib.ExitStack() as stack:
        for target, a in targets:  # every file complete before the first is renamed: all or none
            tmp = stack.enter_context(staged(target))
            with open(tmp, "wb") as f:
                np.save(f, a, allow_pickle=False)


def _write_csv(path: Path, arrays: dict[str, np.ndarray], d: dict) -> None:
    cols = columns_of(arrays, d)
    cells = []
    for _, _, v in cols:
        v = np.asarray(v)
        if v.dtype.kind == "f":
            cells.append(np.char.mod("%.9g", v))  # 9 significant digits: a float32 comes back exactly
        elif v.dtype.kind == "b":
            cells.append(v.astype(np.int8).astype(str))
        else:
            cells.append(v.astype(str))
    with staged(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([with_unit(n, u) for n, u, _ in cols])
        w.writerows(np.stack(cells, 1).tolist() if cells else [])


def _write_hdf5(path: Path, arrays: dict[str, np.ndarray], d: dict) -> None:
    import h5py

    first_key, first = next(iter(arrays.items()))
    layout = d.get("file_layout")
    with staged(path) as tmp, h5py.File(tmp, "w") as f:
        rest = dict(arrays)
        if layout and is_data(first_key, first, d, first) and any(
                write(f, first, d, path) for _, write in LAYOUT_WRITERS.items()):
            del rest[first_key]
        for key, a in rest.items():
            data = a.astype(h5py.string_dtype()) if a.dtype.kind == "U" else a
            ds = f.create_dataset(key, data=data, compression="gzip" if a.size > 4096 else None)
            if is_data(key, a, d, first):
                names, units = feature_names(d, int(np.prod(a.shape[1:])))
                ds.attrs["columns"], ds.attrs["units"] = names, units
        for key, grid in GRIDS.items():
            if d.get(key) is not None and key not in rest:
                w = f.create_dataset(key, data=np.asarray(d[key], np.float64))
                if grid.unit:
                    w.attrs["unit"] = grid.unit


def _write_png(path: Path, arrays: dict[str, np.ndarray], d: dict) -> None:
    from PIL import Image

    first_key, first = next(iter(arrays.items()))
    axes = d.get("axes") or {2: "ND", 3: "NHW", 4: "NCHW"}.get(first.ndim, "")
    if axes not in ("NHW", "NCHW", "NHWC") or not is_data(first_key, first, d, first):
        raise ConfigError(f"--out {path}: a folder of PNG files holds images, and these examples are of shape "
                          f"{tuple(first.shape[1:])} ({axes or 'not images'}); write one of {file_endings()}")
    lo, hi = d.get("value_range") or (float(first.min()), float(first.max()))
    target = Path(str(path).rstrip("/" + os.sep))
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"--out {path}: exists and is not an empty folder; choose another --out or remove it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TMP_SUFFIX, dir=target.parent)
    try:
        index: dict[str, Any] = {"file": np.array([f"{i:06d}.png" for i in range(len(first))])}
        for key, a in arrays.items():
            if not is_data(key, a, d, first):
                index[key] = a
                continue
            img = np.moveaxis(a, 1, -1) if axes == "NCHW" else a
            if img.ndim == 4 and img.shape[-1] == 1:
                img = img[..., 0]
            if img.ndim == 4 and img.shape[-1] not in (3, 4):
                raise ConfigError(f"--out {path}: images of {img.shape[-1]} channels cannot be PNG files (1, 3 or 4); "
                                  f"write one of {file_endings()}")
            grey = a.dtype == bool
            scaled = img.astype(np.float64) * 255 if grey else (img - lo) / ((hi - lo) or 1.0) * 255
            pixels = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
            prefix = "" if key == first_key else f"{key}_"
            for i, p in enumerate(pixels):
                Image.fromarray(p).save(os.path.join(tmp, f"{prefix}{i:06d}.png"))
        index_arrays = {"file": index.pop("file"), **index}
        _write_csv(Path(tmp) / "index.csv", index_arrays, {})
        os.chmod(tmp, 0o777 & ~_UMASK)
        if target.is_dir():
            target.rmdir()  # an empty folder: replaced by the complete one
        os.replace(tmp, target)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and not isinstance(e, LatentforgeError):
            raise write_error(path, e) from None
        raise

