"""Flags shared by the commands: one flag per config field, the data flags, and small output helpers."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Any

import numpy as np

from ..config import choice_names
from ..errors import LatentforgeError

SKIP_FIELDS = {"input_shape"}


def int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 256,64, got {text!r}") from None


def add_config_flags(parser: argparse.ArgumentParser, config_class: type, title: str,
                     defaults: dict | None = None) -> list[str]:
    """One flag per dataclass field (``latent_dim`` -> ``--latent-dim``); returns the destinations added.
    Choices are read from the field's registry now, so every registered variant is offered."""
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(config_class)
    dests = []
    for f in dataclasses.fields(config_class):
        if f.name in SKIP_FIELDS or f.metadata.get("from_data"):
            continue
        default = (defaults or {}).get(f.name, f.default)
        tp = hints[f.name]
        kw: dict[str, Any] = {"dest": f.name, "default": None}
        help_text = f.metadata.get("help", "")
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        choices = choice_names(f)
        if tp is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = int_tuple if typing.get_origin(tp) is tuple else tp
            kw["metavar"] = f.name.upper().replace("_", "-") if not choices else None
            if choices:
                kw["choices"] = choices
        group.add_argument("--" + f.name.replace("_", "-"), help=f"{help_text} (default: {shown})", **kw)
        dests.append(f.name)
    return dests


def data_flags(p: argparse.ArgumentParser, required: bool = True) -> None:
    g = p.add_argument_group("data")
    from ..data.records import READERS

    endings = ", ".join("/".join(r.suffixes) for _, r in READERS.items())
    g.add_argument("--data", required=required,
                   help=f"a built-in dataset name (see `latentforge datasets`), a file ({endings}), a folder or a "
                        "quoted glob ('data/*.npy')")
    g.add_argument("--key", help="array / dataset name inside an .npz or HDF5 file; feature columns (a,b,c) of a table")
    g.add_argument("--labels-key", help="labels array / dataset name inside an .npz or HDF5 file; the label column "
                                        "of a table")
    g.add_argument("--labels", help="a separate labels file (.npy, .npz, idx)")
    layout = g.add_mutually_exclusive_group()
    layout.add_argument("--channels-last", action="store_true", help="images are stored (N, H, W, C) (default: read "
                        "from the shape, or refused when it does not tell)")
    layout.add_argument("--channels-first", action="store_true", help="images are stored (N, C, H, W)")
    g.add_argument("--sigma-key", help="per-point measurement errors (same shape as the data) in an .npz / HDF5 file; "
                                       "in a table, the error columns (a,b or err_*), one per feature column "
                                       "(default: an array named sigma, if present)")
    g.add_argument("--ivar-key", help="per-point inverse variances instead of sigma (0 marks a point without data; "
                                      "default: an array named ivar, if present)")
    g.add_argument("--mask-key", help="per-point mask, True/1 = ignore the point (default: an array named mask)")
    g.add_argument("--cond-key", help="per-example parameters (N, P) for --condition vector models (columns of a "
                                      "table; a domain's own names)")
    g.add_argument("--header", choices=("auto", "yes", "no"), help="whether a CSV / TSV's first row names the "
                   "columns (default: auto, which says what it decided when the first row is numbers)")
    g.add_argument("--missing", help="more markers of a missing cell in a CSV / TSV, comma-separated (e.g. -); "
                                     "missing cells are masked points")


def data_kw(a: argparse.Namespace) -> dict[str, Any]:
    channels_last = True if a.channels_last else (False if a.channels_first else None)
    return {"key": a.key, "labels_key": a.labels_key, "labels": a.labels, "channels_last": channels_last,
            "sigma_key": a.sigma_key, "ivar_key": a.ivar_key, "mask_key": a.mask_key, "cond_key": a.cond_key,
            "header": a.header, "missing": a.missing}


def parse_condition(text: str | None):
    """--condition 3 (a class label), --condition galaxy (a class name) or --condition 0.5,1.2 (parameters)."""
    if text is None:
        return None
    parts = [t.strip() for t in text.split(",") if t.strip()]
    if len(parts) == 1 and parts[0].lstrip("-").isdigit():
        return int(parts[0])
    try:
        return np.array([float(t) for t in parts], dtype=np.float32)
    except ValueError:
        if len(parts) == 1:
            return parts[0]  # a class name
        raise LatentforgeError(f"--condition {text!r}: give a class label (e.g. 3 or galaxy) or comma-separated "
                               "numbers") from None


