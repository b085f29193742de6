"""Fitting: build a catalogue model for the data, train it, and write (or resume) its run directory.

    run = train("vae", "mnist", out="runs/vae", latent_dim=16, epochs=30)
"""

from __future__ import annotations

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
from ..errors import ArtifactError, ConfigError, DataError
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
    stream = None
    ds_b, idx_b = second_dataset(spec, data_b, data_kw, tc)  # a CycleGAN's domain B, else (None, None)
    if tc.stream:
        from ..data.stream import TRAIN, VAL, ChunkStream, fit_scaler

        stream = open_stream(spec, data, data_kw, options, tc)
        cleanup.callback(stream["file"].close)
        ds, idx, conditioner = stream["preview"], stream["idx"], None
        example_shape = stream["file"].example_shape
    else:
        ds = as_dataset(data, **data_kw)
        idx = split_for(len(ds), tc)
        example_shape = ds.example_shape
    auto_options, auto_train, chosen = choose(spec, ds.x, len(idx["train"]), given, tc,
                                                whole_numbers=ds.whole_numbers)
    options, tc = {**auto_options, **options}, tc.replace(**auto_train)
    if stream:
        scaler = fit_scaler(stream["file"], stream["part"], tc.scaling, tc.chunk_size, seed=tc.seed)
    else:
        conditioner = fit_conditioner(spec, options, ds, idx["train"])
        # one copy of the training rows, fitted on and then scaled in place; when training takes every row of an
        # array read here from a file (ours alone), that array itself, scaled in place after its last raw use
        train_ds = ds if len(idx["train"]) == len(ds) and read_here(data, ds) else ds.subset(idx["train"])
        if ds_b is None:
            scaler = fit_scaling(tc.scaling, train_ds, conditioner)
        else:  # one scaling for both domains, so that a translation stays in the same units
            scaler = Scaler(tc.scaling).fit(scaling_rows(ds, idx, ds_b, idx_b), train_ds.mask)
    if conditioner is not None:
        options["condition_dim"] = conditioner.dim
    wavelength = ds.info.get("wavelength")  # spectra on a known grid: a model may take its grid options from it
    if wavelength is not None:
        options.update(spec.model_config_class.data_options(ds.info, options))
    options.update(spec.objective_class.data_options(len(idx["train"])))
    mcfg, ocfg = spec.configs(scaler.model_shape(example_shape), **options)
    data_info = describe_data(ds, data_kw, n=stream["file"].n if stream else len(ds), example_shape=example_shape,
                              streamed=stream is not None)
    # the layout outputs come back in: the caller's array or file; an ArrayDataset's own (N, D) / (N, C, H, W)
    data_info["axes"] = ds.info.get("axes") if not isinstance(data, ArrayDataset) else None
    if ds_b is not None:
        data_info["data_b"] = describe_second(ds_b)
    if chosen:
        data_info["chosen_from_data"] = chosen
        if progress and dist.is_main and not plan_only:
            print(f"latentforge: chose from the data: {', '.join(chosen)}", file=sys.stderr)

    torch.manual_seed(tc.seed)  # initialisation
    net, objective = spec.build(mcfg, ocfg)
    preprocess = Preprocessor(scaler, conditioner, net.input_shape, val_fraction=tc.val_fraction,
                              test_fraction=tc.test_fraction, seed=tc.seed, clip=objective.needs_unit_range,
                              wavelength=wavelength)
    run = TrainedModel.compose(spec.name, net, objective, preprocess, tc, data_info=data_info, run_dir=out)
    if plan_only:
        return run
    # a bounded held-out sample of raw rows for the plots (taken before the training rows are scaled)
    shown = idx["test"] if len(idx["test"]) and not stream else np.arange(len(ds))
    plot_ds = ds.subset(shown[:PLOT_ROWS])
    if not stream:  # the rows training sees, recognised later in any data set (evaluate's unseen split)
        preprocess.remember_rows(ds.x, np.concatenate([idx["train"], idx["val"]]))
    train_b: Any  # a ChunkStream, or a batch of tensors in memory
    val_b: Any
    if stream:
        f, part = stream["file"], stream["part"]
        kw = dict(chunk_size=tc.chunk_size, buffer_chunks=tc.buffer_chunks, unit_range=objective.needs_unit_range)
        train_b = ChunkStream(f, part, TRAIN, scaler, **kw)
        val_b = ChunkStream(f, part, VAL, scaler, **kw) if len(idx["val"]) else None
    else:
        # the subsets are fresh copies of their rows: scaled in place, no second copy
        train_b = run.preprocess.batch(train_ds, name=spec.name, clip=False, owned=True)
        del train_ds
        val_b = (run.preprocess.batch(ds.subset(idx["val"]), name=spec.name, owned=True)  # clipped, as held-out data
                 if len(idx["val"]) else None)
        if objective.needs_unit_range:
            check_unit_range(train_b["x"].numpy(), what=f"{ds.source} training data after {tc.scaling} scaling",
                             fix=unit_range_fix(spec, tc))
        if ds_b is not None and idx_b is not None:  # domain B goes to the objective beside domain A's batches
            second = run.preprocess.batch(ds_b.subset(idx_b["train"]), name=spec.name, clip=False, owned=True)
            objective.attach_second(second, run.preprocess.batch(ds_b.subset(idx_b["val"]), name=spec.name, owned=True)
                                    if len(idx_b["val"]) else None)
            if objective.needs_unit_range:
                check_unit_range(second["x"].numpy(), what=f"{ds_b.source} training data after {tc.scaling} scaling",
                                 fix=unit_range_fix(spec, tc))

    del ds  # the full array is not kept through training
    callbacks = []
    layout = RunLayout(out) if out else None
    saved_config: dict[str, Any] = {}  # read on resume
    if layout is not None:
        if dist.is_main:  # only rank 0 writes; the others wait until the directory is ready
            prepare_out(layout, resume=resume, overwrite=overwrite)
        dist.barrier()
        if resume:
            saved_config = read_json(layout.config, "run configuration")
            resume_compatible(saved_config, run.config_dict())
            if "chosen_from_data" in saved_config.get("data", {}):
                run.data_info.setdefault("chosen_from_data", saved_config["data"]["chosen_from_data"])
        callbacks.append(checkpoint_callback(layout))
        every = objective.sample_grid_every
        if every and run.can("sampling"):
            callbacks.append(sample_grid_callback(run, layout, every))
    callbacks += [cb.on_epoch_end for cb in user_callbacks]  # user callbacks: after the checkpoint is written
    trainer = Trainer(net, objective, tc, progress=progress, callbacks=callbacks)
    if resume and layout is not None:
        tensors, meta = load_tensors(layout.checkpoint, "checkpoint")
        trainer.load_state_dict(tensors, meta_from_strings(meta))
        check_resume_meaning(trainer, TrainConfig.from_dict(saved_config["train_config"]), tc)
    if layout is not None:
        dist.barrier()  # every rank has read the saved run before rank 0 rewrites its files
        if dist.is_main:
            write_json(layout.config, run.config_dict())
            write_json(layout.transform, preprocess.state_dict())
            write_jsonl(layout.metrics, trainer.history)  # on resume: drop lines newer than the checkpoint
        dist.barrier()
    # user callbacks: start now; end (or error) when train() returns, after the run directory is written
    cleanup.enter_context(fit_hooks(list(user_callbacks), run, enabled=dist.is_main))
    trainer.fit(train_b, val_b)
    run.history = trainer.history
    run.model.eval()
    if layout is not None:
        if dist.is_main:
            from ..analysis.run_plots import write_run_plots

            run.save(layout.root)
            write_run_plots(run, plot_ds, layout, held_out=stream is not None or len(idx["test"]) > 0)
        dist.barrier()
    return run


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
    extra = [k for k in ("labels", "labels_key", "sigma_key", "ivar_key", "mask_key", "cond_key") if data_kw.get(k)]
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
    """The conditioner of a conditional model, fitted on the training rows; None for other models."""
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
    return conditioner.fit(values if conditioner.fit_on_all_rows else values[train_idx])


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
