"""Resuming a run: the options it was trained with become the defaults, and a change on resume either keeps the
run's meaning or is refused with what would change."""

from __future__ import annotations

import os
from typing import Any

from ..data.records import INFO_KEYS
from ..errors import ConfigError
from ..io import RunLayout, read_json
from ..training import Trainer
from ..training.config import TrainConfig, lr_factor


def saved_options(model: str, out: str | os.PathLike) -> dict[str, Any]:
    """The options a run directory's config.json was trained with (values filled from the data left out), so that
    ``--resume`` needs only what changes; {} when there is no saved run yet. ConfigError for a run of another
    model."""
    from .replay import options_from_config

    layout = RunLayout(out)
    if not layout.config.exists():
        return {}
    saved_model, _, options = options_from_config(read_json(layout.config, "run configuration"))
    if saved_model is not None and saved_model != model:
        raise ConfigError(f"cannot resume: {out} holds a {saved_model!r} run, not {model!r}; resume it as "
                          f"`train {saved_model} ... --resume`, or give another --out")
    return options


def check_resume_meaning(trainer: Trainer, saved: TrainConfig, new: TrainConfig) -> None:
    """Settings that may change on resume must keep the run's meaning: a learning-rate schedule laid out over
    the epochs may not be stretched, and a run that stopped early continues only with a larger patience.
    Raises ConfigError saying what would change and what to do."""
    done = trainer.epoch
    if new.epochs < done:
        raise ConfigError(f"the run has already trained {done} epochs; --epochs {new.epochs} would not continue it: "
                          f"give --epochs larger than {done}, or start a new run with --overwrite")
    # beyond its last epoch the saved schedule would hold its last rate
    jumps = [(e, saved.lr * lr_factor(saved, min(e, saved.epochs)), new.lr * lr_factor(new, e))
             for e in range(done + 1, new.epochs + 1) if lr_factor(saved, min(e, saved.epochs)) != lr_factor(new, e)]
    if jumps:
        e, was, now = jumps[0]
        raise ConfigError(f"cannot resume with --epochs {new.epochs}: the {new.lr_schedule} learning-rate schedule was "
                          f"laid out over {saved.epochs} epochs; at epoch {e} the rate would be {now:.3g} instead of "
                          f"{was:.3g}. Keep --epochs {saved.epochs}, or start a new run (--overwrite) with the longer "
                          "schedule")
    if trainer.stopped_early:
        trainer.stopped_early = bool(new.patience and trainer.bad_epochs >= new.patience)
        if trainer.stopped_early:
            raise ConfigError(f"the run stopped early at epoch {done}: its validation loss has not improved for "
                              f"{trainer.bad_epochs} epochs (--patience {saved.patience}); resume with a larger "
                              "--patience (or --patience 0) to train on")


def resume_compatible(saved: dict, new: dict) -> None:
    """ConfigError unless the new options would continue the saved run (only some settings may change)."""
    diffs = []
    for section in ("model", "model_config", "objective_config"):
        a, b = saved.get(section), new.get(section)
        if a != b:
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)) if isinstance(a, dict) and \
                isinstance(b, dict) else []
            diffs.append(section + (f" ({', '.join(keys)})" if keys else ""))
    # the same data under another spelling of its path is the same data; which values were chosen from the data
    # is a record of the first run (a resumed run takes those values as its saved options); what names outputs
    # (columns, units, a domain's names_only INFO_KEYS, value range) follows from the data, and a run of an earlier
    # version lacks it
    where = ("source", "path", "chosen_from_data", "columns", "column_units", "value_range",
             *(k for k, key in INFO_KEYS.items() if key.names_only))
    a_data = {k: v for k, v in saved.get("data", {}).items() if k not in where}
    b_data = {k: v for k, v in new.get("data", {}).items() if k not in where}
    if a_data != b_data or ("fingerprint" not in b_data and saved.get("data") != new.get("data")):
        changed = sorted(k for k in set(a_data) | set(b_data) if a_data.get(k) != b_data.get(k))
        diffs.append("data (" + ", ".join(changed or ["source"]) + ")")
    skip = set(TrainConfig.fields_not_in_config_hash)
    a = {k: v for k, v in saved.get("train_config", {}).items() if k not in skip}
    b = {k: v for k, v in new["train_config"].items() if k not in skip}
    if a != b:
        diffs.append("train_config (" + ", ".join(sorted(k for k in a if a.get(k) != b.get(k))) + ")")
    if diffs:
        raise ConfigError("cannot resume: the options differ from the saved run in " + "; ".join(diffs) +
                          "; only --epochs, --patience and --threads may change on resume")
