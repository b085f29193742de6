"""The in-memory dataset container and the checks every array passes before training."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError


@dataclass
class ArrayDataset:
    """Examples ``x`` of shape (N, D) for vectors or (N, C, H, W) for images, and optionally

    ``y``     labels (N,)
    ``sigma`` per-point measurement errors, same shape as ``x`` (standard deviations, raw units)
    ``mask``  per-point flags, same shape as ``x``: True means *masked* (ignored by likelihoods)
    ``cond``  continuous per-example parameters (N, P) for conditional models

    Values of ``x`` at masked points may be NaN; they are replaced by 0 and never used.
    """

    x: np.ndarray
    y: np.ndarray | None = None
    name: str = "array"
    source: str = ""
    info: dict = field(default_factory=dict)
    sigma: np.ndarray | None = None
    mask: np.ndarray | None = None
    cond: np.ndarray | None = None
    #: True when the values came as integers or booleans, so every one is a whole number (set by the readers from
    #: the dtype before the float32 conversion, and here from ``x``'s own dtype); it spares the whole-number test
    whole_numbers: bool = False

    def __post_init__(self) -> None:
        raw = to_numpy(self.x)
        self.whole_numbers = bool(self.whole_numbers) or raw.dtype.kind in "biu"
        x = as_examples(raw, channels_last=False, what=self.name)  # images here are (N, C, H, W)
        if self.mask is not None:
            self.mask = _same_shape(self.mask, x, "mask", self.name).astype(bool)
            x = np.where(self.mask, np.float32(0), x)
        self.x, self.y = check_arrays(x, self.y, what=self.name)
        if self.sigma is not None:
            sigma = _same_shape(self.sigma, x, "sigma", self.name).astype(np.float32)
            valid = ~self.mask if self.mask is not None else np.ones(sigma.shape, bool)
            bad = valid & ~(np.isfinite(sigma) & (sigma > 0))
            if bad.any():
                raise DataError(
                    f"{self.name}: {int(bad.sum())} unmasked point(s) have a sigma that is not finite and > 0; "
                    "mask those points (mask=True) or give their measurement error"
                )
            self.sigma = np.where(valid, sigma, 1.0).astype(np.float32)
        if self.cond is not None:
            c = np.asarray(self.cond, dtype=np.float32)
            if c.ndim == 1:
                c = c[:, None]
            if c.ndim != 2 or len(c) != len(self.x):
                raise DataError(f"{self.name}: conditions must have shape (N, P) with N = {len(self.x)}, "
                                f"got {c.shape}")
            if not np.isfinite(c).all():
                raise DataError(f"{self.name}: conditions contain NaN or Inf")
            self.cond = c

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def example_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.x.ndim == 4

    def fingerprint(self) -> dict:
        """What identifies these data: the number of examples, their shape and a SHA-256 of their float32 values
        (the same rows and values give the same fingerprint whatever the path was spelled like)."""
        import hashlib

        digest = hashlib.sha256(np.ascontiguousarray(self.x).data).hexdigest()
        return {"n": len(self), "example_shape": list(self.example_shape), "sha256": digest}

    def subset(self, index: np.ndarray) -> "ArrayDataset":
        """The examples at ``index``; no second validation (every part was checked when this set was made)."""
        out = object.__new__(ArrayDataset)
        for f in ("x", "y", "sigma", "mask", "cond"):
            v = getattr(self, f)
            setattr(out, f, None if v is None else v[index])
        out.name, out.source, out.info = self.name, self.source, dict(self.info)
        out.whole_numbers = self.whole_numbers
        return out


#: seed of the per-position multipliers of ``row_hashes`` (fixed: hashes are compared across runs and versions)
ROW_HASH_SEED = 20261130


def row_hashes(x: np.ndarray, index: np.ndarray | None = None, *, rows: int = 1024) -> np.ndarray:
    """One 64-bit hash per example (N,) uint64 of its float32 values (``index``: only those rows, in that order).

    Equal rows hash equal whatever their order or the file they come from, so a run can tell which rows of any
    data set it was trained on. The hash is a sum of the values' bit patterns times fixed random odd 64-bit
    multipliers (one per position, wrapping modulo 2^64), finished with the splitmix64 mixer (Steele et al. 2014):
    two different rows collide with probability about 2^-63. Computed in chunks of ``rows`` as one integer
    matrix-vector product each (unsigned arithmetic wraps modulo 2^64; no rows x values temporary).
    """
    n = len(x) if index is None else len(index)
    d = int(np.prod(np.shape(x)[1:], dtype=np.int64))
    mult = np.random.default_rng(ROW_HASH_SEED).integers(1, 2 ** 62, d, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    out = np.empty(n, np.uint64)
    with np.errstate(over="ignore"):
        for i in range(0, n, rows):
            part = x[i:i + rows] if index is None else x[index[i:i + rows]]
            words = np.ascontiguousarray(part, dtype=np.float32).reshape(len(part), d).view(np.uint32)
            h = words @ mult  # (rows,) uint64: sum of bit patterns x multipliers, modulo 2^64
            h ^= h >> np.uint64(30)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(27)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(31)
            out[i:i + rows] = h
    return out


def _same_shape(a, x: np.ndarray, what: str, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == x.ndim - 1 and x.ndim == 4 and x.shape[1] == 1:
        a = a[:, None]
    if a.shape != x.shape:
        raise DataError(f"{name}: the {what} array has shape {a.shape} but the data has {x.shape}; "
                        f"{what} must give one value per data point")
    return a


def image_layout(shape: tuple[int, ...]) -> str | None:
    """Where the channel axis of a 4-D array (N, a, b, c) is, read from its shape alone, the same way for any
    band count: square images decide it (a == b != c: channels last; b == c != a: channels first); otherwise
    the one axis strictly smaller than the other two, when it is first or last. None when the shape does not
    tell (e.g. (N, 8, 8, 8), or (N, 5, 9, 5))."""
    a, b, c = shape[1:]
    if a == b and c != a:
        return "last"
    if b == c and a != b:
        return "first"
    if c < min(a, b):
        return "last"
    if a < min(b, c):
        return "first"
    return None


def refuse_layout_option(shape: tuple[int, ...], channels_last: bool | None, what: str = "data") -> None:
    """DataError when ``channels_last`` is given for data that are not images of four dimensions, where it would
    have no effect (an option that is accepted is used)."""
    if channels_last is not None and len(shape) != 4:
        flag = "--channels-last" if channels_last else "--channels-first"
        raise DataError(f"{what}: channels_last={channels_last} (CLI: {flag}) says where the channels of images (N, H, W, C) "
                        f"/ (N, C, H, W) are; these data have shape {tuple(shape)}; drop it")


def resolve_layout(shape: tuple[int, ...], channels_last: bool | None, what: str = "data") -> str:
    """"first" or "last" for a 4-D shape: as asked, or read from the shape; DataError when it cannot be told."""
    if channels_last is not None:
        return "last" if channels_last else "first"
    layout = image_layout(shape)
    if layout is None:
        raise DataError(f"{what}: the shape {tuple(shape)} does not tell where the channels are; pass "
                        "channels_last=True for (N, H, W, C) (CLI: --channels-last) or channels_last=False for "
                        "(N, C, H, W) (CLI: --channels-first)")
    return layout


def as_examples(x, *, channels_last: bool | None = None, what: str = "data") -> np.ndarray:
    """Bring an array into (N, D) or (N, C, H, W) form, float32; refuse what cannot be meant.

    Images may come as (N, H, W), (N, C, H, W) or (N, H, W, C): ``channels_last`` True / False says which of
    the last two; None reads it from the shape (``image_layout``) and refuses a shape that does not tell.
    Raises DataError for complex or non-numeric values, other ranks, empty arrays, values beyond float32.
    """
    x = to_numpy(x)
    if np.iscomplexobj(x):
        raise DataError(f"{what}: complex values (dtype {x.dtype}); give the real part, the modulus or both as "
                        "separate features (np.real / np.abs / np.stack)")
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        if x.dtype.names:  # a table of named fields: the numeric ones become columns
            numeric = [n for n in x.dtype.names if x.dtype[n].kind in "biuf"]
            raise DataError(f"{what}: a table of named fields ({', '.join(x.dtype.names)}); give its numeric fields "
                            "as columns: numpy.lib.recfunctions.structured_to_unstructured(x[" + repr(numeric) +
                            "], dtype=float)")
        raise DataError(f"{what}: expected a numeric array, got dtype {x.dtype}; convert the values to numbers "
                        "(np.asarray(x, dtype=float) for numbers stored as text)")
    if x.ndim not in (2, 3, 4):
        raise DataError(
            f"{what}: expected vectors (N, D), images (N, H, W) or (N, C, H, W) / (N, H, W, C), got an array of "
            f"shape {x.shape}; reshape it to one of these"
        )
    if x.shape[0] == 0 or x.size == 0:
        raise DataError(f"{what}: the array is empty (shape {x.shape}); it needs at least one example with values")
    if x.ndim == 4 and resolve_layout(x.shape, channels_last, what) == "last":
        x = np.moveaxis(x, -1, 1)
    if x.ndim == 3:
        x = x[:, None, :, :]
    if x.dtype.kind == "f" and x.dtype.itemsize > 4:  # float64 beyond float32's range would turn into Inf
        finite = np.isfinite(x)
        if finite.any() and float(np.abs(x[finite]).max()) > float(np.finfo(np.float32).max):
            raise DataError(f"{what}: values up to {float(np.abs(x[finite]).max()):.3g} exceed the float32 range "
                            "(3.4e38) the models compute in; rescale the data (e.g. divide by a unit) first")
    # bool, int8-32 and uint8 in the machine's byte order (torch refuses others)
    if x.dtype.char in "?bBhi" and x.dtype.isnative and x.nbytes >= 2 ** 24 and x.flags.c_contiguous:
        # large integer arrays (images, counts): torch converts on all threads into memory it does not ask the
        # kernel to back with huge pages, which numpy does, and which stalled a 60000-image conversion for 0.4 s
        import torch

        return torch.from_numpy(np.require(x, requirements="W")).to(torch.float32).numpy()
    return np.ascontiguousarray(x, dtype=working_dtype(x))


#: a feature keeps float64 when float32 rounding moves its values by more than this fraction of its spread
FLOAT32_LOSS = 1e-4


def working_dtype(x: np.ndarray) -> type:
    """float32, the models' arithmetic, unless ``x`` is float64 data that float32 would blur: a feature whose
    values sit on a large offset (MJD times ~60000.xxxx days: float32 steps of 0.004 days merged 1000 distinct
    times into 178) keeps float64 until the scaling has removed the offset in float64 (the scalings cast to
    float32 after that). Decided per array: float64 when any feature's float32 rounding error exceeds
    ``FLOAT32_LOSS`` of its standard deviation."""
    if x.dtype != np.float64 or x.size == 0:
        return np.float32
    flat = x.reshape(len(x), -1)
    rows = flat[:: max(1, len(flat) // 4096)]  # a sample of rows decides; the offset is a feature's property
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.where(np.isfinite(rows), rows, np.nan)
        err = np.nanmax(np.abs(finite - finite.astype(np.float32).astype(np.float64)), axis=0)
        spread = np.nanstd(finite, axis=0)
    lossy = (spread > 0) & (err > FLOAT32_LOSS * spread)
    return np.float64 if bool(np.any(lossy)) else np.float32


def to_numpy(a) -> np.ndarray:
    """An array, a nested list, or a torch tensor (with or without grad, on any device) as a numpy array."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor: no gradient, on the host
        a = a.detach().cpu()
        return (a.float() if str(a.dtype) == "torch.bfloat16" else a).numpy()  # numpy has no bfloat16
    try:
        return np.asarray(a)
    except ValueError:  # numpy refuses ragged nesting
        raise DataError("the rows of the nested list have different lengths; give one length per row, or pad them "
                        "to one length") from None


