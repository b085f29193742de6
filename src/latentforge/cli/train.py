"""``latentforge train MODEL ...``: one sub-parser per catalogue model, its flags read from the configs.

Options may come before or after the model name (``latentforge train --data digits ae --latent-dim 2``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import typing
from typing import Sequence

from ..catalog import MODELS
from ..train import TrainConfig
from .flags import SKIP_FIELDS, add_config_flags, data_flags, data_kw


def add_run_flags(p: argparse.ArgumentParser) -> None:
    data_flags(p)
    p.add_argument("--data-b", help="the second, unpaired data set (domain B) of a model that translates between "
                                    "two domains (cyclegan); same kinds of input as --data")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def train_parser() -> argparse.ArgumentParser:
    """The parser of ``latentforge train``: a sub-parser per model with the training, model and objective flags."""
    models = "\n".join(f"  {n:<18} {MODELS.get(n).summary}" for n in MODELS)
    p = argparse.ArgumentParser(
        prog="latentforge train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a model and write a run directory.\n\nmodels:\n" + models +
                    "\n\n`latentforge train MODEL --help` lists that model's own options.")
    sub = p.add_subparsers(dest="model", metavar="MODEL", required=True, help="one of the models above")
    for name in MODELS:
        spec = MODELS.get(name)
        sp = sub.add_parser(name, help=spec.summary, description=f"Train {name}: {spec.summary}.")
        add_run_flags(sp)
        add_config_flags(sp, TrainConfig, "training", spec.train_defaults)
        add_config_flags(sp, spec.model_config_class, f"model options ({name})", spec.model_defaults)
        add_config_flags(sp, spec.objective_config_class, f"objective options ({name})", spec.objective_defaults)
    return p


def flag_switches() -> set[str]:
    """The flags of ``train`` that take no value (switches), over every model."""
    out = {"--channels-last", "--resume", "--overwrite", "--no-progress", "-h", "--help"}
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


def cmd_train(argv: Sequence[str]) -> int:
    from ..run import train

    a = train_parser().parse_args(model_first(argv))
    spec = MODELS.get(a.model)
    names = [n for c in (TrainConfig, spec.model_config_class, spec.objective_config_class)
             for n in c.field_names() if n not in SKIP_FIELDS]
    options = {n: getattr(a, n) for n in names if getattr(a, n, None) is not None}
    run = train(a.model, a.data, out=a.out, progress=not a.no_progress, resume=a.resume, overwrite=a.overwrite,
                data_b=a.data_b, **data_kw(a), **options)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun rank 0 reports for all
        return 0
    last = run.history[-1] if run.history else {}
    print(f"trained {a.model} ({run.n_parameters} parameters) for {last.get('epoch', 0)} epochs: "
          + ", ".join(f"{k}={v:.5g}" for k, v in last.items() if k.endswith("_loss")))
    print(f"run directory: {a.out}")
    return 0
