"""The training data of a run: one interface (``TrainingData``) with an in-memory and a streamed version,
which fit the scaling and the condition on the training rows and hand the trainer its batches; and what a
run records of its data."""

from __future__ import annotations

import abc
import contextlib
import mmap
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import ModelSpec
from ..data.conditions import NO_CONDITION
from ..data.records import INFO_KEYS
from ..data import DATA_KEYWORDS, DATASETS, ArrayDataset, Conditioner, Scaler, check_unit_range, split_for
from ..errors import ConfigError, DataError
from ..training.config import TrainConfig
from .domains import scaling_rows
from .trained import TrainedModel


class TrainingData(abc.ABC):
    """The training data of one run, as ``_fit`` uses it, whether held in memory or streamed from a file.

    ``ds``: the rows the choices from the data and the run's description look at (every row in memory; a preview
    of held-out rows when streamed); ``idx``: the seeded split (``train`` / ``val`` / ``test`` row indices);
    ``n_rows``: the rows of the whole data set; ``example_shape``: one example's shape as read; ``ds_b``: a second
    data set (domain B of a translation model) or None.
    """

    ds: ArrayDataset
    idx: dict[str, np.ndarray]
    n_rows: int
    example_shape: tuple[int, ...]
    streamed: bool = False
    ds_b: ArrayDataset | None = None

    @property
    def n_train(self) -> int:
        return len(self.idx["train"])

    @abc.abstractmethod
    def fit_transform(self, spec: ModelSpec, options: dict, tc: TrainConfig) -> tuple[Scaler, Conditioner | None]:
        """The scaling (and a conditional model's conditioner) fitted on the training rows."""

    @abc.abstractmethod
    def plot_rows(self, limit: int) -> tuple[ArrayDataset, bool]:
        """At most ``limit`` raw rows for the run's plots (held-out rows where there are any), and whether they
        are held out."""

    @abc.abstractmethod
    def loaders(self, run: TrainedModel, spec: ModelSpec, tc: TrainConfig) -> tuple[Any, Any]:
        """(training data, validation data or None) in model space as the trainer takes them: tensors in memory
        or chunk streams. In memory, the training rows the run saw are remembered (evaluate's unseen split)."""

    def release(self) -> None:
        """Drop the references to the raw rows that training no longer needs."""


class InMemoryData(TrainingData):
    """Data read whole into memory (``ds``), split with the run's seed; optionally a second data set ``ds_b``
    with its split ``idx_b``, scaled with the same scaling. ``read_here(ds)``: whether ``ds``'s array was read
    here from a file, so that training may scale it in place."""

    def __init__(self, ds: ArrayDataset, tc: TrainConfig, *, read_here=lambda ds: False,
                 ds_b: ArrayDataset | None = None, idx_b: dict | None = None):
        self.ds, self.idx = ds, split_for(len(ds), tc)
        self.n_rows, self.example_shape = len(ds), ds.example_shape
        self.ds_b, self.idx_b = ds_b, idx_b
        self._read_here = read_here
        self._train_ds: ArrayDataset | None = None

    def fit_transform(self, spec: ModelSpec, options: dict, tc: TrainConfig) -> tuple[Scaler, Conditioner | None]:
        ds, idx = self.ds, self.idx
        conditioner = fit_conditioner(spec, options, ds, idx["train"])
        # one copy of the training rows, fitted on and then scaled in place; when training takes every row of an
        # array read here from a file (ours alone), that array itself, scaled in place after its last raw use
        self._train_ds = ds if len(idx["train"]) == len(ds) and self._read_here(ds) else ds.subset(idx["train"])
        if self.ds_b is None:
            return fit_scaling(tc.scaling, self._train_ds, conditioner, options), conditioner
        # one scaling for both domains, so that a translation stays in the same units
        rows = scaling_rows(ds, idx, self.ds_b, self.idx_b)
        return Scaler(tc.scaling).fit(rows, self._train_ds.mask), conditioner

    def plot_rows(self, limit: int) -> tuple[ArrayDataset, bool]:
        test = self.idx["test"]
        shown = test if len(test) else np.arange(len(self.ds))
        return self.ds.subset(shown[:limit]), len(test) > 0

    def loaders(self, run: TrainedModel, spec: ModelSpec, tc: TrainConfig) -> tuple[Any, Any]:
        ds, idx, objective = self.ds, self.idx, run.objective
        # the rows training sees, recognised later in any data set (evaluate's unseen split); taken before the
        # training rows are scaled in place
        run.preprocess.remember_rows(ds.x, np.concatenate([idx["train"], idx["val"]]))
        # the subsets are fresh copies of their rows: scaled in place, no second copy
        train_b = run.preprocess.batch(self._train_ds, name=spec.name, clip=False, owned=True)
        self._train_ds = None
        val_b = (run.preprocess.batch(ds.subset(idx["val"]), name=spec.name, owned=True)  # clipped, as held-out data
                 if len(idx["val"]) else None)
        if objective.needs_unit_range:
            check_unit_range(train_b["x"].numpy(), what=f"{ds.source} training data after {tc.scaling} scaling",
                             fix=unit_range_fix(spec, tc))
        if self.ds_b is not None and self.idx_b is not None:  # domain B goes to the objective beside A's batches
            ds_b, idx_b = self.ds_b, self.idx_b
            second = run.preprocess.batch(ds_b.subset(idx_b["train"]), name=spec.name, clip=False, owned=True)
            objective.attach_second(second, run.preprocess.batch(ds_b.subset(idx_b["val"]), name=spec.name, owned=True)
                                    if len(idx_b["val"]) else None)
            if objective.needs_unit_range:
                check_unit_range(second["x"].numpy(), what=f"{ds_b.source} training data after {tc.scaling} scaling",
                                 fix=unit_range_fix(spec, tc))
        return train_b, val_b

    def release(self) -> None:
        self.ds = self._train_ds = None  # type: ignore[assignment]


