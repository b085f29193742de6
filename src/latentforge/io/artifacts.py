"""Artifacts on disk: JSON for structure, safetensors for tensors, atomic writes, no pickle anywhere.

The files of a run directory are named in ``io.layout``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import ArtifactError

RUN_FORMAT = "latentforge-run"
TMP_SUFFIX = ".tmp"
FORMAT_VERSION = 1


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def staged(path: Path) -> Iterator[str]:
    """A temporary file name beside ``path`` (its folder made if need be), given the usual permissions (mkstemp
    makes 0600 files) and renamed to ``path`` when the block ends without error, removed when it fails (a crash
    leaves the old file or none, never a half-written one); file-system errors become an ArtifactError naming the
    path and the fix."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise write_error(path, e) from None
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, ArtifactError):
            raise write_error(path, e) from None
        raise


def write_error(path: str | os.PathLike, e: OSError, what: str = "write") -> ArtifactError:
    """An OSError from the file system as an ArtifactError that names the path, the cause and the fix."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "the disk (or your quota) is full: free some space, or write to another disk with another --out"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "no permission to write there: choose another --out, or make the folder writable"
    else:
        fix = "check that the folder exists and is writable, or choose another --out"
    return ArtifactError(f"{path}: cannot {what} ({e.strerror or e}); {fix}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over the target: a crash at any
    point leaves the old file (or none), never a half-written one. File system errors (disk full, no
    permission) become an ArtifactError naming the path and the fix."""
    with staged(Path(path)) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Delete temporary files that a killed process left behind in ``folder`` (never finished files)."""
    removed = []
    for p in Path(folder).glob(f".*{TMP_SUFFIX}"):
        try:
            p.unlink()
            removed.append(p.name)
        except OSError:
            pass
    return removed


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """``obj`` as indented JSON, written atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Parsed JSON of ``path``; ArtifactError for a missing, unreadable or invalid file."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: missing {what}")
    try:
        return json.loads(path.read_text())
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read {what} ({e.strerror or e}); check its permissions") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ArtifactError(f"{path}: not a valid {what} ({e}); the file is truncated or foreign") from None


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                 metadata: dict[str, str] | None = None) -> None:
    """Tensors (moved to the CPU) as a safetensors file, written atomically."""
    clean = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    atomic_write_bytes(path, st_save(clean, metadata=metadata))


def load_tensors(path: str | os.PathLike, what: str = "tensor file") -> tuple[dict[str, torch.Tensor], dict]:
    """Load a safetensors file (tensors, metadata). Never executes code; a damaged file raises ArtifactError."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: missing {what}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read {what} ({e.strerror or e}); check its permissions") from None
    try:
        tensors = st_load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + header_len])
        meta = header.get("__metadata__", {}) or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise ValueError("its metadata is not a table of strings")
    except (SafetensorError, ValueError, TypeError, AttributeError, OverflowError, RuntimeError, MemoryError,
            RecursionError) as e:  # JSON and Unicode decode errors are ValueErrors
        raise ArtifactError(
            f"{path}: not a readable safetensors {what} ({type(e).__name__}: {str(e)[:200]}); it is truncated, "
            "damaged or of another format (latentforge never reads pickled checkpoints)"
        ) from None
    return tensors, meta


def write_npz(path: str | os.PathLike, **arrays) -> list[str]:
    """Compressed .npz of the arrays that are not None, written atomically; returns the keys written."""
    keep = {k: v for k, v in arrays.items() if v is not None}
    buf = io.BytesIO()
    np.savez_compressed(buf, **keep)
    atomic_write_bytes(path, buf.getvalue())
    return list(keep)


def append_jsonl(path: str | os.PathLike, obj: dict) -> None:
    """Append one JSON object as a line (metrics of an epoch)."""
    try:
        with open(path, "a") as f:
            f.write(json.dumps(obj) + "\n")
    except OSError as e:
        raise write_error(path, e, "append to") from None


def write_jsonl(path: str | os.PathLike, rows: list[dict]) -> None:
    """Rows as JSON lines, written atomically."""
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def check_run_config(cfg: Any, path: Path) -> dict:
    """The run configuration if it is one latentforge can read; ArtifactError naming what is wrong otherwise."""
    if not isinstance(cfg, dict) or cfg.get("format") != RUN_FORMAT:
        raise ArtifactError(f"{path}: not a latentforge run configuration (no format tag {RUN_FORMAT!r})")
    version = cfg.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ArtifactError(f"{path}: the format version is {version!r}, not an integer; the file is damaged")
    if version > FORMAT_VERSION:
        raise ArtifactError(f"{path}: written by a newer latentforge (format {cfg['version']}); upgrade latentforge")
    for k in ("model", "model_config", "objective_config"):
        if k not in cfg:
            raise ArtifactError(f"{path}: run configuration lacks {k!r}; the file is damaged")
    if not isinstance(cfg["model"], str):
        raise ArtifactError(f"{path}: the model name is {cfg['model']!r}, not a string; the file is damaged")
    for k in ("model_config", "objective_config", "train_config", "data"):
        if k in cfg and not isinstance(cfg[k], dict):
            raise ArtifactError(f"{path}: {k!r} must be a JSON object, got {type(cfg[k]).__name__}; the file is "
                                "damaged")
    return cfg


def write_npz_streamed(path: str | os.PathLike, key: str, shape: tuple[int, ...], chunks, *,
                       dtype=np.float32) -> int:
    """An .npz holding one array ``key`` of ``shape``, written chunk by chunk (each chunk (k, *shape[1:])) so that
    the array never has to fit in memory; atomic (a temporary file renamed at the end) and readable by
    ``np.load``. Returns the number of rows written; ArtifactError when the chunks do not add up to ``shape``."""
    import zipfile

    path = Path(path)
    rows = 0
    with staged(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_2_0(
                    f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                        "shape": tuple(int(s) for s in shape)})
                for chunk in chunks:
                    chunk = np.ascontiguousarray(chunk, dtype=dtype)
                    f.write(chunk.tobytes())
                    rows += len(chunk)
        if rows != shape[0]:
            raise ArtifactError(f"{path}: {rows} rows written for an array of {shape[0]}")
    return rows
