"""cyclegan: unpaired translation between two data sets (Zhu et al. 2017)."""

import json

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.analysis.translation import translation_report
from latentforge.cli.main import main

SMALL = {"g_hidden": (32,), "d_hidden": (32,)}


def blobs(n=600, seed=0):
    """Domain A: a 4-D Gaussian blob around 0.3; domain B: a narrower one around 0.7 (unpaired draws)."""
    rng = np.random.default_rng(seed)
    a = 0.3 + 0.05 * rng.normal(size=(n, 4))
    b = 0.7 + 0.03 * rng.normal(size=(n + 100, 4))
    return a.astype(np.float32), b.astype(np.float32)


def test_generators_start_as_the_identity():
    torch.manual_seed(0)
    model, _ = lf.build("cyclegan", (6,), **SMALL)
    x = torch.rand(10, 6) * 0.9 + 0.05
    for direction in ("a_to_b", "b_to_a"):
        assert torch.allclose(model.translate(x, direction), x, atol=1e-6)
    with pytest.raises(lf.ConfigError, match="unknown translation direction 'up'"):
        model.translate(x, "up")


def test_cyclegan_moves_one_domain_onto_the_other_and_keeps_the_cycle():
    a, b = blobs()
    run = lf.train("cyclegan", a, data_b=b, scaling="none", epochs=30, batch_size=64, lr_g=3e-3, lr_d=3e-3, seed=0,
                   progress=False, val_fraction=0.0, test_fraction=0.0, **SMALL)
    moved = run.translate(a)
    assert np.abs(moved.mean(0) - 0.7).max() < 0.05  # A's blob now sits where B's is
    assert np.abs(run.translate(b, "b_to_a").mean(0) - 0.3).max() < 0.05
    r = translation_report(run, lf.as_dataset(a), lf.as_dataset(b))
    assert r["auc_before"] > 0.99 and r["auc_after"] < 0.9 and r["cycle_error"] < 0.03
    two = r["two_sample"]  # the k-fold two-sample test of every generator, with its floor on two target halves
    assert two["auc"] < 0.9 and abs(two["auc_floor"] - 0.5) < 0.1 and "translated vs target" in two["in_words"][0]
    rows = run.history
    assert rows[-1]["cycle"] < rows[0]["cycle"] or rows[0]["cycle"] < 0.01


def test_resume_repeats_the_unpaired_draws_bit_exactly(tmp_path):
    a, b = blobs(200)
    common = dict(data_b=b, scaling="none", batch_size=64, seed=0, progress=False, **SMALL)
    lf.train("cyclegan", a, out=tmp_path / "x", epochs=3, **common)
    lf.train("cyclegan", a, out=tmp_path / "y", epochs=1, **common)
    lf.train("cyclegan", a, out=tmp_path / "y", epochs=3, resume=True, **common)
    x = lf.io.load_tensors(tmp_path / "x" / "model.safetensors")[0]
    y = lf.io.load_tensors(tmp_path / "y" / "model.safetensors")[0]
    assert all(torch.equal(x[k], y[k]) for k in x)


def test_two_data_sets_are_asked_for_and_refused_clearly():
    a, b = blobs(100)
    with pytest.raises(lf.ConfigError, match=r"give the second one .* data_b=\.\.\."):
        lf.train("cyclegan", a, epochs=1, progress=False)
    with pytest.raises(lf.ConfigError, match="only cyclegan take.*drop data_b"):
        lf.train("ae", a, data_b=b, epochs=1, progress=False)
    with pytest.raises(lf.DataError, match="one shape"):
        lf.train("cyclegan", a, data_b=b[:, :3], epochs=1, progress=False)


def test_cli_train_translate_evaluate_on_shower_files(tmp_path, capsys):
    from latentforge.domains.showers.simulator import ShowerSimulator
    from latentforge.domains.showers.files import write_showers

    write_showers(tmp_path / "a.h5", ShowerSimulator(seed=0).simulate(300, energy_range=(1, 10)))
    low = ShowerSimulator(seed=1, deposits_per_gev=50).simulate(300, energy_range=(1, 10))
    low["showers"] *= 0.5  # a lower sampling fraction
    write_showers(tmp_path / "b.h5", low)
    out = tmp_path / "cyc"
    assert main(["train", "cyclegan", "--data", str(tmp_path / "a.h5"), "--data-b", str(tmp_path / "b.h5"),
                 "--scaling", "log", "--val-fraction", "0", "--epochs", "2", "--g-hidden", "32", "--d-hidden", "32", "--no-progress",
                 "--out", str(out)]) == 0
    assert lf.load(out).data_info["data_b"]["source"] == str(tmp_path / "b.h5")
    capsys.readouterr()
    assert main(["translate", str(out), "--data", str(tmp_path / "a.h5"), "--out", str(tmp_path / "t.npz")]) == 0
    t = np.load(tmp_path / "t.npz")
    assert t["translated"].shape == t["input"].shape == (300, 504) and (t["translated"] >= 0).all()
    assert main(["evaluate", "--json", str(out), "--data", str(tmp_path / "a.h5")]) == 0
    m = json.loads(capsys.readouterr().out)
    tr = m["translation"]
    assert m["split"] == "test" and tr["n_source"] == tr["n_target"] == 30
    assert set(tr["separation_power"]["E_total/E_inc"]) == {"before", "after"}
    assert tr["separation_power"]["E_total/E_inc"]["before"] > 0.5  # half the energy: far apart before
    for k in ("auc_before", "auc_after", "cycle_error", "total_energy_correlation"):
        assert np.isfinite(tr[k]), k
    assert (out / "translation.png").exists() and "showers" in m["skipped"]
    assert "needs at least 40 real" in tr["two_sample_skipped"]  # 30 target rows: too few, and it says so
    code = main(["sample", str(out), "--out", str(tmp_path / "s.npz")])
    assert code == 2 and "sample needs" in capsys.readouterr().err


def test_an_array_second_data_set_is_named_when_evaluation_cannot_read_it_again():
    a, b = blobs(100)
    run = lf.train("cyclegan", a, data_b=b, scaling="none", epochs=1, progress=False, **SMALL)
    assert "second data set (array) cannot be read again" in run.evaluate(a)["skipped"]["translation"]