class StreamedData(TrainingData):
    """Data read chunk by chunk from an .npy or HDF5 file (``--stream``): the split is a part label per row, the
    scaling is fitted over the training chunks, and a preview of held-out rows stands in for ``ds``."""

    streamed = True

    def __init__(self, stream: dict):
        self.file, self.part = stream["file"], stream["part"]
        self.ds, self.idx = stream["preview"], stream["idx"]
        self.n_rows, self.example_shape = self.file.n, self.file.example_shape
        self._scaler: Scaler | None = None

    @classmethod
    def open(cls, spec: ModelSpec, data: Any, data_kw: dict, options: dict, tc: TrainConfig,
             cleanup: contextlib.ExitStack) -> "StreamedData":
        """The stream of ``data`` (a path), closed when ``cleanup`` exits."""
        stream = open_stream(spec, data, data_kw, options, tc)
        cleanup.callback(stream["file"].close)
        return cls(stream)

    def fit_transform(self, spec: ModelSpec, options: dict, tc: TrainConfig) -> tuple[Scaler, Conditioner | None]:
        """The conditioner (on the training rows' condition vectors, read chunk by chunk: P numbers a row) and the
        scaling, both fitted on the training rows in streamed passes."""
        from ..data.stream import fit_scaler, training_conditions

        conditioner = None
        kind = condition_kind(spec, options)
        if kind != NO_CONDITION:
            conditioner = Conditioner(kind)
            values = training_conditions(self.file, self.part, tc.chunk_size)
            if conditioner.source != "cond" or values is None:
                raise ConfigError(f"--stream conditions on the condition vectors of files that hold them (known "
                                  f"layouts); {self.file.path} with --condition {kind} cannot: use --condition "
                                  f"{'vector' if values is not None else 'none'}, or train without --stream")
            conditioner.fit(values).remember_training(values)
        if Scaler(tc.scaling).uses_condition and conditioner is None:
            raise ConfigError(f"{tc.scaling} scaling maps each example with its condition vector; condition the "
                              "model on it (--condition vector)")
        self._scaler = fit_scaler(self.file, self.part, tc.scaling, tc.chunk_size, seed=tc.seed,
                                  threshold=options.get("threshold"))
        return self._scaler, conditioner

    def plot_rows(self, limit: int) -> tuple[ArrayDataset, bool]:
        return self.ds.subset(np.arange(len(self.ds))[:limit]), True

    def loaders(self, run: TrainedModel, spec: ModelSpec, tc: TrainConfig) -> tuple[Any, Any]:
        from ..data.stream import TRAIN, VAL, ChunkStream

        kw = dict(chunk_size=tc.chunk_size, buffer_chunks=tc.buffer_chunks,
                  unit_range=run.objective.needs_unit_range, conditioner=run.preprocess.conditioner)
        train_b = ChunkStream(self.file, self.part, TRAIN, run.preprocess.scaler, **kw)
        val_b = ChunkStream(self.file, self.part, VAL, run.preprocess.scaler, **kw) if len(self.idx["val"]) else None
        return train_b, val_b


