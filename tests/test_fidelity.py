"""The classifier two-sample test with its floor and the separation power, checked against independent
numpy computations and on data whose answer is known."""

import json

import numpy as np
import pytest

import latentforge as lf
from latentforge.analysis.fidelity import separation_power, two_sample_test


def test_separation_power_against_an_independent_identity():
    """S = 1/2 sum (p - q)^2 / (p + q) equals 1 - 2 sum p q / (p + q) (expand (p - q)^2 = (p + q)^2 - 4 p q)."""
    rng = np.random.default_rng(0)
    h1, h2 = rng.integers(0, 50, 30).astype(float), rng.integers(0, 50, 30).astype(float)
    h1[3] = h2[3] = 0.0  # a bin empty in both
    p, q = h1 / h1.sum(), h2 / h2.sum()
    both = (p + q) > 0
    assert separation_power(h1, h2) == pytest.approx(1 - 2 * np.sum(p[both] * q[both] / (p[both] + q[both])))
    assert separation_power([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0)
    assert separation_power([1, 0, 0], [0, 0, 5]) == pytest.approx(1.0)


def test_real_vs_real_is_near_half_and_a_shifted_column_is_found():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(4000, 5))
    same = two_sample_test(real, rng.normal(size=(2000, 5)), seed=0)
    assert abs(same["auc"] - 0.5) < 0.02 and abs(same["auc_floor"] - 0.5) < 0.02
    assert same["n_per_side"] == 2000 and 0 < same["auc_error"] < 0.02
    shifted = rng.normal(size=(2000, 5))
    shifted[:, 2] += 1.5
    r = two_sample_test(real, shifted, seed=0)
    assert r["auc"] > 0.8 and abs(r["auc_floor"] - 0.5) < 0.02
    top = r["top_features"][0]
    assert top["feature"] == "value 2" and top["S"] > 10 * top["S_floor"]


def test_two_sample_reduces_images_to_principal_components():
    rng = np.random.default_rng(2)
    real = rng.random((600, 1, 16, 16))
    r = two_sample_test(real, rng.random((300, 1, 16, 16)), seed=0)
    assert "principal components" in r["features"] and abs(r["auc_floor"] - 0.5) < 0.1


def test_evaluate_reports_the_two_sample_test_for_generating_models(tmp_path, capsys):
    from latentforge.cli.main import main

    x = np.random.default_rng(3).normal(300.0, 50.0, (600, 4)).astype(np.float32)
    np.save(tmp_path / "toy.npy", x)
    lf.train("gan", tmp_path / "toy.npy", out=tmp_path / "gan", epochs=2, progress=False)
    assert main(["evaluate", str(tmp_path / "gan"), "--data", str(tmp_path / "toy.npy"), "--json"]) == 0
    two = json.loads(capsys.readouterr().out)["two_sample"]
    assert {"auc", "auc_error", "auc_floor", "auc_floor_error", "top_features"} <= set(two)
    assert two["n_per_side"] == 300  # the GAN is compared with every real row, half of them against samples
    assert main(["evaluate", str(tmp_path / "gan"), "--data", str(tmp_path / "toy.npy")]) == 0
    assert "classifier two-sample test, generated vs real rows: AUC" in capsys.readouterr().out
