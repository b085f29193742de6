"""Shower files larger than memory, read a chunk of rows at a time with each row's condition vector (``--stream``).

:class:`ShowerChunks` reads the CaloChallenge layout (``showers`` (N, n_voxels), ``incident_energies`` (N, 1),
MeV unless the file says otherwise) and CaloGAN's (``layer_0/1/2`` in MeV, ``energy`` (N, 1) in GeV) row slab by
row slab, and gives per chunk what ``files.read_showers`` gives for the whole file: the cells in the
file's unit, and the condition vectors [log10(E_inc / GeV), one-hot particle] (or, with ``cond_key="energy"``,
the incident energies themselves). Registered in ``data.stream.CHUNKED_LAYOUTS``, so ``--stream`` trains
conditional shower models (cvae with fractions-response, shower-flow-vae, cgan) on files of any size.
"""

from __future__ import annotations

import os

import numpy as np

from ...errors import DataError
from ...data.arrays import check_arrays
from .geometry import GEOMETRIES
from .layout import ENERGY_NAMES
from .layer_log import refuse_negative_deposits
from .files import (CALOGAN_SHAPES, SHOWER_LAYOUTS, _geometry_from, _text, challenge_unit, is_shower_file,
                      shower_conditions)
from .units import PARTICLES, particle_code
from ...data.chunks import RowReader, gather_rows
from ...data.stream import CHUNKED_LAYOUTS, ChunkedLayout


def _energy_key(name: str | None) -> bool:
    return name is not None and name.strip().lower().replace(" ", "_").replace("-", "_") in ENERGY_NAMES


