"""The one typed path from a file to the data: a registry of readers (``READERS``) and the record they return.

Every file kind registers one :class:`Reader` (its name, the file-name endings it reads, the options it uses,
whether ``--stream`` can read it chunk by chunk, and its ``read``); every list of supported formats (the error
for an unknown file, the ``--data`` help, the image endings) is made here from the registry. A reader
returns one :class:`DataRecord`; an option a reader does not list is refused in one line before it reads, so an
option that is accepted is always used.

The readers register themselves in their own modules (``data.files``, ``data.tables``, a domain's package,
``data.images``); the ``latentforge.data`` package imports all of them before anything is read.
"""

from __future__ import annotations

import os
import tokenize
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import DataError
from ..registry import Registry

#: the reader options, each with its command-line flag; a reader lists those it uses
OPTION_FLAGS = {"key": "--key", "labels_key": "--labels-key", "sigma_key": "--sigma-key", "ivar_key": "--ivar-key",
                "mask_key": "--mask-key", "cond_key": "--cond-key", "header": "--header", "missing": "--missing"}
KEY_OPTIONS = tuple(OPTION_FLAGS)
CONTAINER_OPTIONS = frozenset({"key", "labels_key", "sigma_key", "ivar_key", "mask_key", "cond_key"})


@dataclass
class DataRecord:
    """What one reader found in a source, before the checks of ``ArrayDataset``.

    ``values``   the examples as stored: (N, ...) numbers
    ``mask``     True where a point is missing (a null value, NaN, ivar = 0, a bad-pixel flag), shape of values
    ``labels``   (N,) class labels or None; ``condition`` (N, P) per-example parameters or None
    ``sigma``    per-point standard deviations in the units of ``values`` (shape of values) or None
    ``columns``  the names of the feature columns of a table; ``column_units`` their units where the file gives
                 them ("" where absent); ``column_values`` their values when the header is numeric (e.g. a grid
                 written as the column names)
    ``header``   how a text table's first row was taken (``names``, ``numeric names`` or ``none``)
    ``layout``   ``last`` for images stored channels last, else None
    ``described`` what a known layout says of the whole set (a domain's grid, unit, geometry, published file
                 layout ...), kept in ``ArrayDataset.info`` under its keys
    ``parameters`` / ``classes`` (name -> (N,) catalogue values),
    ``files`` (the file of each example) and ``resampled``: what a known layout adds
    ``source``   the path read.
    """

    values: np.ndarray
    mask: np.ndarray | None = None
    labels: np.ndarray | None = None
    condition: np.ndarray | None = None
    sigma: np.ndarray | None = None
    columns: list[str] | None = None
    column_units: list[str] | None = None
    column_values: np.ndarray | None = None
    header: str | None = None
    layout: str | None = None
    described: dict[str, Any] = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    classes: dict = field(default_factory=dict)
    files: list[str] | None = None
    resampled: bool = False
    labels_file: Path | None = None
    source: str = ""

    def to_dict(self) -> dict:
        """The record as the dict of earlier versions of ``read_file`` (x, y, sigma, mask, cond, layout, ...)."""
        out = {"x": self.values, "y": self.labels, "sigma": self.sigma, "mask": self.mask, "cond": self.condition,
               "layout": self.layout}
        out.update({k: v for k, v in self.described.items() if v is not None})
        for name, value in (("columns", self.columns), ("files", self.files)):
            if value is not None:
                out[name] = value
        if self.parameters or self.classes:
            out.update(parameters=self.parameters, classes=self.classes)
        return out


@dataclass(frozen=True)
class Reader:
    """One file kind: ``suffixes`` (name endings, lower case), ``read(path, **options) -> DataRecord``, the
    ``options`` it uses, whether ``--stream`` reads it in chunks (``can_stream``), whether a ``.gz`` copy is read
    as it is (``gzip``), and a ``summary`` for the lists of formats."""

    summary: str
    suffixes: tuple[str, ...]
    read: Callable[..., DataRecord]
    options: frozenset = frozenset()
    can_stream: bool = False
    gzip: bool = False
    needs: str = ""
    #: several files of this kind as one record, None to concatenate them as they are (``data.collections``)
    read_many: Callable[..., DataRecord | None] | None = None


READERS: Registry[Reader] = Registry("file kind", error=DataError)


@dataclass(frozen=True)
class InfoKey:
    """A key of ``ArrayDataset.info`` a domain's layout fills in (``DataRecord.described``) that a run records in
    its config.json and outputs are named with: ``to_json(value)`` -> what is recorded; ``names_only``: it only
    names outputs, so a run resumed on data that lack it (an earlier version's) is the same run."""

    to_json: Callable[[Any], Any] = lambda value: value
    names_only: bool = True


INFO_KEYS: Registry[InfoKey] = Registry("described value")


