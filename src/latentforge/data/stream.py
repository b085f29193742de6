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

from ..errors import ConfigError, DataError
from .arrays import as_examples, check_arrays, check_unit_range, refuse_layout_option, resolve_layout
from .files import DATA_KEYS, h5_datasets, pick_key
from .records import READERS, file_kind, streamable

TRAIN, VAL, TEST = 1, 2, 3


class ChunkedFile:
    """Rows [start, stop) of a large .npy or HDF5 array, converted to float32 examples on the way out."""

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

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def raw(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as stored (a copy; nothing stays mapped)."""
        stop = min(stop, self.n)
        try:
            if self.kind == "npy":
                m = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset + start * self.row_bytes,
                              shape=(stop - start,) + self.shape[1:])
                out = np.array(m)
                del m
                return out
            return self._ds[start:stop]
        except (OSError, ValueError) as e:
            raise DataError(f"{self.path}: cannot read rows {start}-{stop} ({e}); the file may be damaged") from None

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as float32 examples, checked for NaN / Inf."""
        x = as_examples(self.raw(start, stop), channels_last=self.channels_last, what=str(self.path))
        return check_arrays(x, None, what=f"{self.path} rows {start}-{min(stop, self.n)}")[0]

    def take(self, index: np.ndarray, chunk_size: int) -> np.ndarray:
        """Rows at sorted ``index`` (read chunk by chunk)."""
        index = np.sort(np.asarray(index))
        parts = []
        for c in np.unique(index // chunk_size):
            lo = c * chunk_size
            sel = index[(index >= lo) & (index < lo + chunk_size)] - lo
            parts.append(self.rows(lo, lo + chunk_size)[sel])
        return np.concatenate(parts) if parts else np.zeros((0,) + self.example_shape, np.float32)


def fit_scaler(f: ChunkedFile, part: np.ndarray, kind: str, chunk_size: int, *, seed: int = 0):
    """A Scaler fitted on the training rows in one streamed pass (see ``Scaler.fit_chunks``)."""
    from .scaling import Scaler

    n_chunks = math.ceil(f.n / chunk_size)

    def train_chunks():
        for c in range(n_chunks):
            start = c * chunk_size
            keep = part[start:start + chunk_size] == TRAIN
            if keep.any():
                yield f.rows(start, start + chunk_size)[keep]

    return Scaler(kind).fit_chunks(train_chunks(), n_chunks=n_chunks, seed=seed)


class ChunkStream:
    """Batches of one part (train / val / test) of a ChunkedFile, scaled, as tensors."""

    def __init__(self, f: ChunkedFile, part: np.ndarray, which: int, scaler, *, chunk_size: int,
                 buffer_chunks: int, unit_range: bool = False):
        self.f, self.part, self.which, self.scaler = f, part, which, scaler
        self.chunk_size, self.buffer_chunks, self.unit_range = chunk_size, buffer_chunks, unit_range
        self.n_chunks = math.ceil(f.n / chunk_size)
        self.per_chunk = np.bincount(np.flatnonzero(part == which) // chunk_size, minlength=self.n_chunks)
        self.n = int(self.per_chunk.sum())

    def __len__(self) -> int:
        return self.n

    def _chunk(self, c: int) -> np.ndarray:
        start = c * self.chunk_size
        keep = self.part[start:start + self.chunk_size] == self.which
        x = self.scaler.transform(self.f.rows(start, start + self.chunk_size)[keep])
        if self.unit_range and len(x) and self.which == TRAIN:
            check_unit_range(x, what=f"{self.f.path} rows {start}-{start + len(keep)} after scaling")
        elif self.unit_range:  # held-out rows are clipped into the training range, as at inference
            x = np.clip(x, 0.0, 1.0)
        return x

    def head(self, n: int) -> torch.Tensor:
        out, have = [], 0
        for c in range(self.n_chunks):
            if have >= n:
                break
            if self.per_chunk[c]:
                x = self._chunk(c)[:n - have]
                out.append(x)
                have += len(x)
        return torch.from_numpy(np.concatenate(out))

    def batches(self, generator: torch.Generator, batch_size: int, rank: int = 0, world: int = 1, *,
                min_batch: int = 1) -> Iterator[dict]:
        """Shuffled batches: chunk order from ``generator`` (shared by all ranks, which take every world-th
        chunk), rows shuffled within a buffer of chunks by a stream derived from it per rank."""
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
        carry = np.zeros((0,) + self.f.example_shape, np.float32)
        for i in range(0, len(mine), self.buffer_chunks):
            buf = np.concatenate([carry] + [self._chunk(int(c)) for c in mine[i:i + self.buffer_chunks]
                                            if self.per_chunk[c]])
            buf = buf[torch.randperm(len(buf), generator=local).numpy()]
            full = len(buf) // batch_size * batch_size
            for s in range(0, full, batch_size):
                if steps is not None and done >= steps:
                    return
                yield {"x": torch.from_numpy(buf[s:s + batch_size])}
                done += 1
            carry = buf[full:]
        if len(carry) >= min_batch and (steps is None or done < steps):
            yield {"x": torch.from_numpy(carry)}

    def ordered(self, batch_size: int) -> Iterator[dict]:
        """Every row of this part once, in file order (for evaluation)."""
        for c in range(self.n_chunks):
            if not self.per_chunk[c]:
                continue
            x = self._chunk(c)
            for s in range(0, len(x), batch_size):
                yield {"x": torch.from_numpy(x[s:s + batch_size])}


def is_stream(data) -> bool:
    """True for data read chunk by chunk from a file."""
    return isinstance(data, ChunkStream)
