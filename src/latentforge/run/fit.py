"""Fitting: build a catalogue model for the data, train it, and write (or resume) its run directory.

    run = train("vae", "mnist", out="runs/vae", latent_dim=16, epochs=30)
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from typing import Any, Sequence

import torch

from ..catalog import MODELS, ModelSpec
from ..data import ArrayDataset, DATA_KEYWORDS, Conditioner, Scaler, as_dataset
from ..data.grids import GRIDS
from ..errors import ConfigError
from ..spelling import remember_keywords
from ..models.own import ARCHITECTURE_OPTIONS, NETWORK_ROLES, check_own_networks
from ..io import (RunLayout, append_jsonl, load_tensors, read_json, save_tensors, write_json,
                  write_jsonl)
from ..training import Trainer, distributed
from ..training.config import TrainConfig
from ..training.state import meta_from_strings, meta_to_strings
from .callbacks import Callback, as_callbacks, fit_hooks
from .defaults import choose
from .domains import describe as describe_second, second_dataset
from .learned_scales import SCALE_ROWS, fit_predictive_scale, fit_prior_sampler, scale_callback
from .preprocess import Preprocessor
from .resume import check_resume_meaning, resume_compatible, saved_options
from .trained import TrainedModel
from .training_data import InMemoryData, StreamedData, TrainingData, describe_data, read_here
from .run_folder import run_folder


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
    of ``latentforge.run.tracking``; their hooks run on rank 0. ``encoder=`` / ``decoder=`` (autoencoders, VAEs)
    and ``generator=`` / ``discriminator=`` (GANs): your own ``nn.Module`` networks in place of the built-in ones,
    trained in place (shapes: ``latentforge.models.own``; load the run with the same modules passed again).

    Raises ConfigError (bad or inconsistent options), DataError (unusable data), ArtifactError (a run directory
    that would be overwritten, or cannot be resumed) and TrainingDiverged (a loss became NaN or infinite).
    """
    spec = MODELS.get(model)
    networks = own_networks(options)
    if resume and out is not None and RunLayout(out).config.exists():  # the networks the run was trained with
        saved_networks = read_json(RunLayout(out).config, "run configuration").get("own_networks") or {}
        check_own_networks(out, saved_networks, networks, resume=True)
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
    dist, _ = distributed.setup_distributed(tc.device)  # under torchrun: join the process group
    try:
        with contextlib.ExitStack() as cleanup:
            return _fit(spec, data, data_kw, tc, options, dist, out=out, progress=progress, resume=resume,
                        overwrite=overwrite, cleanup=cleanup, given=given, user_callbacks=user_callbacks,
                        plan_only=_plan, data_b=data_b, networks=networks)
    finally:
        distributed.teardown_distributed()


# train's own switches and data keywords, as errors raised from Python spell them (`overwrite=True`, `cond_key='x'`)
remember_keywords(switches=tuple(n for n, p in inspect.signature(train).parameters.items()
                                  if p.annotation in (bool, "bool") and not n.startswith("_")),
                  words=tuple(k for k in DATA_KEYWORDS if k != "channels_last"))


