"""Configuration files: train from a TOML, YAML or JSON file, replay a run from its own ``config.json``, and resolve
everything a run would use without training it (``plan``).

A file may hold the sections of a run's ``config.json`` (``model``, ``data``, ``model_config``,
``objective_config``, ``train_config``) or flat option names beside ``model`` and ``data``::

    model = "vae"
    data = "mnist"
    latent_dim = 16
    epochs = 30

    [train_config]          # sections work too, and win over flat names
    lr = 2e-3

Values the training data fills in (an example's shape, a conditional model's number of classes) are left to
the data again, so a run's ``config.json`` replays the run on its data. A relative data path in a file is taken
relative to the file's folder when it is not found from the working directory, and a run's ``config.json``
replays from its recorded absolute path, so a configuration works from any directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..catalog import MODELS
from ..config import filled_from_data
from ..data import DATA_KEYWORDS
from ..errors import ConfigError
from ..training.config import TrainConfig

SECTIONS = ("model_config", "objective_config", "train_config")
#: entries of a run's config.json that describe it but are not options
RECORDS = ("format", "version", "latentforge_version", "family", "runtime", "own_networks")


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """A configuration file (.toml, .yaml / .yml or .json) as a dict; ConfigError for a missing or unreadable one.

    YAML is read with PyYAML's ``safe_load`` (plain data only: no tags that build Python objects)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json", ".yaml", ".yml"):
        raise ConfigError(f"--config {path}: unknown configuration format {suffix or '(no suffix)'!r}; give a .toml, "
                          ".yaml / .yml or .json file")
    try:
        text = path.read_text()
        if suffix == ".toml":
            import tomllib

            cfg = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            try:
                cfg = yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise ValueError(str(e).replace("\n", " ")) from None
        else:
            cfg = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as e:  # tomllib / json decode errors are ValueErrors
        raise ConfigError(f"--config {path}: not a readable {suffix[1:].upper()} file ({e})") from None
    if isinstance(cfg, dict):
        _resolve_data_path(cfg, path.parent)
    return cfg


def _resolve_data_path(cfg: dict[str, Any], folder: Path) -> None:
    """Point the data entry of ``cfg`` at a file that exists: a run's recorded absolute ``path`` first, then a
    relative path taken from ``folder`` (the configuration file's) when the working directory has no such file."""
    data = cfg.get("data")
    if isinstance(data, dict):
        recorded = data.get("path")
        if isinstance(recorded, str) and os.path.exists(recorded):
            data["source"] = recorded
            return
        source = data.get("source")
    else:
        source = data
    if not isinstance(source, str) or os.path.isabs(source) or os.path.exists(source):
        return
    beside = folder / source
    if beside.exists():
        if isinstance(data, dict):
            data["source"] = str(beside.resolve())
        else:
            cfg["data"] = str(beside.resolve())


def options_from_config(cfg: dict[str, Any]) -> tuple[str | None, Any, dict[str, Any]]:
    """(model name, data source, options for ``train``) from a configuration dict: the data keys of its ``data``
    section (or a plain ``data = "path"``), flat options, then the sections; values filled from the data dropped.
    ConfigError names an entry that is not an option of the model."""
    if not isinstance(cfg, dict):
        raise ConfigError("a configuration file must hold a table / object of options")
    model = cfg.get("model")
    data = cfg.get("data")
    options: dict[str, Any] = {}
    if isinstance(data, dict):
        options.update({k: v for k, v in data.items() if k in DATA_KEYWORDS})
        data = data.get("source")
    for k, v in cfg.items():
        if k not in ("model", "data", *SECTIONS, *RECORDS):
            options[k] = v
    for section in SECTIONS:
        if isinstance(cfg.get(section), dict):
            options.update(cfg[section])
    if model is not None:
        spec = MODELS.get(model)
        dropped = filled_from_data(spec.model_config_class) | filled_from_data(spec.objective_config_class)
        options = {k: v for k, v in options.items() if k not in dropped}
        known = spec.option_names() | TrainConfig.field_names() | set(DATA_KEYWORDS)
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"the configuration has option(s) {', '.join(unknown)} that model {model!r} does not "
                              f"take; its options: {', '.join(sorted(known))}")
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return model, data, options
