"""Fitting: build a catalogue model for the data, train it, and write (or resume) its run directory.

    run = train("vae", "mnist", out="runs/vae", latent_dim=16, epochs=30)
"""

from __future__ import annotations

import abc
import contextlib
import mmap
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..catalog import MODELS, ModelSpec
from ..data.conditions import NO_CONDITION
from ..data import DATA_KEYWORDS, DATASETS, ArrayDataset, Conditioner, Scaler, as_dataset, check_unit_range, split_for
from ..errors import ArtifactError, ConfigError, DataError, LatentforgeError
from ..io import (RunLayout, append_jsonl, load_tensors, read_json, remove_stale_temporaries, save_tensors,
                  write_error, write_json, write_jsonl)
from ..train import Trainer, runtime
from ..train.config import TrainConfig
from ..train.state import meta_from_strings, meta_to_strings
from .callbacks import Callback, as_callbacks, fit_hooks
from .defaults import choose
from .domains import describe as describe_second, scaling_rows, second_dataset
from .preprocess import Preprocessor
from .resume import check_resume_meaning, resume_compatible, saved_options
from .trained import TrainedModel


def plan(model: str, data: Any, **options: Any) -> dict[str, Any]:
    """Everything ``train(model, data, **options)`` would use, resolved (defaults, the choices it makes from the
    data, the values the data fills in), as the dict a run's ``config.json`` holds; nothing is trained or written."""
    return train(model, data, progress=False, _plan=True, **options).config_dict()


#: rows of held-out data the run's plots are drawn from, at most
PLOT_ROWS = 5000


def train(model: str, data: Any, *, out: str | os.PathLike | None = None, train_config: TrainConfig | None = None,
          progress: bool = True, resume: bool = False, overwrite: bool = False, data_b: Any = None,
          callbacks: Sequence[Callback] | None = None, _plan: bool = False, **options: Any) -> TrainedModel:
    """Train catalogue model ``model`` on ``data`` (a built-in name, a file path, an array or a dataset).
    ``data_b``: the second, unpaired data set of a model that translates between two domains (``cyclegan``).

    ``options`` may hold TrainConfig fields (epochs, lr, seed ...), data keywords (key, labels, labels_key,
    sigma_key, ivar_key, mask_key, cond_key, channels_last) and the model's / objective's own options.
    With ``out`` the run directory gets config.json, transform.json, metrics.jsonl, a checkpoint each epoch,
    model.safetensors and plots. ``resume=True`` continues from the checkpoint there. ``callbacks``: a list of
    ``latentforge.Callback`` objects (or functions ``fn(trainer, row)`` run after each epoch), e.g. the trackers
    of ``latentforge.run.tracking``; their hooks run on rank 0.

    Raises ConfigError (bad or inconsistent options), DataError (unusable data), ArtifactError (a run directory
    that would be overwritten, or cannot be resumed) and TrainingDiverged (a loss became NaN or infinite).
    """
    spec = MODELS.get(model)
    if resume and out is not None and train_config is None:
        options = {**saved_options(model, out), **options}  # the run's own options, unless given anew
    tc_fields = TrainConfig.field_names()
    tc_opts = {k: options.pop(k) for k in list(options) if k in tc_fields}
    loader_batch = loader_batch_size(data, data_b, asked=tc_opts.get("batch_size", train_config.batch_size
                                                                      if train_config is not None else None))
    if loader_batch is not None:
        tc_opts["batch_size"] = loader_batch  # a DataLoader's batches are the training batches
    base = train_config or TrainConfig(**spec.train_defaults)
    tc = base.replace(**tc_opts) if tc_opts else base
    given = set(options) | set(tc_opts) | (tc_fields if train_config is not None else set())
    data_kw = {k: options.pop(k) for k in list(options) if k in DATA_KEYWORDS}
    user_callbacks = as_callbacks(callbacks)
    dist, _ = runtime.setup_distributed(tc.device)  # under torchrun: join the process group
    try:
        with contextlib.ExitStack() as cleanup:
            return _fit(spec, data, data_kw, tc, options, dist, out=out, progress=progress, resume=resume,
                        overwrite=overwrite, cleanup=cleanup, given=given, user_callbacks=user_callbacks,
                        plan_only=_plan, data_b=data_b)
    finally:
        runtime.teardown_distributed()


