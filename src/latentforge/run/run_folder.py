"""The run folder of a training: written only when training succeeds, and left as it was when it fails."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


from ..errors import ArtifactError, LatentforgeError
from ..io import (RunLayout, remove_stale_temporaries, write_error)


@contextlib.contextmanager
def run_folder(layout: RunLayout, *, resume: bool, overwrite: bool, enabled: bool = True):
    """Make the run directory ready (``prepare_out``) for the block; when the block fails, put the directory
    back as it was: a new run's directory is removed (an empty one that was there is emptied), a replaced run
    (``overwrite``) comes back, and a resumed run gets back the files it had before (its checkpoint among
    them). An interrupted run (KeyboardInterrupt, SystemExit: the process being stopped) that has written a
    checkpoint is kept, so that ``--resume``
    continues it. A LatentforgeError raised by the block gets a sentence saying what was left.
    ``enabled=False`` (the other ranks of a distributed run) makes it a plain block."""
    if not enabled:
        yield
        return
    out = layout.root
    existed = out.exists()
    aside = out.parent / f".{out.name}.previous"  # the earlier run or files, kept until the block succeeds
    if aside.exists() and resume and layout.checkpoint.exists():
        # a resumed training was killed: the run's own checkpoint (written atomically) is newer than the snapshot
        # kept beside it, and --resume continues from it
        _remove(aside)
    if aside.exists():  # a process killed while replacing a run left the earlier run there
        raise ArtifactError(f"{aside} holds the run that a killed training was replacing or resuming; move it back "
                            f"to {out} (or delete it) and train again")
    if resume:
        prepare_out(layout, resume=True, overwrite=False)
        _link_tree(out, aside)
    else:
        if overwrite and existed and out.is_dir() and layout.config.exists():
            out.rename(aside)  # the earlier run, put back if this one fails
        prepare_out(layout, resume=False, overwrite=overwrite)
    checkpoint_before = _mtime(layout.checkpoint)
    try:
        yield
    except BaseException as e:
        # the process being stopped (Ctrl-C, SystemExit, any BaseException that is no Exception) after a checkpoint:
        # kept for --resume, as a killed process would have left it
        interrupted = not isinstance(e, Exception) and _mtime(layout.checkpoint) != checkpoint_before
        if interrupted:
            _remove(aside)
            raise
        if aside.exists():
            _remove(out)
            aside.rename(out)
            left = (f"{out} holds the earlier checkpoint and files again" if resume else
                    f"{out} holds the earlier run again")
        elif existed:
            for child in out.iterdir():
                _remove(child)
            left = f"{out} is empty again"
        else:
            _remove(out)
            left = f"nothing was written ({out} is removed)"
        if isinstance(e, LatentforgeError) and e.args and isinstance(e.args[0], str):
            said = e.args[0].rstrip()
            e.args = (f"{said}{'' if said.endswith(('.', '!', '?')) else '.'} {left[0].upper()}{left[1:]}.", *e.args[1:])
        raise
    _remove(aside)


def _mtime(path: Path) -> float | None:
    return path.stat().st_mtime_ns if path.exists() else None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _link_tree(src: Path, dst: Path) -> None:
    """A copy of the run directory ``src`` at ``dst``: hard links for the files a run replaces atomically (no
    space used), real copies for the ones it appends to (metrics.jsonl)."""
    def link_or_copy(a: str, b: str) -> None:
        if a.endswith(".jsonl"):
            shutil.copy2(a, b)
            return
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link_or_copy, symlinks=True)


def prepare_out(layout: RunLayout, *, resume: bool, overwrite: bool) -> None:
    """Make the run directory ready; never deletes what is not a latentforge run (ArtifactError instead)."""
    out = layout.root
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"{out} exists and is not a directory; choose another --out")
    if resume:
        if not layout.checkpoint.exists():
            raise ArtifactError(f"{out}: no {layout.checkpoint.name} to resume from; train without --resume first")
        remove_stale_temporaries(out)  # left by a run killed while writing
        return
    try:
        if out.exists() and any(out.iterdir()):
            if not overwrite:
                raise ArtifactError(f"{out} already holds files; use --resume to continue that run, --overwrite to "
                                    "replace it, or another --out")
            if not layout.config.exists():
                raise ArtifactError(f"{out} holds files but no latentforge run; refusing to overwrite it, choose "
                                    "another --out")
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
    except ArtifactError:
        raise
    except OSError as e:
        raise write_error(out, e, "prepare the run directory") from None
