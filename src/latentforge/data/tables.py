"""Tables of numbers: CSV / TSV text files, and the column selection that a domain's tables share.

The header (``header=``, CLI ``--header``): ``yes`` takes the first row as the column names, ``no`` as data,
``auto`` (the default) decides by one rule and says what it decided on standard error when the first row is all
numbers: a first row with a cell that is not a number is the header; a first row of numbers is the header when
(1) the table has at least 3 numeric columns and 2 rows below it, (2) its values are strictly increasing or
strictly decreasing (a grid, such as a domain's sample grid written as the column names) and (3) every value lies outside the
range its column takes in the rows below. A numeric header is kept as the column values (``column_values``).

Columns: the label column is the one named by ``labels_key``, or else the first of ``label``, ``labels``,
``class``, ``target`` and ``targets``; its values may be text (class names); a column called ``y`` is a feature,
as coordinates often are. ``sigma_key`` / ``ivar_key`` name the per-point uncertainty columns (standard deviations /
inverse variances; one per feature column, in the features' order), ``mask_key`` the columns flagging points to
ignore (non-zero = masked), ``cond_key`` the per-example parameter columns: each a name, a comma-separated list or
a pattern such as ``err_*``. ``key`` names the feature columns; by default every column not named otherwise.

Empty cells, ``NA``, ``NaN``, ``null``, ``none`` and the markers given with ``missing=`` (CLI ``--missing``,
comma-separated) are missing points: masked (``mask`` True), never a number.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DataError
from .arrays import working_dtype
from .records import READERS, DataRecord, Reader, sigma_from_ivar

LABEL_COLUMNS = ("label", "labels", "class", "target", "targets")
MISSING = {"", "na", "nan", "n/a", "null", "none"}
HEADER_CHOICES = ("auto", "yes", "no")
TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")

#: a column getter: name -> (values float64 (N,) or (N, k), missing bool of the same shape); DataError otherwise
Getter = Callable[[str], "tuple[np.ndarray, np.ndarray]"]


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


def _cells(column: list[str], markers: set[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(values, missing, rows that are neither a number nor a missing marker) of a column of text cells."""
    values, missing, bad = np.zeros(len(column)), np.zeros(len(column), bool), []
    for i, cell in enumerate(column):
        c = cell.strip()
        if c.lower() in markers or c in markers:
            missing[i] = True
            continue
        try:
            values[i] = float(c)
        except ValueError:
            bad.append(i)
    missing |= np.isnan(values)
    return values, missing, bad


def _numeric_header(first: list[str], body: list[list[str]], markers: set[str]) -> tuple[bool, np.ndarray | None]:
    """(whether the all-number first row is a header by the module's rule, its values)."""
    try:
        v = np.array([float(c) for c in first])
    except ValueError:
        return False, None
    if len(body) < 2 or not np.isfinite(v).all():
        return False, v
    cols = [_cells([r[j] for r in body], markers) for j in range(len(first))]
    numeric = [j for j, (_, m, bad) in enumerate(cols) if not bad and not m.all()]
    if len(numeric) < 3:
        return False, v
    d = np.diff(v[numeric])
    if not ((d > 0).all() or (d < 0).all()):
        return False, v
    outside = [(v[j] < cols[j][0][~cols[j][1]].min()) or (v[j] > cols[j][0][~cols[j][1]].max()) for j in numeric]
    return bool(all(outside)), v


