"""Compiled training steps (``--compile``): the objective's forward pass and loss of each step through
``torch.compile``.

What is compiled is the function an objective hands to ``Trainer.forward`` (its loss terms of one batch), not the
model: the model's state dict, the checkpoint and the saved run are those of an eager run (no ``_orig_mod.``
names, nothing of the compiler), so a compiled run resumes with or without ``--compile`` and loads anywhere. The
backward pass and the fused Adam step run as usual (autograd runs the compiled backward graph).

On a CUDA GPU the mode is ``reduce-overhead``: the compiled step is replayed as a CUDA graph, which takes away the
per-kernel launch cost that bounds small models. On a CPU the default mode (inductor's C++ kernels). Shapes are
static: every full batch has the same shape, and the last, partial batch of an epoch (fewer than ``batch_size``
rows) runs eagerly, uncompiled, so that no second graph is compiled or captured for it; its numbers are the
eager ones, which the compiled ones equal to float rounding.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable

import torch

from ..errors import ConfigError


def check_compile(device: torch.device) -> None:
    """ConfigError (one line, with the fix) where ``torch.compile`` cannot build kernels for ``device``: a CPU
    needs a C++ compiler (``$CXX``, ``c++``, ``g++`` or ``clang++`` on the PATH); Apple's GPU is not supported."""
    if device.type == "mps":
        raise ConfigError("--compile is not supported on Apple's GPU (mps); train without --compile, or with "
                          "--device cpu --compile")
    if device.type == "cpu":
        names = [os.environ.get("CXX", ""), "c++", "g++", "clang++"]
        if not any(name and shutil.which(name) for name in names):
            raise ConfigError("--compile needs a C++ compiler for the CPU kernels torch.compile builds, and none "
                              "was found ($CXX, c++, g++ or clang++ on the PATH); install one (e.g. apt install "
                              "g++) or train without --compile")


class CompiledSteps:
    """``torch.compile`` of each function an objective trains through, compiled once on first use (per function
    and objective). ``mode``: ``reduce-overhead`` on CUDA (CUDA graphs), the default elsewhere."""

    def __init__(self, device: torch.device):
        check_compile(device)
        self.mode = "reduce-overhead" if device.type == "cuda" else None
        self._compiled: dict[tuple[int, Any], Callable] = {}

    def of(self, fn: Callable) -> Callable:
        """The compiled twin of ``fn(model, *args, **kwargs)``; a bound method is keyed by its object and
        function, so each step's fresh bound method finds the same compiled code."""
        owner, func = getattr(fn, "__self__", None), getattr(fn, "__func__", fn)
        key = (id(owner), func)
        if key not in self._compiled:
            def step(model, *args, **kwargs):
                return fn(model, *args, **kwargs)

            self._compiled[key] = torch.compile(step, mode=self.mode, dynamic=False)
        compiled = self._compiled[key]

        def call(model, *args, **kwargs):
            try:
                return compiled(model, *args, **kwargs)
            except torch._dynamo.exc.TorchDynamoException as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                raise ConfigError(f"torch.compile could not compile this model's training step here "
                                  f"({type(e).__name__}: {first[:200]}); train without --compile") from None

        return call
