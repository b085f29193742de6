"""Calorimeter geometry as data: the layers of a detector and the cells (voxels) in each.

Two kinds of layer are described:

- ``PolarLayer``: rings and angular sectors around the particle's axis, as in the CaloChallenge 2022 binning
  files (``code/binning_dataset_*.xml`` of the CaloChallenge/homepage repository; arXiv 2410.21611): radial
  bin edges ``r_edges`` in mm and ``n_alpha`` equal angular bins splitting the full circle, alpha from -pi to
  pi. A layer holds (len(r_edges) - 1) x n_alpha voxels, flattened angle-major (voxel = alpha bin * n_r + r bin);
  a layer with ``r_edges="0"`` holds none.
- ``GridLayer``: a rectangular grid of ``rows`` x ``cols`` cells over a ``width`` x ``height`` window (mm)
  centred on the axis, flattened row-major, as CaloGAN's layer images (Paganini, de Oliveira, Nachman 2018).

A :class:`ShowerGeometry` is the ordered list of layers; the showers of a file are (N, n_cells) with the layers'
cells one after the other. Cell centres are given in the geometry's own transverse coordinates (x, y) in mm,
so observables (centre of energy, width) are computed the same way for every detector. Each layer may carry
its depth (front, back) in radiation lengths X0, which the simulator uses to place deposits.

Built-in geometries (``GEOMETRIES``): ``calogan`` (504 cells), ``calochallenge-1-photons`` (368),
``calochallenge-1-pions`` (533), ``calochallenge-2`` (6480), ``calochallenge-3`` (40500);
``geometry_for_cells(n)`` finds the one with ``n`` cells.
"""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...errors import DataError
from ...registry import Registry


@dataclass(frozen=True)
class PolarLayer:
    """Rings (``r_edges``, mm) x ``n_alpha`` angular bins; ``depth`` = (front, back) in X0 or None."""

    id: int
    r_edges: tuple[float, ...]
    n_alpha: int = 1
    depth: tuple[float, float] | None = None

    @property
    def n_r(self) -> int:
        return max(len(self.r_edges) - 1, 0)

    @property
    def n_cells(self) -> int:
        return self.n_r * self.n_alpha

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of every cell centre in mm, (n_cells,) each: r at the middle of its ring, alpha at the middle
        of its sector (x = r cos alpha, y = r sin alpha, the CaloChallenge convention)."""
        edges = np.asarray(self.r_edges, np.float64)
        r = 0.5 * (edges[1:] + edges[:-1])
        alpha = -math.pi + (np.arange(self.n_alpha) + 0.5) * 2 * math.pi / self.n_alpha
        rr, aa = np.meshgrid(r, alpha)  # (n_alpha, n_r): angle-major
        return (rr * np.cos(aa)).ravel(), (rr * np.sin(aa)).ravel()

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cell index in this layer of points (x, y) in mm; -1 outside the outermost ring."""
        r = np.hypot(x, y)
        ir = np.searchsorted(np.asarray(self.r_edges), r, side="right") - 1
        alpha = np.arctan2(y, x)
        ia = np.minimum(((alpha + math.pi) / (2 * math.pi) * self.n_alpha).astype(np.int64), self.n_alpha - 1)
        inside = (ir >= 0) & (ir < self.n_r)
        return np.where(inside, ia * self.n_r + ir, -1)

    def to_dict(self) -> dict:
        return {"kind": "polar", "id": self.id, "r_edges": list(self.r_edges), "n_alpha": self.n_alpha,
                "depth": list(self.depth) if self.depth else None}


@dataclass(frozen=True)
class GridLayer:
    """``rows`` x ``cols`` cells over a ``width`` (x, along columns) x ``height`` (y, along rows) window in mm."""

    id: int
    rows: int
    cols: int
    width: float
    height: float
    depth: tuple[float, float] | None = None

    @property
    def n_cells(self) -> int:
        return self.rows * self.cols

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of every cell centre in mm, (n_cells,) each, row-major."""
        xc = (np.arange(self.cols) + 0.5) * self.width / self.cols - self.width / 2
        yc = (np.arange(self.rows) + 0.5) * self.height / self.rows - self.height / 2
        xx, yy = np.meshgrid(xc, yc)  # (rows, cols)
        return xx.ravel(), yy.ravel()

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cell index in this layer of points (x, y) in mm; -1 outside the window."""
        ix = np.floor((x + self.width / 2) / (self.width / self.cols)).astype(np.int64)
        iy = np.floor((y + self.height / 2) / (self.height / self.rows)).astype(np.int64)
        inside = (ix >= 0) & (ix < self.cols) & (iy >= 0) & (iy < self.rows)
        return np.where(inside, iy * self.cols + ix, -1)

    def to_dict(self) -> dict:
        return {"kind": "grid", "id": self.id, "rows": self.rows, "cols": self.cols, "width": self.width,
                "height": self.height, "depth": list(self.depth) if self.depth else None}


