"""Advice in the caller's language: the command line's flags (``--beta 0.5``) on the command line, keyword
arguments (``beta=0.5``) from Python.

Diagnostics are written once, in the command line's spelling; :func:`speak` rewrites them for Python callers
when they are shown. The ``latentforge`` program marks its calls with :func:`command_line`.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import typing
from collections.abc import Iterator

T = typing.TypeVar("T")
_COMMAND_LINE = contextvars.ContextVar("latentforge_command_line", default=False)

_STOP_WORDS = {"or", "and", "a", "an", "the", "to", "for", "with", "of", "in", "on", "is", "if"}
_FLAG = re.compile(r"--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?:\s+([0-9][0-9.eE+-]*[0-9]|[0-9]|[a-z][a-z0-9-]*[a-z0-9]))?")


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """Within this block, advice keeps the command line's spelling."""
    token = _COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


_OPTION_CLASSES: list[type] = []
_KEYWORD_KINDS: dict[str, str] = {}


def remember_keywords(switches: tuple[str, ...] = (), words: tuple[str, ...] = ()) -> None:
    """Keyword arguments of the Python API outside the configuration classes: switches (``overwrite``:
    ``--overwrite`` on the command line) and free-text options (``cond_key``: ``--cond-key NAME``)."""
    _KEYWORD_KINDS.update({n: "switch" for n in switches} | {n: "word" for n in words})


def remember_option_class(cls: type) -> None:
    """Keep a configuration dataclass so that :func:`speak_error` knows its options."""
    _OPTION_CLASSES.append(cls)


def switches(*configs: object) -> frozenset[str]:
    """The option names among the fields of these configuration dataclasses (or instances) whose flag takes no
    value (booleans)."""
    import dataclasses

    names: set[str] = set()
    for cfg in configs:
        if cfg is None or not dataclasses.is_dataclass(cfg):
            continue
        hints = typing.get_type_hints(cfg if isinstance(cfg, type) else type(cfg))
        names |= {f.name for f in dataclasses.fields(cfg) if hints.get(f.name) is bool}
    return frozenset(names)


def speak(text: str, switch_names: frozenset[str] = frozenset()) -> str:
    """``text`` as the caller should read it: unchanged on the command line; from Python every ``--flag VALUE``
    becomes ``flag=VALUE`` (a word value quoted; a switch, named in ``switch_names``, ``flag=True``) and a bare
    ``--flag`` the option's name."""
    if _COMMAND_LINE.get():
        return text

    def keyword(m: re.Match) -> str:
        name, value = m.group(1).replace("-", "_"), m.group(2)
        if name in switch_names:
            return f"{name}=True" + (f" {value}" if value else "")
        if value is None or value in _STOP_WORDS:
            return name + (f" {value}" if value else "")
        return f"{name}={value}" if value[0].isdigit() else f"{name}={value!r}"

    return _FLAG.sub(keyword, text)


def speak_error(text: str) -> str:
    """An error message as the caller should read it: :func:`speak`, stricter about values. From Python a word
    after ``--flag`` is read as the option's value only where the option takes such a value: a number for a
    numeric option, one of its choices where it has choices, any word but a stop word for a free text option; a
    switch becomes ``flag=True`` and any other flag its bare name (``--data-b gives`` -> ``data_b gives``)."""
    if _COMMAND_LINE.get():
        return text
    table = _option_table()

    def keyword(m: re.Match) -> str:
        name, value = m.group(1).replace("-", "_"), m.group(2)
        kind, choices = table.get(name, (_KEYWORD_KINDS.get(name, "other"), None))
        numeric = value is not None and value[0].isdigit()
        if kind == "switch":
            return f"{name}=True" + (f" {value}" if value else "")
        if value is not None and ((kind == "number" and numeric) or (kind == "word" and not numeric and (
                value in choices if choices is not None else value not in _STOP_WORDS))):
            return f"{name}={value}" if numeric else f"{name}={value!r}"
        return name + (f" {value}" if value else "")

    return _FLAG.sub(keyword, text)


def _option_table() -> dict[str, tuple[str, list[str] | None]]:
    """Every remembered option: its kind (switch, number, word, other) and its choices (None: any value)."""
    import dataclasses

    table: dict[str, tuple[str, list[str] | None]] = {}
    for cls in _OPTION_CLASSES:
        if not dataclasses.is_dataclass(cls):
            continue
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints.get(f.name)
            choices = f.metadata.get("choices")
            kind = {bool: "switch", int: "number", float: "number", str: "word"}.get(tp, "other")  # type: ignore[arg-type]
            table.setdefault(f.name, (kind, None if choices is None else [str(c) for c in choices]))
    return table


def speak_all(value: T, switch_names: frozenset[str] = frozenset()) -> T:
    """``speak`` applied to every string inside ``value`` (a string, or dicts, lists and tuples of them, as a
    result dict holds its notes and reasons); other values are returned as they are."""
    if isinstance(value, str):
        return speak(value, switch_names)  # type: ignore[return-value]
    if isinstance(value, dict):
        return {k: speak_all(v, switch_names) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, (list, tuple)):
        return type(value)(speak_all(v, switch_names) for v in value)  # type: ignore[return-value]
    return value