def suffixes_of(kind: str) -> tuple[str, ...]:
    """The name endings registered for ``kind`` (with their ``.gz`` forms where the reader reads gzip)."""
    reader = READERS.get(kind)
    return reader.suffixes + (tuple(s + ".gz" for s in reader.suffixes) if reader.gzip else ())


def supported() -> str:
    """The supported formats, one phrase per registered reader, for messages and help."""
    parts = []
    for _, r in READERS.items():
        gz = ", optionally .gz" if r.gzip else ""
        parts.append(f"{r.summary} ({'/'.join(r.suffixes)}{gz})" + (f", needs {r.needs}" if r.needs else ""))
    return "; ".join(parts) + "; or a folder / glob of such files"


def streamable() -> list[str]:
    """The suffixes of the readers that ``--stream`` reads chunk by chunk."""
    return [s for _, r in READERS.items() if r.can_stream for s in r.suffixes]


def file_kind(path: str | os.PathLike) -> str:
    """The kind of a file from its name (after an optional .gz); DataError naming the supported formats."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for kind, reader in READERS.items():
        if name.endswith(reader.suffixes):
            return kind
    if "idx" in READERS and ("-ubyte" in name or name.endswith("ubyte")):
        return "idx"
    raise DataError(f"{path}: unknown file type; supported: {supported()}")


def refuse_unused(path, kind: str, options: dict, allowed) -> None:
    """DataError naming every option given (not None) that ``kind`` does not use: an accepted option is used."""
    unused = [k for k, v in options.items() if v is not None and k not in allowed]
    if unused:
        given = ", ".join(f"{k}={options[k]!r} ({OPTION_FLAGS.get(k, k)})" for k in unused)
        uses = ", ".join(sorted(allowed)) or "none"
        raise DataError(f"{path}: a {kind} file does not use {given}; drop it (options it uses: {uses})")


def read_one(path: str | os.PathLike, **options) -> DataRecord:
    """One file through its registered reader; foreign or damaged content becomes a one-line DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; give a built-in dataset name or an existing file path")
    kind = file_kind(path)
    reader = READERS.get(kind)
    if path.name.lower().endswith(".gz") and not reader.gzip:
        raise DataError(f"{path}: a gzip-compressed {kind} file cannot be read as it is; decompress it first "
                        f"(gunzip {path.name})")
    refuse_unused(path, kind, options, reader.options)
    try:
        record = reader.read(path, **{k: v for k, v in options.items() if v is not None})
    except DataError:
        raise
    except (ValueError, SyntaxError, tokenize.TokenError) as e:  # numpy refuses pickles, bad .npy headers ...
        raise DataError(f"{path}: cannot read as {kind} ({e}); the file may be damaged or hold Python "
                        "objects") from None
    except (OSError, EOFError, KeyError, RuntimeError, zlib.error, _zip_error()) as e:
        raise DataError(f"{path}: cannot read as {kind} ({type(e).__name__}: {e}); is it truncated or "
                        "damaged?") from None
    record.source = str(path)
    return record


def sigma_from_ivar(ivar, mask, path) -> tuple[np.ndarray, np.ndarray]:
    """(sigma, mask) from inverse variances: sigma = 1 / sqrt(ivar); ivar = 0 masks the point."""
    ivar = np.asarray(ivar, dtype=np.float64)
    if (ivar < 0).any() or not np.isfinite(ivar).all():
        raise DataError(f"{path}: inverse variances must be finite and >= 0 (0 marks a point without data)")
    zero = ivar == 0
    sigma = np.where(zero, 1.0, 1.0 / np.sqrt(np.where(zero, 1.0, ivar)))
    m = np.asarray(mask, bool) if mask is not None else np.zeros(ivar.shape, bool)
    return sigma, m | zero


def _zip_error() -> type[Exception]:
    import zipfile

    return zipfile.BadZipFile


def join_records(files, parts: list[DataRecord]) -> DataRecord:
    """Records of several files as one (concatenated along the first axis): labels, sigma, mask and conditions
    where every file has them; DataError naming a file without one that others have."""
    out = DataRecord(values=np.concatenate([np.asarray(part.values) for part in parts]),
                     files=[str(p) for p in files], columns=parts[0].columns)
    for name in ("labels", "sigma", "mask", "condition"):
        have = [getattr(part, name) is not None for part in parts]
        if all(have):
            setattr(out, name, np.concatenate([np.asarray(getattr(part, name)) for part in parts]))
        elif any(have) and name != "mask":
            missing = next(p for p, h in zip(files, have) if not h)
            raise DataError(f"{missing}: has no {name} while other files do; give every file its {name}, or none")
        elif any(have):  # a file without missing points: none masked there
            out.mask = np.concatenate([np.zeros(np.shape(part.values), bool) if part.mask is None else part.mask
                                       for part in parts])
    layouts = {part.layout for part in parts}
    out.layout = layouts.pop() if len(layouts) == 1 else None
    return out