def _fit(spec: ModelSpec, data: Any, data_kw: dict, tc: TrainConfig, options: dict, dist: runtime.Dist, *, out,
         progress: bool, resume: bool, overwrite: bool, cleanup: contextlib.ExitStack, given: set,
         user_callbacks: Sequence[Callback] = (), plan_only: bool = False, data_b: Any = None) -> TrainedModel:
    ds_b, idx_b = second_dataset(spec, data_b, data_kw, tc)  # a CycleGAN's domain B, else (None, None)
    source = (StreamedData.open(spec, data, data_kw, options, tc, cleanup) if tc.stream else
              InMemoryData(as_dataset(data, **data_kw), tc, read_here=lambda ds: read_here(data, ds), ds_b=ds_b,
                           idx_b=idx_b))
    auto_options, auto_train, chosen = choose(spec, source.ds.x, source.n_train, given, tc,
                                              whole_numbers=source.ds.whole_numbers)
    options, tc = {**auto_options, **options}, tc.replace(**auto_train)
    scaler, conditioner = source.fit_transform(spec, options, tc)
    run = compose_run(spec, source, scaler, conditioner, options, tc, data_kw, out=out)
    # the layout outputs come back in: the caller's array or file; an ArrayDataset's own (N, D) / (N, C, H, W)
    run.data_info["axes"] = source.ds.info.get("axes") if not isinstance(data, ArrayDataset) else None
    if chosen:
        run.data_info["chosen_from_data"] = chosen
        if progress and dist.is_main and not plan_only:
            print(f"latentforge: chose from the data: {', '.join(chosen)}", file=sys.stderr)
    if plan_only:
        return run
    plot_ds, held_out = source.plot_rows(PLOT_ROWS)
    train_b, val_b = source.loaders(run, spec, tc)
    source.release()  # the full array is not kept through training
    layout = RunLayout(out) if out else None
    if layout is not None:
        # only rank 0 writes; the others wait until the directory is ready. A failure from here on leaves the
        # directory as it was before this call (nothing of a new run; an earlier run or checkpoint intact)
        cleanup.enter_context(run_folder(layout, resume=resume, overwrite=overwrite, enabled=dist.is_main))
        dist.barrier()
    trainer = start_trainer(run, tc, layout, dist, resume=resume, progress=progress, user_callbacks=user_callbacks)
    # user callbacks: start now; end (or error) when train() returns, after the run directory is written
    cleanup.enter_context(fit_hooks(list(user_callbacks), run, enabled=dist.is_main))
    trainer.fit(train_b, val_b)
    run.history = trainer.history
    run.runtime = trainer.precision_choice.as_dict() if trainer.precision_choice else {}
    run.model.eval()
    if layout is not None:
        if dist.is_main:
            from ..analysis.run_plots import write_run_plots

            run.save(layout.root)
            write_run_plots(run, plot_ds, layout, held_out=held_out)
        dist.barrier()
    return run