def read_here(data: Any, ds: ArrayDataset) -> bool:
    """Whether ``ds``'s array was made here from a file (a path, not a built-in set, which is cached, nor the
    caller's array, which is the caller's to keep): writeable and not mapped from disk, so training may scale it
    in place."""
    if not (isinstance(data, (str, os.PathLike)) and str(data) not in DATASETS and os.path.isfile(str(data))
            and ds.x.flags.writeable):
        return False  # a built-in name wins over a file of that name
    base: Any = ds.x
    while base is not None:  # a view of a view ... of a file mapped into memory is the file itself
        if isinstance(base, (np.memmap, mmap.mmap)):
            return False
        base = getattr(base, "base", None)
    return True


def unit_range_fix(spec: ModelSpec, tc: TrainConfig) -> str:
    """What to do when the training data leaves [0, 1] under a loss that needs it: never the setting in use."""
    fits = "--loss mse --output identity" if "loss" in spec.option_names() else (
        "--likelihood gaussian-shared" if "likelihood" in spec.option_names() else "")
    scaling = "" if Scaler(tc.scaling).unit_range else "use --scaling minmax (to [0, 1]), or "
    return (f"{scaling}{'use ' if not scaling else ''}{fits} for real-valued data" if fits else
            f"{scaling}scale the data to [0, 1]").replace("or use", "or")


def describe_data(ds: ArrayDataset, data_kw: dict, *, n: int, example_shape, streamed: bool) -> dict[str, Any]:
    """What config.json records of the training data: where it came from, its size and shape, the keys that
    picked its arrays, which extras it had, its layout, and its fingerprint (to recognise it later)."""
    info: dict[str, Any] = {"source": ds.source, "n": n, "example_shape": list(example_shape)}
    if isinstance(data_kw.get("labels"), (str, os.PathLike)):
        info["labels"] = str(data_kw["labels"])
    for k, v in data_kw.items():
        if k != "labels" and isinstance(v, (str, bool)) and v != "":
            info[k] = v
    info.update({f"has_{k}": True for k in ("sigma", "mask", "cond") if getattr(ds, k) is not None})
    if ds.y is not None:
        info["labels_kind"] = "text" if ds.y.dtype.kind == "U" else str(ds.y.dtype)
    # columns and their units, and what a domain's layout describes (data.records.INFO_KEYS: a unit the model
    # generates in, a published layout, a geometry): what an output file in the user's own format names its values with
    for k in ("layout", "columns", "column_units"):
        if ds.info.get(k) is not None:
            info[k] = list(ds.info[k]) if isinstance(ds.info[k], (list, tuple)) else ds.info[k]
    info.update({k: key.to_json(ds.info[k]) for k, key in INFO_KEYS.items() if ds.info.get(k) is not None})
    if len(ds) and not streamed:  # the range of the values, data units: what an 8-bit PNG output spans (0 ... 255)
        from .outputs import value_range

        info["value_range"] = value_range(ds)
    if os.path.exists(str(ds.source)):
        info["path"] = str(Path(ds.source).resolve())
    if not streamed:
        info["fingerprint"] = ds.fingerprint()
    return info


#: values of a streamed file's preview rows, about
PREVIEW_VALUES = 1 << 22


