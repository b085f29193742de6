"""Faults: killed runs resume to the same weights, crashes never leave half-written files, and disk-full or
permission errors come back as one clear ArtifactError."""

import errno
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

import latentforge as lf
from latentforge.cli.main import main
from latentforge.io import artifacts, load_tensors
from latentforge.training.state import meta_from_strings

COMMON = dict(hidden=(32,), latent_dim=4, batch_size=64, seed=3, progress=False)


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


def same_weights(a, b):
    ta, tb = load_tensors(a)[0], load_tensors(b)[0]
    return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


def test_crash_between_temp_write_and_rename_keeps_the_previous_checkpoint(digits, tmp_path, monkeypatch):
    lf.train("ae", digits, out=tmp_path / "full", epochs=4, **COMMON)
    real_replace = os.replace
    writes = []

    def crash_on_third_checkpoint(src, dst):
        if str(dst).endswith("checkpoint.safetensors"):
            writes.append(dst)
            if len(writes) == 3:
                assert os.path.getsize(src) > 0  # the new checkpoint is fully in its temporary file ...
                raise SimulatedCrash  # ... and the process dies before the rename
        real_replace(src, dst)

    monkeypatch.setattr(artifacts.os, "replace", crash_on_third_checkpoint)
    with pytest.raises(SimulatedCrash):
        lf.train("ae", digits, out=tmp_path / "run", epochs=4, **COMMON)
    monkeypatch.setattr(artifacts.os, "replace", real_replace)
    run = tmp_path / "run"
    tensors, meta = load_tensors(run / "checkpoint.safetensors", "checkpoint")  # still loadable
    assert meta_from_strings(meta)["epoch"] == 2
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    assert not (run / "model.safetensors").exists()
    lf.train("ae", digits, out=run, epochs=4, resume=True, **COMMON)
    assert same_weights(tmp_path / "full" / "model.safetensors", run / "model.safetensors")


@pytest.mark.parametrize("err,match", [(errno.ENOSPC, "disk .*full.*another out"),
                                       (errno.EACCES, "no permission.*writable")])
def test_disk_full_and_permission_errors_are_artifact_errors(digits, tmp_path, monkeypatch, err, match):
    def fail(fd):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(artifacts.os, "fsync", fail)
    out = tmp_path / "run"
    with pytest.raises(lf.ArtifactError, match=match) as info:
        lf.train("ae", digits, out=out, epochs=1, **COMMON)
    assert str(out) in str(info.value)
    assert not out.exists()  # nothing half-written, no temporary left: the new run's folder is removed
    code = main(["train", "ae", "--data", "digits", "--hidden", "8", "--epochs", "1", "--out",
                 str(tmp_path / "cli"), "--no-progress"])
    assert code == 2