class ShowerChunks(RowReader):
    """Rows of an HDF5 shower file, chunk by chunk: ``rows(start, stop)`` the cells (float32, the file's unit),
    ``conditions(start, stop)`` the raw condition vectors, ``info`` the geometry, energy unit and layout.

    ``key``: None or ``showers`` (the cells; CaloGAN's three layers are joined); ``cond_key``: None or
    ``conditions`` ([log10(E_inc / GeV), one-hot particle]), or an energy name (``energy``, ``incident_energies``:
    the incident energies in the file's unit). Raises DataError, in one line, for a file of no shower layout,
    arrays that do not fit together, an unknown key, or (when read) incident energies that are not finite and > 0.
    """

    kind = "h5"
    channels_last = False

    def __init__(self, path: str | os.PathLike, *, key: str | None = None, cond_key: str | None = None):
        import h5py

        self.path = str(path)
        if key not in (None, "showers"):
            raise DataError(f"{self.path}: --stream reads a shower file's cells (key showers); drop key={key!r}")
        if cond_key not in (None, "conditions") and not _energy_key(cond_key):
            raise DataError(f"{self.path}: a shower file gives cond_key 'conditions' or 'energy'; {cond_key!r} is "
                            "neither (CLI: --cond-key conditions)")
        self.energy_condition = _energy_key(cond_key)
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as e:
            raise DataError(f"{self.path}: cannot read as HDF5 ({e}); is it truncated or damaged?") from None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        f = self._h5
        names = set(f.keys())
        self.layout = next((name for name, lay in SHOWER_LAYOUTS.items() if lay.matches(names, f.attrs)), None)
        if self.layout is not None and SHOWER_LAYOUTS.get(self.layout) is SHOWER_LAYOUTS.get("calogan"):
            self._cells = [f[f"layer_{k}"] for k in range(3)]
            for k, (ds, shape) in enumerate(zip(self._cells, CALOGAN_SHAPES)):
                if ds.shape[1:] != shape or ds.shape[0] != self._cells[0].shape[0]:
                    raise DataError(f"{self.path}: layer_{k} has shape {ds.shape}; CaloGAN's layout has (N, "
                                    f"{shape[0]}, {shape[1]}) with the same N in every layer")
            self._energy, self._energy_scale, self.unit = f["energy"], 1e3, "MeV"  # GeV stored, MeV given
            self.n = int(self._cells[0].shape[0])
            n_cells = sum(int(np.prod(s)) for s in CALOGAN_SHAPES)
            self.geometry = GEOMETRIES.get("calogan")()
            code = particle_code(_text(f.attrs["particle"])) if "particle" in f.attrs else None
            self._particle, self._fixed_particle = None, code
        elif self.layout == "calochallenge":
            self._cells = [f["showers"]]
            if len(self._cells[0].shape) != 2:
                raise DataError(f"{self.path}: showers has shape {self._cells[0].shape}; the CaloChallenge layout "
                                "has showers (N, voxels)")
            self.n, n_cells = (int(v) for v in self._cells[0].shape)
            self._energy, self._energy_scale, self.unit = f["incident_energies"], 1.0, challenge_unit(f.attrs)
            self.geometry = _geometry_from(f.attrs, n_cells, self.path)
            self._particle = f["particle"] if "particle" in f else None
            g_particle = self.geometry.particle if self.geometry is not None else None
            self._fixed_particle = PARTICLES.index(g_particle) if g_particle in PARTICLES else None
        else:
            raise DataError(f"{self.path}: not a shower file; --stream reads the layouts: " + "; ".join(
                lay.summary for _, lay in SHOWER_LAYOUTS.items()))
        if self._energy.shape[0] != self.n or int(np.prod(self._energy.shape[1:], dtype=np.int64)) != 1:
            raise DataError(f"{self.path}: incident energies of shape {self._energy.shape} for {self.n} showers; "
                            "give one energy per shower, (N, 1)")
        if self._particle is not None and self._particle.shape[0] != self.n:
            raise DataError(f"{self.path}: {self._particle.shape[0]} particle codes for {self.n} showers")
        if self.n == 0 or n_cells == 0:
            raise DataError(f"{self.path}: holds no showers")
        self.example_shape = (n_cells,)
        self.info = {"geometry": self.geometry, "energy_unit": self.unit, "file_layout": self.layout}

    def rows(self, start: int, stop: int) -> np.ndarray:
        """The cells of showers [start, stop), float32 (n, n_cells) in the file's unit; DataError for NaN / Inf."""
        x = self.read(self._cells_of, start, stop)
        return check_arrays(x, None, what=f"{self.path} rows {start}-{start + len(x)}")[0]

    def _cells_of(self, start: int, stop: int) -> np.ndarray:
        if len(self._cells) == 1:  # read straight into one float32 array (no second copy of the chunk)
            return np.asarray(self._cells[0][start:stop], np.float32).reshape(stop - start, -1)
        out = np.empty((stop - start,) + self.example_shape, np.float32)
        at = 0
        for ds in self._cells:  # CaloGAN's layers side by side, each read into its columns
            part = np.asarray(ds[start:stop], np.float32).reshape(stop - start, -1)
            out[:, at:at + part.shape[1]] = part
            at += part.shape[1]
        return out

    def energies(self, start: int, stop: int) -> np.ndarray:
        """Incident energies of showers [start, stop), (n, 1) float64 in the file's cell unit; DataError unless
        each is finite and > 0."""
        stop = min(stop, self.n)
        e = np.asarray(self._energy[start:stop], np.float64).reshape(-1, 1) * self._energy_scale
        if not (np.isfinite(e).all() and (e > 0).all()):
            bad = start + int(np.flatnonzero(~(np.isfinite(e[:, 0]) & (e[:, 0] > 0)))[0])
            raise DataError(f"{self.path}: incident energy of row {bad} is {e[bad - start, 0]!r}; energies must be "
                            "finite and > 0: remove the showers without one")
        return e

    def particles(self, start: int, stop: int) -> np.ndarray | None:
        """Particle codes (into PARTICLES) of showers [start, stop), or None when the file does not say."""
        stop = min(stop, self.n)
        if self._particle is not None:
            return np.asarray(self._particle[start:stop], np.int64).reshape(-1)
        return None if self._fixed_particle is None else np.full(stop - start, self._fixed_particle, np.int64)

    def conditions(self, start: int, stop: int) -> np.ndarray:
        """Raw condition vectors of showers [start, stop): [log10(E_inc / GeV), one-hot particle] (as
        ``read_showers`` computes them), or the incident energies with an energy ``cond_key``."""
        e = self.energies(start, stop)
        if self.energy_condition:
            return e
        return shower_conditions(e, self.unit, self.particles(start, stop))

    def take(self, index: np.ndarray, chunk_size: int) -> np.ndarray:
        """Cells of the showers at ``index`` (sorted on the way), read chunk by chunk."""
        return gather_rows(index, chunk_size, self.rows, self.example_shape)

    def take_conditions(self, index: np.ndarray, chunk_size: int) -> np.ndarray:
        """Raw condition vectors of the showers at ``index`` (sorted on the way)."""
        return gather_rows(index, chunk_size, self.conditions, (1,))


