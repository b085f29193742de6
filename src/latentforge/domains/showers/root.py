"""ROOT files of per-cell energies, as Geant4 output usually arrives, read through ``uproot`` (the optional
``root`` extra: ``pip install 'latentforge[root]'``).

The first TTree (or RNTuple) with a cell-energy branch is read, one entry per shower:

- cells: one array branch (fixed size, e.g. ``float[504]``, or a vector of the same length in every entry) named
  ``showers``, ``cells``, ``cell_energies``, ``energies`` or ``edep``; or one branch per layer ``layer_0``,
  ``layer_1``, ... (any fixed shape each, concatenated in order, as CaloGAN's per-layer images);
- the incident energy: ``incident_energies``, ``incident_energy``, ``energy``, ``E_inc`` or ``primary_energy``;
- optionally the particle: ``particle`` (codes into PARTICLES) or ``pdg`` / ``pdgid`` (PDG numbers).

Units: a branch (or tree) title naming ``GeV`` or ``MeV`` decides; otherwise MeV, Geant4's internal energy unit
(say otherwise with ``energy_unit=``). The geometry is read from a string object ``binning`` (a CaloChallenge
binning XML) or ``geometry`` (the project's JSON) in the file, else it is the built-in one with that many cells.
"""

from __future__ import annotations

import os

import numpy as np

from ...errors import DataError
from .geometry import ShowerGeometry, geometry_for_cells, read_binning_xml
from .units import ENERGY_UNITS, PARTICLES, particle_codes, to_gev

ROOT_INSTALL = "pip install 'latentforge[root]' (or pip install uproot)"
CELL_BRANCHES = ("showers", "cells", "cell_energies", "energies", "edep")
ENERGY_BRANCHES = ("incident_energies", "incident_energy", "energy", "E_inc", "primary_energy")
PDG_TO_PARTICLE = {-11: "e+", 22: "gamma", 211: "pi+"}


def _uproot(path):
    try:
        import uproot
    except ImportError:
        raise DataError(f"{path}: reading ROOT files needs uproot, which is not installed; install it with "
                        f"{ROOT_INSTALL}") from None
    return uproot


def _unit(title: str) -> str | None:
    for unit in ENERGY_UNITS:
        if unit in title:
            return unit
    return None


def _stack(values, name: str, path) -> np.ndarray:
    a = np.asarray(values)
    if a.dtype == object:  # a vector branch: one array per entry
        lengths = {len(v) for v in a}
        if len(lengths) != 1:
            raise DataError(f"{path}: branch {name} holds {sorted(lengths)[:5]} cells in different entries; every "
                            "shower needs the same cells (pad empty cells with 0)")
        a = np.stack([np.asarray(v) for v in a])
    return np.asarray(a, np.float64).reshape(len(a), -1)


def _geometry(f, n_cells: int, path) -> ShowerGeometry | None:
    for name, parse in (("binning", read_binning_xml), ("geometry", ShowerGeometry.from_json)):
        if name in {k.split(";")[0] for k in f.keys()}:
            g = parse(str(f[name]))
            if g.n_cells != n_cells:
                raise DataError(f"{path}: the stored {name} has {g.n_cells} cells but the showers have {n_cells}")
            return g
    return geometry_for_cells(n_cells)  # None: unknown (the validation says so)


def read_root_showers(path: str | os.PathLike, *, tree: str | None = None, energy_unit: str | None = None) -> dict:
    """Showers from a ROOT file, as ``files.read_showers`` returns them (cells and incident
    energies in the cells' unit). Raises DataError when uproot is missing, the file is unreadable, or no tree
    holds cell energies and an incident energy."""
    uproot = _uproot(path)
    try:
        f = uproot.open(path)
    except Exception as e:  # uproot raises many kinds on foreign or damaged files
        raise DataError(f"{path}: cannot read as ROOT ({type(e).__name__}: {e})") from None
    with f:
        classes = {k.split(";")[0]: c for k, c in f.classnames().items()}
        trees = [tree] if tree else [k for k, c in classes.items() if c in ("TTree", "ROOT::RNTuple")]
        for name in trees:
            t = f[name]
            branches = set(t.keys())
            cells = [b for b in CELL_BRANCHES if b in branches][:1]
            if not cells:
                cells = sorted((b for b in branches if b.startswith("layer_") and b[6:].isdigit()),
                               key=lambda b: int(b[6:]))
            energy = next((b for b in ENERGY_BRANCHES if b in branches), None)
            if cells and energy:
                break
        else:
            raise DataError(f"{path}: no tree with cell energies ({' / '.join(CELL_BRANCHES)} or layer_0, layer_1, "
                            f"...) and an incident energy ({' / '.join(ENERGY_BRANCHES)}); trees: "
                            f"{', '.join(trees) or 'none'}")
        arrays = t.arrays([*cells, energy, *[b for b in ("particle", "pdg", "pdgid") if b in branches]],
                          library="np")
        titles = {b.name: b.title for b in getattr(t, "branches", [])}
        tree_title = str(getattr(t, "title", "") or "")
        showers = np.concatenate([_stack(arrays[b], b, path) for b in cells], 1)
        e_inc = np.asarray(arrays[energy], np.float64).reshape(-1)
        cell_unit = energy_unit or _unit(titles.get(cells[0], "")) or _unit(tree_title) or "MeV"
        e_unit = energy_unit or _unit(titles.get(energy, "")) or _unit(tree_title) or "MeV"
        if len(e_inc) != len(showers):
            raise DataError(f"{path}: {len(e_inc)} incident energies for {len(showers)} showers")
        particle = None
        if "particle" in arrays:
            particle = particle_codes(arrays["particle"], path)
        elif "pdg" in arrays or "pdgid" in arrays:
            pdg = np.asarray(arrays.get("pdg", arrays.get("pdgid")), np.int64)
            unknown = sorted(set(pdg.tolist()) - set(PDG_TO_PARTICLE))
            if unknown:
                raise DataError(f"{path}: PDG codes {unknown[:5]} are not among the known particles "
                                f"({', '.join(PARTICLES)}); keep only the showers of those, or drop the pdg "
                                "branch to condition on the incident energy alone")
            particle = np.array([PARTICLES.index(PDG_TO_PARTICLE[p]) for p in pdg], np.int64)
        geometry = _geometry(f, showers.shape[1], path)
    e_inc = to_gev(e_inc, e_unit) / ENERGY_UNITS[cell_unit]  # in the cells' unit
    if not (np.isfinite(showers).all() and np.isfinite(e_inc).all() and (e_inc > 0).all()):
        raise DataError(f"{path}: cell energies must be finite and incident energies finite and > 0")
    if particle is None and geometry is not None and geometry.particle in PARTICLES:
        particle = np.full(len(showers), PARTICLES.index(geometry.particle), np.int64)
    return {"showers": showers.astype(np.float32), "incident_energies": e_inc.reshape(-1, 1),
            "energy_unit": cell_unit, "particle": particle, "overflow": None, "geometry": geometry,
            "sampling_fraction": None, "layout": "root"}