def read_table(path: str | os.PathLike, *, key: str | None = None, labels_key: str | None = None,
               header: str = "auto", missing: str | None = None, sigma_key: str | None = None,
               ivar_key: str | None = None, mask_key: str | None = None, cond_key: str | None = None) -> DataRecord:
    """A CSV / TSV file -> DataRecord: ``values`` (N, D) float32 features, ``mask`` of the missing cells,
    ``labels``, ``sigma`` / ``condition`` from the columns named, ``columns`` (the D names) and, for a numeric
    header, ``column_values``. See the module docstring for the rules.

    Raises DataError for an empty table, rows of different lengths, an unknown column name, or a feature column
    that is not numeric (naming it and a fix that works)."""
    path = Path(path)
    if header not in HEADER_CHOICES:
        raise DataError(f"header={header!r}: choose one of {', '.join(HEADER_CHOICES)} (CLI: --header auto)")
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
    markers = MISSING | {m.strip() for m in (missing or "").split(",") if m.strip()}
    numbers, values = _numeric_header(rows[0], rows[1:], markers)
    if header == "auto":
        has_header = values is None or numbers
        if values is not None:  # a row of numbers: a guess, said in one line
            print(f"latentforge: {path.name}: the first row ({rows[0][0].strip()} ... {rows[0][-1].strip()}) is read "
                  + ("as the column names (numbers in strict order, outside every column's values); "
                     "--header no (header='no') reads it as data" if numbers else
                     "as data; --header yes (header='yes') takes it as the column names"), file=sys.stderr)
    else:
        has_header = header == "yes"
    names = [c.strip() for c in rows[0]] if has_header else [f"column_{i}" for i in range(len(rows[0]))]
    seen: set[str] = set()
    twice = sorted({n for n in names if n.lower() in seen or seen.add(n.lower())})  # type: ignore[func-returns-value]
    if twice:  # columns are picked by name: a repeated name would silently pick one of them
        raise DataError(f"{path}: the header names column(s) {', '.join(map(repr, twice))} more than once; give "
                        "every column its own name")
    body = rows[1:] if has_header else rows
    if not body:
        raise DataError(f"{path}: the table has a header but no rows")
    bad = [i for i, r in enumerate(body) if len(r) != len(names)]
    if bad:
        raise DataError(f"{path}: row {bad[0] + (2 if has_header else 1)} has {len(body[bad[0]])} cells, the header "
                        f"{len(names)}; every row needs one cell per column")
    columns = {n: [r[i] for r in body] for i, n in enumerate(names)}

    def get(name: str) -> tuple[np.ndarray, np.ndarray]:
        v, m, rows_bad = _cells(columns[name], markers)
        if rows_bad:
            first = columns[name][rows_bad[0]].strip()
            others = ",".join(n for n in names if n != name)
            if len(rows_bad) < len(body):  # numbers with a few other cells: a missing marker, most likely
                fix = (f"if {first!r} marks a missing value, say so with missing={first!r} (CLI: --missing={first}); "
                       f"or leave the column out with key={others!r} (--key {others})")
            else:
                fix = (f"name it as the label column with labels_key={name!r} (CLI: --labels-key {name}), or leave "
                       f"it out with key={others!r} (--key {others})")
            raise DataError(f"{path}: column {name!r} is not numeric ({len(rows_bad)} cell(s), e.g. {first!r} in "
                            f"row {rows_bad[0] + (2 if has_header else 1)}); {fix}")
        return np.where(m, 0.0, v), m

    def labels(name: str) -> np.ndarray:
        raw = [c.strip() for c in columns[name]]
        v, m, rows_bad = _cells(raw, set())
        if not rows_bad and not m.any():
            return v.astype(np.int64) if np.all(v == np.round(v)) else v
        return np.asarray(raw)

    record = assemble(path, names, get, labels, lambda used: [n for n in names if n not in used], key=key,
                      labels_key=labels_key, sigma_key=sigma_key, ivar_key=ivar_key, mask_key=mask_key,
                      cond_key=cond_key)
    record.values = record.values.astype(working_dtype(np.asarray(record.values, dtype=np.float64)))
    record.header = ("numeric names" if numbers else "names") if has_header else "none"
    if has_header and values is not None:
        index = {n: j for j, n in enumerate(names)}
        record.column_values = np.array([values[index[n]] for n in record.columns], np.float64)
    return record