def start_trainer(run: TrainedModel, tc: TrainConfig, layout: RunLayout | None, dist: runtime.Dist, *, resume: bool,
                  progress: bool, user_callbacks: Sequence[Callback]) -> Trainer:
    """The trainer of ``run``, with the callbacks that write its directory (a checkpoint and the metrics each
    epoch, sample grids) before the user's; on resume, checked against the saved run and loaded from its
    checkpoint. Rank 0 then writes config.json, transform.json and the metrics so far."""
    callbacks = []
    saved_config: dict[str, Any] = {}  # read on resume
    if layout is not None:
        if resume:
            saved_config = read_json(layout.config, "run configuration")
            resume_compatible(saved_config, run.config_dict())
            if "chosen_from_data" in saved_config.get("data", {}):
                run.data_info.setdefault("chosen_from_data", saved_config["data"]["chosen_from_data"])
        callbacks.append(checkpoint_callback(layout))
        every = run.objective.sample_grid_every
        if every and run.can("sampling"):
            callbacks.append(sample_grid_callback(run, layout, every))
    callbacks += [cb.on_epoch_end for cb in user_callbacks]  # user callbacks: after the checkpoint is written
    trainer = Trainer(run.model, run.objective, tc, progress=progress, callbacks=callbacks)
    if layout is None:
        return trainer
    if resume:
        tensors, meta = load_tensors(layout.checkpoint, "checkpoint")
        trainer.load_state_dict(tensors, meta_from_strings(meta))
        check_resume_meaning(trainer, TrainConfig.from_dict(saved_config["train_config"]), tc)
    dist.barrier()  # every rank has read the saved run before rank 0 rewrites its files
    if dist.is_main:
        write_json(layout.config, run.config_dict())
        write_json(layout.transform, run.preprocess.state_dict())
        write_jsonl(layout.metrics, trainer.history)  # on resume: drop lines newer than the checkpoint
    dist.barrier()
    return trainer


def loader_batch_size(data: Any, data_b: Any = None, *, asked: int | None = None) -> int | None:
    """The batch size of a torch DataLoader given as training data (``data`` or ``data_b``), which training then
    uses; None when neither is a DataLoader. Training reads the loader's rows into memory once and draws its own
    seeded, shuffled batches of that size (the loader's sampler order is not kept).

    Raises ConfigError when ``asked`` (an explicit batch_size) differs from the loader's, when two loaders
    differ, or when a loader has no fixed batch size (a custom batch sampler) and none is asked for."""
    try:
        from torch.utils.data import DataLoader
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    sizes = []
    for loader in (data, data_b):
        if not isinstance(loader, DataLoader):
            continue
        size = loader.batch_size or getattr(loader.batch_sampler, "batch_size", None)
        if size is None:
            if asked is None:
                raise ConfigError("the DataLoader has no fixed batch size (a custom batch sampler); give "
                                  "batch_size= to train with")
            size = asked
        sizes.append(int(size))
    if not sizes:
        return None
    if len(set(sizes)) > 1:
        raise ConfigError(f"the two DataLoaders have batch sizes {sizes[0]} and {sizes[1]}; give both the same")
    if asked is not None and asked != sizes[0]:
        raise ConfigError(f"batch_size={asked} was asked for but the DataLoader gives batches of {sizes[0]}; drop "
                          f"batch_size (the loader's is used) or give a DataLoader with batch_size={asked}")
    return sizes[0]


def compose_run(spec: ModelSpec, source: "TrainingData", scaler: Scaler, conditioner: Conditioner | None,
                options: dict, tc: TrainConfig, data_kw: dict, *, out) -> TrainedModel:
    """The untrained run: the model and objective built for the data's shape in model space (options the data
    fills in added: condition length, a spectral grid, the training-set size), its preprocessing, and the
    description of the training data config.json records."""
    ds = source.ds
    if conditioner is not None:
        options["condition_dim"] = conditioner.dim
    wavelength = ds.info.get("wavelength")  # spectra on a known grid: a model may take its grid options from it
    if wavelength is not None:
        options.update(spec.model_config_class.data_options(ds.info, options))
    options.update(spec.objective_class.data_options(source.n_train))
    mcfg, ocfg = spec.configs(scaler.model_shape(source.example_shape), **options)
    data_info = describe_data(ds, data_kw, n=source.n_rows, example_shape=source.example_shape,
                              streamed=source.streamed)
    if source.ds_b is not None:
        data_info["data_b"] = describe_second(source.ds_b)
    torch.manual_seed(tc.seed)  # initialisation
    net, objective = spec.build(mcfg, ocfg)
    preprocess = Preprocessor(scaler, conditioner, net.input_shape, val_fraction=tc.val_fraction,
                              test_fraction=tc.test_fraction, seed=tc.seed, clip=objective.needs_unit_range,
                              wavelength=wavelength)
    return TrainedModel.compose(spec.name, net, objective, preprocess, tc, data_info=data_info, run_dir=out)


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
            return fit_scaling(tc.scaling, self._train_ds, conditioner), conditioner
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
        from ..data.stream import fit_scaler

        self._scaler = fit_scaler(self.file, self.part, tc.scaling, tc.chunk_size, seed=tc.seed)
        return self._scaler, None

    def plot_rows(self, limit: int) -> tuple[ArrayDataset, bool]:
        return self.ds.subset(np.arange(len(self.ds))[:limit]), True

    def loaders(self, run: TrainedModel, spec: ModelSpec, tc: TrainConfig) -> tuple[Any, Any]:
        from ..data.stream import TRAIN, VAL, ChunkStream

        kw = dict(chunk_size=tc.chunk_size, buffer_chunks=tc.buffer_chunks,
                  unit_range=run.objective.needs_unit_range)
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
    for k in ("layout", "energy_unit"):  # energy_unit: showers' cells are generated in the training file's unit
        if k in ds.info:
            info[k] = ds.info[k]
    if os.path.exists(str(ds.source)):
        info["path"] = str(Path(ds.source).resolve())
    if not streamed:
        info["fingerprint"] = ds.fingerprint()
    return info


