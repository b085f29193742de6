"""Baselines are fitted on the run's training rows alone: never on the rows they are scored on, never on the points
an inpainting hides. Expected values come from numpy / scikit-learn on the training rows picked by the run's
seeded split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.decomposition import PCA

import latentforge as lf
from latentforge.analysis.inversion import training_mean
from latentforge.cli.main import main
from latentforge.data import ArrayDataset, split_indices


def _images(n: int, seed: int, hidden_level: float | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (0.4 * rng.random((n, 8, 8))).astype(np.float32)
    if hidden_level is not None:
        x[:, 4:, :] = hidden_level  # the bottom half, which the inpainting below hides
    return x


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("b")
    train_x = _images(200, 0)
    np.save(d / "train.npy", train_x)
    np.save(d / "heldout.npy", _images(40, 1, hidden_level=1.0))
    run = lf.train("ae", str(d / "train.npy"), out=d / "run", latent_dim=3, epochs=1, progress=False)
    tc = run.train_config
    rows = split_indices(len(train_x), val_fraction=tc.val_fraction, test_fraction=tc.test_fraction, seed=tc.seed)
    return run, d, train_x, rows["train"]


def test_inpainting_mean_fill_is_the_mean_of_training_rows_only(trained, capsys):
    run, d, train_x, train_rows = trained
    held = np.load(d / "heldout.npy")
    assert main(["inpaint", "--json", str(run.run_dir), "--data", str(d / "heldout.npy"), "--mask", "bottom",
                 "--steps", "5", "--out", str(d / "f.npz")]) == 0
    s = json.loads(capsys.readouterr().out)
    mean = train_x[train_rows].astype(np.float64).mean(0)  # numpy, over the training split only
    want = np.mean((mean[None, 4:, :] - held[:, 4:, :]) ** 2)
    assert s["mse_mean_fill"] == pytest.approx(want, rel=1e-6)
    assert s["mean_fill_rows"] == f"the mean of {len(train_rows)} training rows"
    # the evaluated images' hidden points (all 1.0) would have pulled a mean of the evaluated images to 1.0 there
    assert s["mse_mean_fill"] > 0.5
    # the Python API: the training rows, whatever data are given, and the mean of those alone
    for given in (str(d / "heldout.npy"), str(d / "train.npy"), None):
        np.testing.assert_allclose(training_mean(run.training_rows(given))[0, 0], mean, rtol=1e-6)


def test_training_mean_leaves_masked_points_out():
    rng = np.random.default_rng(3)
    x = rng.random((30, 6)).astype(np.float32)
    mask = rng.random(x.shape) < 0.3
    want = np.nanmean(np.where(mask, np.nan, x.astype(np.float64)), 0)
    np.testing.assert_allclose(training_mean(ArrayDataset(x, mask=mask))[0], want, rtol=1e-6)


def test_evaluate_baselines_fit_pca_on_training_rows_of_other_data(trained, capsys):
    run, d, train_x, train_rows = trained
    assert main(["evaluate", "--json", "--baselines", str(run.run_dir), "--data", str(d / "heldout.npy")]) == 0
    rows = json.loads(capsys.readouterr().out)["baselines"]
    held = np.load(d / "heldout.npy")
    xtr = run.scaler.transform(train_x[train_rows][:, None]).reshape(len(train_rows), -1).astype(np.float64)
    xte = run.scaler.transform(held[:, None]).reshape(len(held), -1).astype(np.float64)
    pca = PCA(3, svd_solver="full").fit(xtr)
    want = np.mean((pca.inverse_transform(pca.transform(xte)) - xte) ** 2)
    # (the table's PCA uses the randomized solver for few components: equal to a few parts in a thousand)
    assert rows["pca (k=3)"]["recon_mse"] == pytest.approx(want, rel=1e-2)
    on_evaluated = PCA(3, svd_solver="full").fit(xte)  # what a PCA fitted on the scored rows would claim
    assert np.mean((on_evaluated.inverse_transform(on_evaluated.transform(xte)) - xte) ** 2) < 0.9 * want


def test_baselines_of_a_run_whose_training_data_cannot_be_read_again_are_refused(tmp_path, capsys):
    x = _images(60, 2)
    lf.train("ae", x, out=tmp_path / "run", latent_dim=2, epochs=1, progress=False)  # from Python: not on disk
    np.save(tmp_path / "other.npy", _images(20, 4))
    code = main(["evaluate", "--baselines", str(tmp_path / "run"), "--data", str(tmp_path / "other.npy")])
    err = capsys.readouterr().err
    assert code == 2 and "baselines are fitted on the run's training rows" in err and "pass the data" in err
