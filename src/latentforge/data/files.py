"""Readers for user files: .npy, .npz, HDF5 (.h5/.hdf5) and MNIST idx (.idx / *-ubyte, optionally .gz).

Only this module (and ``io``) touch file formats. Nothing here unpickles: npy/npz are read with
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

# Names tried, in order, when a container holds several arrays and none was named.
DATA_KEYS = ("x", "X", "data", "images", "features", "showers", "flux")
LABEL_KEYS = ("y", "labels", "label", "targets", "classes")

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def file_kind(path: str | os.PathLike) -> str:
    """npy, npz, hdf5, fits or idx from a file name; DataError for anything else."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".npy"):
        return "npy"
    if name.endswith(".npz"):
        return "npz"
    if name.endswith((".h5", ".hdf5")):
        return "hdf5"
    if name.endswith((".fits", ".fit", ".fts")):
        return "fits"
    if name.endswith(".idx") or "-ubyte" in name or name.endswith("ubyte") or ".idx" in name:
        return "idx"
    raise DataError(
        f"{path}: unknown file type; supported: .npy, .npz, .h5/.hdf5 (pick the dataset with key), "
        "MNIST idx (.idx, *-ubyte, optionally .gz), FITS tables of spectra (.fits, needs latentforge[fits])"
    )


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


EXTRA_KEYS = {"sigma": ("sigma",), "ivar": ("ivar",), "mask": ("mask",), "cond": ()}


def read_file(path: str | os.PathLike, *, key: str | None = None, labels_key: str | None = None,
              labels: str | os.PathLike | None = None, sigma_key: str | None = None, ivar_key: str | None = None,
              mask_key: str | None = None, cond_key: str | None = None) -> dict[str, np.ndarray | None]:
    """Read a file into a dict with ``x`` and, where present, ``y``, ``sigma``, ``mask`` and ``cond``.

    In .npz / HDF5 containers the arrays are picked by name: the ``*_key`` arguments name them; without
    them ``y``/``labels``, ``sigma``, ``ivar`` (inverse variance, turned into sigma; ivar = 0 masks the
    point) and ``mask`` (True = ignore the point) are used when present. Labels may come from their own file.
    """
    # --- known layouts of the sciences (calorimeter showers, SDSS spectra folders / globs): data/layouts.py ---
    from .layouts import read_known_layout

    known = read_known_layout(path, key=key, labels_key=labels_key, labels=labels, sigma_key=sigma_key,
                              ivar_key=ivar_key, mask_key=mask_key, cond_key=cond_key)
    if known is not None:
        return known
    # --- end of known layouts ---
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; give a built-in dataset name or an existing file path")
    kind = file_kind(path)
    out: dict[str, np.ndarray | None] = {"y": None, "sigma": None, "mask": None, "cond": None}
    wanted = {"sigma": sigma_key, "ivar": ivar_key, "mask": mask_key, "cond": cond_key}
    try:
        if kind == "npy":
            out["x"] = np.load(path, allow_pickle=False)
        elif kind == "fits":  # SDSS-like spectra: flux, ivar, loglam, and_mask
            from .fits import read_fits_spectra

            out.update(read_fits_spectra(path))
        elif kind in ("npz", "hdf5"):
            with _container(path, kind) as (names, get):
                k = _pick_key(names, key, DATA_KEYS, path, "data")
                out["x"] = get(k)
                rest = [n for n in names if n != k]
                lk = _pick_key(rest, labels_key, LABEL_KEYS, path, "labels")
                out["y"] = get(lk) if lk else None
                extras = {}
                for what, explicit in wanted.items():
                    name = _pick_key(rest, explicit, EXTRA_KEYS[what], path, what)
                    extras[what] = get(name) if name else None
        else:
            out["x"] = read_idx(path)
            if labels is None:
                sibling = _idx_label_sibling(path)
                if sibling is not None:
                    labels = sibling
    except DataError:
        raise
    except (ValueError, SyntaxError, tokenize.TokenError) as e:  # numpy refuses pickles, bad .npy headers ...
        raise DataError(f"{path}: cannot read as {kind} ({e}); the file may be damaged or hold Python objects") from None
    except (OSError, EOFError, KeyError, RuntimeError, zlib.error, zipfile_error()) as e:
        raise DataError(f"{path}: cannot read as {kind} ({type(e).__name__}: {e}); is it truncated or damaged?") \
            from None
    if kind in ("npz", "hdf5"):
        if extras["sigma"] is not None and extras["ivar"] is not None:
            raise DataError(f"{path}: holds both sigma and ivar arrays; name the one to use with sigma_key / ivar_key")
        if extras["ivar"] is not None:
            ivar = np.asarray(extras["ivar"], dtype=np.float64)
            if (ivar < 0).any() or not np.isfinite(ivar).all():
                raise DataError(f"{path}: inverse variances must be finite and >= 0 (0 marks a point without data)")
            zero = ivar == 0
            extras["sigma"] = np.where(zero, 1.0, 1.0 / np.sqrt(np.where(zero, 1.0, ivar)))
            m = np.asarray(extras["mask"], bool) if extras["mask"] is not None else np.zeros(ivar.shape, bool)
            extras["mask"] = m | zero
        out.update(sigma=extras["sigma"], mask=extras["mask"], cond=extras["cond"])
    if labels is not None:
        lab = read_file(labels, key=labels_key)["x"]
        lab = np.asarray(lab)
        out["y"] = lab[:, 0] if lab.ndim == 2 and lab.shape[1] == 1 else lab
    return out


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
        return _h5_datasets(self.f), lambda k: self.f[k][()]

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
