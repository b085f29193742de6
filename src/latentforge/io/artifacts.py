"""Artifacts on disk: JSON for structure, safetensors for tensors, atomic writes, no pickle anywhere.

A run directory holds
    config.json             everything needed to rebuild the model (format tag, model name, configs)
    model.safetensors       the inference weights
    transform.json          the data scaling state
    metrics.jsonl           one JSON object per epoch
    checkpoint.safetensors  resumable training state (weights, optimiser, RNG, epoch), kept apart
    *.png                   plots
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import ArtifactError

RUN_FORMAT = "latentforge-run"
FORMAT_VERSION = 1


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: missing {what}")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{path}: not a valid {what} ({e}); the file is truncated or foreign") from None


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                 metadata: dict[str, str] | None = None) -> None:
    clean = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    atomic_write_bytes(path, st_save(clean, metadata=metadata))


def load_tensors(path: str | os.PathLike, what: str = "tensor file") -> tuple[dict[str, torch.Tensor], dict]:
    """Load a safetensors file (tensors, metadata). Never executes code; a damaged file raises ArtifactError."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: missing {what}")
    raw = path.read_bytes()
    try:
        tensors = st_load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        meta = json.loads(raw[8:8 + header_len]).get("__metadata__", {}) or {}
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(
            f"{path}: not a readable safetensors {what} ({e}); it is truncated, damaged or of another format"
        ) from None
    return tensors, meta


def write_npz(path: str | os.PathLike, **arrays) -> list[str]:
    """Compressed .npz of the arrays that are not None, written atomically; returns the keys written."""
    import io

    import numpy as np

    keep = {k: v for k, v in arrays.items() if v is not None}
    buf = io.BytesIO()
    np.savez_compressed(buf, **keep)
    atomic_write_bytes(path, buf.getvalue())
    return list(keep)


def append_jsonl(path: str | os.PathLike, obj: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def write_jsonl(path: str | os.PathLike, rows: list[dict]) -> None:
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def check_run_config(cfg: Any, path: Path) -> dict:
    if not isinstance(cfg, dict) or cfg.get("format") != RUN_FORMAT:
        raise ArtifactError(f"{path}: not a latentforge run configuration (no format tag {RUN_FORMAT!r})")
    if cfg.get("version", 0) > FORMAT_VERSION:
        raise ArtifactError(f"{path}: written by a newer latentforge (format {cfg['version']}); upgrade latentforge")
    for k in ("model", "model_config", "objective_config"):
        if k not in cfg:
            raise ArtifactError(f"{path}: run configuration lacks {k!r}; the file is damaged")
    return cfg
