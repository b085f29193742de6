"""The parts of a trainer's state that are not the model: optimiser moments, random streams, metadata.

Tensors go into the checkpoint's safetensors file under a prefix; everything else is JSON metadata.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from ..errors import ArtifactError


def optimizer_state(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Put the optimiser's tensors into ``tensors`` under ``prefix.``; return the JSON-able rest."""
    sd = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.{idx}.{k}"] = v
            else:
                scalars.setdefault(str(idx), {})[k] = v
    return {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor],
                         meta: dict[str, Any]) -> None:
    """Inverse of ``optimizer_state``."""
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith(prefix + "."):
            idx, name = k[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(idx), {})[name] = v
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_rng(tensors: dict[str, torch.Tensor], generator: torch.Generator, device: torch.device) -> None:
    """The trainer's seeded stream, the global torch RNG (dropout) and, on a GPU (CUDA or MPS), its RNG into ``tensors``."""
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        tensors["rng.mps"] = torch.mps.get_rng_state()


def restore_rng(tensors: dict[str, torch.Tensor], generator: torch.Generator, device: torch.device) -> None:
    """Inverse of ``save_rng``."""
    generator.set_state(tensors["rng.generator"])
    torch.set_rng_state(tensors["rng.torch"])
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    elif device.type == "mps" and "rng.mps" in tensors:
        torch.mps.set_rng_state(tensors["rng.mps"])


def meta_to_strings(meta: dict[str, Any]) -> dict[str, str]:
    """Trainer metadata as the string table a safetensors header holds."""
    return {"trainer": json.dumps(meta)}


def meta_from_strings(meta: dict[str, str]) -> dict[str, Any]:
    """Inverse of ``meta_to_strings``; a missing or damaged entry raises ArtifactError."""
    try:
        return json.loads(meta["trainer"])
    except (KeyError, json.JSONDecodeError) as e:
        raise ArtifactError(f"checkpoint metadata is missing or damaged ({e})") from None
