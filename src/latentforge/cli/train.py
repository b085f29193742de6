"""``latentforge train MODEL ...``: one sub-parser per catalogue model, its flags read from the configs.

Options may come before or after the model name (``latentforge train --data digits ae --latent-dim 2``).
``--config FILE`` (TOML, YAML or JSON, or a run's own ``config.json``) gives the model, the data and options; flags
given beside it override it. ``--print-config`` prints the fully resolved configuration without training.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import typing
from typing import Sequence

from ..catalog import MODELS
from ..training import TrainConfig, runtime
from .flags import DEFAULT_MAX_THREADS, SKIP_FIELDS, add_config_flags, apply_threads, data_flags, data_kw


def add_run_flags(p: argparse.ArgumentParser) -> None:
    data_flags(p, required=False)
    p.add_argument("--config", metavar="FILE", help="options from a TOML / YAML / JSON file or a run's config.json (its "
                                                     "model and data too); flags given beside it win")
    p.add_argument("--print-config", action="store_true",
                   help="print the fully resolved configuration as JSON (usable as --config) and stop")
    p.add_argument("--out", help="run directory to write (required unless --print-config)")
    p.add_argument("--data-b", help="the second, unpaired data set (domain B) of a model that translates between "
                                    "two domains (cyclegan); same kinds of input as --data")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    # experiment tracking (latentforge.run.tracking)
    p.add_argument("--log-to", action="append", metavar="KIND:DIR",
                   help="also log metrics, learning rates and sample grids to tensorboard:DIR (event files) or "
                        "mlflow:DIR (a local MLflow file store; or mlflow:URI); repeatable")


def train_parser(p: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The parser of ``latentforge train`` (or ``p`` filled as it): a sub-parser per model with the training, model
    and objective flags."""
    models = "\n".join(f"  {n:<18} {MODELS.get(n).summary}" for n in MODELS)
    description = ("Train a model and write a run directory.\n\nmodels:\n" + models +
                   "\n\n`latentforge train MODEL --help` lists that model's own options.")
    if p is None:
        p = argparse.ArgumentParser(prog="latentforge train", formatter_class=argparse.RawDescriptionHelpFormatter,
                                    description=description)
    sub = p.add_subparsers(dest="model", metavar="MODEL", required=True, help="one of the models above")
    for name in MODELS:
        spec = MODELS.get(name)
        sp = sub.add_parser(name, help=spec.summary, description=f"Train {name}: {spec.summary}.")
        add_run_flags(sp)
        add_config_flags(sp, TrainConfig, "training",  # the threads default of every command
                         {**spec.train_defaults, "threads": f"the usable cores, at most {DEFAULT_MAX_THREADS}"})
        add_config_flags(sp, spec.model_config_class, f"model options ({name})", spec.model_defaults)
        add_config_flags(sp, spec.objective_config_class, f"objective options ({name})", spec.objective_defaults)
    return p


def flag_switches() -> set[str]:
    """The flags of ``train`` that take no value (switches), over every model."""
    out = {"--channels-last", "--channels-first", "--print-config", "--resume", "--overwrite", "--no-progress", "-h", "--help"}
    for name in MODELS:
        spec = MODELS.get(name)
        for cls in (TrainConfig, spec.model_config_class, spec.objective_config_class):
            hints = typing.get_type_hints(cls)
            for f in dataclasses.fields(cls):
                if hints[f.name] is bool:
                    flag = f.name.replace("_", "-")
                    out.update({f"--{flag}", f"--no-{flag}"})
    return out


def model_first(argv: Sequence[str]) -> list[str]:
    """argv with the model name moved to the front, so options may precede it. A token counts as the model
    name when it names a catalogue model and is not the value of the option before it."""
    argv = list(argv)
    switches = flag_switches()
    for i, tok in enumerate(argv):
        prev = argv[i - 1] if i else ""
        value_of_prev = prev.startswith("-") and "=" not in prev and prev not in switches
        if tok in MODELS and not value_of_prev:
            return [tok, *argv[:i], *argv[i + 1:]]
    return argv


