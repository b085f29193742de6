"""Calibrated uncertainties: learned likelihood scales start from the data; held-out coverage, PIT and
split-conformal intervals checked against independent numpy / scipy computations."""

import json

import numpy as np
import pytest
import torch
from scipy.stats import norm

import latentforge as lf
from latentforge.analysis.calibration import conformal_intervals, conformal_multipliers, coverage_from_pit


def gaussian_toy(n=2000, d=4, seed=0):
    return np.random.default_rng(seed).normal(300.0, 50.0, (n, d)).astype(np.float32)


def central(k):
    """Probability mass of N(0, 1) within +-k."""
    return norm.cdf(k) - norm.cdf(-k)


@pytest.fixture(scope="module")
def toy_run():
    """`train vae` at its defaults (what a user runs) on 600 rows of N(300, 50^2 I_4)."""
    return lf.train("vae", gaussian_toy(600), progress=False)


def test_learned_sigma_is_set_to_the_decoders_residual():
    """With the decoder's last layer zeroed the mean is 0 and the predicted log sigma 0, so the residual is x
    itself: the shared sigma becomes the RMS of x, each predicted sigma the RMS of its own column (numpy)."""
    x = torch.as_tensor(np.random.default_rng(1).normal(2.0, [0.5, 1.0, 2.0], (500, 3)), dtype=torch.float32)
    xn = x.numpy().astype(np.float64)
    for lik in ("gaussian-shared", "gaussian-hetero"):
        model, _ = lf.build("vae", (3,), likelihood=lik)
        last = model.decoder.linears[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
        assert model.start_scales_from_residual(x)
        if lik == "gaussian-shared":
            assert float(model.likelihood.log_sigma.detach().exp()) == pytest.approx(np.sqrt(np.mean(xn ** 2)),
                                                                                     rel=1e-5)
        else:
            np.testing.assert_allclose(last.bias.detach().numpy()[3:], np.log(np.sqrt(np.mean(xn ** 2, 0))),
                                       rtol=1e-5)
    fixed, _ = lf.build("vae", (3,), likelihood="gaussian")  # a fixed sigma is the user's and stays
    assert fixed.start_scales_from_residual(x) is None
    assert float(fixed.likelihood.log_sigma.exp()) == pytest.approx(0.1)


def test_default_gaussian_vae_intervals_cover_their_level(toy_run):
    """The held-out predictive intervals of ``predict`` (mean +- 1 and 2 standard deviations) hold about 68.3 %
    and 95.4 % of fresh values."""
    fresh = gaussian_toy(1000, seed=5)  # rows the run never saw, from the same distribution
    mean, std = toy_run.predict(fresh, samples=32, seed=0)
    r = np.abs(fresh - mean)
    one, two = np.mean(r < std), np.mean(r < 2 * std)
    assert abs(one - central(1)) < 0.05, one
    assert abs(two - central(2)) < 0.04, two
    # evaluate's calibration says the same, computed from the mixture's PIT
    cal = toy_run.evaluate(fresh, k=10)["calibration"]  # k: importance samples of nll_iwae, not used here
    assert abs(cal["coverage"]["0.68"] - one) < 0.03 and abs(cal["coverage"]["0.95"] - two) < 0.02
    assert "warning" not in cal and cal["n_rows"] == 1000


def test_coverage_of_a_known_gaussian_predictive():
    """PIT of N(0, 1) data under a predictive N(0, s^2): the central level-a interval +-s z_a holds
    P(|x| < s z_a) = 2 Phi(s z_a) - 1 (scipy), within three standard errors."""
    x = np.random.default_rng(2).normal(size=(5000, 4))
    for s in (1.0, 0.5):
        cov = coverage_from_pit(norm.cdf(x / s))
        for lv in (0.68, 0.95):
            expect = central(s * norm.ppf((1 + lv) / 2))
            got, err = cov[lv]
            assert abs(got - expect) < 3 * err, (s, lv, got, expect)
    # masked points do not count
    keep = np.ones(x.shape, bool)
    keep[:, 0] = False
    pit = norm.cdf(x)
    pit[:, 0] = 0.0  # outside every interval, but masked
    assert coverage_from_pit(pit, keep)[0.68][0] == pytest.approx(np.mean(np.abs(x[:, 1:]) < norm.ppf(0.84)))


def test_conformal_multipliers_of_gaussian_scores():
    score = np.abs(np.random.default_rng(3).normal(size=20000))
    k = conformal_multipliers(score)
    assert k[0.68] == pytest.approx(norm.ppf(0.84), abs=0.03)
    assert k[0.95] == pytest.approx(norm.ppf(0.975), abs=0.05)
    # finite-sample rule: with n = 9 scores the 0.95 multiplier is the largest one (ceil(10 * 0.95) / 9 > 1)
    assert conformal_multipliers(np.arange(1.0, 10.0), levels=(0.95,))[0.95] == 9.0


def test_miscalibrated_model_warns_and_conformal_intervals_repair_it(toy_run, tmp_path):
    run = lf.load(toy_run.save(tmp_path / "r"))

    def wider(x):  # data four times as spread as those the model learned: its intervals are far too narrow
        return (x.mean(0) + 4 * (x - x.mean(0))).astype(x.dtype)

    fresh, cal_rows = wider(gaussian_toy(1000, seed=6)), wider(gaussian_toy(1000, seed=7))
    out = run.evaluate(fresh, calibrate="conformal", k=10)["calibration"]
    assert out["coverage"]["0.68"] < 0.55 and "too narrow" in out["warning"]
    assert abs(out["conformal"]["coverage"]["0.95"] - 0.95) < 0.03
    lo, hi = conformal_intervals(run, cal_rows, fresh, level=0.95, samples=16)
    assert lo.shape == fresh.shape and abs(np.mean((fresh >= lo) & (fresh <= hi)) - 0.95) < 0.025


def test_calibrate_is_refused_for_a_model_without_a_predictive(digits):
    run = lf.train("ae", digits, epochs=1, progress=False)
    with pytest.raises(lf.ConfigError, match="calibrate conformal"):
        run.evaluate(digits, calibrate="conformal")
    assert "calibration" not in run.evaluate(digits)


def test_evaluate_command_reports_calibration_in_words_and_json(toy_run, tmp_path, capsys):
    from latentforge.cli.main import main

    run_dir = toy_run.save(tmp_path / "r")
    np.save(tmp_path / "fresh.npy", gaussian_toy(300, seed=8))
    assert main(["evaluate", str(run_dir), "--data", str(tmp_path / "fresh.npy"), "--k", "10",
                 "--calibrate", "conformal"]) == 0
    words = capsys.readouterr().out
    assert "held-out coverage of the predictive's central intervals: 68 %" in words and "split-conformal" in words
    assert main(["evaluate", str(run_dir), "--data", str(tmp_path / "fresh.npy"), "--k", "10", "--json"]) == 0
    cal = json.loads(capsys.readouterr().out)["calibration"]
    assert set(cal["coverage"]) == {"0.68", "0.95"} and len(cal["pit_histogram"]) == 10
    from latentforge.analysis.report import fidelity_sections

    html = "".join(fidelity_sections({"calibration": cal}))
    assert "<h2>Calibration</h2>" in html and "data:image/png;base64," in html and "PIT histogram" in html


def test_a_run_saved_before_the_predictive_scale_loads_with_its_own_predictive(toy_run, tmp_path):
    """Weights written without ``predictive_scale`` (earlier versions) load with c = 1: predict then gives the
    model's own mixture, the same as ``calibrated=False`` on the calibrated run."""
    from safetensors.numpy import load_file, save_file

    path = toy_run.save(tmp_path / "r")
    weights = load_file(str(path / "model.safetensors"))
    assert float(weights["predictive_scale"]) == pytest.approx(float(toy_run.model.predictive_scale))
    del weights["predictive_scale"]
    save_file(weights, str(path / "model.safetensors"), metadata={"format": "latentforge-model"})
    old = lf.load(path)
    x = gaussian_toy(50, seed=9)
    _, own = toy_run.predict(x, samples=8, seed=1, calibrated=False)
    _, loaded = old.predict(x, samples=8, seed=1)
    np.testing.assert_allclose(loaded, own, rtol=1e-5)
    _, cal = toy_run.predict(x, samples=8, seed=1)
    np.testing.assert_allclose(cal, float(toy_run.model.predictive_scale) * own, rtol=1e-5)