def as_labels(y, n: int, *, what: str = "data") -> np.ndarray:
    """Labels as one value per example (N,): integers, floats, or class names (bytes decoded as UTF-8 text).
    Raises DataError for another shape or length, NaN / Inf, or values that are neither numbers nor text."""
    y = to_numpy(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{what}: labels must be one value per example, shape (N,), got {y.shape}")
    if len(y) != n:
        raise DataError(f"{what}: {len(y)} labels for {n} examples; labels must have the same length as the data")
    if y.dtype.kind == "S" or (y.dtype == object and any(isinstance(v, bytes) for v in y[:100])):
        y = np.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in y])
    elif y.dtype == object:
        if not all(isinstance(v, str) for v in y):
            raise DataError(f"{what}: labels must be numbers or text, got Python objects of types "
                            f"{sorted({type(v).__name__ for v in y})}")
        y = y.astype(str)
    if y.dtype.kind == "U":
        return y
    if y.dtype.kind not in "biuf":
        raise DataError(f"{what}: labels of dtype {y.dtype} are neither numbers nor text")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise DataError(f"{what}: labels contain NaN or Inf")
    return y


def is_categorical(y: np.ndarray | None, max_classes: int = 50, min_per_class: int = 5) -> bool:
    """True for labels that name classes, False for a continuous parameter. Text and booleans name classes;
    whole numbers (integer or float) do when they take at most ``max_classes`` values, or when they are class
    ids 0..K-1 with at least ``min_per_class`` rows each. Other whole numbers (a count, a year, an energy in
    keV) are a parameter: a probe fits them by regression, not by classification over hundreds of classes."""
    if y is None:
        return False
    y = np.asarray(y)
    if y.dtype.kind in "USbO":
        return True
    if y.dtype.kind not in "iu" and not bool(np.all(y == np.round(y))):
        return False
    values, counts = np.unique(y, return_counts=True)
    if len(values) <= max_classes:
        return True
    return bool(values[0] == 0 and values[-1] == len(values) - 1 and counts.min() >= min_per_class)


