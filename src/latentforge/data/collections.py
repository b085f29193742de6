"""Folders and globs of data files read as one dataset.

``expand(source)`` lists the files a folder (recursively, hidden files left out) or a glob pattern names.
``read_many`` reads them: image files stack into one array (one size for all), with the names of their class
sub-folders as labels when the folder has them; other files (npy, npz, HDF5, tables, a domain's) concatenate along
their first axis, with labels, sigma, mask and conditions where every file has them. Files must agree in their
example shape; the first that does not is named in the error. A reader with its own ``read_many`` (a domain's
files on different sample grids, resampled onto one) reads its files itself.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .images import read_image
from .records import READERS, DataRecord, file_kind, join_records, read_one, refuse_unused, supported

GLOB_CHARS = "*?["


def expand(source: str | os.PathLike) -> list[Path] | None:
    """The files of a folder or a glob pattern, sorted; None for a single file path. DataError when the folder or
    pattern names no data file."""
    s = str(source)
    if any(ch in s for ch in GLOB_CHARS) and not os.path.exists(s):
        files = sorted(Path(p) for p in glob.glob(s, recursive=True) if Path(p).is_file())
        what = f"the pattern {s!r}"
    elif os.path.isdir(s):
        files = sorted(_walk(Path(s)))
        what = f"the folder {s}"
    else:
        return None
    known = []
    for p in files:
        try:
            file_kind(p)
            known.append(p)
        except DataError:
            continue
    if not known:
        raise DataError(f"{what} holds no data files; supported: {supported()}")
    return known


def _walk(root: Path) -> list[Path]:
    """Files under ``root``, hidden ones left out, following symbolic links to folders (a class folder linked in
    from another disk is part of the data) and visiting each real folder once (no loop through a cyclic link)."""
    out, visited = [], set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:
            dirs[:] = []
            continue
        visited.add(real)
        # a link back to this folder or one above it is a cycle, not more data
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not
                         (real + os.sep).startswith(os.path.realpath(os.path.join(folder, d)) + os.sep))
        out.extend(Path(folder) / n for n in names if not n.startswith(".") and os.path.isfile(os.path.join(folder, n)))
    return out


def read_many(source, files: list[Path], **keys) -> DataRecord:
    """Read ``files`` (from ``expand(source)``) as one dataset; see the module docstring."""
    kinds = {file_kind(p) for p in files}
    if kinds == {"image"}:
        refuse_unused(source, "folder of images", keys, set())
        return _images(source, files)
    if len(kinds) > 1:
        raise DataError(f"{source}: mixes file kinds ({', '.join(sorted(kinds))}); give a folder or pattern of one "
                        "kind (e.g. 'data/*.npy')")
    read_many = READERS.get(next(iter(kinds))).read_many
    many = read_many(files, **keys) if read_many is not None else None
    if many is not None:
        return many
    return _concatenate(files, **keys)


def _images(source, files: list[Path]) -> DataRecord:
    root = Path(source) if os.path.isdir(str(source)) else None
    arrays, labels = [], []
    for p in files:
        img = read_image(p)
        if arrays and img.shape != arrays[0].shape:
            raise DataError(f"{p}: image of shape {img.shape}, but {files[0]} has {arrays[0].shape}; give images of "
                            "one size (and one colour mode), or resize them first")
        if arrays and img.dtype != arrays[0].dtype:  # 8-bit beside 16-bit values: one scale would dim the 8-bit
            raise DataError(f"{p}: {_depth(img)} image, but {files[0]} is {_depth(arrays[0])}; convert the images to "
                            "one bit depth first")
        arrays.append(img)
        rel = p.relative_to(root) if root is not None else None
        labels.append(rel.parts[0] if rel is not None and len(rel.parts) > 1 else None)
    x = np.stack(arrays)
    y = np.asarray(labels) if all(lab is not None for lab in labels) else None
    if y is not None and len(np.unique(y)) < 2:
        y = None  # one sub-folder is a location, not a class
    return DataRecord(values=x, labels=y, layout="last" if x.ndim == 4 else None, files=[str(p) for p in files])


def _depth(img: np.ndarray) -> str:
    return f"{img.dtype.itemsize * 8}-bit" if img.dtype.kind in "iu" else f"{img.dtype} (floating-point)"


def _concatenate(files: list[Path], **keys) -> DataRecord:
    parts = [read_one(p, **keys) for p in files]
    first = np.asarray(parts[0].values)
    for p, part in zip(files, parts):
        shape = np.asarray(part.values).shape[1:]
        if shape != first.shape[1:]:
            raise DataError(f"{p}: examples of shape {shape}, but {files[0]} has {first.shape[1:]}; the files of a "
                            "folder or pattern must hold examples of one shape")
    return join_records(files, parts)
