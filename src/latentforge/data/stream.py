"""Training data larger than memory: ``.npy`` and HDF5 files read in row chunks.

An epoch reads the file's chunks (``chunk_size`` contiguous rows each) in a seeded random order, keeps a
buffer of ``buffer_chunks`` chunks, shuffles the rows inside it and hands out batches; at most the buffer
(plus one batch carried over) is in memory at a time. ``.npy`` chunks are memory-mapped one window at a
time and copied out, so the resident memory stays near the buffer size however large the file is. The
train / validation / test split is the same seeded split as for in-memory data. Chunk order and shuffles
come from the trainer's seeded stream, so a run repeats and resumes exactly. Under torchrun each rank reads
its own share of the chunks.
"""

from __future__ import annotations

import math
import os
import tokenize
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ConfigError, DataError
from ..registry import Registry
from .chunks import RowReader, gather_rows
from .arrays import as_examples, check_arrays, check_unit_range, refuse_layout_option, resolve_layout
from .files import DATA_KEYS, h5_datasets, pick_key
from .records import READERS, file_kind, streamable

TRAIN, VAL, TEST = 1, 2, 3
#: values per block in which a chunk is scaled (a float64 block of 4 MiB), so a scaling's temporaries stay small
SCALE_BLOCK_VALUES = 1 << 19


@dataclass(frozen=True)
class ChunkedLayout:
    """A file layout that streams its own way: ``matches(path, key) -> bool`` (cheap) and ``open(path, key=,
    cond_key=)`` -> a reader with ChunkedFile's interface (``n``, ``example_shape``, ``rows``, ``take``,
    ``conditions``, ``info``, ``close``)."""

    summary: str
    matches: Callable[[str], bool]
    open: Callable[..., Any]


#: layouts read by their own chunked reader (rows plus each row's condition vector), tried before the generic one
CHUNKED_LAYOUTS: Registry[ChunkedLayout] = Registry("chunked file layout", error=DataError)


def open_chunked(path: str | os.PathLike, *, key: str | None = None, channels_last: bool | None = None,
                 cond_key: str | None = None):
    """The chunked reader of ``path``: a registered layout's own (which reads condition vectors per chunk), else
    a ChunkedFile of one array (ConfigError when ``cond_key`` is given for it: a plain array has no conditions)."""
    s = str(path)
    for _, layout in CHUNKED_LAYOUTS.items():
        if os.path.isfile(s) and layout.matches(s, key):
            return layout.open(s, key=key, cond_key=cond_key)
    if cond_key is not None:
        raise ConfigError("--stream reads conditions from files in a known layout (one a domain streams) only; drop "
                          "cond_key or train without --stream")
    return ChunkedFile(path, key=key, channels_last=channels_last)