def split_flag(p: argparse.ArgumentParser, default: str) -> None:
    from ..data.split import SPLITS

    p.add_argument("--split", choices=(*SPLITS, "auto"), default=default,
                   help="which part of DATA to use; train/val/test repeat the run's seeded split; unseen: the rows "
                        "the run neither trained nor validated on, recognised by their values; auto: test when DATA "
                        "is the training data, unseen when it holds some training rows, else all "
                        f"(default: {default})")


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=json_default))


def json_flag(p: argparse.ArgumentParser) -> None:
    """``--json``: the whole result as one JSON object on stdout instead of the short human summary."""
    p.add_argument("--json", action="store_true",
                   help="print the whole result as one JSON object (default: a short summary in words)")


def emit(a: argparse.Namespace, obj: Any, title: str, lines: list[str] | None = None) -> None:
    """A command's result: one JSON object with --json, else a short summary (``lines``, or ``title`` and one
    line per entry, nested results named with a pointer to --json)."""
    if getattr(a, "json", False):
        print_json(obj)
        return
    print("\n".join(lines if lines is not None else summary(obj, title)))


def summary(obj: dict, title: str) -> list[str]:
    """``title``, then ``  key: value`` per entry: numbers with four significant digits, small dicts and lists
    inline, larger ones by size."""
    from ..analysis.readable import fmt

    out = [title]
    for k, v in obj.items():
        if isinstance(v, dict):
            small = len(v) <= 8 and all(not isinstance(x, (dict, list)) for x in v.values())
            out.append(f"  {k}: " + (", ".join(f"{kk}={fmt(vv)}" for kk, vv in v.items()) if small
                                     else f"{len(v)} entries (see --json)"))
        elif isinstance(v, (list, tuple)):
            small = len(v) <= 8 and all(not isinstance(x, (dict, list)) for x in v)
            out.append(f"  {k}: " + (", ".join(fmt(x) for x in v) if small else f"{len(v)} entries (see --json)"))
        else:
            out.append(f"  {k}: {fmt(v)}")
    return out


def json_default(o: Any):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def save_out(path: str, like: Any = None, cond: Any = None, **arrays: Any) -> None:
    """Write a command's arrays to ``--out`` in the format its ending names (``run.outputs.save_arrays``: .npz,
    .npy, .csv, .h5, a domain's or a folder of PNG images), named with what ``like`` (the data given, then the run)
    knows."""
    from ..run.outputs import save_arrays

    keys = save_arrays(path, arrays, like=like, cond=cond)
    print(f"wrote {path} ({', '.join(keys)})", file=sys.stderr)


def ints(text: str | None):
    if not text:
        return None
    try:
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise LatentforgeError(f"expected comma-separated integers, got {text!r}") from None


def label_list(text: str | None):
    """Comma-separated class labels: integers when they all are, else names."""
    if not text:
        return None
    parts = [t.strip() for t in text.split(",")]
    return [int(t) for t in parts] if all(t.lstrip("-").isdigit() for t in parts) else parts


#: the most CPU threads a command takes by default: every core of a large shared machine would oversubscribe it
DEFAULT_MAX_THREADS = 4


def threads_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help=f"CPU threads for torch (default: the usable cores, at most {DEFAULT_MAX_THREADS}; "
                        "0: torch's own default, every core)")


def default_threads() -> int:
    """The CPU threads a command uses when ``--threads`` is not given: the cores this process may run on, at most
    ``DEFAULT_MAX_THREADS``. Fixed for a machine (never read from its load), so one command gives the same
    numbers each time."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(DEFAULT_MAX_THREADS, cores))


def apply_threads(n: int | None) -> None:
    """Set torch's CPU threads for this command: ``n`` (0: leave torch's default), or the default above.
    LatentforgeError for a negative count."""
    if n is not None and n < 0:
        raise LatentforgeError(f"--threads {n}: give a count >= 1, or 0 for torch's own default (every core)")
    if n == 0:
        return
    import torch

    torch.set_num_threads(default_threads() if n is None else n)
