"""Likelihoods in the data's own units: a VAE's ELBO / NLL carry the scaling's log-Jacobian, so the same data in
other units or under another scaling give comparable figures.

The reference densities are scipy's multivariate normal on the data themselves (probabilistic PCA toy data, whose
true density is known in closed form); the reference offsets are the units' factors (D ln 1000 between mm and m)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

import latentforge as lf
from latentforge.analysis.readable import summary_lines
from latentforge.cli.main import main

D, L = 5, 2


def ppca(n: int, seed: int = 0):
    """x = W z + 0.3 eps in millimetres around 5 m: rows (n, D) and the true density (scipy) of such rows."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(D, L))
    x = rng.normal(size=(n, L)) @ w.T + 0.3 * rng.normal(size=(n, D))
    cov = w @ w.T + 0.09 * np.eye(D)
    return 1000.0 * x + 5000.0, multivariate_normal(np.full(D, 5000.0), 1e6 * cov)


def test_vae_nll_in_data_units_matches_the_true_density_of_the_data():
    x, truth = ppca(1000)
    run = lf.train("vae", x, latent_dim=L, epochs=60, lr=3e-3, batch_size=64, likelihood="gaussian-hetero",
                   progress=False)
    m = run.evaluate(x, k=100)
    test = run.select(x, "test").x.astype(np.float64)  # the held-out rows evaluate measured
    true_nll = -truth.logpdf(test).mean()
    # a well-fitted model's cross-entropy sits just above the data's entropy, in the data's units (mm)
    assert true_nll - 0.3 < m["nll_iwae"] < true_nll + 1.0, (m["nll_iwae"], true_nll)
    # the scaled-space figure is tens of nats away: it is a density of other numbers
    assert abs(m["nll_iwae_scaled"] - true_nll) > 20
    assert m["nll_iwae"] == pytest.approx(m["nll_iwae_scaled"] - m["log_jacobian"])
    assert m["nll_iwae_per_dim"] == pytest.approx(m["nll_iwae"] / D)
    assert "bits_per_dim" not in m  # not an 8-bit image
    words = "\n".join(summary_lines(m))
    assert f"nats per example in data units (scaled space: {m['nll_iwae_scaled']:.4g})" in words


def test_the_same_data_in_mm_and_in_m_differ_by_d_ln_1000_per_example():
    x_mm, _ = ppca(600)
    runs = {unit: lf.train("vae", x, latent_dim=L, epochs=2, progress=False)
            for unit, x in (("mm", x_mm), ("m", x_mm / 1000.0))}
    m_mm = runs["mm"].evaluate(x_mm, k=20)
    m_m = runs["m"].evaluate(x_mm / 1000.0, k=20)
    # the model's space is the same for both (the scalings absorb the unit), so the data-unit figures differ by the
    # density's change of units alone: p_mm(x) = p_m(x / 1000) / 1000^D
    assert m_mm["nll_iwae"] - m_m["nll_iwae"] == pytest.approx(D * math.log(1000.0), abs=1e-3)
    assert m_m["elbo"] - m_mm["elbo"] == pytest.approx(D * math.log(1000.0), abs=1e-3)
    assert m_mm["nll_iwae_scaled"] == pytest.approx(m_m["nll_iwae_scaled"], abs=1e-3)
    # the Python API says the same per example
    a = runs["mm"].log_likelihood(x_mm[:50], k=5)
    b = runs["m"].log_likelihood(x_mm[:50] / 1000.0, k=5)
    np.testing.assert_allclose(b["iwae"] - a["iwae"], D * math.log(1000.0), atol=1e-3)


def test_grid_search_over_scaling_compares_densities_of_the_data():
    from sklearn.model_selection import GridSearchCV

    x_mm, truth = ppca(300, seed=1)
    grid = {"scaling": ["standard", "minmax"]}
    searches = {}
    for unit, factor in (("mm", 1.0), ("m", 1e-3)):
        est = lf.VAEEstimator(latent_dim=L, epochs=4)
        searches[unit] = GridSearchCV(est, grid, cv=2).fit(x_mm * factor)
    mm, m = (searches[u].cv_results_["mean_test_score"] for u in ("mm", "m"))
    # every candidate is a mean ELBO per example of the data in mm: a lower bound below the data's own
    # log-density (Gibbs), whichever scaling it used (in the scaled spaces it was above it by up to 30 nats)
    best_possible = truth.logpdf(x_mm).mean()
    assert np.all(mm < best_possible + 0.5), (mm, best_possible)
    # and in m the same fits score D ln 1000 higher, each one: the winner does not depend on the unit
    np.testing.assert_allclose(m - mm, D * math.log(1000.0), atol=1e-2)
    assert searches["mm"].best_params_ == searches["m"].best_params_
    # the estimator's score is the run's data-unit ELBO
    best = searches["mm"].best_estimator_
    ll = best.trained_.log_likelihood(x_mm.astype(np.float32), k=10, seed=best.seed_)
    assert best.score(x_mm) == pytest.approx(float(ll["elbo"].mean()))
    np.testing.assert_allclose(ll["elbo"], ll["elbo_scaled"] + ll["log_jacobian"], rtol=1e-6)


def test_cli_evaluate_reports_data_units_and_bits_per_dim_for_8bit_images(tmp_path, capsys):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(120, 6, 6)).astype(np.uint8)
    np.save(tmp_path / "img.npy", img)
    lf.train("vae", str(tmp_path / "img.npy"), out=tmp_path / "run", latent_dim=2, epochs=1, progress=False)
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "img.npy"), "--k", "10"]) == 0
    words = capsys.readouterr().out
    assert "nats per example in data units (scaled space:" in words and "bits per dimension" in words
    assert main(["evaluate", "--json", str(tmp_path / "run"), "--data", str(tmp_path / "img.npy"), "--k", "10"]) == 0
    m = json.loads(capsys.readouterr().out)
    # whole numbers 0..255: bits per dimension is the data-unit NLL per pixel over ln 2
    assert m["bits_per_dim"] == pytest.approx(m["nll_iwae"] / 36 / math.log(2.0))
    # the same images as floats in [0, 1] (value / 255): the same bits per dimension on the 8-bit scale
    np.save(tmp_path / "unit.npy", img.astype(np.float32) / 255.0)
    lf.train("vae", str(tmp_path / "unit.npy"), out=tmp_path / "run01", latent_dim=2, epochs=1, progress=False)
    assert main(["evaluate", "--json", str(tmp_path / "run01"), "--data", str(tmp_path / "unit.npy"),
                 "--k", "10"]) == 0
    m01 = json.loads(capsys.readouterr().out)
    assert m01["bits_per_dim"] == pytest.approx((m01["nll_iwae"] / 36 + math.log(255.0)) / math.log(2.0))
