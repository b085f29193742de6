"""Tables of numbers: CSV / TSV text files (numeric columns, a label column by name).

The first row is a header when any of its cells is not a number. A label column is the one named by
``labels_key``, or else the first of ``label``, ``labels``, ``class``, ``target`` and ``targets`` present; its values
may be text (class names); a column called ``y`` is a feature here, as coordinates often are. ``key`` picks the feature columns (comma-separated names); by default every other
column. Empty cells and ``NA`` / ``NaN`` read as NaN, which the data checks then refuse with their row.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..errors import DataError

LABEL_COLUMNS = ("label", "labels", "class", "target", "targets")
MISSING = {"", "na", "nan", "n/a", "null", "none"}


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return float("nan") if cell.strip().lower() in MISSING else None


def read_text(path: str | os.PathLike, what: str = "text") -> str:
    """The text of a UTF-8 file (a byte-order mark dropped), gzip-compressed when its name ends in .gz; DataError
    naming ``what`` when it cannot be read as text."""
    try:
        if str(path).lower().endswith(".gz"):
            import gzip

            with gzip.open(path, "rt", encoding="utf-8-sig") as f:
                return f.read()
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read as {what} ({e})") from None


def read_table(path: str | os.PathLike, *, key: str | None = None, labels_key: str | None = None) -> dict:
    """A CSV / TSV file -> ``x`` (N, D) float32 features, ``y`` (N,) labels or None, ``columns`` (the D names).

    Raises DataError for an empty table, rows of different lengths, an unknown column name, or a non-numeric
    feature column (naming it and the fix)."""
    path = Path(path)
    delimiter = "\t" if path.name.lower().removesuffix(".gz").endswith((".tsv", ".tab")) else None
    text = read_text(path, "a text table")
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t ").delimiter
        except csv.Error:
            delimiter = ","
    rows = [r for r in csv.reader(text.splitlines(), delimiter=delimiter, skipinitialspace=True) if any(c.strip()
                                                                                                        for c in r)]
    if not rows:
        raise DataError(f"{path}: the table is empty")
    header = any(_number(c) is None for c in rows[0])
    names = [c.strip() for c in rows[0]] if header else [f"column_{i}" for i in range(len(rows[0]))]
    seen: set[str] = set()
    twice = sorted({n for n in names if n.lower() in seen or seen.add(n.lower())})  # type: ignore[func-returns-value]
    if twice:  # columns are picked by name: a repeated name would silently pick one of them
        raise DataError(f"{path}: the header names column(s) {', '.join(map(repr, twice))} more than once; give "
                        "every column its own name")
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"{path}: the table has a header but no rows")
    bad = [i for i, r in enumerate(body) if len(r) != len(names)]
    if bad:
        raise DataError(f"{path}: row {bad[0] + (2 if header else 1)} has {len(body[bad[0]])} cells, the header "
                        f"{len(names)}; every row needs one cell per column")
    lower = {n.lower(): n for n in names}
    label_col = _find(names, labels_key, path, "label") if labels_key else next(
        (lower[c] for c in LABEL_COLUMNS if c in lower), None)
    features = ([_find(names, k.strip(), path, "feature") for k in key.split(",")] if key
                else [n for n in names if n != label_col])
    columns = {n: [r[i] for r in body] for i, n in enumerate(names)}
    x = np.empty((len(body), len(features)), np.float32)
    for j, name in enumerate(features):
        values = [_number(c) for c in columns[name]]
        if any(v is None for v in values):
            first = next(c for c, v in zip(columns[name], values) if v is None)
            raise DataError(f"{path}: column {name!r} is not numeric (e.g. {first!r}); name it as the label column "
                            "with labels_key (CLI: --labels-key), or pick the feature columns with key= (--key a,b,c)")
        x[:, j] = values
    y = None
    if label_col is not None:
        raw = [c.strip() for c in columns[label_col]]
        numbers = [_number(c) for c in raw]
        if all(v is not None for v in numbers):
            y = np.asarray(numbers)
            y = y.astype(np.int64) if np.all(y == np.round(y)) and np.isfinite(y).all() else y
        else:
            y = np.asarray(raw)
    return {"x": x, "y": y, "columns": features}


def _find(names: list[str], wanted: str, path, what: str) -> str:
    if wanted in names:
        return wanted
    lower = {n.lower(): n for n in names}
    if wanted.lower() in lower:
        return lower[wanted.lower()]
    raise DataError(f"{path}: no {what} column named {wanted!r}; the columns are {', '.join(names)}")
