"""Calorimeter shower files in the layouts they are published in, read into one form.

Layouts (``SHOWER_LAYOUTS``), each with its own units:

``calochallenge``  CaloChallenge 2022 (arXiv 2410.21611): HDF5 datasets ``showers`` (N, n_voxels) and
                   ``incident_energies`` (N, 1), both in MeV. Files written by the project add ``particle`` (N,),
                   ``conditions`` (N, P) and attributes ``energy_unit``, ``geometry`` (JSON), ``binning_xml``.
                   Files of the project's first version (attribute ``kind`` but no ``energy_unit``) are in GeV.
``calogan``        CaloGAN (Paganini, de Oliveira, Nachman 2018): ``layer_0`` (N, 3, 96), ``layer_1`` (N, 12, 12),
                   ``layer_2`` (N, 12, 6) in MeV, ``energy`` (N, 1) the incident energy in GeV, ``overflow`` (N, 3)
                   the energy outside each layer's window in MeV.
ROOT TTrees of per-cell energies are read by ``root`` (the optional ``root`` extra).

Whatever the layout, :func:`read_showers` returns the cells and the incident energies in one unit (the cells'
own: MeV for both published layouts), the unit's name, the geometry (stored in the file, else the built-in one
with that many cells) and the conditioning vector of every shower, [log10(E_inc / GeV), one-hot particle].
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ...errors import DataError
from ...registry import Registry
from .geometry import GEOMETRIES, GridLayer, ShowerGeometry, geometry_for_cells
from .root import read_root_showers
from .units import ENERGY_UNITS, PARTICLES, particle_code, particle_codes, to_gev

SHOWERS_KIND = "calorimeter-showers"


def shower_conditions(incident_energies: np.ndarray, unit: str, particle: np.ndarray | None = None) -> np.ndarray:
    """The conditioning vector of each shower, float32 (N, 1 + len(PARTICLES)): log10 of the incident energy in
    GeV and the one-hot particle (``particle``: codes into PARTICLES); (N, 1) when the particle is unknown."""
    logs = np.log10(to_gev(incident_energies, unit).reshape(-1, 1)).astype(np.float32)
    if particle is None:
        return logs
    onehot = np.eye(len(PARTICLES), dtype=np.float32)[np.asarray(particle, np.int64).reshape(-1)]
    return np.concatenate([logs, onehot], 1)


def unknown_geometry(n_cells: int) -> str:
    """Why showers of ``n_cells`` cells without a stored geometry cannot be validated, and what to do."""
    return (f"showers have {n_cells} cells and no geometry is known for that many (built-in: "
            + ", ".join(f"{name} {GEOMETRIES.get(name)().n_cells}" for name in GEOMETRIES)
            + "); store the binning in the file (write_showers with a ShowerGeometry from read_binning_xml)")


def _geometry_from(attrs, n_cells: int, path) -> ShowerGeometry | None:
    if "geometry" in attrs:
        g = ShowerGeometry.from_json(_text(attrs["geometry"]))
    else:
        g = geometry_for_cells(n_cells)
        if g is None:
            return None
    if g.n_cells != n_cells:
        raise DataError(f"{path}: showers have {n_cells} cells but the stored geometry {g.name!r} has {g.n_cells}")
    return g


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass(frozen=True)
class ShowerLayout:
    """An HDF5 layout: ``matches(names, attrs)``, ``read(h5file, path) -> dict`` and
    ``write(h5file, data, unit)`` (data: the simulator's dict, energies in GeV)."""

    summary: str
    matches: Callable[[set, Any], bool]
    read: Callable[[Any, Any], dict]
    write: Callable[[Any, dict, str], None]


SHOWER_LAYOUTS: Registry[ShowerLayout] = Registry("shower file layout", error=DataError)

CALOGAN_SHAPES = ((3, 96), (12, 12), (12, 6))


def _is_calogan(names: set, attrs) -> bool:
    return {"layer_0", "layer_1", "layer_2", "energy"} <= names


def _read_calogan(f, path) -> dict:
    layers = [np.asarray(f[f"layer_{k}"][()], np.float32) for k in range(3)]
    n = len(layers[0])
    for k, (layer, shape) in enumerate(zip(layers, CALOGAN_SHAPES)):
        if layer.shape[1:] != shape or len(layer) != n:
            raise DataError(f"{path}: layer_{k} has shape {layer.shape}; CaloGAN's layout has (N, {shape[0]}, "
                            f"{shape[1]}) with the same N in every layer")
    energy = np.asarray(f["energy"][()], np.float64).reshape(-1)
    if len(energy) != n:
        raise DataError(f"{path}: {len(energy)} incident energies for {n} showers")
    showers = np.concatenate([layer.reshape(n, -1) for layer in layers], 1)
    particle = None
    if "particle" in f.attrs:
        particle = np.full(n, particle_code(_text(f.attrs["particle"])), np.int64)
    overflow = np.asarray(f["overflow"][()], np.float32).reshape(n, -1) if "overflow" in f else None
    return {"showers": showers, "incident_energies": (energy * 1e3).reshape(-1, 1), "energy_unit": "MeV",
            "particle": particle, "overflow": overflow, "geometry": GEOMETRIES.get("calogan")(),
            "sampling_fraction": _attr_float(f.attrs, "sampling_fraction")}


def _write_calogan(f, data: dict, unit: str) -> None:
    g: ShowerGeometry = data["geometry"]
    shapes = tuple(layer.shape for layer in g.layers if isinstance(layer, GridLayer))
    if shapes != CALOGAN_SHAPES or len(g.layers) != 3:
        raise DataError(f"CaloGAN's layout holds 3x96, 12x12 and 12x6 cells; geometry {g.name!r} is not that one "
                        "(simulate with --geometry calogan, or write --layout calochallenge)")
    mev = to_gev(data["showers"], data.get("energy_unit", "GeV")) * 1e3
    for k, (part, shape) in enumerate(zip(g.split(mev), CALOGAN_SHAPES)):
        f.create_dataset(f"layer_{k}", data=part.reshape(-1, *shape).astype(np.float32), compression="gzip")
    f.create_dataset("energy", data=to_gev(data["incident_energies"], data.get("energy_unit", "GeV"))
                     .reshape(-1, 1).astype(np.float32))
    over = data.get("overflow")
    over = np.zeros((len(mev), 3)) if over is None else to_gev(over, data.get("energy_unit", "GeV")) * 1e3
    f.create_dataset("overflow", data=np.asarray(over, np.float32))
    codes = np.unique(np.asarray(data["particle"])) if data.get("particle") is not None else ()
    if len(codes) == 1:
        f.attrs["particle"] = PARTICLES[int(codes[0])]
    f.attrs["units"] = "layer_* and overflow in MeV, energy in GeV (CaloGAN's convention)"


def _is_challenge(names: set, attrs) -> bool:
    return {"showers", "incident_energies"} <= names


def _attr_float(attrs, name: str) -> float | None:
    return float(attrs[name]) if name in attrs else None


def challenge_unit(attrs) -> str:
    """The energy unit of a CaloChallenge-layout file: its ``energy_unit`` attribute, else MeV as the challenge
    stores it (GeV for the project's first files: ``kind`` set, no unit). DataError for an unknown unit."""
    if "energy_unit" in attrs:
        unit = _text(attrs["energy_unit"])
    else:
        unit = "GeV" if _text(attrs.get("kind", "")) == SHOWERS_KIND else "MeV"
    to_gev(1.0, unit)  # refuses an unknown unit
    return unit


def _read_challenge(f, path) -> dict:
    showers = np.asarray(f["showers"][()], np.float32)
    energies = np.asarray(f["incident_energies"][()], np.float64).reshape(-1, 1)
    if showers.ndim != 2 or len(energies) != len(showers):
        raise DataError(f"{path}: showers {showers.shape} and incident_energies {energies.shape} do not fit; the "
                        "CaloChallenge layout has showers (N, voxels) and incident_energies (N, 1)")
    unit = challenge_unit(f.attrs)
    geometry = _geometry_from(f.attrs, showers.shape[1], path)
    particle = particle_codes(f["particle"][()], path) if "particle" in f else None
    if particle is not None and len(particle) != len(showers):
        raise DataError(f"{path}: {len(particle)} particle values for {len(showers)} showers; give one per shower "
                        "or delete the particle dataset")
    if particle is None and geometry is not None and geometry.particle in PARTICLES:
        particle = np.full(len(showers), PARTICLES.index(geometry.particle), np.int64)
    return {"showers": showers, "incident_energies": energies, "energy_unit": unit, "particle": particle,
            "overflow": None, "geometry": geometry, "sampling_fraction": _attr_float(f.attrs, "sampling_fraction")}


def _write_challenge(f, data: dict, unit: str) -> None:
    g: ShowerGeometry = data["geometry"]
    scale = ENERGY_UNITS[data.get("energy_unit", "GeV")] / ENERGY_UNITS[unit]
    f.create_dataset("showers", data=(np.asarray(data["showers"], np.float64) * scale).astype(np.float32),
                     compression="gzip")
    f.create_dataset("incident_energies", data=(np.asarray(data["incident_energies"], np.float64) * scale)
                     .reshape(-1, 1).astype(np.float32))
    if data.get("particle") is not None:  # generated showers may not say which particle made them
        f.create_dataset("particle", data=np.asarray(data["particle"], np.int64))
    f.create_dataset("conditions", data=shower_conditions(np.asarray(data["incident_energies"]),
                                                          data.get("energy_unit", "GeV"), data.get("particle")))
    f.attrs["energy_unit"] = unit
    f.attrs["geometry"] = g.to_json()
    if not any(isinstance(layer, GridLayer) for layer in g.all_layers):
        f.attrs["binning_xml"] = g.to_binning_xml()


SHOWER_LAYOUTS.register("calogan", ShowerLayout(
    "CaloGAN: layer_0 (N, 3, 96), layer_1 (N, 12, 12), layer_2 (N, 12, 6) in MeV, energy (N, 1) in GeV, "
    "overflow (N, 3)", _is_calogan, _read_calogan, _write_calogan))
SHOWER_LAYOUTS.register("calochallenge", ShowerLayout(
    "CaloChallenge: showers (N, voxels) and incident_energies (N, 1) in MeV (+ particle, conditions, geometry)",
    _is_challenge, _read_challenge, _write_challenge))


def _h5_layout(f) -> tuple[str, ShowerLayout] | None:
    names = set(f.keys())
    for name, layout in SHOWER_LAYOUTS.items():
        if layout.matches(names, f.attrs):
            return name, layout
    return None


def write_showers(path: str | os.PathLike, data: dict, *, layout: str = "calochallenge", unit: str = "MeV") -> None:
    """Write simulated showers (the dict ``ShowerSimulator.simulate`` returns) in a published layout.

    ``layout``: ``calochallenge`` (cells and incident energies in ``unit``, MeV by default as the challenge
    stores them, plus particle, conditions and the geometry) or ``calogan`` (its fixed units; needs the
    CaloGAN geometry). Written to a temporary file, then renamed. DataError for a layout that cannot hold
    the geometry or an unknown unit.
    """
    import h5py

    writer = SHOWER_LAYOUTS.get(layout)
    to_gev(1.0, unit)
    path = str(path)
    tmp = path + ".tmp"
    try:
        with h5py.File(tmp, "w") as f:
            writer.write(f, data, unit)
            f.attrs["kind"] = SHOWERS_KIND
            f.attrs["particles"] = ",".join(PARTICLES)
            if data.get("sampling_fraction") is not None:
                f.attrs["sampling_fraction"] = float(data["sampling_fraction"])
            if data.get("resolution"):
                f.attrs["resolution"] = str(data["resolution"])
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_showers(path: str | os.PathLike) -> dict:
    """Showers of any known layout as a dict: ``showers`` (N, n_cells) float32, ``incident_energies`` (N, 1) in
    the same ``energy_unit``, ``particle`` (N,) codes into PARTICLES or None, ``conditions`` (N, 1 or 4),
    ``geometry`` (None when the file stores none and no built-in one has that many cells; ``geometry_missing``
    then says so), ``overflow`` (N, layers) or None, ``sampling_fraction`` or None, ``layout``.

    Raises DataError for a file of no known layout, arrays that do not fit together, or a stored geometry
    whose cell count differs from the showers'.
    """
    s = str(path)
    if s.lower().endswith(".root"):
        out = read_root_showers(s)
    else:
        import h5py

        try:
            with h5py.File(s, "r") as f:
                found = _h5_layout(f)
                if found is None:
                    raise DataError(f"{s}: not a shower file; known layouts: " + "; ".join(
                        lay.summary for _, lay in SHOWER_LAYOUTS.items()))
                out = found[1].read(f, s)
                out["layout"] = found[0]
        except OSError as e:
            raise DataError(f"{s}: cannot read as HDF5 ({e})") from None
    e_inc = np.asarray(out["incident_energies"], np.float64)
    if not (np.isfinite(e_inc).all() and (e_inc > 0).all()):
        raise DataError(f"{s}: incident energies must be finite and > 0; remove the showers without one")
    if out["geometry"] is None:
        out["geometry_missing"] = unknown_geometry(out["showers"].shape[1])
    out["conditions"] = shower_conditions(out["incident_energies"], out["energy_unit"], out["particle"])
    return out


def is_shower_file(source: Any) -> bool:
    """True for an HDF5 file in a known shower layout, or a ROOT file (read as per-cell energies)."""
    s = str(source)
    if not os.path.isfile(s):
        return False
    if s.lower().endswith(".root"):
        return True
    if not s.lower().endswith((".h5", ".hdf5")):
        return False
    import h5py

    try:
        with h5py.File(s, "r") as f:
            return _h5_layout(f) is not None
    except OSError:
        return False
