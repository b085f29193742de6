"""The 2-D mode-collapse benchmarks: the data, the counting of modes and high-quality samples, and evaluate."""

import json

import numpy as np
import pytest

import latentforge as lf
from latentforge.cli.main import main
from latentforge.data.modes import MODE_BENCHMARKS, mode_statistics


@pytest.mark.parametrize("name,modes", [("ring8", 8), ("grid25", 25), ("cs771-ring", 16)])
def test_benchmark_data_cover_every_mode_with_high_quality_points(name, modes):
    ds = lf.load_dataset(name)
    assert ds.x.shape == (10000, 2) and ds.y.shape == (10000,) and set(np.unique(ds.y)) == set(range(modes))
    np.testing.assert_array_equal(ds.x, lf.load_dataset(name).x)  # generated with a fixed seed
    s = mode_statistics(MODE_BENCHMARKS.get(name), ds.x[:2500])
    assert s["modes_covered"] == s["modes_total"] == modes
    # within 3 sd of a 2-D Gaussian's centre: 1 - exp(-4.5) = 98.9 %; the ring's radius: 99.4 %
    assert s["high_quality"] == pytest.approx(0.989 if name != "cs771-ring" else 0.994, abs=0.006)
    assert s["mode_kl"] < 0.01


def test_the_cs771_ring_is_the_stated_transformation():
    x = lf.load_dataset("cs771-ring").x.astype(np.float64)
    r = np.linalg.norm(x, axis=1)
    assert r.min() > 1.0 and r.mean() == pytest.approx(1 + 0.1 * np.sqrt(np.pi / 2), abs=0.003)


def test_collapsed_and_off_mode_samples_are_counted_as_such():
    ring = MODE_BENCHMARKS.get("ring8")
    one_mode = np.tile(ring.centres[3], (2500, 1)) + 0.01 * np.random.default_rng(0).normal(size=(2500, 2))
    s = mode_statistics(ring, one_mode)
    assert s["modes_covered"] == 1 and s["high_quality"] > 0.95 and s["mode_kl"] == pytest.approx(np.log(8), abs=1e-6)
    between = np.zeros((2500, 2))  # the ring's centre: far from every mode
    assert mode_statistics(ring, between)["high_quality"] == 0.0
    # a mode needs 20 high-quality samples per 2500 to count (PacGAN)
    few = np.concatenate([one_mode[:2481], np.tile(ring.centres[0], (19, 1))])
    assert mode_statistics(ring, few)["modes_covered"] == 1


def test_evaluate_reports_modes_and_draws_the_samples_over_the_density(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["train", "gan", "--data", "ring8", "--epochs", "1", "--g-hidden", "16", "--d-hidden", "16",
                 "--no-progress", "--out", str(out)]) == 0
    assert (out / "modes.png").exists()  # written with the run's plots
    (out / "modes.png").unlink()
    capsys.readouterr()
    assert main(["evaluate", "--json", str(out), "--data", "ring8"]) == 0
    result = json.loads(capsys.readouterr().out)
    m = result["modes"]
    assert "fd_classifier" not in result  # the known modes are counted directly, no feature classifier
    assert m["modes_total"] == 8 and 0 <= m["modes_covered"] <= 8 and 0 <= m["high_quality"] <= 1
    assert m["n_samples"] == 2500 and (out / "modes.png").exists()


def test_a_model_that_cannot_generate_is_told_why_it_is_not_scored_for_modes():
    run = lf.train("ae", "ring8", epochs=1, hidden=(8,), latent_dim=1, loss="mse", output="identity", progress=False)
    m = run.evaluate("ring8")
    assert "modes" not in m and "cannot generate" in m["skipped"]["modes"]
