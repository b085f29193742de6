"""Batches as dicts of tensors sliced from the same rows, and moving them to a device.

A batch holds ``x`` (B, ...) always and, where the data has them, ``sigma`` / ``mask`` (B, ...) and ``c``
(B, P). Slicing is one gather per tensor: no per-sample Python work.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

import torch

Batch = dict[str, torch.Tensor]


def as_batch(data: torch.Tensor | Batch) -> Batch:
    """A tensor of examples, or a batch dict, as a batch dict."""
    return {"x": data} if torch.is_tensor(data) else data


def take(data: Batch, index) -> Batch:
    """Rows ``index`` (a slice, an index tensor or array) of every tensor in the batch dict."""
    return {k: v[index] for k, v in data.items()}


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Move a batch to ``device``; to a CUDA GPU through pinned host memory with non-blocking copies."""
    if device.type == "cpu":
        return batch
    if device.type != "cuda":  # pinned host memory is CUDA's; Apple's GPU shares memory with the CPU
        return {k: v if v.device == device else v.to(device) for k, v in batch.items()}
    return {k: v if v.device == device else (v.pin_memory() if not v.is_pinned() else v).to(device, non_blocking=True)
            for k, v in batch.items()}


def noise_generator(device: torch.device, seed: int) -> torch.Generator:
    """A seeded random stream on ``device``."""
    return torch.Generator(device=device).manual_seed(seed)


def device_scope(device: torch.device):
    """Factory calls inside (``torch.randn(..., generator=g)`` in objectives) land on ``device``."""
    return contextlib.nullcontext() if device.type == "cpu" else device


def one_ahead(batches: Iterable[Batch], load: Callable[[Batch], Batch], ready: Callable[[Batch], None]
              ) -> Iterator[tuple[Batch, Batch]]:
    """(host batch, loaded batch) pairs, with the load of each batch started before the one before it is handed
    out: ``load(host)`` starts moving a batch (asynchronously), ``ready(loaded)`` makes it usable by the work
    that follows. The order is that of ``batches``."""
    it = iter(batches)
    host = next(it, None)
    pending = None if host is None else (host, load(host))
    while pending is not None:
        ready(pending[1])
        host = next(it, None)
        following = None if host is None else (host, load(host))  # queued before this batch trains
        yield pending
        pending = following


def prefetch(batches: Iterable[Batch], device: torch.device) -> Iterator[tuple[Batch, Batch]]:
    """(host batch, batch on ``device``) for each batch of ``batches`` (e.g. a stream read from a file), in order.

    On a CUDA GPU each batch is copied from pinned host memory with a non-blocking copy on a side stream,
    started while the previous batch trains (``one_ahead``); the training stream waits for the copy before using
    it, and the batch's memory is marked as used by that stream (``record_stream``), so it is not reused while a
    kernel may still read it. Elsewhere (a CPU; Apple's GPU, which shares memory with the CPU) nothing is
    staged: the batches come as they are (``to_device`` moves them)."""
    if device.type != "cuda":
        for batch in batches:
            yield batch, to_device(batch, device)
        return
    side = torch.cuda.Stream(device)

    def load(host: Batch) -> Batch:
        with torch.cuda.stream(side):
            return {k: v if v.device == device else (v if v.is_pinned() else v.pin_memory()).to(
                device, non_blocking=True) for k, v in host.items()}

    def ready(loaded: Batch) -> None:
        current = torch.cuda.current_stream(device)
        current.wait_stream(side)
        for v in loaded.values():
            if v.device.type == "cuda":
                v.record_stream(current)

    yield from one_ahead(batches, load, ready)
