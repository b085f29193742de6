import json
import pickle

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.io import load_tensors

COMMON = dict(hidden=(32,), latent_dim=4, batch_size=64, seed=3, progress=False)


def weights(path):
    return load_tensors(path)[0]


@pytest.mark.parametrize("name,extra", [("ae", {}), ("denoising-ae", {"corruption": "masking", "noise_level": 0.3})])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(digits, tmp_path, name, extra):
    full = tmp_path / "full"
    part = tmp_path / "part"
    lf.train(name, digits, out=full, epochs=5, **COMMON, **extra)
    lf.train(name, digits, out=part, epochs=2, **COMMON, **extra)
    resumed = lf.train(name, digits, out=part, epochs=5, resume=True, **COMMON, **extra)
    a, b = weights(full / "model.safetensors"), weights(part / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ca, cb = weights(full / "checkpoint.safetensors"), weights(part / "checkpoint.safetensors")
    for k in ca:  # optimiser moments and RNG streams match too
        assert torch.equal(ca[k], cb[k]), k
    rows = [json.loads(line) for line in (part / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    assert len(resumed.history) == 5


def test_resume_refuses_changed_options_and_missing_checkpoint(digits, tmp_path):
    lf.train("ae", digits, out=tmp_path / "r", epochs=1, **COMMON)
    with pytest.raises(lf.ConfigError, match="model_config.*only epochs, patience and threads may"):
        lf.train("ae", digits, out=tmp_path / "r", epochs=2, resume=True, **{**COMMON, "latent_dim": 5})
    with pytest.raises(lf.ConfigError, match=r"train_config \(lr\)"):
        lf.train("ae", digits, out=tmp_path / "r", epochs=2, resume=True, lr=0.1, **COMMON)
    with pytest.raises(lf.ArtifactError, match="no checkpoint.safetensors to resume"):
        lf.train("ae", digits, out=tmp_path / "new", epochs=2, resume=True, **COMMON)


def test_same_seed_same_numbers_other_seed_other_numbers(digits):
    a = lf.train("ae", digits, epochs=2, **COMMON)
    b = lf.train("ae", digits, epochs=2, **COMMON)
    c = lf.train("ae", digits, epochs=2, **{**COMMON, "seed": 4})
    x = digits.x[:50]
    np.testing.assert_array_equal(a.encode(x), b.encode(x))
    assert not np.allclose(a.encode(x), c.encode(x))


def test_existing_run_is_not_overwritten_without_asking(digits, tmp_path):
    out = tmp_path / "run"
    lf.train("ae", digits, out=out, epochs=1, **COMMON)
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(lf.ArtifactError, match="already holds files.*overwrite=True"):
        lf.train("ae", digits, out=out, epochs=1, **{**COMMON, "seed": 9})
    assert (out / "model.safetensors").read_bytes() == before
    lf.train("ae", digits, out=out, epochs=1, overwrite=True, **{**COMMON, "seed": 9})
    assert (out / "model.safetensors").read_bytes() != before
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(lf.ArtifactError, match="no latentforge run; refusing"):
        lf.train("ae", digits, out=other, epochs=1, overwrite=True, **COMMON)
    assert (other / "thesis.tex").read_text() == "precious"


def test_nan_loss_stops_with_advice_and_keeps_last_checkpoint(digits, tmp_path, monkeypatch):
    from latentforge.objectives import ReconstructionObjective

    original = ReconstructionObjective.__call__
    out = tmp_path / "nan"

    def poisoned(self, model, x, generator=None):
        terms = original(self, model, x, generator)
        if model.training and (out / "checkpoint.safetensors").exists():  # NaN once epoch 1 is saved
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(ReconstructionObjective, "__call__", poisoned)
    with pytest.raises(lf.TrainingDiverged, match=r"nan at epoch 2.*last good epoch was 1.*lower learning rate "
                                                 r"\(lr, now 0.001\).*Nothing was written"):
        lf.train("ae", digits, out=out, epochs=5, **COMMON)
    assert not out.exists()  # a failed run leaves nothing behind


def _poison_every_training_loss(monkeypatch, value=float("inf")):
    from latentforge.objectives import ReconstructionObjective

    original = ReconstructionObjective.__call__

    def poisoned(self, model, x, generator=None):
        terms = original(self, model, x, generator)
        if model.training:
            terms["loss"] = terms["loss"] * value
        return terms

    monkeypatch.setattr(ReconstructionObjective, "__call__", poisoned)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_loss_not_finite_before_any_update_names_the_precision_not_the_learning_rate(digits, monkeypatch,
                                                                                       precision):
    _poison_every_training_loss(monkeypatch)
    with pytest.raises(lf.TrainingDiverged) as e:
        lf.train("ae", digits, epochs=2, precision=precision, **COMMON)
    msg = str(e.value)
    assert "inf at epoch 1, batch 0" in msg and f"computed in {precision}" in msg
    assert ("Train with precision='fp32'" in msg) == (precision != "fp32")  # Python spelling from Python
    assert "learning rate is not the cause" in msg and "lower learning rate" not in msg
    assert "[0, 1]" not in msg and "bce" not in msg  # the scaled digits lie in [0, 1]
    assert "\n" not in msg


def test_the_unit_range_is_named_only_when_the_batch_leaves_it(monkeypatch):
    from latentforge.catalog import MODELS
    from latentforge.training import Trainer

    _poison_every_training_loss(monkeypatch)
    spec = MODELS.get("ae")
    rng = np.random.default_rng(0)
    for x, named in ((rng.uniform(0, 1, (64, 8)), False), (rng.normal(0, 3, (64, 8)), True)):
        net, objective = spec.build(*spec.configs((8,), hidden=(4,), latent_dim=2))
        assert objective.needs_unit_range  # bce on a sigmoid output
        with pytest.raises(lf.TrainingDiverged) as e:
            Trainer(net, objective, lf.TrainConfig(epochs=1, precision="fp32"), progress=False).fit(
                torch.as_tensor(x, dtype=torch.float32))
        msg = str(e.value)
        assert ("needs data in [0, 1] but this batch spans" in msg) == named, msg
        if named:
            assert f"spans {x.min():.4g} to {x.max():.4g}" in msg


def test_early_stopping_restores_the_best_epoch(digits):
    run = lf.train("ae", digits, epochs=200, patience=2, lr=0.05, **{k: v for k, v in COMMON.items() if k != "lr"})
    hist = run.history
    assert len(hist) < 200
    best = min(hist, key=lambda r: r["val_loss"])
    assert all(r["val_loss"] >= best["val_loss"] for r in hist[-2:])
    x_val = run.to_model_space(run.select(digits, "val"))
    from latentforge.objectives import evaluate_objective

    assert evaluate_objective(run.model, run.objective, x_val, seed=3 + 2)["loss"] == pytest.approx(best["val_loss"])


def test_bce_needs_unit_range(tmp_path, rng):
    np.save(tmp_path / "x.npy", rng.normal(size=(50, 6)))
    with pytest.raises(lf.DataError, match="BCE likelihood needs data in \\[0, 1\\]; use scaling='minmax' .*, or "
                                           "loss='mse' output='identity'"):
        lf.train("ae", tmp_path / "x.npy", scaling="standard", loss="bce", epochs=1, progress=False)
    # min-max with BCE on real-valued data: the training rows span [0, 1]; held-out rows beyond the training range
    # are clipped into it (as MinMaxScaler(clip=True)), so validation and evaluation never refuse them
    x = rng.normal(size=(500, 12)).astype(np.float32)
    run = lf.train("ae", x, loss="bce", scaling="minmax", epochs=2, progress=False)
    wider = 2 * x  # beyond the training range
    assert run.to_model_space(wider).min() < 0 and run.to_model_space(wider).max() > 1
    b = run.batch(wider)["x"]
    assert b.min() == 0 and b.max() == 1
    assert np.isfinite(run.evaluate(wider)["recon_mse"]) and np.isfinite(run.evaluate(x)["recon_mse"])
    run = lf.train("ae", tmp_path / "x.npy", scaling="standard", loss="mse", output="identity", epochs=1,
                   progress=False)
    assert run.reconstruct(np.zeros((2, 6))).shape == (2, 6)


def test_damaged_or_foreign_artifacts_give_clear_errors(digits, tmp_path):
    out = tmp_path / "run"
    lf.train("ae", digits, out=out, epochs=1, **COMMON)
    good = (out / "model.safetensors").read_bytes()
    (out / "model.safetensors").write_bytes(good[: len(good) // 2])
    with pytest.raises(lf.ArtifactError, match="model.safetensors.*truncated, damaged"):
        lf.load(out)
    # a pickle renamed as weights is refused, never executed
    (out / "model.safetensors").write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    with pytest.raises(lf.ArtifactError, match="not a readable safetensors"):
        lf.load(out)
    (out / "model.safetensors").write_bytes(good)
    assert lf.load(out).n_parameters > 0
    cfg = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(lf.ArtifactError, match="not a latentforge run configuration"):
        lf.load(out)
    (out / "config.json").write_text(json.dumps(cfg)[:40])
    with pytest.raises(lf.ArtifactError, match="truncated or foreign"):
        lf.load(out)
    cfg["model_config"]["hidden"] = [16]
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(lf.ArtifactError, match="weights do not match config.json"):
        lf.load(out)
    with pytest.raises(lf.ArtifactError, match="no such run directory"):
        lf.load(tmp_path / "nope")


def test_atomic_write_leaves_old_file_when_the_write_fails(tmp_path, monkeypatch):
    import os

    from latentforge.io import atomic_write_bytes

    p = tmp_path / "f.bin"
    atomic_write_bytes(p, b"old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"old"
    assert [f.name for f in tmp_path.iterdir()] == ["f.bin"]  # no temporary left behind


def test_estimator_follows_sklearn_conventions(digits):
    X = digits.x.reshape(len(digits), -1)
    from sklearn.exceptions import NotFittedError

    est = lf.AutoencoderEstimator("ae", latent_dim=2, hidden=(32,), epochs=3, random_state=0)
    with pytest.raises(NotFittedError, match="not fitted"):
        est.transform(X)
    assert est.fit(X) is est
    Z = est.transform(X)
    assert Z.shape == (len(X), 2)
    assert est.inverse_transform(Z).shape == X.shape
    assert est.score(X) < 0 and est.score(X) > -np.var(X) * 1.5
    assert est.get_params()["latent_dim"] == 2


def test_artifacts_get_ordinary_file_permissions(digits, tmp_path):
    import os
    import stat

    lf.train("ae", digits, out=tmp_path / "r", epochs=1, **COMMON)
    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.json", "model.safetensors", "checkpoint.safetensors", "loss.png"):
        mode = stat.S_IMODE((tmp_path / "r" / name).stat().st_mode)
        assert mode == 0o666 & ~umask, (name, oct(mode))


def test_cosine_schedule_decays_the_learning_rate_to_one_percent_by_the_last_epoch():
    from latentforge.training import lr_factor

    cfg = lf.TrainConfig(epochs=5, lr_schedule="cosine", lr=0.01)
    factors = [lr_factor(cfg, e) for e in range(1, 6)]
    assert factors[0] == 1.0 and factors[-1] == pytest.approx(0.01) and all(np.diff(factors) < 0)
    assert lr_factor(lf.TrainConfig(epochs=5), 3) == 1.0
    x = np.random.default_rng(0).random((200, 6)).astype(np.float32)
    run = lf.train("ae", x, latent_dim=2, hidden=(8,), epochs=5, lr=0.01, lr_schedule="cosine", progress=False)
    assert [r["lr"] for r in run.history] == pytest.approx([0.01 * f for f in factors])
    with pytest.raises(lf.ConfigError, match="lr_schedule"):
        lf.TrainConfig(lr_schedule="step")


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_the_program_flushes_subnormal_floats_in_every_thread_it_starts_and_runs_repeat_exactly(tmp_path, rng):
    """The program sets the flush first thing, so that torch's worker threads, started later, inherit it (a flush
    set on the main thread alone would make results depend on which thread computed what); two runs of one
    command give the same numbers."""
    import subprocess
    import sys

    code = ("from latentforge.cli.main import flush_subnormals; import threading, torch; ok = flush_subnormals(); "
            "seen = []; t = threading.Thread(target=lambda: seen.append(float((torch.tensor([1e-40]) * 1.0)[0]))); "
            "t.start(); t.join(); print(ok, seen[0], float((torch.tensor([1e-40]) * 1.0)[0]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    if out[0] == "False":
        pytest.skip("this CPU cannot flush subnormal floats")
    assert out == ["True", "0.0", "0.0"]
    np.save(tmp_path / "x.npy", rng.random((400, 12)).astype(np.float32))
    losses = []
    for run in ("a", "b"):
        subprocess.run([sys.executable, "-m", "latentforge", "train", "vae", "--data", str(tmp_path / "x.npy"),
                        "--epochs", "3", "--latent-dim", "2", "--threads", "2", "--out", str(tmp_path / run),
                        "--no-progress"], capture_output=True, text=True, check=True)
        losses.append([json.loads(line)["train_loss"] for line in (tmp_path / run / "metrics.jsonl").open()])
    assert losses[0] == losses[1] and len(losses[0]) == 3


def test_training_on_every_row_of_a_file_scales_its_own_copy_and_never_the_callers_array(digits, tmp_path):
    """Every row for training: an array read here from a file is scaled in place (no second copy); the caller's
    float32 array is left as it was, and both give the same model."""
    x = (digits.x[:300] / 255.0).astype(np.float32) * 3.0 + 1.0  # minmax scaling has something to change
    before = x.copy()
    np.save(tmp_path / "x.npy", x)
    kw = dict(epochs=1, batch_size=64, latent_dim=2, val_fraction=0.0, test_fraction=0.0, progress=False,
              seed=5, scaling="minmax")
    from_file = lf.train("ae", str(tmp_path / "x.npy"), out=tmp_path / "run", **kw)
    from_array = lf.train("ae", x, **kw)
    assert np.array_equal(x, before) and np.array_equal(np.load(tmp_path / "x.npy"), before)
    assert from_file.history[-1]["train_loss"] == from_array.history[-1]["train_loss"]
    for a, b in zip(from_file.model.state_dict().values(), from_array.model.state_dict().values()):
        assert torch.equal(a, b)
    assert (tmp_path / "run" / "reconstructions.png").exists()


def test_images_of_two_bands_get_their_run_plots(tmp_path, rng):
    """A comparison grid shows one band in grey, three or more as colours, and two bands as their first."""
    x = rng.random((40, 2, 12, 12)).astype(np.float32)
    lf.train("conv-ae", x, out=tmp_path / "run", epochs=1, batch_size=20, progress=False)
    assert (tmp_path / "run" / "reconstructions.png").stat().st_size > 1000


def test_a_dataloaders_batch_size_is_the_training_batch_size(monkeypatch):
    from torch.utils.data import DataLoader, TensorDataset

    from latentforge.objectives import ReconstructionObjective

    sizes: list[int] = []
    original = ReconstructionObjective.train_step

    def recording(self, ctx, batch, noise):
        if ctx.model.training and type(ctx).__name__ == "Trainer":
            sizes.append(int(batch["x"].shape[0]))
        return original(self, ctx, batch, noise)

    monkeypatch.setattr(ReconstructionObjective, "train_step", recording)
    x = torch.rand(200, 6)
    loader = DataLoader(TensorDataset(x), batch_size=32, shuffle=True)
    run = lf.train("ae", loader, epochs=1, hidden=(8,), latent_dim=2, progress=False)
    n_train = 200 - round(0.1 * 200) - round(0.1 * 200)  # the default 10 % validation and 10 % test rows
    assert run.train_config.batch_size == 32
    assert sum(sizes) == n_train and sizes[:-1] == [32] * (len(sizes) - 1) and len(sizes) == -(-n_train // 32)
    # the same size asked for again is fine; another is refused in one line whose advice works
    assert lf.train("ae", loader, epochs=1, batch_size=32, hidden=(8,), latent_dim=2, progress=False)
    with pytest.raises(lf.ConfigError, match=r"batch_size=128 was asked for but the DataLoader gives batches of "
                                             r"32; drop batch_size") as e:
        lf.train("ae", loader, epochs=1, batch_size=128, hidden=(8,), latent_dim=2, progress=False)
    assert "\n" not in str(e.value)
    lf.train("ae", DataLoader(TensorDataset(x), batch_size=128), epochs=1, batch_size=128, hidden=(8,),
             latent_dim=2, progress=False)


def test_a_failed_run_leaves_the_folder_as_it_was(digits, tmp_path, capsys, monkeypatch):
    from latentforge.cli.main import main

    out = tmp_path / "run"
    argv = ["train", "ae", "--data", "digits", "--epochs", "2", "--no-progress", "--out", str(out)]
    assert main(argv + ["--lr", "1e6"]) != 0  # diverges in epoch 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the loss became nan" in err[0] and "Nothing was written" in err[0]
    assert "lower learning rate (--lr, now 1e+06)" in err[0]  # the command line's spelling there
    assert not out.exists()
    assert main(argv) == 0  # the same --out again, no --overwrite needed
    assert lf.load(out).history[-1]["epoch"] == 2
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    # --overwrite that fails: the earlier run comes back whole
    assert main(argv + ["--lr", "1e6", "--overwrite"]) != 0
    assert "holds the earlier run again" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not (tmp_path / ".run.previous").exists()
    # --resume that fails after a good epoch: the earlier checkpoint, metrics and model are back
    _poison_every_training_loss(monkeypatch, float("nan"))
    assert main(argv[:5] + ["4"] + argv[6:] + ["--resume"]) != 0
    assert "holds the earlier checkpoint and files again" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_failed_run_in_an_empty_folder_the_user_made_leaves_it_empty(digits, tmp_path, monkeypatch):
    out = tmp_path / "mine"
    out.mkdir()
    _poison_every_training_loss(monkeypatch)
    with pytest.raises(lf.TrainingDiverged, match="is empty again"):
        lf.train("ae", digits, out=out, epochs=2, **COMMON)
    assert out.is_dir() and list(out.iterdir()) == []
