"""Arrays a run produces (samples, reconstructions, codes ...) written in the formats data come in, named with
what the run knows of its data: ``save_arrays``, the one path that the Python API and every command take.

The formats (``.npz``, ``.npy``, ``.csv``, ``.h5`` / ``.hdf5``, a domain's, a folder of PNG images) are described
in ``io.writers``; this module gathers what names the values from a run (its training data's column names and
units, a science domain's sample grid, layout, geometry and unit, example layout and value range) or from a
dataset.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..data import ArrayDataset
from ..data.axes import to_axes
from ..data.grids import GRIDS
from ..data.records import INFO_KEYS
from ..errors import ConfigError
from ..io.writers import output_format, write_outputs

#: what a description of outputs may hold (see ``io.writers``)
DESCRIBED = ("columns", "column_units", "cond_key", "axes", "value_range")


def value_range(ds: ArrayDataset) -> list[float]:
    """The smallest and largest value of a dataset in data units: what 8-bit PNG outputs map onto 0 ... 255 (MNIST's
    grey levels 0 ... 255 stay themselves, the digits' 0 ... 16 span the whole grey scale)."""
    return [float(np.min(ds.x)), float(np.max(ds.x))]


def describe_outputs(like: Any) -> dict[str, Any]:
    """What names an output's values: from a TrainedModel (what its config.json records of the training data, and
    its sample grids), an ArrayDataset (its ``info``), a dict (taken as it is), a list of these (the first that
    knows a thing names it: the data given, then the run) or None (nothing: columns x0 .., keys as given).
    ConfigError for anything else."""
    if like is None:
        return {}
    if isinstance(like, dict):
        return dict(like)
    if isinstance(like, (list, tuple)):  # the first that knows a thing names it
        merged: dict[str, Any] = {}
        for one in reversed(like):
            merged.update(describe_outputs(one))
        return merged
    if isinstance(like, ArrayDataset):
        info = like.info
        out = {k: info[k] for k in DESCRIBED if info.get(k) is not None}
        if like.cond is not None:  # read without cond_key: a layout's default conditions
            out["cond_key"] = info.get("cond_key")
        out.update({k: key.to_json(info[k]) for k, key in INFO_KEYS.items() if info.get(k) is not None})
        out.update({k: np.asarray(info[k], np.float64) for k in GRIDS if info.get(k) is not None})
        out["example_shape"] = tuple(to_axes(like.x[:1], info.get("axes")).shape[1:])
        out["model_shape"] = tuple(like.x.shape[1:])
        if len(like) and "value_range" not in out:
            out["value_range"] = value_range(like)
        return out
    data_info = getattr(like, "data_info", None)
    if data_info is None:
        raise ConfigError(f"like= takes a TrainedModel, an ArrayDataset, a dict, a list of them or None, not "
                          f"{type(like).__name__}")
    out = {k: data_info[k] for k in (*DESCRIBED, *INFO_KEYS) if data_info.get(k) is not None}
    out.update({k: np.asarray(v, np.float64) for k, v in getattr(like.preprocess, "grids", {}).items()})
    out["example_shape"] = tuple(like.in_layout(np.zeros((1, *like.input_shape), np.float32)).shape[1:])
    out["model_shape"] = tuple(like.input_shape)
    return out


def save_arrays(path: str | os.PathLike, arrays: Any, *, like: Any = None, cond: Any = None) -> list[str]:
    """Write ``arrays`` (one array, saved under the key ``x``, or a dict of key -> array, None entries skipped;
    the first is the main output) to ``path`` in the format its ending names: ``.npz``, ``.npy``, ``.csv``,
    ``.h5`` / ``.hdf5``, a science domain's (``io.writers.OUTPUT_FORMATS``), or a folder (``out/`` or a name without an ending) of
    PNG images (``io.writers`` gives each layout). Arrays are (N, ...) with one row per example, examples in the
    layout the run gives them (``TrainedModel.in_layout``; the model's own (N, C, H, W) is moved into it).

    ``like``: a TrainedModel or an ArrayDataset (or a list: the first that knows a thing names it) whose data name
    the values: a table's column names and units
    (CSV header ``name [unit]``), a domain's sample grid, published layout (as read), geometry and unit, images'
    value range (mapped onto 0 ... 255 in PNG).
    ``cond``: (N, P) raw condition vectors the examples were made with; a layout that stores what made each
    example (an incident energy) takes it from them (default: ``like``'s own when it is an ArrayDataset).

    Written to a temporary name beside ``path`` and renamed when complete: a failure leaves no file. Returns the
    keys written. Raises ConfigError for an unknown ending (the message lists the accepted ones) or content the
    format cannot hold, ArtifactError when the file system refuses (disk full, no permission).

    Example::

        run = lf.load("runs/vae")
        lf.save_arrays("samples.csv", run.sample(100), like=run)
    """
    output_format(path)  # an unknown ending is refused before anything is computed or written
    named = dict(arrays) if isinstance(arrays, dict) else {"x": arrays}
    describe = describe_outputs(like)
    given, model = describe.pop("model_shape", None), describe.get("example_shape")
    if given is not None and given != model:  # examples in the model's layout (N, C, H, W): written as the data's
        named = {k: to_axes(np.asarray(v), describe.get("axes")) if v is not None and np.shape(v)[1:] == given else v
                 for k, v in named.items()}
    if cond is None:
        cond = next((one.cond for one in (like if isinstance(like, (list, tuple)) else [like])
                     if isinstance(one, ArrayDataset)), None)
    if cond is not None:
        describe["cond"] = np.asarray(cond)
    return write_outputs(path, named, describe)
