"""Frozen configuration dataclasses with validation and a JSON round-trip.

Each field carries its help text (and allowed choices) in its metadata, so the command line can offer
every option as a flag without a second list of names to keep in step. Choices are a registry (or a live
subset of one, :meth:`Registry.subset`), so a newly registered variant is at once a valid value.
Each config class sits beside the class it configures (``models.vae.VAEConfig`` beside ``MLPVAE``).
"""

from __future__ import annotations

import dataclasses
import numbers
import typing
from dataclasses import field
from typing import Any, Iterable

from .errors import ConfigError
from .spelling import remember_option_class


def option(default: Any, help: str, choices: Iterable[str] | None = None, *, from_data: bool = False) -> Any:
    """A dataclass field with its command-line help and, optionally, its allowed values attached.

    ``choices``: a :class:`~latentforge.registry.Registry`, a :class:`~latentforge.registry.Choices` view or
    a tuple of names. ``from_data``: the value is filled in from the training data (an example's shape, the
    number of classes ...): no flag offers it and a replayed configuration leaves it to the data again.
    Mutable defaults raise TypeError (use a tuple).
    """
    meta = {"help": help, "choices": choices, "from_data": from_data}
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed; use a tuple")
    return field(default=default, metadata=meta)


def filled_from_data(config_class: type) -> set[str]:
    """The fields of a config class that the training data fills in."""
    return {f.name for f in dataclasses.fields(config_class) if f.metadata.get("from_data")}


def choice_names(f: dataclasses.Field) -> list[str] | None:
    """The allowed values of a config field, read now from its registry (None: any value of its type)."""
    choices = f.metadata.get("choices")
    return None if choices is None else list(choices)


class Config:
    """Mixin for frozen config dataclasses: validation, dict/JSON round-trip, replace.

    Raises ConfigError (one line naming the field, the value and what is allowed) for a value of the wrong
    type, a value outside its choices, or values that ``validate`` finds inconsistent.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        remember_option_class(cls)  # its switches (bool fields) read as `name=True` in errors raised from Python

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            # JSON gives lists where the config holds tuples
            if is_tuple_type(hints[f.name]) and isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
                value = tuple(value)
            check_type(self, f.name, hints[f.name], value)
            names = choice_names(f)
            if names is not None and value not in names:
                raise ConfigError(
                    f"{type(self).__name__}.{f.name} = {value!r} is not allowed; choose one of {', '.join(names)}"
                )
        self.validate()

    def validate(self) -> None:  # overridden where values constrain each other
        pass

    @classmethod
    def data_options(cls, info: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        """Config values this class takes from what the data describes (``ArrayDataset.info``, e.g. a sample
        grid); ``given``: the user's options, which such values must agree with (ConfigError otherwise)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        names = cls.field_names()
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"unknown {cls.__name__} option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(names))}"
            )
        return cls(**data)

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def check_type(obj: Any, name: str, tp: Any, value: Any) -> None:
    """Refuse values of the wrong type (a string for a number, a float for a count ...) with a ConfigError,
    before any comparison could fail inside Python with a TypeError."""
    def bad(what: str) -> ConfigError:
        return ConfigError(f"{type(obj).__name__}.{name} must be {what}, got {value!r} ({type(value).__name__})")

    if tp is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise bad("an integer")
        object.__setattr__(obj, name, int(value))  # numpy integers -> int (JSON-able)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise bad("a number")
        if value != value:
            raise bad("a number (not NaN)")
        object.__setattr__(obj, name, float(value) if not isinstance(value, int) else value)
    elif tp is str:
        if not isinstance(value, str):
            raise bad("a string")
    elif is_tuple_type(tp) and typing.get_args(tp)[:1] == (float,):
        if not isinstance(value, tuple) or any(isinstance(v, bool) or not isinstance(v, numbers.Real) or v != v
                                               for v in value):
            raise bad("a list of numbers")
        object.__setattr__(obj, name, tuple(float(v) for v in value))
    elif is_tuple_type(tp):
        if not isinstance(value, tuple) or any(isinstance(v, bool) or not isinstance(v, numbers.Integral)
                                               for v in value):
            raise bad("a list of integers")
        object.__setattr__(obj, name, tuple(int(v) for v in value))


def is_tuple_type(tp: Any) -> bool:
    """True for ``tuple``, ``tuple[int, ...]`` and ``tuple[float, ...]`` annotations."""
    return tp is tuple or typing.get_origin(tp) is tuple


def _named(obj: Any, name: str) -> str:
    """A field as the user gives it: its flag (``--latent-dim``, read ``latent_dim`` from Python), or
    ``Class.field`` for a field filled in from the data, which no flag offers."""
    f = {f.name: f for f in dataclasses.fields(obj)}.get(name)
    if f is None or f.metadata.get("from_data"):
        return f"{type(obj).__name__}.{name}"
    return "--" + name.replace("_", "-")


def positive(obj: Any, *names: str) -> None:
    """ConfigError unless every named field of ``obj`` is > 0; the message names the flag."""
    for n in names:
        v = getattr(obj, n)
        if not v > 0:
            raise ConfigError(f"{_named(obj, n)} must be > 0, got {v!r}; give a positive value")


def widths(obj: Any, name: str) -> None:
    """ConfigError unless the named tuple field holds positive integers."""
    v = getattr(obj, name)
    if any((not isinstance(w, int)) or w <= 0 for w in v):
        raise ConfigError(f"{_named(obj, name)} must be positive integers (e.g. 256,64), got {v!r}")