def select(path, names: list[str], spec: str, what: str) -> list[str]:
    """The columns ``spec`` names (a name, a comma-separated list, or patterns such as ``err_*``), case-insensitive;
    DataError naming the columns when one is not there."""
    lower = {n.lower(): n for n in names}
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if any(ch in part for ch in "*?["):
            hit = [n for n in names if fnmatch.fnmatchcase(n.lower(), part.lower())]
        else:
            hit = [lower[part.lower()]] if part.lower() in lower else []
        if not hit:
            raise DataError(f"{path}: no {what} column {'matches' if '*' in part else 'named'} {part!r}; the "
                            f"columns are {', '.join(names)}")
        out += [h for h in hit if h not in out]
    return out


def assemble(path, names: list[str], get: Getter, labels: Callable[[str], np.ndarray],
             default_features: Callable[[set], list[str]], *, key=None, labels_key=None, sigma_key=None,
             ivar_key=None, mask_key=None, cond_key=None) -> DataRecord:
    """A table's columns as a DataRecord: features, labels, uncertainties, masks and conditions by the names
    given (``select``). Uncertainty columns go to ``sigma`` (one per feature value, in order) and out of the
    features; a missing feature value or uncertainty masks its point; a missing condition is refused."""
    lower = {n.lower(): n for n in names}
    label_col = (select(path, names, labels_key, "label")[0] if labels_key else
                 next((lower[c] for c in LABEL_COLUMNS if c in lower), None))
    groups = {what: select(path, names, spec, what) if spec else []
              for what, spec in (("sigma", sigma_key), ("ivar", ivar_key), ("mask", mask_key), ("cond", cond_key))}
    if groups["sigma"] and groups["ivar"]:
        raise DataError(f"{path}: give the uncertainties once, as sigma_key or as ivar_key, not both")
    used = {label_col, *[c for cols in groups.values() for c in cols]}
    features = select(path, names, key, "feature") if key else default_features(used)
    twice = [c for c in features if c in used]
    if twice:
        raise DataError(f"{path}: column {twice[0]!r} is named as a feature and as a label / uncertainty / mask / "
                        "condition column; name each column once")
    if not features:
        raise DataError(f"{path}: no feature columns are left; name them with key= (--key a,b,c)")

    def stack(cols: list[str]) -> tuple[np.ndarray, np.ndarray]:
        parts = [get(c) for c in cols]
        return (np.concatenate([v.reshape(len(v), -1) for v, _ in parts], 1),
                np.concatenate([m.reshape(len(m), -1) for _, m in parts], 1))

    x, mask = stack(features)
    sigma = None
    for what in ("sigma", "ivar", "mask"):
        if not groups[what]:
            continue
        v, m = stack(groups[what])
        if v.shape != x.shape:
            raise DataError(f"{path}: {what}_key names {v.shape[1]} value(s) per row ({', '.join(groups[what])}) "
                            f"for {x.shape[1]} feature value(s) ({', '.join(features)}); give one {what} column per "
                            "feature column, in the same order")
        if what == "mask":
            mask |= m | (v != 0)
        elif what == "ivar":
            sigma, mask = sigma_from_ivar(np.where(m, 0.0, v), mask, path)
        else:
            sigma, mask = np.where(m, 1.0, v), mask | m
    cond = None
    if groups["cond"]:
        cond, m = stack(groups["cond"])
        if m.any():
            raise DataError(f"{path}: the condition column(s) {', '.join(groups['cond'])} have {int(m.sum())} missing "
                            f"value(s) (first in row {int(np.argwhere(m)[0][0])}); every example needs its conditions")
    return DataRecord(values=np.where(mask, 0.0, x), mask=mask if mask.any() else None,
                      labels=labels(label_col) if label_col else None, condition=cond, sigma=sigma,
                      columns=features)


READERS.register("table", Reader("CSV / TSV tables", TABLE_SUFFIXES, read_table, gzip=True, options=frozenset(
    {"key", "labels_key", "header", "missing", "sigma_key", "ivar_key", "mask_key", "cond_key"})))
