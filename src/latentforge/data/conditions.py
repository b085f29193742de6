"""Conditions of conditional models as vectors, with JSON state: each kind a class in ``CONDITIONS``.

``label``   class labels (integers or strings) -> one-hot over the classes seen in training
``vector``  continuous parameters (N, P) -> standardised with the training mean and std (float64; a parameter
            with std at most 1e-12 of its mean's magnitude is constant and maps to 0)

Each kind also keeps what the training rows covered (``remember_training``: the range of every component, the
labels present) and names conditions beyond it (``outside_training``), which the model would extrapolate to;
the run says so with a :class:`ConditionOutsideTraining` warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Iterator

import numpy as np

from ..errors import ArtifactError, ConfigError
from ..registry import Registry
from .arrays import to_numpy
from .scaling_base import constant_features

CONDITIONS: Registry[type["Conditioner"]] = Registry("condition kind")
#: a vector condition is flagged when it lies beyond the training range by more than this share of the range's
#: width (held-out rows a little beyond the training extremes are expected and not flagged)
RANGE_MARGIN = 0.05


class ConditionOutsideTraining(UserWarning):
    """A condition beyond what the training rows covered: the model extrapolates."""


class Conditioner:
    """Base class and factory: ``Conditioner("label")`` returns a :class:`LabelConditioner`.

    ``fit(values)`` on the training rows, ``transform(values)`` -> float32 (N, dim); ``source`` names the
    dataset attribute the values come from (``y`` or ``cond``).
    """

    kind: ClassVar[str] = ""
    source: ClassVar[str] = ""
    #: fitted on every row of the data, not the training rows alone (the set of class names is not a statistic
    #: that leaks: a class met first in a held-out row must still be known)
    fit_on_all_rows: ClassVar[bool] = False

    def __new__(cls, kind: str | None = None):
        if cls is Conditioner:
            cls = CONDITIONS.get(kind)
        return super().__new__(cls)

    def __init__(self, kind: str | None = None):
        pass

    @property
    def dim(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    if TYPE_CHECKING:  # each kind defines these
        def fit(self, values) -> Conditioner: ...

        def broadcast(self, values, n: int) -> np.ndarray: ...

        def transform(self, values) -> np.ndarray: ...

        def state_dict(self) -> dict[str, Any]: ...

    def remember_training(self, values) -> "Conditioner":
        """Keep what the training rows' conditions ``values`` covered (a kind's own statistic); returns self."""
        return self

    def outside_training(self, values) -> str | None:
        """A sentence naming the conditions among ``values`` beyond what training covered (None when all are
        within it, or when the coverage is unknown: a run written by an earlier version)."""
        return None

    def values_of(self, ds) -> np.ndarray | None:
        """The dataset's own values for this kind of condition (its labels, or its parameter array)."""
        return getattr(ds, self.source)

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "Conditioner":
        try:
            c = Conditioner(state["kind"])
            c.load_state(state)
        except (KeyError, TypeError, ValueError, ConfigError) as e:
            raise ArtifactError(f"condition state is damaged ({e}); retrain or restore transform.json") from None
        return c


@CONDITIONS.add("label")
class LabelConditioner(Conditioner):
    """Class labels (integers or strings) -> one-hot over the classes of the data set trained on.
    ConfigError for labels that are a continuous parameter (``data.arrays.is_categorical``)."""

    kind, source = "label", "y"
    fit_on_all_rows = True

    def __init__(self, kind: str | None = None):
        self.classes: list = []
        #: the labels present in the training rows (None: unknown)
        self.trained: list | None = None

    @property
    def dim(self) -> int:
        return len(self.classes)

    def fit(self, values) -> "LabelConditioner":
        from .arrays import is_categorical

        values = to_numpy(values)
        if not is_categorical(values):
            raise ConfigError(f"--condition label needs class labels, but these take {len(np.unique(values))} "
                              "distinct values (a continuous parameter); condition on it with --condition vector "
                              "and --cond-key NAME (Python: cond_key=)")
        self.classes = sorted(np.unique(values).tolist())
        return self

    def broadcast(self, values, n: int) -> np.ndarray:
        """One label, or one per example, as (n,)."""
        values = to_numpy(values)
        return np.broadcast_to(values.reshape(-1), (n,)) if values.size in (1, n) else values.reshape(-1)

    def transform(self, values) -> np.ndarray:
        values = to_numpy(values)
        lookup = {c: i for i, c in enumerate(self.classes)}
        flat = values.reshape(-1).tolist()
        unknown = sorted({v for v in flat if v not in lookup}, key=str)
        if unknown:
            raise ConfigError(f"condition label(s) {unknown} were not seen in training; known: {self.classes}")
        out = np.zeros((len(flat), len(self.classes)), np.float32)
        out[np.arange(len(flat)), [lookup[v] for v in flat]] = 1.0
        return out

    def remember_training(self, values) -> "LabelConditioner":
        self.trained = sorted(np.unique(to_numpy(values)).tolist())
        return self

    def outside_training(self, values) -> str | None:
        if self.trained is None:
            return None
        known = set(self.trained)
        absent = sorted({v for v in to_numpy(values).reshape(-1).tolist() if v in self.classes and v not in known},
                        key=str)
        if not absent:
            return None
        return (f"condition label(s) {absent} were in none of the training rows, only in held-out ones (the training "
                f"rows have {self.trained}): the model never learned them")

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "classes": self.classes, "trained": self.trained}

    def load_state(self, state: dict[str, Any]) -> None:
        self.classes = list(state["classes"])
        self.trained = list(state["trained"]) if state.get("trained") is not None else None