class ChunkedFile(RowReader):
    """Rows [start, stop) of a large .npy or HDF5 array, converted to float32 examples on the way out. A plain
    array carries no condition vectors (``conditions`` gives None) and no description (``info`` is empty)."""

    info: dict = {}

    def __init__(self, path: str | os.PathLike, *, key: str | None = None, channels_last: bool | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"{path}: no such file; streaming needs an .npy or HDF5 file")
        kind = file_kind(self.path)
        if not READERS.get(kind).can_stream or str(path).lower().endswith(".gz"):
            raise DataError(f"{path}: streaming reads {', '.join(streamable())} files (not gzip-compressed); convert "
                            "the data to one of them, or train without --stream")
        self.kind = kind
        self._h5 = None
        if kind == "npy":
            self._open_npy()
        else:
            self._open_h5(key)
        if len(self.shape) not in (2, 3, 4) or self.shape[0] == 0 or 0 in self.shape:
            raise DataError(f"{path}: expected a non-empty array of vectors (N, D) or images (N, [C,] H, W), got "
                            f"shape {self.shape}")
        self.n = int(self.shape[0])
        refuse_layout_option(self.shape, channels_last, str(path))
        self.channels_last = len(self.shape) == 4 and resolve_layout(self.shape, channels_last, str(path)) == "last"
        self.example_shape = tuple(as_examples(np.zeros((1,) + self.shape[1:], np.float32),
                                               channels_last=channels_last).shape[1:])

    def _open_npy(self) -> None:
        try:
            with open(self.path, "rb") as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"format version {version[0]}.{version[1]} cannot be streamed; numpy writes 1.0 "
                                     "or 2.0 unless field names need UTF-8, re-save it with np.save")
                self.offset = f.tell()
        except (ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError) as e:  # a garbled header
            raise DataError(f"{self.path}: not a readable .npy file ({e}); is it truncated or damaged?") from None
        if dtype.hasobject or not (np.issubdtype(dtype, np.number) or dtype == bool):
            raise DataError(f"{self.path}: holds dtype {dtype}; streaming needs a numeric array")
        if fortran and len(shape) > 1:
            raise DataError(f"{self.path}: the array is stored column-major (Fortran order); rows cannot be read in "
                            "chunks. Save it with np.save(path, np.ascontiguousarray(x))")
        self.shape, self.dtype = tuple(int(s) for s in shape), dtype
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * dtype.itemsize
        need = self.offset + self.shape[0] * self.row_bytes
        size = self.path.stat().st_size
        if size < need:
            raise DataError(f"{self.path}: the header promises {self.shape} ({need} bytes) but the file holds "
                            f"{size} bytes; the file is truncated")

    def _open_h5(self, key: str | None) -> None:
        import h5py

        try:
            self._h5 = h5py.File(self.path, "r")
            k = pick_key(h5_datasets(self._h5), key, DATA_KEYS, self.path, "data")
            self._ds = self._h5[k]
            self.shape, self.dtype = tuple(int(s) for s in self._ds.shape), self._ds.dtype
        except DataError:
            self.close()
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:  # h5py: RuntimeError on bad objects
            self.close()
            raise DataError(f"{self.path}: cannot read as HDF5 ({type(e).__name__}: {e}); is it truncated or "
                            "damaged?") from None
        self.key = k
        if self.dtype.hasobject or not (np.issubdtype(self.dtype, np.number) or self.dtype == bool):
            raise DataError(f"{self.path}: dataset {k!r} holds dtype {self.dtype}; streaming needs numbers")

    def raw(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as stored (a copy; nothing stays mapped)."""
        return self.read(self._raw, start, stop)

    def _raw(self, start: int, stop: int) -> np.ndarray:
        if self.kind == "npy":
            m = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset + start * self.row_bytes,
                          shape=(stop - start,) + self.shape[1:])
            out = np.array(m)
            del m
            return out
        return self._ds[start:stop]

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as float32 examples, checked for NaN / Inf."""
        x = as_examples(self.raw(start, stop), channels_last=self.channels_last, what=str(self.path))
        return check_arrays(x, None, what=f"{self.path} rows {start}-{min(stop, self.n)}")[0]

    def conditions(self, start: int, stop: int) -> np.ndarray | None:
        """The raw condition vectors of rows [start, stop): None, a plain array has none."""
        return None

    def take_conditions(self, index: np.ndarray, chunk_size: int) -> np.ndarray | None:
        """The raw condition vectors of rows ``index``: None, a plain array has none."""
        return None

    def take(self, index: np.ndarray, chunk_size: int) -> np.ndarray:
        """Rows at sorted ``index`` (read chunk by chunk)."""
        return gather_rows(index, chunk_size, self.rows, self.example_shape)


def training_chunks(f, part: np.ndarray, chunk_size: int, *, cells: bool = True,
                    conditions: bool = False) -> Iterator:
    """The training rows of ``f`` chunk by chunk: their cells (N, ...), their raw condition vectors (N, P), or
    (cells, conditions) pairs when both are asked for."""
    for c in range(math.ceil(f.n / chunk_size)):
        start = c * chunk_size
        keep = part[start:start + chunk_size] == TRAIN
        if not keep.any():
            continue
        x = f.rows(start, start + chunk_size)[keep] if cells else None
        cond = f.conditions(start, start + chunk_size) if conditions else None
        cond = None if cond is None else cond[keep]
        yield (x, cond) if cells and conditions else (x if cells else cond)


def training_conditions(f, part: np.ndarray, chunk_size: int) -> np.ndarray | None:
    """The raw condition vectors (N_train, P) of the training rows, read chunk by chunk (P numbers a row: small
    beside the cells); None for a file without conditions."""
    parts = [c for c in training_chunks(f, part, chunk_size, cells=False, conditions=True) if c is not None]
    return np.concatenate(parts) if parts else None


def fit_scaler(f, part: np.ndarray, kind: str, chunk_size: int, *, seed: int = 0, threshold: float | None = None):
    """A Scaler fitted on the training rows in one streamed pass (``Scaler.fit_chunks``). A condition-aware
    scaling (e.g. fractions-response) gets (cells, raw condition vectors) pairs, one that reads the
    data's description also ``f.info`` and ``threshold``. ConfigError for a scaling without a streamed fit, or a
    condition-aware one on a file without conditions."""
    from .scaling import Scaler

    scaler = Scaler(kind)
    n_chunks = math.ceil(f.n / chunk_size)
    if not scaler.uses_condition:
        return scaler.fit_chunks(training_chunks(f, part, chunk_size), n_chunks=n_chunks, seed=seed)
    if f.conditions(0, 1) is None:
        raise ConfigError(f"{kind} scaling maps each example with its condition vector, which {f.path} does not "
                          "hold; stream a file of a known layout, or use --scaling log")
    chunks = training_chunks(f, part, chunk_size, conditions=True)
    extra = {"info": dict(f.info), "threshold": threshold} if scaler.uses_info else {}
    return scaler.fit_chunks(chunks, n_chunks=n_chunks, seed=seed, **extra)


def scale_rows(scaler, x: np.ndarray, factors: np.ndarray | None, keep: np.ndarray | None = None) -> np.ndarray:
    """``scaler.transform`` of the rows ``keep`` (bool (N,), None: all) of ``x`` (N, ...) in row blocks of at most
    SCALE_BLOCK_VALUES values, into one float32 array: neither a copy of the kept rows nor a scaling's float64
    temporaries grow beyond a block, whatever the chunk's size. ``factors``: the kept rows' raw condition vectors
    a condition-aware scaling maps with, else None."""
    per_row = max(1, int(np.prod(x.shape[1:], dtype=np.int64)))
    step = max(1, SCALE_BLOCK_VALUES // per_row)
    n = len(x) if keep is None else int(np.count_nonzero(keep))
    out, done = None, 0
    for i in range(0, len(x), step):
        block = x[i:i + step] if keep is None else x[i:i + step][keep[i:i + step]]
        if not len(block):
            continue
        u = scaler.transform(block, factors=None if factors is None else factors[done:done + len(block)])
        if out is None:
            out = np.empty((n,) + u.shape[1:], np.float32)
        out[done:done + len(u)] = u
        done += len(u)
    if out is None:
        return scaler.transform(x if keep is None else x[keep], factors=factors)
    return out


class ChunkStream:
    """Batches of one part (train / val / test) of a chunked reader, scaled, as tensors: ``x``, and ``c`` (the
    conditioner's vectors) for a conditional model, whose raw condition vectors are read with each chunk."""

    def __init__(self, f, part: np.ndarray, which: int, scaler, *, chunk_size: int, buffer_chunks: int,
                 unit_range: bool = False, conditioner=None):
        self.f, self.part, self.which, self.scaler = f, part, which, scaler
        self.chunk_size, self.buffer_chunks, self.unit_range = chunk_size, buffer_chunks, unit_range
        self.conditioner = conditioner
        self.n_chunks = math.ceil(f.n / chunk_size)
        self.per_chunk = np.bincount(np.flatnonzero(part == which) // chunk_size, minlength=self.n_chunks)
        self.n = int(self.per_chunk.sum())

    def __len__(self) -> int:
        return self.n

    def _chunk(self, c: int) -> dict[str, np.ndarray]:
        start = c * self.chunk_size
        keep = self.part[start:start + self.chunk_size] == self.which
        raw_c = None
        if self.conditioner is not None or self.scaler.uses_condition:
            raw_c = self.f.conditions(start, start + self.chunk_size)
            if raw_c is None:
                raise ConfigError(f"{self.f.path} holds no condition vectors; train an unconditional model")
            raw_c = raw_c[keep]
        x = scale_rows(self.scaler, self.f.rows(start, start + self.chunk_size), raw_c if self.scaler.uses_condition
                       else None, keep=keep)
        if self.unit_range and len(x) and self.which == TRAIN:
            check_unit_range(x, what=f"{self.f.path} rows {start}-{start + len(keep)} after scaling")
        elif self.unit_range:  # held-out rows are clipped into the training range, as at inference
            np.clip(x, 0.0, 1.0, out=x)
        out = {"x": x}
        if self.conditioner is not None:
            out["c"] = self.conditioner.transform(raw_c)
        return out

    def head_batch(self, n: int) -> dict[str, torch.Tensor]:
        """The first ``n`` rows of this part in file order, as a batch dict (``x``, and ``c`` when conditional)."""
        out: list[dict] = []
        have = 0
        for c in range(self.n_chunks):
            if have >= n:
                break
            if self.per_chunk[c]:
                part = {k: v[:n - have] for k, v in self._chunk(c).items()}
                out.append(part)
                have += len(part["x"])
        return {k: torch.from_numpy(np.concatenate([o[k] for o in out])) for k in out[0]}

    def head(self, n: int) -> torch.Tensor:
        """The first ``n`` rows' ``x`` (see ``head_batch``)."""
        return self.head_batch(n)["x"]

    def batches(self, generator: torch.Generator, batch_size: int, rank: int = 0, world: int = 1, *,
                min_batch: int = 1) -> Iterator[dict]:
        """Shuffled batches: chunk order from ``generator`` (shared by all ranks, which take every world-th
        chunk), rows shuffled within a buffer of chunks by a stream derived from it per rank. Batches are
        gathered from the buffer by a permutation (no shuffled copy of it); the buffer is let go before the next
        one is read, so at most one buffer (plus its rows being scaled) is held."""
        order = torch.randperm(self.n_chunks, generator=generator).numpy()
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
        local = torch.Generator().manual_seed(seed + rank)
        mine = order[rank::world]
        steps = None
        if world > 1:  # every rank must take the same number of steps
            steps = min(math.ceil(self.per_chunk[order[r::world]].sum() / batch_size) for r in range(world))
            if steps == 0:
                raise ConfigError(f"too few training rows for {world} processes with --chunk-size "
                                  f"{self.chunk_size}; use a smaller --chunk-size")
        done = 0
        carry: dict[str, np.ndarray] | None = None
        for i in range(0, len(mine), self.buffer_chunks):
            parts = ([carry] if carry is not None else []) + [self._chunk(int(c)) for c in
                                                              mine[i:i + self.buffer_chunks] if self.per_chunk[c]]
            carry = None
            if not parts:
                continue
            buf = parts[0] if len(parts) == 1 else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            del parts
            perm = torch.randperm(len(buf["x"]), generator=local).numpy()
            full = len(perm) // batch_size * batch_size
            for s in range(0, full, batch_size):
                if steps is not None and done >= steps:
                    return
                yield {k: torch.from_numpy(v[perm[s:s + batch_size]]) for k, v in buf.items()}
                done += 1
            carry = {k: v[perm[full:]] for k, v in buf.items()}
            del buf
        if carry is not None and len(carry["x"]) >= min_batch and (steps is None or done < steps):
            yield {k: torch.from_numpy(v) for k, v in carry.items()}

    def spread(self, batch_size: int, limit: int) -> Iterator[dict]:
        """About ``limit`` rows of this part (at least those of one chunk) from chunks spread evenly over the
        file, in file order, as batches: a sample of every region of a file that may be sorted (by energy, say)."""
        have = [c for c in range(self.n_chunks) if self.per_chunk[c]]
        step = max(1, self.n // max(limit, 1))  # chunks: n / limit = (chunks held) / (chunks needed)
        taken = 0
        for c in have[::step]:
            if taken >= limit:
                return
            chunk = self._chunk(c)
            taken += len(chunk["x"])
            for s in range(0, len(chunk["x"]), batch_size):
                yield {k: torch.from_numpy(v[s:s + batch_size]) for k, v in chunk.items()}

    def ordered(self, batch_size: int) -> Iterator[dict]:
        """Every row of this part once, in file order (for evaluation)."""
        for c in range(self.n_chunks):
            if not self.per_chunk[c]:
                continue
            chunk = self._chunk(c)
            for s in range(0, len(chunk["x"]), batch_size):
                yield {k: torch.from_numpy(v[s:s + batch_size]) for k, v in chunk.items()}


def is_stream(data) -> bool:
    """True for data read chunk by chunk from a file."""
    return isinstance(data, ChunkStream)