Layer = PolarLayer | GridLayer


@dataclass(frozen=True)
class ShowerGeometry:
    """An ordered list of layers; ``layers`` holds only those with cells (empty CaloChallenge layers are kept in
    ``all_layers`` so that layer ids stay those of the binning file). ``particle``: the particle the binning was
    made for, when the description says (e.g. ``gamma`` for CaloChallenge dataset 1 photons)."""

    name: str
    all_layers: tuple[Layer, ...]
    particle: str | None = None

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.all_layers if layer.n_cells > 0)

    @property
    def n_cells(self) -> int:
        return sum(layer.n_cells for layer in self.all_layers)

    def layer_slices(self) -> list[slice]:
        """The slice of each non-empty layer's cells in a flattened shower of ``n_cells``."""
        out, start = [], 0
        for layer in self.layers:
            out.append(slice(start, start + layer.n_cells))
            start += layer.n_cells
        return out

    def split(self, showers: np.ndarray) -> list[np.ndarray]:
        """(N, n_cells) -> one (N, cells of the layer) array per non-empty layer; DataError on a wrong width."""
        showers = np.asarray(showers)
        if showers.ndim != 2 or showers.shape[1] != self.n_cells:
            raise DataError(f"showers of shape {showers.shape} do not fit geometry {self.name!r} "
                            f"({self.n_cells} cells per shower)")
        return [showers[:, s] for s in self.layer_slices()]

    def to_dict(self) -> dict:
        return {"name": self.name, "particle": self.particle, "layers": [layer.to_dict() for layer in self.all_layers]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> "ShowerGeometry":
        """Rebuild from ``to_dict()``; DataError when the description is incomplete."""
        try:
            layers = []
            for ld in d["layers"]:
                depth = tuple(ld["depth"]) if ld.get("depth") else None
                if ld["kind"] == "polar":
                    layers.append(PolarLayer(int(ld["id"]), tuple(float(r) for r in ld["r_edges"]),
                                             int(ld["n_alpha"]), depth))
                else:
                    layers.append(GridLayer(int(ld["id"]), int(ld["rows"]), int(ld["cols"]), float(ld["width"]),
                                            float(ld["height"]), depth))
            return cls(str(d["name"]), tuple(layers), d.get("particle"))
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"damaged geometry description ({type(e).__name__}: {e})") from None

    @classmethod
    def from_json(cls, text: str) -> "ShowerGeometry":
        """Rebuild from ``to_json()``."""
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise DataError(f"damaged geometry description (not JSON: {e})") from None

    def with_depths(self, total_x0: float) -> "ShowerGeometry":
        """A copy whose layers without a depth share ``total_x0`` radiation lengths equally, front to back."""
        layers = self.layers
        if all(layer.depth for layer in layers):
            return self
        step = total_x0 / len(layers)
        new = {id(layer): type(layer)(**{**_fields(layer), "depth": (k * step, (k + 1) * step)})
               for k, layer in enumerate(layers)}
        return ShowerGeometry(self.name, tuple(new.get(id(layer), layer) for layer in self.all_layers), self.particle)

    def to_binning_xml(self) -> str:
        """The CaloChallenge binning description of a geometry of polar layers (DataError for grid layers)."""
        if any(isinstance(layer, GridLayer) for layer in self.all_layers):
            raise DataError(f"geometry {self.name!r} has rectangular layers; the CaloChallenge binning format "
                            "describes rings and angular bins only (store it with to_json instead)")
        pid = {v: k for k, v in PDG_IDS.items()}.get(self.particle or "", 0)
        lines = ["<Bins>", f'   <Bin pid="{pid}" name="{self.name}">']
        for layer in self.all_layers:
            edges = ",".join(_num(r) for r in (layer.r_edges or (0.0,)))
            lines.append(f'      <Layer id="{layer.id}" r_edges="{edges}" n_bin_alpha="{layer.n_alpha}" />')
        return "\n".join(lines + ["   </Bin>", "</Bins>", ""])


