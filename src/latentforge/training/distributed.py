"""Distributed data-parallel training under torchrun (PyTorch's DDP): the process group, the rank's view of it
(``Dist``), and the wrapper that lets each player of a model run through DDP."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..errors import ConfigError
from .runtime import resolve_device


# ---------------------------------------------------------------------------------------------- distributed
@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
        return t

    def all_reduce_min(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
        return t

    def sum_dict(self, sums: dict[str, torch.Tensor | float], device: torch.device) -> dict[str, float]:
        """Sum each value (a tensor, or a plain number) over all ranks (one collective for the whole dict); float
        results. In one process the tensors are read from their device at once (one host read) and plain numbers
        are kept as they are."""
        keys = sorted(sums)
        if not keys:
            return {}
        if not self.enabled:
            out: dict[str, float] = {}
            by_device: dict[torch.device, list[str]] = {}
            for k in keys:
                v = sums[k]
                if torch.is_tensor(v):
                    by_device.setdefault(v.device, []).append(k)
                else:
                    out[k] = float(v)
            for where, names in by_device.items():  # one read per device
                wide = torch.float32 if where.type == "mps" else torch.float64  # no float64 on Apple's GPU
                flat = torch.stack([torch.as_tensor(sums[k]).detach().reshape(()).to(wide) for k in names])
                out.update(zip(names, flat.tolist()))
            return out
        if device.type == "mps":  # no float64 on Apple's GPU; one process there, so sum on the CPU
            device = torch.device("cpu")
        values = [v.detach() if torch.is_tensor(v) else torch.tensor(v, dtype=torch.float64)
                  for v in map(sums.get, keys)]
        flat = torch.stack([v.to(device).to(torch.float64).reshape(()) for v in values])
        self.all_reduce_sum(flat)
        return dict(zip(keys, flat.tolist()))

    def mean_dict(self, values: dict[str, float], device: torch.device) -> dict[str, float]:
        """Average plain floats over ranks (keeps decisions such as early stopping identical on every rank)."""
        if not self.enabled:
            return values
        out = self.sum_dict({k: torch.tensor(float(v)) for k, v in values.items()}, device)
        return {k: v / self.world for k, v in out.items()}

    def shard(self, perm: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a permutation shared by all ranks; equal length on every rank."""
        if not self.enabled:
            return perm
        m = perm.shape[0] // self.world
        if m == 0:
            raise ConfigError(f"{perm.shape[0]} training examples cannot be shared among {self.world} processes")
        return perm[self.rank * m:(self.rank + 1) * m]


_DIST = Dist()


def current() -> Dist:
    """The process group this process trains in (one process unless under torchrun)."""
    return _DIST


def setup_distributed(device_name: str) -> tuple[Dist, torch.device]:
    """Join the process group that torchrun describes in the environment (once per process)."""
    global _DIST
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        _DIST = Dist()
        return _DIST, resolve_device(device_name)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    dist = torch.distributed
    owns = False
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:
            raise ConfigError("WORLD_SIZE > 1 but no MASTER_ADDR: start distributed training with torchrun "
                              "(torchrun --nproc-per-node N -m latentforge train ...)")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        owns = True
    _DIST = Dist(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank, owns_group=owns)
    return _DIST, device


def teardown_distributed() -> None:
    """Leave the process group this module joined (if it did)."""
    global _DIST
    if _DIST.owns_group and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    _DIST = Dist()


class _Call(torch.nn.Module):
    """A module whose forward runs ``fn(model, *args)``: it lets DistributedDataParallel see the objective's
    calls (DDP only synchronises gradients of passes through its own forward). Only ``synced``'s parameters
    belong to this module; the full model is held outside the module tree."""

    def __init__(self, synced: torch.nn.Module, model: torch.nn.Module):
        super().__init__()
        self.synced = synced
        object.__setattr__(self, "_model", model)

    def forward(self, fn: Callable, *args: Any, **kwargs: Any):
        return fn(self._model, *args, **kwargs)


def wrap(synced: torch.nn.Module, model: torch.nn.Module, device: torch.device, dist: Dist):
    """DDP around ``synced`` (calls take ``fn, *args``) when distributed; else a plain caller."""
    if not dist.enabled:
        return lambda fn, *args, **kw: fn(model, *args, **kw)
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    # every step of a network uses the same parameters: a static graph lets DDP learn once which ones take part
    return DDP(_Call(synced, model), device_ids=ids, static_graph=True)
