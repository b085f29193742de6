"""``--compile``: training steps through torch.compile give the eager numbers to float rounding, leave nothing of
the compiler in the run, resume, and where no compiler can work say so in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.io import load_tensors

#: 200 rows: 160 train at batch 48 -> three full batches and a partial one of 16 per epoch
OPTS = dict(hidden=(16,), latent_dim=2, batch_size=48, seed=3, progress=False, precision="fp32")


def _data():
    return np.random.default_rng(0).uniform(0, 1, (200, 12)).astype(np.float32)


@pytest.mark.slow  # compiling takes tens of seconds on a CPU
@pytest.mark.parametrize("model, options", [("ae", {}), ("vae", {"sigma": 0.1})])  # a fixed sigma: a 1-epoch run is a
def test_a_compiled_run_gives_the_eager_numbers_and_resumes(tmp_path, model, options):  # prefix of a 2-epoch one
    x = _data()
    opts = {**OPTS, **options}
    eager = lf.train(model, x, epochs=2, **opts)
    half = lf.train(model, x, epochs=1, compile=True, out=tmp_path / "run", **opts)
    assert half.history[0]["train_loss"] == pytest.approx(eager.history[0]["train_loss"], rel=1e-4)
    tensors, _ = load_tensors(tmp_path / "run" / "checkpoint.safetensors", "checkpoint")
    assert not [k for k in tensors if "_orig_mod" in k]  # nothing of the compiler in the checkpoint
    resumed = lf.train(model, x, epochs=2, compile=True, out=tmp_path / "run", resume=True, **opts)
    for a, b in zip(eager.history, resumed.history):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)
    for (name, p), q in zip(eager.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=name)


def test_compile_without_a_compiler_is_one_line_whose_fix_works(monkeypatch):
    import shutil

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(lf.ConfigError, match=r"compile=True needs a C\+\+ compiler.*or train without compile=True") as e:
        lf.train("ae", _data(), epochs=1, compile=True, **OPTS)
    assert "\n" not in str(e.value)
    monkeypatch.setattr(shutil, "which", real_which)
    assert lf.train("ae", _data(), epochs=1, **OPTS).history[0]["epoch"] == 1  # the fix: without --compile
