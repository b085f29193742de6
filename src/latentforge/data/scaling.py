"""Data scalings, raw data <-> the model's space, each a class in the ``SCALINGS`` registry.

Every scaling is fitted on the training split only, keeps its state as plain JSON (saved in a run's
``transform.json``) and maps measurement errors (standard deviations) along with the data where that is
exact. ``Scaler(kind)`` builds the class registered under ``kind``:

``minmax``     one global (lo, hi) -> [0, 1]
``standard``   per feature: (x - mean) / std
``none``       identity
``log``        non-negative data (energies): log1p(x / eps) / log1p(max / eps) -> [0, 1], eps the 1st percentile
               of the non-zero training values; the inverse sets values below eps to exactly 0
``fractions``  non-negative (N, D) deposits: D log-scaled fractions of each example's total, plus its log total
               mapped to [0, 1] over the training range (with a margin) as one more feature
``median``     per example (spectra): each example divided by the median of its unmasked values
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

import numpy as np

from ..errors import ArtifactError, ConfigError
from ..registry import Registry

SCALINGS: Registry[type["Scaler"]] = Registry("scaling")


class Scaler:
    """Base class and factory: ``Scaler("minmax")`` returns a :class:`MinMaxScaling`.

    Subclasses implement ``fit``, ``transform`` and ``inverse_transform`` on arrays of shape (N, *S) in
    float32, and say how a standard deviation moves between the spaces (``sigma_unit``).
    Raises ConfigError for an unknown kind, RuntimeError when used before ``fit``.
    """

    kind: ClassVar[str] = ""
    per_example: ClassVar[bool] = False  # True when each example has its own factor (``median``)
    uses_condition: ClassVar[bool] = False  # True when the factors are the examples' raw condition vectors
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

    def transform(self, x: np.ndarray, factors: np.ndarray | None = None, *,
                  copy: bool = True) -> np.ndarray:  # pragma: no cover - abstract
        """Raw (N, *S) -> model space, float32; ``copy=False`` may scale a float32 ``x`` in place (for arrays the
        caller owns and will not use again)."""
        raise NotImplementedError

    def inverse_transform(self, x: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def fit_chunks(self, chunks: Iterable[np.ndarray], *, n_chunks: int, seed: int = 0) -> "Scaler":
        """Fit in one pass over the training rows, given chunk by chunk (data larger than memory)."""
        raise ConfigError(f"{self.kind} scaling is not available with --stream; use --scaling log, minmax or "
                          "standard, or train in memory")

    def factors(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
        """Per-example scale factors (N, 1, ...) for per-example scalings; None for global ones."""
        return None

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
                "shapes": {k: list(v.shape) for k, v in self.params.items()}}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "Scaler":
        """Rebuild from ``state_dict()``; a damaged state raises ArtifactError."""
        try:
            s = Scaler(state["kind"])
            s.params = {k: np.asarray(v, dtype=np.float64).reshape(state["shapes"][k])
                        for k, v in state["params"].items()}
        except (KeyError, TypeError, ValueError, ConfigError) as e:
            raise ArtifactError(f"transform state is damaged ({e}); retrain or restore transform.json") from None
        return s


@SCALINGS.add("minmax")
class MinMaxScaling(Scaler):
    """One global range (lo, hi) -> [0, 1]: images keep their relative grey levels."""

    kind = "minmax"
    unit_range = True
    per_feature_kind = "minmax-feature"

    def fit(self, x, mask=None):  # min / max are exact in the data's own dtype: no float64 copy needed
        self.set_range(float(np.min(x)), float(np.max(x)))
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0):
        lo, hi = np.inf, -np.inf
        for x in chunks:
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
        self.set_range(lo, hi)
        return self

    def set_range(self, lo: float, hi: float) -> None:
        self.params = {"lo": np.array(lo), "hi": np.array(hi if hi > lo else lo + 1.0)}

    def transform(self, x, factors=None, *, copy=True):
        self.need_fit()
        # float32 throughout: no float64 copy
        x = np.array(x, dtype=np.float32) if copy else np.asarray(x, dtype=np.float32)
        lo, hi = float(self.params["lo"]), float(self.params["hi"])
        x -= lo
        x /= hi - lo
        return x

    def inverse_transform(self, x, factors=None):
        self.need_fit()
        lo, hi = self.params["lo"], self.params["hi"]
        return (np.asarray(x, dtype=np.float32) * (hi - lo) + lo).astype(np.float32)

    def sigma_unit(self, factors=None):
        return float(self.params["hi"] - self.params["lo"])

    def log_derivative(self, x, mask, factors):
        return np.array(-np.log(float(self.params["hi"] - self.params["lo"])))


@SCALINGS.add("minmax-feature")
class FeatureMinMaxScaling(Scaler):
    """Per feature: its own range (lo_j, hi_j) -> [0, 1] (a constant feature maps to 0). For tables whose columns
    have different units, where one global range would squeeze the narrow columns to near-constants; a GAN's
    generator, which outputs [0, 1], then sees every column spread over its range."""

    kind = "minmax-feature"
    unit_range = True

    def fit(self, x, mask=None):
        self.set_ranges(np.min(x, axis=0), np.max(x, axis=0))
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0):
        lo = hi = None
        for x in chunks:
            a, b = x.min(axis=0), x.max(axis=0)
            lo, hi = (a, b) if lo is None else (np.minimum(lo, a), np.maximum(hi, b))
        self.set_ranges(lo, hi)
        return self

    def set_ranges(self, lo: np.ndarray, hi: np.ndarray) -> None:
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        self.params = {"lo": lo, "hi": np.where(hi > lo, hi, lo + 1.0)}

    def _check_shape(self, x: np.ndarray) -> None:
        self.check_example_shape(x, self.params["lo"].shape)

    def transform(self, x, factors=None, *, copy=True):
        self.need_fit()
        x = np.array(x, dtype=np.float32) if copy else np.asarray(x, dtype=np.float32)
        self._check_shape(x)
        x -= self.params["lo"].astype(np.float32)
        x /= (self.params["hi"] - self.params["lo"]).astype(np.float32)
        return x

    def inverse_transform(self, x, factors=None):
        self.need_fit()
        x = np.asarray(x, dtype=np.float32)
        self._check_shape(x)
        return (x * (self.params["hi"] - self.params["lo"]) + self.params["lo"]).astype(np.float32)

    def sigma_unit(self, factors=None):
        return self.params["hi"] - self.params["lo"]

    def log_derivative(self, x, mask, factors):
        self._check_shape(x)
        return -np.log(self.params["hi"] - self.params["lo"])


@SCALINGS.add("standard")
class StandardScaling(Scaler):
    """Per feature: (x - mean) / std (std floored at 1e-12 -> 1)."""

    kind = "standard"

    def fit(self, x, mask=None):
        x = np.asarray(x, dtype=np.float64)
        self.set_moments(x.mean(axis=0), x.std(axis=0))
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0):
        count, shift, total, total_sq = 0, None, None, None
        for x in chunks:
            x64 = x.astype(np.float64)
            if shift is None:  # sums around a first estimate of the mean keep the variance accurate
                shift = x64.mean(0)
                total, total_sq = np.zeros_like(shift), np.zeros_like(shift)
            d = x64 - shift
            total += d.sum(0)
            total_sq += (d * d).sum(0)
            count += len(x)
        mean_d = total / count
        self.set_moments(shift + mean_d, np.sqrt(np.maximum(total_sq / count - mean_d ** 2, 0.0)))
        return self

    def set_moments(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.params = {"mean": mean, "std": np.where(std > 1e-12, std, 1.0)}

    def _check_shape(self, x: np.ndarray) -> None:
        self.check_example_shape(x, self.params["mean"].shape)

    def transform(self, x, factors=None, *, copy=True):
        self.need_fit()
        x = np.array(x, dtype=np.float32) if copy else np.asarray(x, dtype=np.float32)
        self._check_shape(x)
        x -= self.params["mean"].astype(np.float32)
        x /= self.params["std"].astype(np.float32)
        return x

    def inverse_transform(self, x, factors=None):
        self.need_fit()
        x = np.asarray(x, dtype=np.float32)
        self._check_shape(x)
        return (x * self.params["std"] + self.params["mean"]).astype(np.float32)

    def sigma_unit(self, factors=None):
        return self.params["std"]

    def log_derivative(self, x, mask, factors):
        self._check_shape(x)
        return -np.log(self.params["std"])


@SCALINGS.add("none")
class NoScaling(Scaler):
    """The identity (float32)."""

    kind = "none"
    fitted = True

    def fit(self, x, mask=None):
        return self

    def fit_chunks(self, chunks, **kw):
        return self

    def transform(self, x, factors=None, *, copy=True):
        return np.array(x, dtype=np.float32) if copy else np.asarray(x, dtype=np.float32)

    def inverse_transform(self, x, factors=None):
        return np.asarray(x, dtype=np.float32)

    def sigma_unit(self, factors=None):
        return 1.0

    def log_derivative(self, x, mask, factors):
        return np.zeros(())


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


@SCALINGS.add("log")
class LogScaling(LogMap):
    """Non-negative data such as energies: log1p(x / eps) / log1p(max / eps) -> [0, 1]. The inverse sets
    values below eps to exactly 0, so generated data stay non-negative and about as sparse as real data (the
    smallest 1 % of real deposits are lost in a round trip)."""

    kind = "log"

    def fit(self, x, mask=None):
        x = np.asarray(x)
        if (x < 0).any():
            raise ConfigError("log scaling needs non-negative data; use --scaling standard or minmax")
        nz = x[x > 0]
        if nz.size == 0:
            raise ConfigError("log scaling needs some non-zero values")
        self.set_log(float(np.percentile(nz, 1)), float(nz.max()))
        return self

    def fit_chunks(self, chunks, *, n_chunks, seed=0):
        """Exact maximum; the 1st percentile of the non-zero values from a seeded subsample of at most 200000."""
        nz_max, nz_sample, rng = 0.0, [], np.random.default_rng(seed)
        per_chunk = max(1, 200_000 // n_chunks)
        for x in chunks:
            if (x < 0).any():
                raise ConfigError("log scaling needs non-negative data; use --scaling standard or minmax")
            nz = x[x > 0]
            if nz.size:
                nz_max = max(nz_max, float(nz.max()))
                nz_sample.append(rng.choice(nz, size=min(per_chunk, nz.size), replace=False))
        if not nz_sample:
            raise ConfigError("log scaling needs some non-zero values")
        self.set_log(float(np.percentile(np.concatenate(nz_sample), 1)), nz_max)
        return self

    def set_log(self, eps: float, largest: float) -> None:
        """eps: the 1st percentile of the non-zero values; largest: the largest value."""
        self.params = {**self.log_params(eps, largest), "zero_below": np.array(eps)}

    def transform(self, x, factors=None, *, copy=True):
        self.need_fit()
        return self.log_up(np.asarray(x, dtype=np.float32)).astype(np.float32, copy=False)

    def inverse_transform(self, x, factors=None):
        self.need_fit()
        return self.log_down(np.asarray(x, dtype=np.float32), self.params["zero_below"]).astype(np.float32)

    def log_derivative(self, x, mask, factors):
        # d/dx log1p(x / eps) / hi = 1 / (hi (eps + x)) for x >= 0; 0 (log: -inf) below, where the map clips
        eps, hi = float(self.params["eps"]), float(self.params["hi"])
        return np.where(x >= 0, -np.log(eps + np.maximum(x, 0.0)) - np.log(hi), -np.inf)


from . import scaling_shapes  # noqa: E402,F401  (registers fractions and median, which change shapes or per example)
