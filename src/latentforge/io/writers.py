"""Output files in the formats data come in, chosen by the name's ending (``OUTPUT_FORMATS``):

``.npz``              every array under its key (``np.load``)
``.npy``              the first array in the file named; each other array beside it as ``NAME.KEY.npy``
``.csv``              one row per example: the data's column names (with ``[unit]`` where the unit is known; spectra
                      ``flux_<wavelength>A``, showers ``cell_<i> [MeV]``, else ``x0 .. xD-1``), other arrays'
                      columns prefixed with their key (``std_teff``), codes as ``z0 ..``, labels as ``labels``
``.h5`` / ``.hdf5``   showers in the published layout they were read in (CaloGAN ``layer_0/1/2`` + ``energy``, or
                      CaloChallenge ``showers`` + ``incident_energies``, ``data.showers``), the other arrays as
                      datasets beside; other data: one dataset per key with attributes ``columns`` / ``units``, and
                      spectra's ``wavelength`` (Å) as a dataset
``.fits`` (.fit .fts) a binary table (EXTNAME = the first key): a table's columns by name with TUNIT, other arrays
                      as (vector) columns named by key; spectra's wavelength grid in its own table ``WAVELENGTH``
                      (TUNIT Angstrom)
a folder (``out/``    images as 8-bit PNG files ``000000.png`` ... (other image arrays ``KEY_000000.png``), the
or no ending)         value range (``value_range``, data units) mapped onto 0 ... 255, and ``index.csv`` (each
                      file with the example's labels / codes)

What names the values comes from ``describe`` (``run.outputs.describe_outputs``): ``columns``, ``column_units``,
``wavelength`` (Å), ``energy_unit``, ``geometry`` / ``file_layout`` / ``cond_key`` / ``cond`` (showers),
``example_shape`` and ``axes`` (the layout of one example as given), ``value_range``. Every file is written to a
temporary name in the target folder and renamed when complete: a failure leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import ConfigError, LatentforgeError
from .artifacts import TMP_SUFFIX, _UMASK, write_error, write_npz

#: arrays that never hold examples in data space, whatever their shape
NOT_DATA = frozenset({"z", "labels", "score"})
#: output kinds by name ending ("" and "/": a folder of PNG images)
OUTPUT_FORMATS = {".npz": "npz", ".npy": "npy", ".csv": "csv", ".h5": "hdf5", ".hdf5": "hdf5", ".fits": "fits",
                  ".fit": "fits", ".fts": "fits"}
#: the most columns of one FITS table (the standard's TFIELDS limit)
FITS_MAX_COLUMNS = 999


def accepted() -> str:
    """The accepted output endings, for messages and help."""
    return ", ".join(OUTPUT_FORMATS) + ", or a folder (a name ending in / or without an ending) of PNG images"


def output_format(path: str | os.PathLike) -> str:
    """The kind of output ``path`` names (``npz``, ``npy``, ``csv``, ``hdf5``, ``fits`` or ``png``); ConfigError
    (one line listing the accepted endings) for another ending."""
    s = str(path)
    if s.endswith(("/", os.sep)) or Path(s).suffix == "" or Path(s).is_dir():
        return "png"
    suffix = Path(s).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ConfigError(f"--out {s}: unknown output ending {suffix!r}; give one of {accepted()}")
    return OUTPUT_FORMATS[suffix]


@contextlib.contextmanager
def staged(path: Path) -> Iterator[str]:
    """A temporary file name beside ``path``, renamed to ``path`` when the block ends without error and removed
    when it fails; file-system errors become an ArtifactError naming the path and the fix."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise write_error(path, e) from None
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, LatentforgeError):
            raise write_error(path, e) from None
        raise