def test_cli_reports_a_write_error_in_one_line(tmp_path, monkeypatch, capsys):
    def fail(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(artifacts.tempfile, "mkstemp", fail)
    code = main(["train", "ae", "--data", "digits", "--hidden", "8", "--epochs", "1", "--out",
                 str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("latentforge: error: ") and "No space left" in err[0]
    assert "Traceback" not in err[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the EACCES case is covered "
                                              "by the monkeypatched test")
def test_read_only_run_directory(digits, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(lf.ArtifactError, match="no permission"):
            lf.train("ae", digits, out=ro / "run", epochs=1, **COMMON)
    finally:
        ro.chmod(0o755)


def test_cli_refuses_to_overwrite_a_run_unless_asked(tmp_path, capsys):
    args = ["train", "ae", "--data", "digits", "--hidden", "8", "--epochs", "1", "--out", str(tmp_path / "r"),
            "--no-progress"]
    assert main(args) == 0
    before = (tmp_path / "r" / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(args + ["--seed", "7"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "r" / "model.safetensors").read_bytes() == before
    assert main(args + ["--seed", "7", "--overwrite"]) == 0
    assert (tmp_path / "r" / "model.safetensors").read_bytes() != before


# ---------------------------------------------------------------------------------------------- SIGKILL
EPOCHS = 4
TRAIN = ["ae", "--data", "digits", "--hidden", "32", "--latent-dim", "4", "--epochs", str(EPOCHS), "--batch-size", "16",
         "--seed", "3", "--no-progress"]
KILL_IN_WRITE = """
import os, signal, sys
from latentforge.io import artifacts
from latentforge.cli.main import main
real, n = os.replace, [0]
def replace(src, dst):
    if str(dst).endswith("checkpoint.safetensors"):
        n[0] += 1
        if n[0] == {k}:
            os.kill(os.getpid(), signal.SIGKILL)  # dies with the new checkpoint written but not renamed
    real(src, dst)
artifacts.os.replace = replace
sys.exit(main(sys.argv[1:]))
"""


def start(out, *extra, code=None):
    argv = [sys.executable, "-c", code] if code else [sys.executable, "-m", "latentforge"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(argv + ["train", *TRAIN, "--out", str(out), *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def epochs_done(out):
    try:
        return len((out / "metrics.jsonl").read_text().splitlines())
    except FileNotFoundError:
        return -1


def finish(out):
    """Resume (or restart, if no checkpoint was written yet) until the run completes."""
    resume = (out / "checkpoint.safetensors").exists()
    p = start(out, "--resume" if resume else "--overwrite")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err.decode()[-2000:]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """model.safetensors of the uninterrupted run."""
    ref = tmp_path_factory.mktemp("ref") / "run"
    p = start(ref)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err.decode()[-2000:]
    return (ref / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_gives_bit_identical_weights(tmp_path, reference):
    rng = random.Random(8)
    # kill once the metrics show k finished epochs, plus a random delay: somewhere in epoch k + 1, in a
    # checkpoint write, or in the final save; the last plan kills the same run twice
    for i, plan in enumerate([[1], [EPOCHS - 1], [0, 2]]):
        out = tmp_path / f"kill{i}"
        for k in plan:
            p = start(out, "--resume") if (out / "checkpoint.safetensors").exists() else start(out, "--overwrite")
            deadline = time.time() + 120
            while epochs_done(out) < k and p.poll() is None and time.time() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.1))
            p.send_signal(signal.SIGKILL)
            p.wait()
        finish(out)
        assert (out / "model.safetensors").read_bytes() == reference, plan
        assert epochs_done(out) == EPOCHS


@pytest.mark.slow
def test_sigkill_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path, reference):
    out = tmp_path / "run"
    p = start(out, code=KILL_IN_WRITE.format(k=3))
    p.wait(timeout=120)
    assert p.returncode == -signal.SIGKILL
    assert [q.name for q in out.iterdir() if q.name.endswith(".tmp")]  # the unrenamed new checkpoint
    _, meta = load_tensors(out / "checkpoint.safetensors", "checkpoint")
    assert meta_from_strings(meta)["epoch"] == 2
    finish(out)
    assert not [q.name for q in out.iterdir() if q.name.endswith(".tmp")]  # resume cleared it
    assert (out / "model.safetensors").read_bytes() == reference


def test_a_resume_killed_midway_resumes_again_from_its_checkpoint(digits, tmp_path):
    """A SIGKILL during a resumed training leaves the snapshot kept beside the run (.NAME.previous); the next
    --resume continues from the run's own, newer checkpoint and drops the snapshot. A snapshot beside a run
    being replaced (no resume) is the user's earlier run: refused in one line, never deleted."""
    import shutil

    out = tmp_path / "run"
    lf.train("ae", digits, out=out, epochs=1, **COMMON)
    aside = tmp_path / ".run.previous"
    shutil.copytree(out, aside)  # what the killed resume left
    run = lf.train("ae", digits, out=out, epochs=2, resume=True, **COMMON)
    assert len(run.history) == 2 and not aside.exists()
    shutil.copytree(out, aside)
    with pytest.raises(lf.ArtifactError, match="move it back"):
        lf.train("ae", digits, out=out, epochs=1, overwrite=True, **COMMON)
    assert aside.exists()
