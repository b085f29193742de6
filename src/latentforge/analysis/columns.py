"""What a run knows about the axes of its data, for figures and per-column metrics: the data kind (images,
a kind a science domain registers in ``analysis.hooks.DATA_KINDS``, tables or plain vectors) and a table's
column names and units.

Column units come from the file (a table's unit header) or from the column's name written ``name [unit]`` or
``name (unit)`` (a CSV header such as ``teff [K]``); a column without either has no stated unit ("").
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

#: a unit written at the end of a column's name: ``teff [K]``, ``flux (mJy)``
_UNIT_IN_NAME = re.compile(r"^\s*(?P<name>.*?)\s*[\[(](?P<unit>[^\[\]()]+)[\])]\s*$")


def unit_in_name(name: str) -> str:
    """The unit written at the end of a column name in brackets or parentheses (``"teff [K]"`` -> ``"K"``), else ""."""
    m = _UNIT_IN_NAME.match(str(name))
    return m.group("unit").strip() if m else ""


def _info(run, ds) -> dict[str, Any]:
    """The data's own description (``ds.info``) over what the run recorded of its training data."""
    info = dict(getattr(run, "data_info", {}) or {})
    info.update(getattr(ds, "info", {}) or {})
    return info


def table_columns(run, ds) -> list[tuple[str, str]] | None:
    """(name, unit) of each feature column of a table (unit "" where neither the file nor the name states one);
    None for data that are not a table of named columns, or whose columns do not match the examples."""
    info = _info(run, ds)
    names = info.get("columns")
    d = int(np.prod(run.input_shape))
    if not names or len(run.input_shape) != 1 or len(names) != d:
        return None
    units = list(info.get("column_units") or [""] * len(names))
    return [(str(n), str(u).strip() or unit_in_name(n)) for n, u in zip(names, units)]


def data_info(run, ds) -> dict[str, Any]:
    """What describes the data: ``ds.info`` over what ``run`` recorded of its training data."""
    return _info(run, ds)


def data_kind(run, ds) -> str:
    """``images`` (examples (C, H, W)), the name of the first registered domain kind that detects the data
    (``analysis.hooks.DATA_KINDS``), ``table`` (named columns) or ``vectors`` (anything else)."""
    from .hooks import DATA_KINDS

    if len(run.input_shape) == 3:
        return "images"
    for name, kind in DATA_KINDS.items():
        if kind.detects(run, ds):
            return name
    if table_columns(run, ds) is not None:
        return "table"
    return "vectors"


def vector_columns(run, ds, limit: int = 16) -> list[tuple[str, str]] | None:
    """The columns of a table, or for plain vectors of at most ``limit`` numbers ``x1``, ``x2`` ... in the data's
    units; None for longer vectors, a domain's kinds and images."""
    kind = data_kind(run, ds)
    if kind == "table":
        return table_columns(run, ds)
    d = int(np.prod(run.input_shape))
    if kind == "vectors" and d <= limit:
        return [(f"x{i + 1}", "") for i in range(d)]
    return None


def per_column_errors(x: np.ndarray, recon: np.ndarray, keep: np.ndarray, columns: list[tuple[str, str]], *,
                      seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per column of raw examples ``x`` (N, D) and their reconstructions (N, D), on the points ``keep`` (N, D):
    the root-mean-square error in the column's own unit, its bootstrap standard error over rows (Efron 1979; rows
    resampled whole), the mean absolute error, the column's standard deviation and the RMSE over it (no unit), and
    the number of rows measured."""
    from .metrics import bootstrap_error

    out = {}
    for j, (name, unit) in enumerate(columns):
        k = keep[:, j]
        d = (np.asarray(recon[:, j], np.float64) - np.asarray(x[:, j], np.float64))[k]
        if len(d) == 0:
            continue
        sq = d ** 2
        rmse = float(np.sqrt(sq.mean()))
        err = (bootstrap_error(lambda rows: float(np.sqrt(sq[rows].mean())), len(sq), seed=seed) if len(sq) > 1
               else float("nan"))
        std = float(np.asarray(x[:, j], np.float64)[k].std())
        out[name] = {"unit": unit or "data units", "rmse": rmse, "rmse_err": err, "mae": float(np.abs(d).mean()),
                     "std": std, "rmse_over_std": rmse / std if std > 0 else float("nan"), "n": int(len(d))}
    return out