def _fit(spec: ModelSpec, data: Any, data_kw: dict, tc: TrainConfig, options: dict, dist: distributed.Dist, *, out,
         progress: bool, resume: bool, overwrite: bool, cleanup: contextlib.ExitStack, given: set,
         user_callbacks: Sequence[Callback] = (), plan_only: bool = False, data_b: Any = None,
         networks: dict | None = None) -> TrainedModel:
    ds_b, idx_b = second_dataset(spec, data_b, data_kw, tc)  # a CycleGAN's domain B, else (None, None)
    source = (StreamedData.open(spec, data, data_kw, options, tc, cleanup) if tc.stream else
              InMemoryData(as_dataset(data, **data_kw), tc, read_here=lambda ds: read_here(data, ds), ds_b=ds_b,
                           idx_b=idx_b))
    auto_options, auto_train, chosen = choose(spec, source.ds.x, source.n_train, given, tc,
                                              whole_numbers=source.ds.whole_numbers)
    options, tc = {**auto_options, **options}, tc.replace(**auto_train)
    scaler, conditioner = source.fit_transform(spec, options, tc)
    run = compose_run(spec, source, scaler, conditioner, options, tc, data_kw, out=out, networks=networks)
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
    scale_notes: list[str] = []
    first_callbacks = []
    if not resume and "sigma" not in given and getattr(run.model, "scales_from_data", False):
        # in memory: training rows; streamed: the preview rows, scaled as training will scale them
        first = run.preprocess.batch(source.ds, name=spec.name) if tc.stream else train_b
        first = {k: v[:SCALE_ROWS] for k, v in first.items() if k in ("x", "mask", "c")}
        first_callbacks.append(scale_callback(run.model, first, scale_notes))  # before the checkpoint holds it
    source.release()  # the full array is not kept through training
    layout = RunLayout(out) if out else None
    if layout is not None:
        # only rank 0 writes; the others wait until the directory is ready. A failure from here on leaves the
        # directory as it was before this call (nothing of a new run; an earlier run or checkpoint intact)
        cleanup.enter_context(run_folder(layout, resume=resume, overwrite=overwrite, enabled=dist.is_main))
        dist.barrier()
    trainer = start_trainer(run, tc, layout, dist, resume=resume, progress=progress, user_callbacks=user_callbacks,
                            first_callbacks=first_callbacks)
    # user callbacks: start now; end (or error) when train() returns, after the run directory is written
    cleanup.enter_context(fit_hooks(list(user_callbacks), run, enabled=dist.is_main))
    trainer.fit(train_b, val_b)
    run.history = trainer.history
    run.runtime = {**(trainer.precision_choice.as_dict() if trainer.precision_choice else {}), "tf32": trainer.tf32}
    run.model.eval()
    for said in scale_notes:
        run.data_info.setdefault("chosen_from_data", []).append(said)
        if progress and dist.is_main:
            print(f"latentforge: {said}", file=sys.stderr)
    fitted: list[str | None] = []
    rows = train_b if not tc.stream else run.preprocess.batch(plot_ds, name=spec.name)
    if getattr(run.model, "predictive_scale", None) is not None:  # rows it did not train on where there are some
        fitted.append(fit_predictive_scale(run, *((val_b, "the validation rows") if isinstance(val_b, dict) else
                                                  (rows, "training rows (the run has no validation split)"))))
    if getattr(getattr(run.model, "prior_sampler", None), "learned", False):  # two-stage sampling: fitted to the codes
        fitted.append(fit_prior_sampler(run, train_b if tc.stream else rows, seed=tc.seed))
    for said in filter(None, fitted):
        run.data_info.setdefault("chosen_from_data", []).append(said)
        if progress and dist.is_main:
            print(f"latentforge: {said}", file=sys.stderr)
    if layout is not None:
        if dist.is_main:
            from ..analysis.run_plots import write_run_plots

            run.save(layout.root)
            write_run_plots(run, plot_ds, layout, held_out=held_out)
        dist.barrier()
    return run


def own_networks(options: dict[str, Any]) -> dict[str, Any]:
    """Your own networks (``encoder=``, ``decoder=``, ``generator=``, ``discriminator=``) taken out of ``options``;
    ConfigError for an option given with them that shapes only the built-in networks (it would do nothing)."""
    networks = {k: options.pop(k) for k in NETWORK_ROLES if k in options}
    idle = sorted(ARCHITECTURE_OPTIONS & set(options)) if networks else []
    if idle:
        raise ConfigError(f"{', '.join(idle)} shape(s) the built-in networks, which your own networks replace; "
                          f"drop {', '.join(k + '=' for k in idle)}")
    return networks


def start_trainer(run: TrainedModel, tc: TrainConfig, layout: RunLayout | None, dist: distributed.Dist, *, resume: bool,
                  progress: bool, user_callbacks: Sequence[Callback], first_callbacks: Sequence = ()) -> Trainer:
    """The trainer of ``run``, with the callbacks that write its directory (a checkpoint and the metrics each
    epoch, sample grids) before the user's; on resume, checked against the saved run and loaded from its
    checkpoint. Rank 0 then writes config.json, transform.json and the metrics so far. ``first_callbacks`` run
    before all of these (a learned scale set after the last epoch, which the checkpoint then holds)."""
    callbacks = list(first_callbacks)
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
                options: dict, tc: TrainConfig, data_kw: dict, *, out, networks: dict | None = None) -> TrainedModel:
    """The untrained run: the model and objective built for the data's shape in model space (options the data
    fills in added: condition length, a spectral grid, the training-set size), its preprocessing, and the
    description of the training data config.json records."""
    ds = source.ds
    if conditioner is not None:
        options["condition_dim"] = conditioner.dim
    # what the data describe (a sample grid ...): a model may take options from it
    options.update(spec.model_config_class.data_options(ds.info, options))
    options.update(spec.objective_class.data_options(source.n_train))
    fields = spec.model_config_class.field_names()
    options.update({k: v for k, v in scaler.model_options().items() if k in fields})
    mcfg, ocfg = spec.configs(scaler.model_shape(source.example_shape), **options)
    data_info = describe_data(ds, data_kw, n=source.n_rows, example_shape=source.example_shape,
                              streamed=source.streamed)
    if source.ds_b is not None:
        data_info["data_b"] = describe_second(source.ds_b)
    torch.manual_seed(tc.seed)  # initialisation (of the built-in networks; your own come initialised)
    net, objective = spec.build(mcfg, ocfg, networks)
    preprocess = Preprocessor(scaler, conditioner, net.input_shape, val_fraction=tc.val_fraction,
                              test_fraction=tc.test_fraction, seed=tc.seed, clip=objective.needs_unit_range,
                              grids={k: ds.info[k] for k in GRIDS if ds.info.get(k) is not None})
    return TrainedModel.compose(spec.name, net, objective, preprocess, tc, data_info=data_info, run_dir=out)


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
