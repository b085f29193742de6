"""Metrics that fit the data: a table's reconstruction error per column in the column's unit (no pooled MSE over
columns in different units, no PSNR), images keep their PSNR, the ELBO is shown as -ELBO beside no one-draw loss;
a shower model trained with its conditions gets its baselines and its physics in words."""

import json

import numpy as np
import pytest

import latentforge as lf
from latentforge.analysis.baselines import baseline_table
from latentforge.analysis.readable import summary_lines
from latentforge.analysis.report_notes import baseline_notes
from latentforge.cli.main import main
from latentforge.domains.showers.simulator import ShowerSimulator
from latentforge.domains.showers.files import write_showers

from test_figures_per_kind import TINY, write_catalogue


def test_evaluate_reports_a_tables_error_per_column_in_its_unit_and_no_psnr(tmp_path, capsys):
    write_catalogue(tmp_path / "stars.csv")
    lf.train("vae", tmp_path / "stars.csv", **TINY).save(tmp_path / "run")  # the run, without its plots
    assert main(["evaluate", "--json", str(tmp_path / "run"), "--data", str(tmp_path / "stars.csv"), "--k", "5"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert not [k for k in m if k.startswith("psnr")] and "recon_mse_raw" not in m
    by = m["recon_error_by_column"]
    assert list(by) == ["teff [K]", "logg (dex)", "mass_msun"]
    assert [by[c]["unit"] for c in by] == ["K", "dex", "data units"]
    run = lf.load(tmp_path / "run")
    test = run.select(str(tmp_path / "stars.csv"), "test")
    want = np.sqrt(((run.reconstruct(test).astype(np.float64) - test.x) ** 2).mean(0))  # computed here
    np.testing.assert_allclose([by[c]["rmse"] for c in by], want, rtol=1e-5)
    assert all(by[c]["n"] == len(test) and by[c]["rmse_err"] > 0 for c in by)
    words = "\n".join(summary_lines(m))  # what evaluate prints without --json
    assert "root mean square: teff [K]:" in words and " K  (lower is better)" in words
    assert "-ELBO" in words and "training loss on these data" not in words and "PSNR" not in words


def test_evaluate_keeps_the_psnr_of_images(digits, tmp_path, capsys):
    lf.train("ae", digits.subset(np.arange(300)), **TINY).save(tmp_path / "ae")
    np.save(tmp_path / "d.npy", digits.x[:300])
    assert main(["evaluate", "--json", str(tmp_path / "ae"), "--data", str(tmp_path / "d.npy")]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["psnr_recon"] > 0 and "recon_mse_raw" in m and "recon_error_by_column" not in m


def test_baselines_of_a_shower_model_trained_with_its_conditions(tmp_path):
    write_showers(tmp_path / "e.h5", ShowerSimulator(seed=2).simulate(80, "e+", energies=np.geomspace(1, 50, 80)))
    run = lf.train("cvae", tmp_path / "e.h5", cond_key="conditions", condition="vector",
                   scaling="fractions-response", likelihood="hurdle", **TINY)
    full = lf.load_dataset(tmp_path / "e.h5", cond_key="conditions")
    train, test = run.training_rows(full), run.select(full, "test")
    rows = baseline_table(run, train, test)  # refused before: the scaling was given no conditions
    u = run.preprocess.scaler.transform(test.x, factors=test.cond)  # the scaled rows, computed here
    recon = run.preprocess.scaler.transform(run.reconstruct(test), factors=test.cond)
    assert rows[run.name]["recon_mse"] == pytest.approx(float(((recon - u) ** 2).mean()), rel=1e-5)
    assert np.isfinite(rows["pca (k=2)"]["recon_mse"])


def test_a_baseline_with_a_smaller_frechet_distance_is_explained():
    table = {"vae": {"fd_classifier": 58.9, "fd_classifier_err": 2.0, "precision": 0.4, "recall": 0.1},
             "gaussian": {"fd_classifier": 41.0, "fd_classifier_err": 1.5, "copying": 1.1},
             "kde": {"fd_classifier": 19.0, "fd_classifier_err": 1.0, "copying": 0.3},
             "gaussian_mixture": {"fd_classifier": 70.0, "fd_classifier_err": 2.0}}
    notes = " ".join(baseline_notes(table, "vae"))
    assert "larger than that of one Gaussian (full covariance) (41) and a kernel density estimate (19)" in notes
    assert "mixture" not in notes.split("The Fréchet")[0]  # the mixture's 70 is worse: not listed
    assert "near-copies of training rows" in notes and "recall (0.1" in notes
    assert baseline_notes({**table, "vae": {**table["vae"], "fd_classifier": 10.0}}, "vae") == []