@CONDITIONS.add("vector")
class VectorConditioner(Conditioner):
    """Continuous parameters (N, P) -> standardised with the training mean and std."""

    kind, source = "vector", "cond"

    def __init__(self, kind: str | None = None):
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        #: smallest and largest value of every component in the training rows (None: unknown)
        self.low: np.ndarray | None = None
        self.high: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def fit(self, values) -> "VectorConditioner":
        v = to_numpy(values).reshape(len(values), -1).astype(np.float64)
        self.mean = v.mean(0)
        std = v.std(0)
        self.std = np.where(constant_features(self.mean, std), 1.0, std)  # "constant" relative to the magnitude
        return self

    def broadcast(self, values, n: int) -> np.ndarray:
        """One parameter vector, or one per example, as (n, dim). ConfigError for another number of values."""
        values = to_numpy(values)
        if values.size not in (self.dim, n * self.dim):
            each = f", {values.shape[-1]} per example" if values.ndim == 2 and len(values) == n else ""
            raise ConfigError(f"a condition is a vector of {self.dim} value(s) as in training (one, or one per "
                              f"example); got {values.size} value(s) for {n} example(s){each}: give conditions like the "
                              "training data's (the same --cond-key, from data holding the same quantities)")
        values = values.reshape(-1, self.dim)
        return np.broadcast_to(values, (n, self.dim)) if len(values) == 1 else values

    def transform(self, values) -> np.ndarray:
        values = to_numpy(values)
        v = values.reshape(len(values), -1) if values.ndim > 1 else values.reshape(-1, self.dim)
        if v.shape[1] != self.dim:
            raise ConfigError(f"conditions need {self.dim} value(s) each, got {v.shape[1]}")
        return ((v - self.mean) / self.std).astype(np.float32)

    def remember_training(self, values) -> "VectorConditioner":
        v = to_numpy(values).reshape(len(values), -1).astype(np.float64)
        self.low, self.high = v.min(0), v.max(0)
        return self

    def outside_training(self, values) -> str | None:
        """Components of ``values`` (one vector, or (n, dim)) beyond [low, high] by more than RANGE_MARGIN of the
        width (of the larger of the width and |value| scale for a constant component)."""
        raw = to_numpy(values)
        if self.low is None or raw.size == 0 or raw.size % self.dim:
            return None  # unknown coverage; a wrong number of values is refused by transform
        v = raw.reshape(-1, self.dim).astype(np.float64)
        width = self.high - self.low
        slack = RANGE_MARGIN * np.where(width > 0, width, np.maximum(np.abs(self.high), 1e-12))
        below, above = v < self.low - slack, v > self.high + slack
        parts = []
        for j in np.flatnonzero((below | above).any(0)):
            far = np.maximum(self.low[j] - v[:, j], v[:, j] - self.high[j])  # how far beyond the range
            worst = float(v[int(np.argmax(far)), j])
            n_out = int((below[:, j] | above[:, j]).sum())
            parts.append(f"component {j} = {worst:.6g} (training range [{self.low[j]:.6g}, {self.high[j]:.6g}]"
                         + (f"; {n_out} of {len(v)} conditions beyond it" if len(v) > 1 else "") + ")")
        if not parts:
            return None
        return ("condition outside its training range: " + "; ".join(parts)
                + ": the model extrapolates there and its output is not validated")

    def state_dict(self) -> dict[str, Any]:
        state = {"kind": self.kind, "mean": self.mean.tolist(), "std": self.std.tolist()}
        if self.low is not None:
            state.update(low=self.low.tolist(), high=self.high.tolist())
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        self.mean, self.std = np.asarray(state["mean"]), np.asarray(state["std"])
        if state.get("low") is not None:
            self.low, self.high = np.asarray(state["low"], np.float64), np.asarray(state["high"], np.float64)


#: the ``condition`` of an unconditional model
NO_CONDITION = "none"


class ConditionChoices:
    """The values of a model's ``condition`` option: ``none`` and every registered condition kind."""

    def __iter__(self) -> Iterator[str]:
        return iter([NO_CONDITION, *CONDITIONS.names()])

    def __contains__(self, name: object) -> bool:
        return name in list(self)


CONDITION_CHOICES = ConditionChoices()