def open_stream(spec: ModelSpec, data: Any, data_kw: dict, options: dict, tc: TrainConfig) -> dict:
    """The chunked reader, the seeded split as a part label per row (1 train, 2 val, 3 test) and a small
    in-memory preview of held-out rows for the plots."""
    from ..data.stream import TEST, TRAIN, VAL, open_chunked

    if not isinstance(data, (str, os.PathLike)):
        raise ConfigError("--stream reads a file (.npy or HDF5); give its path, or train without --stream")
    # every reader option but the array's key, its layout and a condition key (a file of a known layout gives its
    # condition vectors per chunk): a streamed file is one array (header="auto" is no request)
    extra = [k for k in DATA_KEYWORDS if k not in ("key", "channels_last", "cond_key")
             and data_kw.get(k) not in (None, "", "auto")]
    if extra:
        raise ConfigError(f"--stream takes the data array only; drop {', '.join(extra)} or train without --stream")
    f = open_chunked(data, key=data_kw.get("key"), channels_last=data_kw.get("channels_last"),
                     cond_key=data_kw.get("cond_key"))
    try:
        if condition_kind(spec, options) != NO_CONDITION and f.conditions(0, 1) is None:
            raise ConfigError("--stream trains conditional models on files that hold condition vectors (known "
                              "layouts); use --condition none or train without --stream")
        idx = split_for(f.n, tc)
        part = np.zeros(f.n, np.int8)
        part[idx["train"]], part[idx["val"]], part[idx["test"]] = TRAIN, VAL, TEST
        show = idx["test"] if len(idx["test"]) else idx["train"]
        # at most 200 rows and about 4M values (plots, choices from the data): a preview, not a chunk
        show = np.sort(show[:max(20, min(200, PREVIEW_VALUES // max(1, int(np.prod(f.example_shape)))))])
        cond = f.take_conditions(show, tc.chunk_size)
        preview = ArrayDataset(f.take(show, tc.chunk_size), name=Path(data).name, source=str(data),
                               info={**f.info, "index": show}, cond=cond)
    except BaseException:
        f.close()
        raise
    return {"file": f, "idx": idx, "part": part, "preview": preview}


def condition_kind(spec: ModelSpec, options: dict) -> str:
    """What the model will be conditioned on (``none`` for models without the option)."""
    if "condition" not in spec.model_config_class.field_names():
        return NO_CONDITION
    return options.get("condition", spec.default("condition"))


def fit_conditioner(spec: ModelSpec, options: dict, ds: ArrayDataset, train_idx: np.ndarray) -> Conditioner | None:
    """The conditioner of a conditional model, fitted on the training rows, which it also keeps the coverage of (to
    flag conditions beyond it later); None for other models."""
    kind = condition_kind(spec, options)
    if kind == NO_CONDITION:
        return None
    conditioner = Conditioner(kind)
    values = conditioner.values_of(ds)
    if values is None:
        if conditioner.source == "y":
            raise DataError(f"{ds.source}: conditioning on labels needs labels (npz/HDF5 key y or --labels-key, or "
                            "--labels FILE); or use --condition vector with --cond-key")
        raise DataError(f"{ds.source}: conditioning on a parameter vector needs a cond array; name it with "
                        "--cond-key (npz key / HDF5 dataset of shape (N, P))")
    conditioner.fit(values if conditioner.fit_on_all_rows else values[train_idx])
    return conditioner.remember_training(values[train_idx])


def fit_scaling(kind: str, train_ds: ArrayDataset, conditioner: Conditioner | None,
                options: dict | None = None) -> Scaler:
    """The scaling fitted on the training rows ``train_ds``; a condition-aware one (fractions-response) also on
    their condition vectors, which the model must then be conditioned on (ConfigError otherwise); one that reads
    the data's description (e.g. a domain's layer scaling) also on ``train_ds.info`` and the model's ``threshold`` option."""
    scaler = Scaler(kind)
    if not scaler.uses_condition:
        return scaler.fit(train_ds.x, train_ds.mask)
    if conditioner is None or conditioner.source != "cond":
        raise ConfigError(f"{kind} scaling maps each example with its condition vector; condition the model on it "
                          "(--condition vector --cond-key NAME)")
    if scaler.uses_info:
        return scaler.fit(train_ds.x, train_ds.mask, cond=train_ds.cond, info=train_ds.info,
                          threshold=(options or {}).get("threshold"))
    return scaler.fit(train_ds.x, train_ds.mask, cond=train_ds.cond)