def write_outputs(path: str | os.PathLike, arrays: dict[str, Any], describe: dict | None = None) -> list[str]:
    """Write the arrays that are not None (the first one is the main output: samples, reconstruction, codes ...)
    to ``path`` in the format its ending names (module docstring); returns the keys written. ConfigError for an
    unknown ending or content the format cannot hold (non-images as PNG; showers in their layout without
    incident energies); ArtifactError when the file system refuses."""
    kind = output_format(path)
    keep = {k: np.asarray(v) for k, v in arrays.items() if v is not None}
    if not keep:
        raise ConfigError(f"--out {path}: nothing to write")
    d = dict(describe or {})
    if kind == "npz":
        return write_npz(path, **keep)
    writer = {"npy": _write_npy, "csv": _write_csv, "hdf5": _write_hdf5, "fits": _write_fits,
              "png": _write_png}[kind]
    writer(Path(path), keep, d)
    return list(keep)


# ---------------------------------------------------------------------------------------------- naming values
def is_data(key: str, a: np.ndarray, d: dict, first: np.ndarray) -> bool:
    """Whether array ``key`` holds examples in data space (the shape of one example as given)."""
    if key in NOT_DATA or a.ndim < 2:
        return False
    shape = d.get("example_shape")
    return tuple(a.shape[1:]) == tuple(shape) if shape is not None else a.shape[1:] == first.shape[1:]


def feature_names(d: dict, size: int) -> tuple[list[str], list[str]]:
    """(names, units) of the ``size`` values of one example: the data's columns, spectra's wavelengths (Å),
    shower cells (in the energy unit), else x0 ..; units "" where unknown."""
    columns, units = d.get("columns"), d.get("column_units")
    wavelength = d.get("wavelength")
    if columns is not None and len(columns) == size:
        return [str(c) for c in columns], [str(u) for u in units] if units and len(units) == size else [""] * size
    if wavelength is not None and len(wavelength) == size:
        return [f"flux_{w:.2f}A" for w in np.asarray(wavelength, float)], [d.get("flux_unit", "")] * size
    if d.get("energy_unit") and d.get("geometry") is not None:
        return [f"cell_{i}" for i in range(size)], [str(d["energy_unit"])] * size
    return [f"x{i}" for i in range(size)], [""] * size


def columns_of(arrays: dict[str, np.ndarray], d: dict) -> list[tuple[str, str, np.ndarray]]:
    """Every array as named columns (name, unit, (N,) values): the main array's data values under the data's own
    names, another data-space array's under ``KEY_name``, the rest under ``KEY`` or ``KEY0 ..``."""
    first_key, first = next(iter(arrays.items()))
    out = []
    for key, a in arrays.items():
        flat = a.reshape(len(a), -1)
        if is_data(key, a, d, first):
            names, units = feature_names(d, flat.shape[1])
            prefix = "" if key == first_key else f"{key}_"
            out += [(prefix + n, u, flat[:, i]) for i, (n, u) in enumerate(zip(names, units))]
        elif a.ndim == 1:
            out.append((key, "", a))
        else:
            out += [(f"{key}{i}", "", flat[:, i]) for i in range(flat.shape[1])]
    lengths = {len(v) for _, _, v in out}
    if len(lengths) > 1:
        raise ConfigError(f"arrays of {sorted(lengths)} rows cannot share one table; write .npz or .h5")
    return out


def with_unit(name: str, unit: str) -> str:
    """A column header: ``name [unit]``, or the name alone where the unit is not known."""
    return f"{name} [{unit}]" if unit else name


# ---------------------------------------------------------------------------------------------- formats
def _write_npy(path: Path, arrays: dict[str, np.ndarray], d: dict) -> None:
    """The first array in ``path``, each other one beside it as ``STEM.KEY.npy``; all renamed at the end."""
    stem = str(path)[:-4]
    targets = [(path, a) if i == 0 else (Path(f"{stem}.{k}.npy"), a) for i, (k, a) in enumerate(arrays.items())]
    with contextlib.ExitStack() as stack:
        for target, a in targets:  # every file complete before the first is renamed: all or none
            tmp = stack.enter_context(staged(target))
            with open(tmp, "wb") as f:
                np.save(f, a, allow_pickle=False)


