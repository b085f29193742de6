"""The commands a science domain adds to the program (``latentforge.domains``): its simulators (``latentforge
simulate NAME``) and its demos (``latentforge demo --NAME``). The program builds its parsers from these
registries, so that it never names a domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .registry import Registry


@dataclass(frozen=True)
class Simulator:
    """``latentforge simulate NAME``: ``summary`` for the help; ``add_flags(parser)`` adds the simulator's own
    flags (``-n``, ``--seed``, ``--out`` and ``--json`` are the command's); ``run(args)`` simulates, writes
    ``args.out`` and returns (the record printed with ``--json``, the one-line summary); ``suffixes``: the file
    name endings it writes (the command refuses another ``--out`` before simulating)."""

    summary: str
    add_flags: Callable[[Any], None]
    run: Callable[[Any], tuple[dict, str]]
    suffixes: tuple[str, ...] = (".h5", ".hdf5")


@dataclass(frozen=True)
class Demo:
    """``latentforge demo --NAME``: ``help`` of the flag; ``add_flags(parser)`` adds the demo's own flags
    (``--out``, ``--epochs``, ``--seed``, ``--no-progress`` and ``--device`` are the command's); ``run(args)``
    runs it (``args.out`` / ``args.epochs`` None: the demo's defaults)."""

    help: str
    add_flags: Callable[[Any], None]
    run: Callable[[Any], None]


SIMULATORS: Registry[Simulator] = Registry("simulator")
DEMOS: Registry[Demo] = Registry("demo")