def _fields(layer) -> dict:
    return {k: getattr(layer, k) for k in layer.__dataclass_fields__}


def _num(v: float) -> str:
    return f"{v:g}" if float(v) != int(v) else str(int(v))


#: PDG particle codes of the particles the project names (PDG, "Monte Carlo particle numbering scheme")
PDG_IDS = {11: "e-", -11: "e+", 22: "gamma", 211: "pi+", -211: "pi-"}


def read_binning_xml(source: str | os.PathLike, name: str | None = None) -> ShowerGeometry:
    """A geometry from a CaloChallenge binning description: a path to the XML file, or its text.

    ``<Bins><Bin pid=.. name=..><Layer id=.. r_edges="0,5,.." n_bin_alpha=".."/>...</Bin></Bins>``; radii in mm.
    Raises DataError for a file that is not such a description (no Layer, bad numbers, decreasing edges).
    """
    text = str(source)
    label = "binning description"
    if not text.lstrip().startswith("<"):
        label = text
        try:
            text = open(source, encoding="utf-8").read()
        except OSError as e:
            raise DataError(f"{source}: cannot read the binning file ({e.strerror or e})") from None
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise DataError(f"{label}: not XML ({e}); expected a CaloChallenge binning file") from None
    bins = root if root.tag == "Bin" else root.find("Bin")
    if bins is None or not bins.findall("Layer"):
        raise DataError(f"{label}: no <Bin> with <Layer> elements; expected a CaloChallenge binning file "
                        '(<Layer id=".." r_edges=".." n_bin_alpha=".."/>)')
    layers = []
    for el in bins.findall("Layer"):
        try:
            edges = tuple(float(v) for v in el.attrib["r_edges"].split(","))
            n_alpha = int(el.attrib.get("n_bin_alpha", "1"))
            lid = int(el.attrib["id"])
        except (KeyError, ValueError) as e:
            raise DataError(f"{label}: a Layer lacks or misstates id / r_edges / n_bin_alpha ({e})") from None
        if len(edges) > 1 and (np.diff(edges) <= 0).any() or n_alpha < 1:
            raise DataError(f"{label}: layer {lid}: r_edges must increase and n_bin_alpha be >= 1")
        layers.append(PolarLayer(lid, edges if len(edges) > 1 else (), n_alpha))
    try:
        pid = int(bins.attrib.get("pid", "0"))
    except ValueError:
        pid = 0
    return ShowerGeometry(name or bins.attrib.get("name", "binning"), tuple(layers), PDG_IDS.get(pid))


# ---------------------------------------------------------------------------------------------- built-in
GEOMETRIES: Registry[Callable[[], ShowerGeometry]] = Registry("shower geometry", error=DataError)

#: CaloGAN's three layers (Paganini et al. 2018): 3x96, 12x12, 12x6 cells over a 480 mm x 480 mm window; depths
#: (front, back) in X0 as used by the project's simulator
CALOGAN_LAYERS = ((3, 96, 0.0, 3.0), (12, 12, 3.0, 19.0), (12, 6, 19.0, 25.0))
CALOGAN_WINDOW_MM = 480.0


@GEOMETRIES.add("calogan")
def calogan() -> ShowerGeometry:
    """CaloGAN's geometry: ``layer_0`` (3, 96), ``layer_1`` (12, 12), ``layer_2`` (12, 6); 504 cells."""
    return ShowerGeometry("calogan", tuple(
        GridLayer(k, rows, cols, CALOGAN_WINDOW_MM, CALOGAN_WINDOW_MM, (front, back))
        for k, (rows, cols, front, back) in enumerate(CALOGAN_LAYERS)))


def _challenge(name: str, particle: str | None, layers: dict[int, tuple[tuple[float, ...], int]],
               n_ids: int) -> ShowerGeometry:
    return ShowerGeometry(name, tuple(PolarLayer(i, *layers.get(i, ((), 1))) for i in range(n_ids)), particle)