def _write_csv(path: Path, arrays: dict[str, np.ndarray], d: dict) -> None:
    cols = columns_of(arrays, d)
    cells = []
    for _, _, v in cols:
        v = np.asarray(v)
        if v.dtype.kind == "f":
            cells.append(np.char.mod("%.9g", v))  # 9 significant digits: a float32 comes back exactly
        elif v.dtype.kind == "b":
            cells.append(v.astype(np.int8).astype(str))
        else:
            cells.append(v.astype(str))
    with staged(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([with_unit(n, u) for n, u, _ in cols])
        w.writerows(np.stack(cells, 1).tolist() if cells else [])


def shower_energies(d: dict, n: int, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(incident energies (n, 1) in the run's energy unit, particle codes or None) from the condition vectors the
    showers were made with (``d["cond"]``, raw): [log10(E / GeV), one-hot particle], or the energy itself
    (``cond_key`` energy). ConfigError when they are not known."""
    from ..domains.showers.layout import ENERGY_NAMES
    from ..domains.showers.units import ENERGY_UNITS, PARTICLES

    cond, key, unit = d.get("cond"), d.get("cond_key"), d.get("energy_unit", "MeV")
    if cond is None:
        raise ConfigError(f"--out {path}: the {d.get('file_layout')} layout stores each shower's incident energy, "
                          "which this model is not conditioned on; write .npz, .csv or .fits (or train with "
                          "--condition vector --cond-key energy)")
    cond = np.asarray(cond, np.float64).reshape(n, -1)
    if key is not None and key.strip().lower().replace(" ", "_").replace("-", "_") in ENERGY_NAMES:
        return cond[:, :1], None
    if key not in (None, "conditions"):
        raise ConfigError(f"--out {path}: the condition {key!r} is not the incident energy, which the "
                          f"{d.get('file_layout')} layout stores; write .npz, .csv or .fits")
    energies = 10 ** cond[:, :1] / ENERGY_UNITS[unit]
    particle = np.argmax(cond[:, 1:], 1) if cond.shape[1] == 1 + len(PARTICLES) else None
    return energies, particle


def _write_hdf5(path: Path, arrays: dict[str, np.ndarray], d: dict) -> None:
    import h5py

    first_key, first = next(iter(arrays.items()))
    layout = d.get("file_layout")
    with staged(path) as tmp, h5py.File(tmp, "w") as f:
        rest = dict(arrays)
        if layout and d.get("geometry") is not None and is_data(first_key, first, d, first):
            from ..domains.showers.geometry import ShowerGeometry
            from ..domains.showers.files import SHOWER_LAYOUTS

            energies, particle = shower_energies(d, len(first), path)
            unit = d.get("energy_unit", "MeV")
            showers = {"showers": first.reshape(len(first), -1), "incident_energies": energies, "energy_unit": unit,
                       "geometry": ShowerGeometry.from_dict(d["geometry"]), "particle": particle}
            SHOWER_LAYOUTS.get(layout).write(f, showers, unit)
            f.attrs["kind"] = "calorimeter-showers"
            del rest[first_key]
        for key, a in rest.items():
            data = a.astype(h5py.string_dtype()) if a.dtype.kind == "U" else a
            ds = f.create_dataset(key, data=data, compression="gzip" if a.size > 4096 else None)
            if is_data(key, a, d, first):
                names, units = feature_names(d, int(np.prod(a.shape[1:])))
                ds.attrs["columns"], ds.attrs["units"] = names, units
        if d.get("wavelength") is not None:
            w = f.create_dataset("wavelength", data=np.asarray(d["wavelength"], np.float64))
            w.attrs["unit"] = "Angstrom"


def _fits_column(fits, name: str, a: np.ndarray, unit: str = "", dim: tuple | None = None):
    if a.dtype.kind == "U":
        return fits.Column(name=name, format=f"{max(1, int(np.char.str_len(a).max(initial=1)))}A", array=a)
    code = {"b": "L", "i": "K", "u": "K"}.get(a.dtype.kind, "D" if a.dtype == np.float64 else "E")
    width = int(np.prod(a.shape[1:]))
    kw: dict[str, Any] = {"unit": unit} if unit else {}
    if dim is not None and len(dim) > 1:
        kw["dim"] = "(" + ",".join(str(s) for s in reversed(dim)) + ")"  # FITS counts the fastest axis first
    flat = a.reshape(len(a)) if width == 1 else a.reshape(len(a), -1)
    return fits.Column(name=name, format=f"{width if width != 1 else ''}{code}", array=flat, **kw)


def _write_fits(path: Path, arrays: dict[str, np.ndarray], d: dict) -> None:
    from ..domains.spectra.fits import astropy_fits

    fits = astropy_fits(path)
    first_key, first = next(iter(arrays.items()))
    n_data = sum(is_data(k, a, d, first) for k, a in arrays.items())
    named = (d.get("columns") is not None and d.get("wavelength") is None
             and len(d["columns"]) * n_data + len(arrays) <= FITS_MAX_COLUMNS)
    cols = []
    for key, a in arrays.items():
        if is_data(key, a, d, first) and named:
            names, units = feature_names(d, int(np.prod(a.shape[1:])))
            prefix = "" if key == first_key else f"{key}_"
            flat = a.reshape(len(a), -1)
            cols += [_fits_column(fits, prefix + n, flat[:, i], u) for i, (n, u) in enumerate(zip(names, units))]
        elif is_data(key, a, d, first):
            unit = feature_names(d, int(np.prod(a.shape[1:])))[1][0]
            cols.append(_fits_column(fits, key, a, unit, dim=a.shape[1:]))
        else:
            cols.append(_fits_column(fits, key, a, dim=a.shape[1:]))
    hdus = [fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name=first_key.upper())]
    hdus[0].header["ORIGIN"] = "latentforge"
    if d.get("wavelength") is not None:
        hdus.append(fits.BinTableHDU.from_columns([fits.Column(
            name="WAVELENGTH", format="D", unit="Angstrom", array=np.asarray(d["wavelength"], np.float64))],
            name="WAVELENGTH"))
    with staged(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)


def _write_png(path: Path, arrays: dict[str, np.ndarray], d: dict) -> None:
    from PIL import Image

    first_key, first = next(iter(arrays.items()))
    axes = d.get("axes") or {2: "ND", 3: "NHW", 4: "NCHW"}.get(first.ndim, "")
    if axes not in ("NHW", "NCHW", "NHWC") or not is_data(first_key, first, d, first):
        raise ConfigError(f"--out {path}: a folder of PNG files holds images, and these examples are of shape "
                          f"{tuple(first.shape[1:])} ({axes or 'not images'}); write .npz, .csv, .h5 or .fits")
    lo, hi = d.get("value_range") or (float(first.min()), float(first.max()))
    target = Path(str(path).rstrip("/" + os.sep))
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"--out {path}: exists and is not an empty folder; choose another --out or remove it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TMP_SUFFIX, dir=target.parent)
    try:
        index: dict[str, Any] = {"file": np.array([f"{i:06d}.png" for i in range(len(first))])}
        for key, a in arrays.items():
            if not is_data(key, a, d, first):
                index[key] = a
                continue
            img = np.moveaxis(a, 1, -1) if axes == "NCHW" else a
            if img.ndim == 4 and img.shape[-1] == 1:
                img = img[..., 0]
            if img.ndim == 4 and img.shape[-1] not in (3, 4):
                raise ConfigError(f"--out {path}: images of {img.shape[-1]} channels cannot be PNG files (1, 3 or 4); "
                                  "write .npz, .h5 or .fits")
            grey = a.dtype == bool
            scaled = img.astype(np.float64) * 255 if grey else (img - lo) / ((hi - lo) or 1.0) * 255
            pixels = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
            prefix = "" if key == first_key else f"{key}_"
            for i, p in enumerate(pixels):
                Image.fromarray(p).save(os.path.join(tmp, f"{prefix}{i:06d}.png"))
        index_arrays = {"file": index.pop("file"), **index}
        _write_csv(Path(tmp) / "index.csv", index_arrays, {})
        os.chmod(tmp, 0o777 & ~_UMASK)
        if target.is_dir():
            target.rmdir()  # an empty folder: replaced by the complete one
        os.replace(tmp, target)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and not isinstance(e, LatentforgeError):
            raise write_error(path, e) from None
        raise

