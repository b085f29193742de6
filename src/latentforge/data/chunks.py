"""What every chunked reader shares: reading a slab of rows with one error for a damaged file, gathering rows
at scattered indices chunk by chunk, and handing the memory that earlier chunks' temporaries freed back to the
operating system before the next chunk is read.

Why the last: a chunk larger than 32 MiB is mapped on its own by glibc's allocator and returned when freed, but
the buffers of a few MiB that scaling and training a chunk make (float64 blocks, scaled rows, batch tensors,
autograd temporaries over thousands of cells) come from its heap once its dynamic mmap threshold has risen past
them (glibc: up to 32 MiB). Freed, they stay with the process: glibc trims only the top of a heap, so pages
behind a live allocation remain resident and a streamed run holds its past peak of such buffers besides the next
chunk. ``malloc_trim(0)`` (glibc) gives back every free page of every arena; it walks the heap (5 ms to give
back 690 MB freed in 4.8 MB blocks on this project's test machine), small beside reading a chunk. Other C libraries
lack it and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any, Callable

import numpy as np

from ..errors import DataError

_TRIM: list = []


def release_freed_memory() -> bool:
    """Return the pages freed in the C heap to the operating system (glibc's ``malloc_trim(0)``); True when the
    C library has it (glibc), False elsewhere (then a no-op: musl and macOS hand large blocks back by themselves)."""
    if not _TRIM:
        name = ctypes.util.find_library("c")
        fn = None
        try:
            fn = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
        except OSError:
            fn = None
        if fn is not None:
            fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
        _TRIM.append(fn)
    fn = _TRIM[0]
    if fn is None:
        return False
    fn(0)
    return True


class RowReader:
    """Base of the chunked readers: ``close`` of the HDF5 handle ``_h5`` and ``read`` of a slab of rows."""

    path: Any
    n: int
    _h5: Any = None

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def read(self, read: Callable[[int, int], np.ndarray], start: int, stop: int) -> np.ndarray:
        """``read(start, stop)`` of rows [start, min(stop, n)), after the heap freed by earlier chunks went back
        to the system (``release_freed_memory``); DataError, in one line, when the file cannot give them."""
        release_freed_memory()
        stop = min(stop, self.n)
        try:
            return read(start, stop)
        except (OSError, ValueError) as e:
            raise DataError(f"{self.path}: cannot read rows {start}-{stop} ({e}); the file may be damaged") from None


def gather_rows(index: np.ndarray, chunk_size: int, read: Callable[[int, int], np.ndarray],
                empty_shape: tuple[int, ...]) -> np.ndarray:
    """The rows at ``index`` (sorted on the way), read with ``read(start, stop)`` one chunk of ``chunk_size`` rows
    at a time, so at most one chunk and the rows taken are in memory; (0, *empty_shape) float32 for no index."""
    index = np.sort(np.asarray(index))
    parts = []
    for c in np.unique(index // chunk_size):
        lo = int(c) * chunk_size
        sel = index[(index >= lo) & (index < lo + chunk_size)] - lo
        parts.append(read(lo, lo + chunk_size)[sel])
    return np.concatenate(parts) if parts else np.zeros((0,) + tuple(empty_shape), np.float32)
