"""Batches as dicts of tensors sliced from the same rows, and moving them to a device.

A batch holds ``x`` (B, ...) always and, where the data has them, ``sigma`` / ``mask`` (B, ...) and ``c``
(B, P). Slicing is one gather per tensor: no per-sample Python work.
"""

from __future__ import annotations

import contextlib

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
