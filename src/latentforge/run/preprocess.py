"""Raw data <-> the model's space: the fitted scaling, the conditions, the example shape and the seeded split.

A :class:`Preprocessor` is fitted on the training rows only and saved as JSON (``transform.json``); everything a
trained model takes in or gives back goes through it, so users work in their own units throughout.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any

import numpy as np
import torch

from ..data import ArrayDataset, Conditioner, Scaler, as_dataset, split_for
from ..data.arrays import row_hashes
from ..data.conditions import ConditionOutsideTraining
from ..data.grids import GRIDS
from ..data.split import SPLITS
from ..data.stream import scale_rows
from ..errors import ArtifactError, ConfigError, DataError


class Preprocessor:
    """The scaling (``scaler``), the conditioner of a conditional model (or None), the model's example shape
    and the split settings of the run it belongs to (fractions and seed)."""

    def __init__(self, scaler: Scaler, conditioner: Conditioner | None, model_shape: tuple[int, ...], *,
                 val_fraction: float, test_fraction: float, seed: int, clip: bool = False,
                 grids: dict[str, np.ndarray] | None = None):
        self.scaler = scaler
        self.conditioner = conditioner
        self.model_shape = tuple(model_shape)
        self.val_fraction, self.test_fraction, self.seed = val_fraction, test_fraction, seed
        #: sorted unique ``row_hashes`` of the rows training saw (train and validation); None when unknown (a
        #: streamed run, or one written by an earlier version)
        self.seen_rows: np.ndarray | None = None
        #: clip data other than the training rows into the scaled range [0, 1] (what a BCE loss, a Bernoulli
        #: likelihood or a GAN's [0, 1] data space needs), as scikit-learn's MinMaxScaler(clip=True) does
        self.clip = clip
        #: inside ``flagging_once``: the condition warnings given so far (None outside)
        self._flagged: list[str] | None = None
        #: the training data's sample grids (``data.grids``: info key -> (P,) values) when it had one: data on
        #: another grid are resampled onto it
        self.grids = {k: np.asarray(v, np.float64) for k, v in (grids or {}).items()}

    def grid(self, key: str) -> np.ndarray | None:
        """The training data's sample grid registered as ``key`` in ``data.grids.GRIDS``, else None."""
        return self.grids.get(key)

    # ------------------------------------------------------------------ shapes and the split
    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one raw example (the model's own may differ: ``fractions`` adds the total)."""
        return self.scaler.raw_shape(self.model_shape)

    def split(self, n: int) -> dict[str, np.ndarray]:
        """The run's seeded train / val / test rows of a dataset of ``n`` rows."""
        return split_for(n, self)

    def select(self, data: Any, split: str = "all", **data_kw: Any) -> ArrayDataset:
        """The chosen part of a dataset; train / val / test repeat the run's seeded split (the rows of the full
        dataset are kept in ``info["index"]``). Raises ConfigError for an unknown split, DataError for an empty one."""
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        ds = as_dataset(data, **data_kw)
        if split == "all":
            return ds
        if split == "unseen":
            return self._unseen(ds)
        idx = self.split(len(ds))
        if len(idx[split]) == 0:
            raise DataError(f"the {split} split is empty (fraction 0 in training); use --split all")
        part = ds.subset(idx[split])
        part.info["index"] = idx[split]  # rows of the full dataset, for arrays kept beside it
        return part

    def seen_in(self, ds: ArrayDataset) -> np.ndarray | None:
        """Per row of ``ds``: whether training saw it (its values equal a training or validation row's); None when
        the run does not know its rows."""
        if self.seen_rows is None or tuple(ds.example_shape) != tuple(self.input_shape):
            return None
        return np.isin(row_hashes(ds.x), self.seen_rows)

    def _unseen(self, ds: ArrayDataset) -> ArrayDataset:
        seen = self.seen_in(ds)
        if seen is None:
            raise DataError("this run does not know which rows it was trained on (streamed, or written by an earlier "
                            "version, or data of another shape); use --split all or test")
        if seen.all():
            raise DataError(f"every one of the {len(ds)} rows was used in training; give held-out data, or "
                            "--split all to measure on training rows")
        keep = np.flatnonzero(~seen)
        part = ds.subset(keep)
        part.info["index"] = keep
        part.info["seen_rows"] = int(seen.sum())
        return part

    def remember_rows(self, x: np.ndarray, index: np.ndarray) -> None:
        """Keep the hashes of rows ``index`` (distinct row numbers) of ``x`` as the rows training saw."""
        every = len(index) == len(x)  # distinct and as many as the rows: every row, hashed without a gather
        self.seen_rows = np.unique(row_hashes(x, None if every else index))

    # ------------------------------------------------------------------ raw -> model space
    def dataset(self, data: Any) -> ArrayDataset:
        """``data`` (a dataset, an array, a tensor ... of raw examples) checked against the model's example shape;
        images stored channels last are recognised by the model's (C, H, W); data on another sample grid than
        the training data's are first resampled onto it (``on_model_grid``)."""
        if isinstance(data, ArrayDataset):
            ds = data
        else:
            from ..data.arrays import to_numpy

            x = to_numpy(data) if not isinstance(data, (str, os.PathLike)) else None
            shape = tuple(self.input_shape)
            last = (x is not None and x.ndim == 4 and len(shape) == 3 and tuple(x.shape[1:]) != shape
                    and tuple(x.shape[1:]) == (*shape[1:], shape[0]))
            ds = as_dataset(data if x is None else x, channels_last=True if last else
                            (False if x is not None and x.ndim == 4 else None))
        ds = self.on_model_grid(ds)
        if tuple(ds.x.shape[1:]) != tuple(self.input_shape):
            hint = "".join(f"; {g.hint}" for key, g in GRIDS.items()
                           if ds.info.get(key) is not None and key not in self.grids and g.hint)
            raise DataError(f"the model takes examples of shape {tuple(self.input_shape)}, got "
                            f"{tuple(ds.x.shape[1:])}{hint}")
        return ds

    def on_model_grid(self, ds: ArrayDataset) -> ArrayDataset:
        """Data whose sample grid (``ds.info[key]`` of a grid registered in ``data.grids``) differs from the
        training grid, resampled onto it with their sigma and mask; points the input does not cover are masked.
        The input grid is kept in ``info["input_" + key]`` for ``on_input_grid``."""
        for key, grid in GRIDS.items():
            mine, given = self.grids.get(key), ds.info.get(key)
            if mine is None or given is None or grid.same(given, mine):
                continue
            x, sigma, mask = grid.resample(mine, given, ds.x, ds.sigma, ds.mask)
            info = {**ds.info, key: mine, "input_" + key: np.asarray(given, np.float64)}
            ds = ArrayDataset(x, ds.y, name=ds.name, source=ds.source, info=info, sigma=sigma, mask=mask, cond=ds.cond)
        return ds

    def on_input_grid(self, values: np.ndarray, ds: ArrayDataset) -> np.ndarray:
        """Per-point answers (N, P) on the model's grid back on the grid ``ds`` came in on (NaN where the model's
        grid does not reach); unchanged for data that was not resampled."""
        for key, grid in GRIDS.items():
            given, mine = ds.info.get("input_" + key), self.grids.get(key)
            if given is not None and mine is not None:
                values = grid.back(np.asarray(given, np.float64), mine, values).astype(np.float32)
        return values

    def factors(self, ds: ArrayDataset) -> np.ndarray | None:
        """Each example's own scale factor under a per-example scaling (median), its raw condition vector under a
        condition-aware one (fractions-response), else None."""
        if self.scaler.uses_condition:
            return self.condition_factors(len(ds), None, ds)
        return self.scaler.factors(ds.x, ds.mask) if self.scaler.per_example else None

    def condition_factors(self, n: int, condition: Any = None, ds: ArrayDataset | None = None) -> np.ndarray | None:
        """The raw condition vectors (n, P) a condition-aware scaling maps with (None for other scalings): the
        given condition (one, or one per example), else the dataset's own."""
        if not self.scaler.uses_condition:
            return None
        if condition is None and ds is not None and self.conditioner is not None:
            condition = self.conditioner.values_of(ds)
        if condition is None or self.conditioner is None:
            raise ConfigError(f"{self.scaler.kind} scaling maps each example with its condition vector; give the "
                              "condition (CLI: --condition)")
        return np.asarray(self.conditioner.broadcast(condition, n), np.float64)

    def to_model_space(self, data: Any) -> torch.Tensor:
        """Raw examples -> scaled float tensor of the model's input shape (each example with its own factors under
        a per-example or condition-aware scaling: ``factors``)."""
        ds = self.dataset(data)
        return torch.from_numpy(self.scaler.transform(ds.x, factors=self.factors(ds)))

    def scale(self, x: np.ndarray, condition: Any = None, like: ArrayDataset | None = None) -> np.ndarray:
        """Raw examples ``x`` (N, ...) in the model's layout (generated or reconstructed) -> model space, float32.
        A condition-aware scaling (fractions-response) maps each row with its raw condition: ``condition`` (one, or
        one per row) or the conditions of ``like`` (the N rows ``x`` stands for); a per-example scaling takes the
        factors of ``like`` where given, else computes them from ``x``. Raises ConfigError for a condition-aware
        scaling without conditions."""
        factors = None
        if self.scaler.uses_condition:
            factors = self.condition_factors(len(x), condition, like)
        elif like is not None and self.scaler.per_example:
            factors = self.factors(like)
        return self.scaler.transform(x, factors=factors)

    def flag_conditions(self, values: Any, *, warn: bool = True) -> str | None:
        """The sentence naming conditions among ``values`` (raw labels / parameter vectors) beyond what the training
        rows covered (``Conditioner.outside_training``), given as a ConditionOutsideTraining warning too unless
        ``warn`` is False; None when all are covered, for an unconditional model, or when the run does not know
        its coverage."""
        if self.conditioner is None or values is None:
            return None
        note = self.conditioner.outside_training(values)
        once = getattr(self, "_flagged", None)  # inside ``flagging_once``: [] until the first warning
        if note and warn and (once is None or not once):
            warnings.warn(note, ConditionOutsideTraining, stacklevel=3)
            if once is not None:
                once.append(note)
        return note

    @contextlib.contextmanager
    def flagging_once(self):
        """Within this block conditions beyond the training coverage give one warning in all (a command that passes
        the same conditions through several steps says it once)."""
        self._flagged = []
        try:
            yield
        finally:
            self._flagged = None

    def condition_vectors(self, n: int, condition: Any = None, ds: ArrayDataset | None = None,
                          *, name: str = "this model", check: bool = True) -> torch.Tensor | None:
        """Condition vectors (n, condition_dim) from explicit values, or from the dataset's own labels / parameters;
        None for an unconditional model (which refuses a condition). ``check``: conditions beyond the training
        coverage are flagged (``flag_conditions``)."""
        if self.conditioner is None:
            if condition is not None:
                raise ConfigError(f"model {name!r} is not conditional; drop the condition")
            return None
        if condition is None and ds is not None:
            condition = self.conditioner.values_of(ds)
        if condition is None:
            what = ("class labels" if self.conditioner.source == "y"
                    else f"{self.conditioner.dim} parameter value(s) per example")
            raise ConfigError(f"model {name!r} is conditional: give a condition ({what}; CLI: --condition)")
        values = self.conditioner.broadcast(condition, n)
        if len(values) != n:
            raise ConfigError(f"{len(values)} conditions for {n} examples; give one, or one per example")
        out = torch.from_numpy(self.conditioner.transform(values))  # refuses unknown labels first
        if check:
            self.flag_conditions(values)
        return out

    def batch(self, data: Any, condition: Any = None, *, name: str = "this model",
              clip: bool | None = None, owned: bool = False) -> dict[str, torch.Tensor]:
        """Raw data -> the model-space batch dict: x, and sigma / mask / c where they apply. ``clip`` (default:
        the preprocessing's own setting) clips x into [0, 1]; the training rows are never clipped, so that data
        unfit for a loss is refused instead. ``owned``: ``data``'s arrays are the caller's own copy, scaled in place."""
        ds = self.dataset(data)
        f = self.factors(ds)  # per-example scale factors (median scaling), else None
        # the caller's own copy is scaled in place; other data row block by row block (a shape-changing scaling's
        # float64 temporaries stay at a block)
        x = self.scaler.transform(ds.x, factors=f, copy=False) if owned else scale_rows(self.scaler, ds.x, f)
        if self.clip if clip is None else clip:
            np.clip(x, 0.0, 1.0, out=x)
        b = {"x": torch.from_numpy(x)}
        if ds.sigma is not None:
            b["sigma"] = torch.from_numpy(self.scaler.sigma_to_model(ds.sigma, factors=f))
        if ds.mask is not None:
            if b["x"].shape != ds.mask.shape:
                raise ConfigError(f"{self.scaler.kind} scaling changes the example shape, so a per-point mask "
                                  "cannot follow it; use --scaling log, minmax, standard or none with masks")
            b["mask"] = torch.from_numpy(ds.mask)
        c = self.condition_vectors(len(ds), condition, ds, name=name)
        if c is not None:
            b["c"] = c
        return b

    # ------------------------------------------------------------------ model space -> raw
    def to_raw(self, t: torch.Tensor | np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
        return self.scaler.inverse_transform(t.numpy() if torch.is_tensor(t) else t, factors=factors)

    def sigma_to_raw(self, sigma: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
        return self.scaler.sigma_to_raw(sigma, factors=factors)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict(),
                "condition": self.conditioner.state_dict() if self.conditioner else None, "clip": self.clip,
                **{key: values.tolist() for key, values in self.grids.items()}}

    @classmethod
    def from_state_dict(cls, state: Any, model_shape: tuple[int, ...], train_config) -> "Preprocessor":
        """Rebuild from ``state_dict()`` (transform.json); a damaged state raises ArtifactError."""
        if not isinstance(state, dict) or "scaler" not in state:
            raise ArtifactError("not a latentforge transform state")
        scaler = Scaler.from_state_dict(state["scaler"])
        conditioner = Conditioner.from_state_dict(state["condition"]) if state.get("condition") else None
        grids = {key: state[key] for key in GRIDS if state.get(key) is not None}
        for key, values in grids.items():
            if not isinstance(values, list) or len(values) != model_shape[-1]:
                raise ArtifactError(f"the stored {key} grid does not match the model's points")
        return cls(scaler, conditioner, model_shape, val_fraction=train_config.val_fraction,
                   test_fraction=train_config.test_fraction, seed=train_config.seed, clip=bool(state.get("clip")),
                   grids=grids)