def config_argument(argv: Sequence[str]) -> str | None:
    """The value of --config in argv, if given."""
    for i, tok in enumerate(argv):
        if tok == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if tok.startswith("--config="):
            return tok.split("=", 1)[1]
    return None


def cmd_train(argv: Sequence[str]) -> int:
    """``latentforge train``: torch's compiler package, which the optimiser imports at its first step, is imported
    in the background meanwhile (``runtime.prefetch_optimizer_imports``)."""
    import numpy.ma  # noqa: F401 - imported by the data checks; here, before the background import starts
    import numpy.random  # noqa: F401

    from .. import run  # noqa: F401 - the training code, imported before the background import starts

    prefetch = runtime.prefetch_optimizer_imports()
    try:
        return _cmd_train(argv)
    finally:
        if prefetch is not None:
            prefetch.join()  # an interpreter should not exit while a thread is importing


def _cmd_train(argv: Sequence[str]) -> int:
    from ..errors import ConfigError
    from ..run import options_from_config, plan, read_config, tracking_callbacks, train

    argv = list(argv)
    file_model, file_data, file_options = None, None, {}
    path = config_argument(argv)
    if path:
        saved = read_config(path)
        if saved.get("own_networks"):
            raise ConfigError(f"{path} is the configuration of a run of your own networks "
                              f"({', '.join(saved['own_networks'].values())}), which are Python code the command "
                              "line cannot build; train it from Python with lf.train(..., "
                              f"{', '.join(r + '=...' for r in saved['own_networks'])})")
        file_model, file_data, file_options = options_from_config(saved)
        if file_model and not any(tok in MODELS for tok in argv):
            argv = [file_model, *argv]
    a = train_parser().parse_args(model_first(argv))
    spec = MODELS.get(a.model)
    names = [n for c in (TrainConfig, spec.model_config_class, spec.objective_config_class)
             for n in c.field_names() if n not in SKIP_FIELDS]
    flags = {n: getattr(a, n) for n in names if getattr(a, n, None) is not None}
    flags.update({k: v for k, v in data_kw(a).items() if v is not None and v is not False or k == "channels_last" and v is False})
    options = {**file_options, **flags}
    if options.get("threads") is None:
        apply_threads(None)  # as every command: the usable cores, at most DEFAULT_MAX_THREADS (a shared machine)
    data = a.data or file_data
    if data is None and a.resume and a.out:  # resume: the data the run was trained on, where training found it
        from ..io import RunLayout, read_json

        saved = RunLayout(a.out).config
        if saved.exists():
            info = read_json(saved, "run configuration").get("data", {})
            data = info.get("path") or info.get("source")
    if data is None:
        raise ConfigError("no data: give --data (a built-in name, a file, a folder or a glob), or a --config that "
                          "names it")
    if a.print_config:
        print(json.dumps(plan(a.model, data, **options), indent=2))
        return 0
    if not a.out:
        raise ConfigError("give --out, the run directory to write")
    run = train(a.model, data, out=a.out, progress=not a.no_progress, resume=a.resume, overwrite=a.overwrite,
                data_b=a.data_b, callbacks=tracking_callbacks(a.log_to), **options)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun rank 0 reports for all
        return 0
    if a.no_progress and run.data_info.get("chosen_from_data"):
        print(f"chose from the data: {', '.join(run.data_info['chosen_from_data'])}")
    last = run.history[-1] if run.history else {}
    precision = run.runtime.get("precision")
    print(f"trained {a.model} ({run.n_parameters} parameters) for {last.get('epoch', 0)} epochs"
          + (f" in {precision}" if precision else "") + ": "
          + ", ".join(f"{k}={v:.5g}" for k, v in last.items() if k.endswith("_loss")))
    if a.no_progress and run.runtime.get("precision_reason"):
        print(f"precision: {run.runtime['precision_reason']}")
    print(f"run directory: {a.out}")
    return 0