# radial bin edges (mm) and angular bins of the non-empty layers of CaloChallenge dataset 1 (ATLAS-like,
# 24 layer ids), from the challenge's binning_dataset_1_photons.xml and binning_dataset_1_pions.xml
_DS1_PHOTONS = {0: ((0, 5, 10, 30, 50, 100, 200, 400, 600), 1),
                1: ((0, 2, 4, 6, 8, 10, 12, 15, 20, 30, 40, 50, 70, 90, 120, 150, 200), 10),
                2: ((0, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 130, 160, 200, 250, 300, 350, 400), 10),
                3: ((0, 50, 100, 200, 400, 600), 1),
                12: ((0, 100, 200, 400, 1000, 2000), 1)}
_DS1_PIONS = {0: ((0, 5, 10, 30, 50, 100, 200, 400, 600), 1),
              1: ((0, 1, 4, 7, 10, 15, 30, 50, 90, 150, 200), 10),
              2: ((0, 5, 10, 20, 30, 50, 80, 130, 200, 300, 400), 10),
              3: ((0, 50, 100, 200, 400, 600), 1),
              12: ((0, 10, 20, 30, 50, 80, 100, 130, 160, 200, 250, 300, 350, 400, 1000, 2000), 10),
              13: ((0, 10, 20, 30, 50, 80, 100, 130, 160, 200, 250, 300, 350, 400, 600, 1000, 2000), 10),
              14: ((0, 50, 100, 150, 200, 250, 300, 400, 600, 1000, 2000), 1)}


@GEOMETRIES.add("calochallenge-1-photons")
def calochallenge_1_photons() -> ShowerGeometry:
    """CaloChallenge dataset 1, photons: layers 0, 1, 2, 3, 12 of 24; 8 + 160 + 190 + 5 + 5 = 368 voxels."""
    return _challenge("calochallenge-1-photons", "gamma",
                      {k: (tuple(map(float, e)), a) for k, (e, a) in _DS1_PHOTONS.items()}, 24)


@GEOMETRIES.add("calochallenge-1-pions")
def calochallenge_1_pions() -> ShowerGeometry:
    """CaloChallenge dataset 1, pions: layers 0-3 and 12-14 of 24; 533 voxels."""
    return _challenge("calochallenge-1-pions", "pi+",
                      {k: (tuple(map(float, e)), a) for k, (e, a) in _DS1_PIONS.items()}, 24)


@GEOMETRIES.add("calochallenge-2")
def calochallenge_2() -> ShowerGeometry:
    """CaloChallenge dataset 2 (electrons): 45 layers x 16 angular x 9 radial bins of 4.65 mm = 6480 voxels."""
    edges = tuple(round(4.65 * k, 3) for k in range(10))
    return _challenge("calochallenge-2", None, {k: (edges, 16) for k in range(45)}, 45)


@GEOMETRIES.add("calochallenge-3")
def calochallenge_3() -> ShowerGeometry:
    """CaloChallenge dataset 3 (electrons): 45 layers x 50 angular x 18 radial bins of 2.325 mm = 40500 voxels."""
    edges = tuple(round(2.325 * k, 4) for k in range(19))
    return _challenge("calochallenge-3", None, {k: (edges, 50) for k in range(45)}, 45)


def builtin_geometry(name: str) -> ShowerGeometry:
    """A built-in geometry by name (DataError naming the known ones for an unknown name)."""
    return GEOMETRIES.get(name)()


def geometry_for_cells(n_cells: int) -> ShowerGeometry | None:
    """The built-in geometry with ``n_cells`` cells, or None when none has that many."""
    for _, make in GEOMETRIES.items():
        g = make()
        if g.n_cells == n_cells:
            return g
    return None


def resolve_geometry(spec: str | os.PathLike | ShowerGeometry) -> ShowerGeometry:
    """A geometry from a built-in name, a CaloChallenge binning XML file or a ShowerGeometry."""
    if isinstance(spec, ShowerGeometry):
        return spec
    s = str(spec)
    if s in GEOMETRIES:
        return builtin_geometry(s)
    if s.lower().endswith(".xml") or os.path.exists(s):
        return read_binning_xml(s)
    raise DataError(f"unknown geometry {s!r}; give one of {', '.join(GEOMETRIES.names())} or a CaloChallenge "
                    "binning XML file")