def check_arrays(x: np.ndarray, y: np.ndarray | None, *, what: str = "data"):
    """``x`` as float32 examples and ``y`` as one label per example; DataError names NaN / Inf values (with
    the first bad row), labels of the wrong shape or length, and NaN labels. Images are (N, C, H, W) here."""
    x = as_examples(x, channels_last=False, what=what)
    # a float64 sum of float32 values cannot overflow (3.4e38 x 2^53 rows < 1.8e308): it is finite exactly when
    # every value is, at a tenth of the cost of an elementwise test; the slow test runs only to name the rows
    with np.errstate(invalid="ignore"):  # Inf + -Inf is NaN: found below, not a warning
        total = np.add.reduce(x.reshape(-1), dtype=np.float64)
    if not np.isfinite(total):
        bad = ~np.isfinite(x)
        rows = np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))
        kinds = []
        if np.isnan(x).any():
            kinds.append("NaN")
        if np.isinf(x).any():
            kinds.append("Inf")
        raise DataError(
            f"{what}: {int(bad.sum())} {'/'.join(kinds)} value(s) in {len(rows)} example(s) (first at index "
            f"{int(rows[0])}); remove those examples, replace the values, or flag them in a mask array "
            "(mask=True points are ignored)"
        )
    if y is not None:
        y = as_labels(y, len(x), what=what)
    return x, y


def check_unit_range(x: np.ndarray, *, what: str = "data", fix: str = "") -> None:
    """BCE and sigmoid outputs need values in [0, 1]."""
    lo, hi = float(np.min(x)), float(np.max(x))
    if lo < 0 or hi > 1:
        raise DataError(
            f"{what}: values span [{lo:.4g}, {hi:.4g}] but a BCE likelihood needs data in [0, 1]; "
            + (fix or "use --scaling minmax, or --loss mse with --output identity for real-valued data")
        )
