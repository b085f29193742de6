"""Fitting: build a catalogue model for the data, train it, and write (or resume) its run directory.

    run = train("vae", "mnist", out="runs/vae", latent_dim=16, epochs=30)
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..catalog import MODELS, ModelSpec
from ..data.conditions import NO_CONDITION
from ..data import DATA_KEYWORDS, ArrayDataset, Conditioner, Scaler, as_dataset, check_unit_range, split_for
from ..errors import ArtifactError, ConfigError, DataError
from ..io import (RunLayout, append_jsonl, load_tensors, read_json, remove_stale_temporaries, save_tensors,
                  write_error, write_json, write_jsonl)
from ..train import Trainer, runtime
from ..train.config import TrainConfig
from ..train.state import meta_from_strings, meta_to_strings
from .preprocess import Preprocessor
from .trained import TrainedModel


def train(model: str, data: Any, *, out: str | os.PathLike | None = None, train_config: TrainConfig | None = None,
          progress: bool = True, resume: bool = False, overwrite: bool = False, **options: Any) -> TrainedModel:
    """Train catalogue model ``model`` on ``data`` (a built-in name, a file path, an array or a dataset).

    ``options`` may hold TrainConfig fields (epochs, lr, seed ...), data keywords (key, labels, labels_key,
    sigma_key, ivar_key, mask_key, cond_key, channels_last) and the model's / objective's own options.
    With ``out`` the run directory gets config.json, transform.json, metrics.jsonl, a checkpoint each epoch,
    model.safetensors and plots. ``resume=True`` continues from the checkpoint there.

    Raises ConfigError (bad or inconsistent options), DataError (unusable data), ArtifactError (a run directory
    that would be overwritten, or cannot be resumed) and TrainingDiverged (a loss became NaN or infinite).
    """
    spec = MODELS.get(model)
    tc_fields = TrainConfig.field_names()
    tc_opts = {k: options.pop(k) for k in list(options) if k in tc_fields}
    base = train_config or TrainConfig(**spec.train_defaults)
    tc = base.replace(**tc_opts) if tc_opts else base
    data_kw = {k: options.pop(k) for k in list(options) if k in DATA_KEYWORDS}
    dist, _ = runtime.setup_distributed(tc.device)  # under torchrun: join the process group
    try:
        with contextlib.ExitStack() as cleanup:
            return _fit(spec, data, data_kw, tc, options, dist, out=out, progress=progress, resume=resume,
                        overwrite=overwrite, cleanup=cleanup)
    finally:
        runtime.teardown_distributed()


def _fit(spec: ModelSpec, data: Any, data_kw: dict, tc: TrainConfig, options: dict, dist: runtime.Dist, *, out,
         progress: bool, resume: bool, overwrite: bool, cleanup: contextlib.ExitStack) -> TrainedModel:
    stream = None
    if tc.stream:
        from ..data.stream import TRAIN, VAL, ChunkStream, fit_scaler

        stream = open_stream(spec, data, data_kw, options, tc)
        cleanup.callback(stream["file"].close)
        ds, idx, conditioner = stream["preview"], stream["idx"], None
        example_shape = stream["file"].example_shape
        scaler = fit_scaler(stream["file"], stream["part"], tc.scaling, tc.chunk_size, seed=tc.seed)
    else:
        ds = as_dataset(data, **data_kw)
        idx = split_for(len(ds), tc)
        conditioner = fit_conditioner(spec, options, ds, idx["train"])
        example_shape = ds.example_shape
        scaler = fit_scaling(tc.scaling, ds, idx["train"], conditioner)
    if conditioner is not None:
        options["condition_dim"] = conditioner.dim
    wavelength = ds.info.get("wavelength")  # spectra on a known grid: a model may take its grid options from it
    if wavelength is not None:
        options.update(spec.model_config_class.data_options(ds.info, options))
    options.update(spec.objective_class.data_options(len(idx["train"])))
    mcfg, ocfg = spec.configs(scaler.model_shape(example_shape), **options)
    data_info = {"source": ds.source, "n": stream["file"].n if stream else len(ds),
                 "example_shape": list(example_shape),
                 **{k: v for k, v in data_kw.items() if v and not isinstance(v, np.ndarray) and k != "labels"},
                 **({"labels": str(data_kw["labels"])} if isinstance(data_kw.get("labels"), (str, os.PathLike))
                    else {}),
                 **{f"has_{k}": True for k in ("sigma", "mask", "cond") if getattr(ds, k) is not None}}

    torch.manual_seed(tc.seed)  # initialisation
    net, objective = spec.build(mcfg, ocfg)
    preprocess = Preprocessor(scaler, conditioner, net.input_shape, val_fraction=tc.val_fraction,
                              test_fraction=tc.test_fraction, seed=tc.seed, wavelength=wavelength)
    run = TrainedModel.compose(spec.name, net, objective, preprocess, tc, data_info=data_info, run_dir=out)
    if stream:
        f, part = stream["file"], stream["part"]
        kw = dict(chunk_size=tc.chunk_size, buffer_chunks=tc.buffer_chunks, unit_range=objective.needs_unit_range)
        train_b = ChunkStream(f, part, TRAIN, scaler, **kw)
        val_b = ChunkStream(f, part, VAL, scaler, **kw) if len(idx["val"]) else None
    else:
        train_b = run.batch(ds.subset(idx["train"]))
        val_b = run.batch(ds.subset(idx["val"])) if len(idx["val"]) else None
        if objective.needs_unit_range:
            for part_name, b in (("training data", train_b), ("validation data", val_b)):
                if b is not None:
                    check_unit_range(b["x"].numpy(), what=f"{ds.source} {part_name} after {tc.scaling} scaling")

    callbacks = []
    layout = RunLayout(out) if out else None
    if layout is not None:
        if dist.is_main:  # only rank 0 writes; the others wait until the directory is ready
            prepare_out(layout, resume=resume, overwrite=overwrite)
            if resume:
                resume_compatible(read_json(layout.config, "run configuration"), run.config_dict())
            write_json(layout.config, run.config_dict())
            write_json(layout.transform, preprocess.state_dict())
        dist.barrier()
        callbacks.append(checkpoint_callback(layout))
        every = objective.sample_grid_every
        if every and run.can("sampling"):
            callbacks.append(sample_grid_callback(run, layout, every))
    trainer = Trainer(net, objective, tc, progress=progress, callbacks=callbacks)
    if resume and layout is not None:
        tensors, meta = load_tensors(layout.checkpoint, "checkpoint")
        trainer.load_state_dict(tensors, meta_from_strings(meta))
        if dist.is_main:
            write_jsonl(layout.metrics, trainer.history)  # drop lines newer than the checkpoint
    elif layout is not None and dist.is_main:
        write_jsonl(layout.metrics, [])
    trainer.fit(train_b, val_b)
    run.history = trainer.history
    run.model.eval()
    if layout is not None:
        if dist.is_main:
            from ..analysis.run_plots import write_run_plots

            run.save(layout.root)
            write_run_plots(run, ds.subset(idx["test"] if len(idx["test"]) and not stream else np.arange(len(ds))),
                            layout)
        dist.barrier()
    return run


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
    f = ChunkedFile(data, key=data_kw.get("key"), channels_last=bool(data_kw.get("channels_last")))
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
    return conditioner.fit(values[train_idx])


def fit_scaling(kind: str, ds: ArrayDataset, rows: np.ndarray, conditioner: Conditioner | None) -> Scaler:
    """The scaling fitted on the training rows; a condition-aware one (fractions-response) also on their
    condition vectors, which the model must then be conditioned on (ConfigError otherwise)."""
    scaler = Scaler(kind)
    mask = None if ds.mask is None else ds.mask[rows]
    if not scaler.uses_condition:
        return scaler.fit(ds.x[rows], mask)
    if conditioner is None or conditioner.source != "cond":
        raise ConfigError(f"{kind} scaling maps each example with its condition vector; condition the model on it "
                          "(--condition vector --cond-key NAME)")
    return scaler.fit(ds.x[rows], mask, cond=ds.cond[rows])


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


def resume_compatible(saved: dict, new: dict) -> None:
    """ConfigError unless the new options would continue the saved run (only some settings may change)."""
    diffs = []
    for section in ("model", "model_config", "objective_config", "data"):
        if saved.get(section) != new.get(section):
            diffs.append(section)
    skip = set(TrainConfig.fields_not_in_config_hash)
    a = {k: v for k, v in saved.get("train_config", {}).items() if k not in skip}
    b = {k: v for k, v in new["train_config"].items() if k not in skip}
    if a != b:
        diffs.append("train_config (" + ", ".join(sorted(k for k in a if a.get(k) != b.get(k))) + ")")
    if diffs:
        raise ConfigError("cannot resume: the options differ from the saved run in " + "; ".join(diffs) +
                          "; only --epochs, --patience and --threads may change on resume")