def fit_layers_chunks(sc, chunks, *, n_chunks: int, u_space, seed: int = 0, info: dict | None = None,
                      threshold: float | None = None):
    """The ``shower-layers`` scaling ``sc`` fitted in one pass over (cells (n, D), raw condition vectors (n, P))
    chunks of the training rows, ``fit``'s statistics without the whole array: the mean and standard deviation
    (ddof 0) of the logit u-space layer energies (``RunningMoments``, float64), the largest cell
    fraction and smallest deposit exactly, and eps (the 1st percentile of the non-zero fractions) from a seeded
    sample of at most ``FractionsScaling.FIT_SAMPLE`` of them (all of them when there are fewer, then equal to
    ``fit``'s). Rows are taken a float64 block of 4 MiB at a time (``FractionsScaling.fit_block_rows``).
    ``u_space(layer_energies, e_inc)``: the scaling's logit u-space values (N, L) of a block, float64. Errors as ``fit``."""
    from ...data.scaling_base import RunningMoments, block_quota, float_dtype_of, subsample
    from ...data.scaling_shapes import FractionsScaling
    from .units import ENERGY_UNITS

    info = info or {}
    rng = np.random.default_rng(seed)
    per_chunk = max(1, FractionsScaling.FIT_SAMPLE // max(n_chunks, 1))
    moments, started = RunningMoments(), False
    over, worst, nz_max, smallest, sample = 0, 0.0, 0.0, np.inf, []
    for x, cond in chunks:
        x = np.asarray(x)
        if x.ndim != 2:
            raise DataError(f"shower-layers scaling needs flat showers (N, D), got shape {x.shape}")
        if not started:
            started = True
            sc.raw_dtype = float_dtype_of(x)
            sc.params = {"sizes": sc._sizes_of(info, x.shape[1]).astype(np.float64),
                         "gev_per_unit": np.array(ENERGY_UNITS[info.get("energy_unit") or "GeV"])}
        block_rows = FractionsScaling.fit_block_rows(x.shape[1])
        for i in range(0, len(x), block_rows):
            x64 = x[i:i + block_rows].astype(np.float64)
            refuse_negative_deposits(x64, "shower-layers")
            e_layer = sc._layers(x64)
            e_inc = sc._e_inc(np.asarray(cond)[i:i + block_rows])
            ratio = e_layer.sum(1) / e_inc
            over, worst = over + int((ratio > 1).sum()), max(worst, float(ratio.max()))
            moments.update(u_space(e_layer, e_inc))
            per = sc._per_cell(e_layer)
            frac = x64 / np.where(per > 0, per, 1.0)
            nz = frac[frac > 0]
            if nz.size:
                nz_max = max(nz_max, float(nz.max()))
                sample.append(subsample(rng, nz, block_quota(per_chunk, len(x64), len(x))))
                smallest = min(smallest, float(x64[x64 > 0].min()))
    if over:
        raise DataError(f"{over} shower(s) deposit more than their incident energy (E_tot / E_inc up to "
                        f"{worst:.3g}): are cells and incident energies in one unit? Store the unit (energy_unit) "
                        "with the file, as write_showers does")
    if not sample:
        raise DataError("shower-layers scaling needs showers with deposits")
    if threshold is None or threshold < 0:
        threshold = info.get("threshold") or smallest
    sc.params.update(sc.log_params(float(np.percentile(np.concatenate(sample), 1)), nz_max))
    sc.params.update(u_mean=moments.mean, u_std=np.maximum(moments.std, 1e-6), threshold=np.array(float(threshold)))
    return sc


def _matches(path: str, key: str | None) -> bool:
    """A shower file whose cells are asked for (another key, e.g. ``layer_1``, is one plain array)."""
    return key in (None, "showers") and path.lower().endswith((".h5", ".hdf5")) and is_shower_file(path)


CHUNKED_LAYOUTS.register("showers", ChunkedLayout(
    "shower files (CaloChallenge, CaloGAN): cells and condition vectors per chunk", _matches,
    lambda path, key=None, cond_key=None: ShowerChunks(path, key=key, cond_key=cond_key)))
