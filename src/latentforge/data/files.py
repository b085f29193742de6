"""Readers for user files, one per kind in the ``READERS`` registry: .npy, .npz, HDF5 (.h5/.hdf5), MNIST idx
(.idx / *-ubyte, optionally .gz), FITS (spectra, tables, images), CSV / TSV tables and image files; folders
and globs of them through ``data.collections``.

Only ``data`` (and ``io``) touch file formats. Nothing here unpickles: npy/npz are read with
``allow_pickle=False``.
"""

from __future__ import annotations

import gzip
import os
import struct
import tokenize
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..registry import Registry

# Names tried, in order, when a container holds several arrays and none was named.
DATA_KEYS = ("x", "X", "data", "images", "features", "showers", "flux")
LABEL_KEYS = ("y", "labels", "label", "targets", "classes")

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


#: file kinds by name ending (after an optional .gz), tried in order
SUFFIXES = ((".npy", "npy"), (".npz", "npz"), (".h5", "hdf5"), (".hdf5", "hdf5"), (".fits", "fits"),
            (".fit", "fits"), (".fts", "fits"), (".csv", "table"), (".tsv", "table"), (".tab", "table"),
            (".txt", "table"), (".png", "image"), (".jpg", "image"), (".jpeg", "image"), (".tif", "image"),
            (".tiff", "image"), (".bmp", "image"), (".gif", "image"), (".idx", "idx"))
SUPPORTED = (".npy, .npz, .h5/.hdf5 (pick the dataset with key), MNIST idx (.idx, *-ubyte, optionally .gz), FITS "
             "(spectra, tables, images; needs latentforge[fits]), CSV / TSV tables, images (PNG, JPEG, TIFF), or a "
             "folder / glob of such files")


