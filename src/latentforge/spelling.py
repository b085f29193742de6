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
