"""The scaling contract shared by every scaling module: the ``SCALINGS`` registry, the ``Scaler`` base class, the
helpers that fit on valid values in float64 and apply a map in float64 row block by row block, and ``LogMap``
(the log1p map of ``log`` and ``fractions``). The scalings themselves live in ``scaling`` (elementwise ones),
``scaling_shapes`` (per-example or shape-changing ones) and a science domain's; all import from here, so imports
between them run one way."""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

import numpy as np

from ..errors import ArtifactError, ConfigError, DataError
from ..registry import Registry

SCALINGS: Registry[type["Scaler"]] = Registry("scaling")


def valid_points(x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
    """Which values of ``x`` (N, *S) a scaling is fitted on: bool of x's shape, False at masked points (``mask``
    True) and at NaN (a missing value, as scikit-learn's scalers take it); None when every value counts.
    ConfigError for a mask of another shape, or for an infinite value that is not masked."""
    x = np.asarray(x)
    valid = None
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != x.shape:
            raise ConfigError(f"mask of shape {m.shape} does not match the data's {x.shape}")
        valid = ~m
    if x.dtype.kind == "f":
        finite = np.isfinite(x)
        if not finite.all():
            inf = np.isinf(x) if valid is None else np.isinf(x) & valid
            if inf.any():
                raise ConfigError(f"{int(inf.sum())} infinite value(s) that are not masked; mask them "
                                  "(mask=True) or replace them before fitting a scaling")
            valid = finite if valid is None else valid & finite
    return valid


def column_moments(x: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation (ddof 0) and count of the ``valid`` values of each feature of ``x`` (N, *S), in
    float64 (two passes: the mean, then the mean squared deviation from it). A feature with no valid value has
    mean 0 and std 0."""
    x64 = np.asarray(x, dtype=np.float64)
    if valid is None:
        mean = x64.mean(axis=0)
        return mean, np.sqrt(np.mean((x64 - mean) ** 2, axis=0)), np.full(mean.shape, len(x64))
    count = valid.sum(axis=0)
    n = np.maximum(count, 1)
    mean = np.where(valid, x64, 0.0).sum(axis=0) / n
    var = np.where(valid, (x64 - mean) ** 2, 0.0).sum(axis=0) / n
    return mean, np.sqrt(var), count


def column_range(x: np.ndarray, valid: np.ndarray | None, axis=0) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest ``valid`` value of ``x`` along ``axis`` (None: over every value), float64; +inf and
    -inf where there is none. Exact in the data's own dtype: no float64 copy."""
    x = np.asarray(x)
    if valid is None:
        return (np.asarray(np.min(x, axis=axis), np.float64), np.asarray(np.max(x, axis=axis), np.float64))
    lo = np.min(x, axis=axis, where=valid, initial=np.inf)
    hi = np.max(x, axis=axis, where=valid, initial=-np.inf)
    return np.asarray(lo, np.float64), np.asarray(hi, np.float64)


#: a feature is constant when its std is at most this fraction of its mean's magnitude (the float64 rounding of a
#: mean of equal values is about 1e-16 of it); relative, so that a column in small units (a flux of ~1e-17
#: erg/s/cm^2/A) is scaled like the same column in units of 1e-17
CONSTANT_REL = 1e-12


def constant_features(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """True for each feature whose ``std`` is 0 or at most CONSTANT_REL |mean| (bool, the shape of ``mean``)."""
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    return ~(std > CONSTANT_REL * np.abs(mean))


#: values per block of ``map_rows``'s float64 path (a float64 block of 8 MiB)
BLOCK_VALUES = 1 << 20


def map_rows(x: np.ndarray, fn, *, out_dtype=np.float32, in_place: bool = False) -> np.ndarray:
    """``fn(block, rows)`` applied to ``x`` (N, *S); ``rows`` is the block's slice of the N rows (for per-example
    factors), and ``fn`` may work in place on ``block``, which is always its own array.

    float32 in and out: one float32 block (in ``x`` itself when ``in_place``), as float32 data are resolved to
    float32 precision anyway. Otherwise (float64 data, integers, float64 out) row blocks of at most BLOCK_VALUES
    values, each converted to float64, the results written as ``out_dtype``: offsets are removed and scales
    applied in float64 before the cast, with no float64 copy of the whole array."""
    src = np.asarray(x)
    if src.dtype == np.float32 and np.dtype(out_dtype) == np.float32:
        work = src if in_place and src.flags.writeable else src.copy()
        return np.asarray(fn(work, slice(None)), dtype=np.float32)
    out = np.empty(src.shape, out_dtype)
    if src.ndim == 0 or src.size == 0:
        return out
    step = max(1, BLOCK_VALUES // max(1, int(np.prod(src.shape[1:], dtype=np.int64))))
    for i in range(0, len(src), step):
        rows = slice(i, min(i + step, len(src)))
        out[rows] = fn(src[rows].astype(np.float64), rows)
    return out


def split_offset(offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A float64 offset as float32 (high, low) parts whose sum is the offset to about 1e-15 of it: float32 data
    minus ``high`` is exact for data within a factor 2 of it (Sterbenz's lemma), and minus ``low`` is a
    correction below float32 resolution, so float32 arithmetic removes a large offset without the error of
    rounding it to float32 (a "double-float" pair, Dekker 1971)."""
    offset = np.asarray(offset, np.float64)
    high = offset.astype(np.float32)
    return high, (offset - high).astype(np.float32)


def float_dtype_of(x: np.ndarray) -> type:
    """float64 for float64 data (kept that way through ``inverse_transform``), else float32."""
    return np.float64 if np.asarray(x).dtype == np.float64 else np.float32


def subsample(rng: np.random.Generator, values: np.ndarray, k: int) -> np.ndarray:
    """``values`` (1-D) when there are at most ``k`` of them, else ``k`` of them drawn without replacement from
    ``rng``: what a streamed fit keeps of a block of rows for a percentile (exact when nothing is dropped)."""
    return values if values.size <= k else rng.choice(values, size=k, replace=False)


def block_quota(per_chunk: int, block_rows: int, chunk_rows: int) -> int:
    """The share of a chunk's sample quota ``per_chunk`` that a block of ``block_rows`` of its ``chunk_rows``
    rows may keep (at least 1)."""
    return max(1, -(-per_chunk * block_rows // max(chunk_rows, 1)))


class RunningMoments:
    """Per-column mean and variance (ddof 0) of rows given a chunk at a time, without holding them: each row block
    of at most BLOCK_VALUES values is taken in float64 (count, mean, sum of squared deviations from its own
    mean) and merged by the parallel update of Chan, Golub & LeVeque (1979), M2 = M2_a + M2_b + delta^2 n_a n_b
    / n, so neither a float64 copy of a whole chunk nor a sum of squares around 0 (which cancels for data far
    from 0, and underflows for values near 1e-17 squared in float32) is ever made. Chunks of 0 rows change
    nothing. ``update(x)`` with x (N, *S); ``count``, ``mean`` (*S,), ``var`` (*S,), ``std`` (*S,) float64;
    ``mean``/``var`` raise DataError before any row."""

    def __init__(self) -> None:
        self.count = 0
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def update(self, x: np.ndarray) -> "RunningMoments":
        x = np.asarray(x)
        step = max(1, BLOCK_VALUES // max(1, int(np.prod(x.shape[1:], dtype=np.int64))))
        for i in range(0, len(x), step):
            block = x[i:i + step].astype(np.float64)
            n = len(block)
            mean = block.mean(0)
            block -= mean
            m2 = np.einsum("i...,i...->...", block, block)
            if self._mean is None or self._m2 is None:
                self.count, self._mean, self._m2 = n, mean, m2
                continue
            total = self.count + n
            delta = mean - self._mean
            self._mean = self._mean + delta * (n / total)
            self._m2 = self._m2 + m2 + delta * delta * (self.count * n / total)
            self.count = total
        return self

    def _need(self) -> tuple[np.ndarray, np.ndarray]:
        if self._mean is None or self._m2 is None:
            raise DataError("no rows to take a mean and variance of: every chunk was empty")
        return self._mean, self._m2

    mean = property(lambda self: self._need()[0], doc="per-column mean (*S,), float64")
    var = property(lambda self: self._need()[1] / self.count, doc="per-column variance, ddof 0 (*S,), float64")
    std = property(lambda self: np.sqrt(self.var), doc="per-column standard deviation, ddof 0 (*S,), float64")


class Scaler:
    """Base class and factory: ``Scaler("minmax")`` returns a :class:`MinMaxScaling`.

    Subclasses implement ``fit``, ``transform`` and ``inverse_transform`` on arrays of shape (N, *S) in
    float32, and say how a standard deviation moves between the spaces (``sigma_unit``).
    Raises ConfigError for an unknown kind, RuntimeError when used before ``fit``.
    """

    kind: ClassVar[str] = ""
    per_example: ClassVar[bool] = False  # True when each example has its own factor (``median``)
    uses_condition: ClassVar[bool] = False  # True when the factors are the examples' raw condition vectors
    #: True when ``fit`` also takes the data's description (``info``: geometry, energy unit) and a ``threshold``
    uses_info: ClassVar[bool] = False
    unit_range: ClassVar[bool] = False  # True when the training data lands in [0, 1] (PSNR peak 1)
    #: the kind that does the same per feature (column), where this one uses one range for all features
    per_feature_kind: ClassVar[str | None] = None
    #: False when the map changes the number of values (``fractions``: D -> D + 1); the model's density then has
    #: no density in data units by a change of variables, and ``log_abs_det_jacobian`` raises ConfigError
    square_jacobian: ClassVar[bool] = True

    def __new__(cls, kind: str | None = None):
        if cls is Scaler:
            cls = SCALINGS.get(kind or "minmax")
        return super().__new__(cls)

    def __init__(self, kind: str | None = None):
        self.params: dict[str, np.ndarray] = {}
        #: the float dtype of the data fitted on: ``inverse_transform`` returns it (float64 data, e.g. MJD times,
        #: keep their precision in data units; the model's space is float32)
        self.raw_dtype: type = np.float32

    # ------------------------------------------------------------------ contract
    @property
    def fitted(self) -> bool:
        return bool(self.params)

    @staticmethod
    def check_example_shape(x: np.ndarray, want: tuple) -> None:
        """ConfigError unless ``x`` (N, *S) holds examples of the fitted per-feature shape ``want``."""
        if x.shape[1:] != want:
            raise ConfigError(f"data of example shape {x.shape[1:]} does not match the fitted scaler's {want}")

    def need_fit(self) -> None:
        if not self.fitted:
            raise RuntimeError("Scaler is not fitted; call fit(x) first")

    def fit(self, x: np.ndarray, mask: np.ndarray | None = None, **kw: Any) -> "Scaler":  # pragma: no cover - abstract
        """Fit on training rows ``x`` (N, *S) (``mask``: True = ignore the point); a condition-aware kind also
        takes ``cond`` (N, P), the rows' raw condition vectors."""
        raise NotImplementedError

    def transform(self, x: np.ndarray, factors: np.ndarray | None = None, *, copy: bool = True,
                  mask: np.ndarray | None = None) -> np.ndarray:
        """Raw (N, *S), data units -> model space (N, *S), float32; float64 data are mapped in float64 and then
        cast, float32 data in float32 with any offset removed as a float64-accurate pair (``map_rows``,
        ``split_offset``), so a large offset (MJD times) costs no precision; ``copy=False`` may scale a float32
        ``x`` in place (for arrays the caller owns and will not use again). Per-example kinds take ``factors`` (N, 1, ...), else compute them from ``x`` and its ``mask``
        (True = a masked point, left out of the factor; give it for data with masked points)."""
        self.need_fit()
        x = np.asarray(x)
        self.check_input(x)
        if self.per_example and factors is None:
            factors = self.factors(x, mask)
        return map_rows(x, lambda b, rows: self.forward(b, None if factors is None else factors[rows]),
                        in_place=not copy)

    def inverse_transform(self, x: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
        """Model space (N, *S) -> data units, returned in ``raw_dtype`` (float32 unless the scaling was fitted on
        float64 data, whose inverse is then computed in float64)."""
        self.need_fit()
        x = np.asarray(x)
        self.check_input(x)
        return map_rows(x, lambda b, rows: self.inverse(b, None if factors is None else factors[rows]),
                        out_dtype=self.raw_dtype)

    def check_input(self, x: np.ndarray) -> None:
        """ConfigError for data the fitted scaling cannot take (another example shape); no check by default."""

    def affine(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(offset, scale), float64, of an affine map t(x) = (x - offset) / scale; None for other maps."""
        return None

    def forward(self, x: np.ndarray, factors: np.ndarray | None) -> np.ndarray:
        """The map on a block of rows (float32, or float64 for float64 data), in place where it can be; an affine
        map removes its offset in float64, or as a float32 (high, low) pair (``split_offset``)."""
        off, scale = self.affine()  # type: ignore[misc]  # kinds that are not affine override forward
        if x.dtype == np.float64:
            x -= off
            x /= scale
            return x
        high, low = split_offset(off)
        x -= high
        x -= low
        x /= np.asarray(scale, np.float32)
        return x

    def inverse(self, u: np.ndarray, factors: np.ndarray | None) -> np.ndarray:
        """The inverse map on a block of rows (float32, or float64 when the data were float64), in place."""
        off, scale = self.affine()  # type: ignore[misc]
        if u.dtype == np.float64:
            u *= scale
            u += off
            return u
        high, low = split_offset(off)
        u *= np.asarray(scale, np.float32)
        u += low
        u += high
        return u

    def fit_chunks(self, chunks: Iterable[np.ndarray], *, n_chunks: int, seed: int = 0) -> "Scaler":
        """Fit in one pass over the training rows, given chunk by chunk (data larger than memory)."""
        raise ConfigError(f"{self.kind} scaling is not available with --stream; use --scaling log, minmax or "
                          "standard, or train in memory")

    def factors(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
        """Per-example scale factors (N, 1, ...) for per-example scalings; None for global ones."""
        return None

    def model_options(self) -> dict[str, Any]:
        """Model options this fitted scaling fills in (e.g. the cells of each layer); {} for most."""
        return {}

    def model_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one example as the model sees it."""
        return tuple(shape)

    def raw_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Inverse of ``model_shape``."""
        return tuple(shape)

    def sigma_unit(self, factors: np.ndarray | None = None) -> np.ndarray | float:
        """One unit of the model's space in raw units (a standard deviation scales by it)."""
        raise ConfigError(f"per-point measurement errors cannot be carried through {self.kind} scaling; "
                          "use --scaling minmax, standard or none")

    def sigma_to_raw(self, sigma: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
        """A standard deviation in scaled units -> raw units (per-example scalings: give ``factors``)."""
        return (np.asarray(sigma) * self.sigma_unit(factors)).astype(np.float32)

    def sigma_to_model(self, sigma: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
        """A standard deviation (measurement error) in raw units -> scaled units."""
        return (np.asarray(sigma) / self.sigma_unit(factors)).astype(np.float32)

    # ------------------------------------------------------------------ change of variables
    def log_abs_det_jacobian(self, x_raw: np.ndarray, mask: np.ndarray | None = None, *,
                             factors: np.ndarray | None = None) -> np.ndarray:
        """log |det J_t(x)| of the map t from data units to the model's space, per example: shape (N,), float64, in
        nats (natural log).

        ``x_raw`` (N, *S) in data units; ``mask`` (N, *S) bool, True = a masked point, left out of the sum (the
        likelihood ignores it too); ``factors`` the per-example factors of a per-example scaling (``median``:
        computed from ``x_raw`` and ``mask`` when not given, as ``transform`` does). Every scaling here maps each
        value on its own, so J is diagonal and the result is the sum over the unmasked values of log |dt/dx|:
        ``minmax`` -D log(hi - lo), ``minmax-feature`` -sum_j log(hi_j - lo_j), ``standard`` -sum_j log std_j,
        ``none`` 0, ``log`` -sum_j [log(eps + x_j) + log hi] (-inf for a negative value, which the map clips),
        ``median`` -D_i log m_i with each example's median m_i held fixed (the model's density is conditional on
        it: the run carries it beside the example; x -> x / median(x) itself is singular).

        Change of variables (e.g. Papamakarios et al. 2021, JMLR 22:57, eq. 2): p_data(x) = p_model(t(x))
        |det J_t(x)|, so NLL in data units = NLL in the model's space - log_abs_det_jacobian(x).
        Raises ConfigError for a map that changes the number of values (``fractions``), RuntimeError before
        ``fit``, ConfigError for a mask of another shape than ``x_raw``.
        """
        if not self.square_jacobian:
            raise ConfigError(f"{self.kind} scaling maps each example to a different number of values, so the "
                              "model's likelihood has no counterpart in data units; compare runs in the model's "
                              "space, or train with --scaling log or standard for likelihoods in data units")
        self.need_fit()
        x = np.asarray(x_raw, dtype=np.float64)
        if x.ndim < 2:
            raise ConfigError(f"log_abs_det_jacobian needs examples of shape (N, ...), got shape {x.shape}")
        with np.errstate(divide="ignore", invalid="ignore"):
            logd = np.broadcast_to(self.log_derivative(x, mask, factors), x.shape)
        if mask is not None:
            m = np.asarray(mask, dtype=bool)
            if m.shape != x.shape:
                raise ConfigError(f"mask of shape {m.shape} does not match the data's {x.shape}")
            logd = np.where(m, 0.0, logd)
        return logd.reshape(len(x), -1).sum(axis=1, dtype=np.float64)

    def log_derivative(self, x: np.ndarray, mask: np.ndarray | None,
                       factors: np.ndarray | None) -> np.ndarray:  # pragma: no cover - abstract
        """log |dt(x)/dx| per value, float64, broadcastable to ``x`` (N, *S) (a diagonal Jacobian)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": {k: v.tolist() for k, v in self.params.items()},
                "shapes": {k: list(v.shape) for k, v in self.params.items()},
                "raw_dtype": np.dtype(self.raw_dtype).name}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "Scaler":
        """Rebuild from ``state_dict()``; a damaged state raises ArtifactError."""
        try:
            s = Scaler(state["kind"])
            s.params = {k: np.asarray(v, dtype=np.float64).reshape(state["shapes"][k])
                        for k, v in state["params"].items()}
            raw = state.get("raw_dtype", "float32")  # runs saved before it was recorded: float32
            if raw not in ("float32", "float64"):
                raise ValueError(f"raw_dtype {raw!r}")
            s.raw_dtype = np.float64 if raw == "float64" else np.float32
        except (KeyError, TypeError, ValueError, ConfigError) as e:
            raise ArtifactError(f"transform state is damaged ({e}); retrain or restore transform.json") from None
        return s


class LogMap(Scaler):
    """log1p(v / eps) / hi for non-negative values and its inverse, shared by ``log`` and ``fractions``."""

    @staticmethod
    def log_params(eps: float, largest: float) -> dict[str, np.ndarray]:
        return {"eps": np.array(eps), "hi": np.array(np.log1p(largest / eps))}

    def log_up(self, v: np.ndarray) -> np.ndarray:
        """log1p(v / eps) / hi in v's own float precision."""
        return np.log1p(np.maximum(v, 0) / float(self.params["eps"])) / float(self.params["hi"])

    def log_down(self, u: np.ndarray, zero_below) -> np.ndarray:
        """Inverse of ``log_up``; results below ``zero_below`` become exactly 0."""
        raw = np.expm1(np.clip(u, 0, None) * self.params["hi"]) * self.params["eps"]
        return np.where(raw < zero_below, 0.0, raw)