def file_kind(path: str | os.PathLike) -> str:
    """The kind of a file from its name (npy, npz, hdf5, fits, table, image, idx); DataError for others."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix, kind in SUFFIXES:
        if name.endswith(suffix):
            return kind
    if "-ubyte" in name or name.endswith("ubyte") or ".idx" in name:
        return "idx"
    raise DataError(f"{path}: unknown file type; supported: {SUPPORTED}")


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
    if what == "data":
        raise DataError(
            f"{path}: holds several arrays ({', '.join(available)}); choose one with key= (CLI: --key NAME)"
        )
    return None


def h5_datasets(f) -> list[str]:
    """Paths of every dataset in an open HDF5 file."""
    import h5py

    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


EXTRA_KEYS = {"sigma": ("sigma",), "ivar": ("ivar",), "mask": ("mask",), "cond": ()}


def read_file(path: str | os.PathLike, *, key: str | None = None, labels_key: str | None = None,
              labels: str | os.PathLike | None = None, sigma_key: str | None = None, ivar_key: str | None = None,
              mask_key: str | None = None, cond_key: str | None = None) -> dict[str, np.ndarray | None]:
    """Read a file, a folder or a glob into a dict with ``x`` and, where present, ``y``, ``sigma``, ``mask``,
    ``cond`` and ``layout`` ("last" when images are stored channels last).

    In .npz / HDF5 containers the arrays are picked by name: the ``*_key`` arguments name them; without
    them ``y``/``labels``, ``sigma``, ``ivar`` (inverse variance, turned into sigma; ivar = 0 masks the
    point) and ``mask`` (True = ignore the point) are used when present. In tables ``key`` names the feature
    columns and ``labels_key`` the label column. Labels may come from their own file (``labels``).
    Raises DataError for a missing, unreadable or ambiguous file.
    """
    keys = {"key": key, "labels_key": labels_key, "sigma_key": sigma_key, "ivar_key": ivar_key,
            "mask_key": mask_key, "cond_key": cond_key}
    from .collections import expand, read_many
    # known layouts of the sciences (calorimeter showers, SDSS spectra folders / globs) first: data/layouts.py
    from .layouts import read_known_layout

    known = read_known_layout(path, labels=labels, **keys)
    if known is not None:
        return known

    files = expand(path)
    if files is not None:
        out = read_many(path, files, **keys)
    else:
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: no such file; give a built-in dataset name or an existing file path")
        kind = file_kind(path)
        if path.name.lower().endswith(".gz") and kind not in GZIP_KINDS:
            raise DataError(f"{path}: a gzip-compressed {kind} file cannot be read as it is; decompress it first "
                            f"(gunzip {path.name})")
        try:
            out = READERS.get(kind)(path, **keys)
        except DataError:
            raise
        except (ValueError, SyntaxError, tokenize.TokenError) as e:  # numpy refuses pickles, bad .npy headers ...
            raise DataError(f"{path}: cannot read as {kind} ({e}); the file may be damaged or hold Python "
                            "objects") from None
        except (OSError, EOFError, KeyError, RuntimeError, zlib.error, zipfile_error()) as e:
            raise DataError(f"{path}: cannot read as {kind} ({type(e).__name__}: {e}); is it truncated or "
                            "damaged?") from None
    out = {"y": None, "sigma": None, "mask": None, "cond": None, **out}
    sibling = out.pop("labels_file", None)  # an idx file's labels beside it
    labels = labels if labels is not None else sibling
    if labels is not None:
        lab = np.asarray(read_file(labels, key=labels_key)["x"] if not _is_table(labels) else
                         _table_labels(labels, labels_key))
        out["y"] = lab[:, 0] if lab.ndim == 2 and lab.shape[1] == 1 else lab
    return out


def _table_labels(path, labels_key: str | None) -> np.ndarray:
    """Labels from a text table: its label column, or its only column (whole numbers as integers; text as class
    names, a first line named like a label column taken as the header)."""
    from .tables import LABEL_COLUMNS, read_text

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
    t = read_file(path, labels_key=labels_key)
    if t["y"] is not None:
        return np.asarray(t["y"])
    x = np.asarray(t["x"])
    if x.ndim != 2 or x.shape[1] != 1:
        raise DataError(f"{path}: a labels table needs one column, or a column named label / class / target "
                        "(or --labels-key NAME)")
    return whole_as_int(x[:, 0])


def _is_table(path) -> bool:
    try:
        return file_kind(path) == "table"
    except DataError:
        return False


#: the kinds read through gzip when the file name ends in .gz (astropy opens gzipped FITS itself)
GZIP_KINDS = ("npy", "idx", "table", "fits")


def _read_npy(path, **keys):
    if str(path).lower().endswith(".gz"):  # a gzip-compressed .npy (np.load reads the decompressed stream)
        with gzip.open(path, "rb") as f:
            return {"x": np.load(f, allow_pickle=False)}
    return {"x": np.load(path, allow_pickle=False)}


def _read_container(path, *, key=None, labels_key=None, sigma_key=None, ivar_key=None, mask_key=None,
                    cond_key=None):
    kind = file_kind(path)
    wanted = {"sigma": sigma_key, "ivar": ivar_key, "mask": mask_key, "cond": cond_key}
    with _container(path, kind) as (names, get):
        k = pick_key(names, key, DATA_KEYS, path, "data")
        out = {"x": get(k)}
        rest = [n for n in names if n != k]
        lk = pick_key(rest, labels_key, LABEL_KEYS, path, "labels")
        out["y"] = get(lk) if lk else None
        extras = {}
        for what, explicit in wanted.items():
            name = pick_key(rest, explicit, EXTRA_KEYS[what], path, what)
            extras[what] = get(name) if name else None
    if extras["sigma"] is not None and extras["ivar"] is not None:
        raise DataError(f"{path}: holds both sigma and ivar arrays; name the one to use with sigma_key / ivar_key")
    if extras["ivar"] is not None:
        extras["sigma"], extras["mask"] = sigma_from_ivar(extras["ivar"], extras["mask"], path)
    out.update(sigma=extras["sigma"], mask=extras["mask"], cond=extras["cond"])
    return out


def sigma_from_ivar(ivar, mask, path) -> tuple[np.ndarray, np.ndarray]:
    """(sigma, mask) from inverse variances: sigma = 1 / sqrt(ivar); ivar = 0 masks the point."""
    ivar = np.asarray(ivar, dtype=np.float64)
    if (ivar < 0).any() or not np.isfinite(ivar).all():
        raise DataError(f"{path}: inverse variances must be finite and >= 0 (0 marks a point without data)")
    zero = ivar == 0
    sigma = np.where(zero, 1.0, 1.0 / np.sqrt(np.where(zero, 1.0, ivar)))
    m = np.asarray(mask, bool) if mask is not None else np.zeros(ivar.shape, bool)
    return sigma, m | zero


def _read_idx_file(path, **keys):
    out = {"x": read_idx(path)}
    sibling = _idx_label_sibling(Path(path))
    if sibling is not None:
        out["labels_file"] = sibling
    return out


def _read_fits_file(path, *, key=None, labels_key=None, **keys):
    from .fits import read_fits

    return read_fits(path, key=key, labels_key=labels_key)


def _read_table_file(path, *, key=None, labels_key=None, **keys):
    from .tables import read_table

    out = read_table(path, key=key, labels_key=labels_key)
    out.pop("columns")
    return out


def _read_image_file(path, **keys):
    from .images import read_image

    img = read_image(path)
    return {"x": img[None], "layout": "last" if img.ndim == 3 else None}


#: a reader per file kind: reader(path, **keys) -> dict with x and what else the file holds
READERS: Registry = Registry("file kind", error=DataError)
for _kind, _reader in (("npy", _read_npy), ("npz", _read_container), ("hdf5", _read_container),
                       ("idx", _read_idx_file), ("fits", _read_fits_file), ("table", _read_table_file),
                       ("image", _read_image_file)):
    READERS.register(_kind, _reader)


class _container:
    """Context manager giving (names, getter) for an .npz or HDF5 file."""

    def __init__(self, path: Path, kind: str):
        self.path, self.kind = path, kind

    def __enter__(self):
        if self.kind == "npz":
            self.f = np.load(self.path, allow_pickle=False)
            return list(self.f.files), lambda k: self.f[k]
        import h5py

        self.f = h5py.File(self.path, "r")
        return h5_datasets(self.f), lambda k: self.f[k][()]

    def __exit__(self, *exc):
        self.f.close()
        return False


def zipfile_error() -> type[Exception]:
    """zipfile's BadZipFile, imported when needed."""
    import zipfile

    return zipfile.BadZipFile


def _idx_label_sibling(path: Path) -> Path | None:
    name = path.name
    if "images" in name:
        cand = path.with_name(name.replace("images", "labels").replace("idx3", "idx1"))
        if cand.exists():
            return cand
    return None