def open_stream(spec: ModelSpec, data: Any, data_kw: dict, options: dict, tc: TrainConfig) -> dict:
    """The chunked reader, the seeded split as a part label per row (1 train, 2 val, 3 test) and a small
    in-memory preview of held-out rows for the plots."""
    from ..data.stream import TEST, TRAIN, VAL, ChunkedFile

    if not isinstance(data, (str, os.PathLike)):
        raise ConfigError("--stream reads a file (.npy or HDF5); give its path, or train without --stream")
    # every reader option but the array's key and its layout: a streamed file is one array (header="auto" is no
    # request)
    extra = [k for k in DATA_KEYWORDS if k not in ("key", "channels_last") and data_kw.get(k) not in (None, "", "auto")]
    if extra:
        raise ConfigError(f"--stream takes the data array only; drop {', '.join(extra)} or train without --stream")
    if condition_kind(spec, options) != NO_CONDITION:
        raise ConfigError("--stream trains unconditional models only; use --condition none or train without --stream")
    f = ChunkedFile(data, key=data_kw.get("key"), channels_last=data_kw.get("channels_last"))
    try:
        idx = split_for(f.n, tc)
        part = np.zeros(f.n, np.int8)
        part[idx["train"]], part[idx["val"]], part[idx["test"]] = TRAIN, VAL, TEST
        show = idx["test"] if len(idx["test"]) else idx["train"]
        show = np.sort(show[:200])
        preview = ArrayDataset(f.take(show, tc.chunk_size), name=Path(data).name, source=str(data),
                               info={"index": show})
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


def fit_scaling(kind: str, train_ds: ArrayDataset, conditioner: Conditioner | None) -> Scaler:
    """The scaling fitted on the training rows ``train_ds``; a condition-aware one (fractions-response) also on
    their condition vectors, which the model must then be conditioned on (ConfigError otherwise)."""
    scaler = Scaler(kind)
    if not scaler.uses_condition:
        return scaler.fit(train_ds.x, train_ds.mask)
    if conditioner is None or conditioner.source != "cond":
        raise ConfigError(f"{kind} scaling maps each example with its condition vector; condition the model on it "
                          "(--condition vector --cond-key NAME)")
    return scaler.fit(train_ds.x, train_ds.mask, cond=train_ds.cond)


def sample_grid_callback(run: TrainedModel, layout: RunLayout, every: int):
    """Write a grid of samples every ``every`` epochs (GANs: watch training progress)."""
    from ..analysis.figures import sample_grid_figure
    from ..analysis.plots import save_figure

    def save_grid(trainer, row: dict) -> None:
        if row["epoch"] % every == 0:
            save_figure(sample_grid_figure(run, seed=run.train_config.seed, title_suffix=f" (epoch {row['epoch']})"),
                        layout.epoch_samples(row["epoch"]))
            run.model.train()

    return save_grid


def checkpoint_callback(layout: RunLayout):
    """Save the trainer's full state and append the epoch's metrics, after every epoch."""
    def save_checkpoint(trainer: Trainer, row: dict) -> None:
        tensors, meta = trainer.state_dict()
        save_tensors(layout.checkpoint, tensors, metadata=meta_to_strings(meta))
        append_jsonl(layout.metrics, row)

    return save_checkpoint


@contextlib.contextmanager
def run_folder(layout: RunLayout, *, resume: bool, overwrite: bool, enabled: bool = True):
    """Make the run directory ready (``prepare_out``) for the block; when the block fails, put the directory
    back as it was: a new run's directory is removed (an empty one that was there is emptied), a replaced run
    (``overwrite``) comes back, and a resumed run gets back the files it had before (its checkpoint among
    them). An interrupted run (KeyboardInterrupt) that has written a checkpoint is kept, so that ``--resume``
    continues it. A LatentforgeError raised by the block gets a sentence saying what was left.
    ``enabled=False`` (the other ranks of a distributed run) makes it a plain block."""
    if not enabled:
        yield
        return
    out = layout.root
    existed = out.exists()
    aside = out.parent / f".{out.name}.previous"  # the earlier run or files, kept until the block succeeds
    if aside.exists():  # a process killed during a training left the earlier run there
        raise ArtifactError(f"{aside} holds the run that a killed training was replacing or resuming; move it back "
                            f"to {out} (or delete it) and train again")
    if resume:
        prepare_out(layout, resume=True, overwrite=False)
        _link_tree(out, aside)
    else:
        if overwrite and existed and out.is_dir() and layout.config.exists():
            out.rename(aside)  # the earlier run, put back if this one fails
        prepare_out(layout, resume=False, overwrite=overwrite)
    checkpoint_before = _mtime(layout.checkpoint)
    try:
        yield
    except BaseException as e:
        interrupted = isinstance(e, KeyboardInterrupt) and _mtime(layout.checkpoint) != checkpoint_before
        if interrupted:
            _remove(aside)
            raise
        if aside.exists():
            _remove(out)
            aside.rename(out)
            left = (f"{out} holds the earlier checkpoint and files again" if resume else
                    f"{out} holds the earlier run again")
        elif existed:
            for child in out.iterdir():
                _remove(child)
            left = f"{out} is empty again"
        else:
            _remove(out)
            left = f"nothing was written ({out} is removed)"
        if isinstance(e, LatentforgeError) and e.args and isinstance(e.args[0], str):
            e.args = (f"{e.args[0].rstrip()} {left[0].upper()}{left[1:]}.", *e.args[1:])
        raise
    _remove(aside)


def _mtime(path: Path) -> float | None:
    return path.stat().st_mtime_ns if path.exists() else None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _link_tree(src: Path, dst: Path) -> None:
    """A copy of the run directory ``src`` at ``dst``: hard links for the files a run replaces atomically (no
    space used), real copies for the ones it appends to (metrics.jsonl)."""
    def link_or_copy(a: str, b: str) -> None:
        if a.endswith(".jsonl"):
            shutil.copy2(a, b)
            return
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link_or_copy, symlinks=True)


def prepare_out(layout: RunLayout, *, resume: bool, overwrite: bool) -> None:
    """Make the run directory ready; never deletes what is not a latentforge run (ArtifactError instead)."""
    out = layout.root
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"{out} exists and is not a directory; choose another --out")
    if resume:
        if not layout.checkpoint.exists():
            raise ArtifactError(f"{out}: no {layout.checkpoint.name} to resume from; train without --resume first")
        remove_stale_temporaries(out)  # left by a run killed while writing
        return
    try:
        if out.exists() and any(out.iterdir()):
            if not overwrite:
                raise ArtifactError(f"{out} already holds files; use --resume to continue that run, --overwrite to "
                                    "replace it, or another --out")
            if not layout.config.exists():
                raise ArtifactError(f"{out} holds files but no latentforge run; refusing to overwrite it, choose "
                                    "another --out")
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
    except ArtifactError:
        raise
    except OSError as e:
        raise write_error(out, e, "prepare the run directory") from None
