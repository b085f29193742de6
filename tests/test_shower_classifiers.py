"""The classifier tests of the shower validation: the shared k-fold loop, the CaloChallenge's DNN on low- and
high-level features, and all three classifiers beside their floors in `evaluate`."""

import json
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from latentforge.domains.showers.calo_dnn import dnn_auc, high_level_features
from latentforge.analysis.metrics import kfold_auc
from latentforge.cli.main import main
from latentforge.domains.showers.geometry import GridLayer, PolarLayer, ShowerGeometry
from latentforge.domains.showers.simulator import ShowerSimulator
from latentforge.domains.showers.files import write_showers
from latentforge.errors import DataError


def fold_aucs_by_sklearn(r: dict) -> list[float]:
    """Each fold's AUC recomputed by scikit-learn from the returned out-of-fold scores."""
    return [roc_auc_score(r["labels"][r["fold"] == k], r["scores"][r["fold"] == k]) for k in range(r["folds"])]


def test_kfold_loop_scores_every_row_once_and_averages_the_fold_aucs():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (200, 3)), rng.normal(0.4, 1, (200, 3))])
    y = np.repeat([0.0, 1.0], 200)
    seen = []

    def logistic(x, y, tr, va, te, k):
        seen.append((set(tr), va, set(te)))
        return LogisticRegression().fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]

    r = kfold_auc(x, y, logistic, folds=4, seed=1)
    assert all(va is None and not tr & te for tr, va, te in seen)  # no test row trains
    assert sorted(i for _, _, te in seen for i in te) == list(range(400))  # each row scored once
    aucs = fold_aucs_by_sklearn({**r, "labels": y})
    assert r["fold_aucs"] == pytest.approx(aucs)
    assert r["auc"] == pytest.approx(np.mean(aucs))
    assert r["auc_std"] == pytest.approx(np.std(aucs, ddof=1))
    assert r["auc_err"] == pytest.approx(np.std(aucs, ddof=1) / 2)  # over sqrt(4 folds)
    with pytest.raises(DataError, match="2 rows of each set per fold"):
        kfold_auc(x[:6], y[:6], logistic, folds=4)


def test_dnn_auc_is_near_half_on_one_distribution_and_near_one_on_separated_ones():
    rng = np.random.default_rng(0)  # 12 voxels at 1 GeV (MeV): two draws of one distribution, and a distinct one
    a, b = rng.gamma(1.0, 100.0, (90, 12)), rng.gamma(1.0, 100.0, (90, 12))
    e = np.full((90, 1), 1000.0)
    same = dnn_auc(a, b, e, e, folds=3, epochs=4)
    assert abs(same["auc"] - 0.5) < 0.12 and same["auc_err"] > 0 and len(same["fold_aucs"]) == 3
    assert same["auc"] == pytest.approx(np.mean(fold_aucs_by_sklearn(same)))
    far = dnn_auc(a, rng.gamma(9.0, 100.0, (90, 12)), e, e, folds=3, epochs=10)
    assert far["auc"] > 0.95 and far["auc"] == pytest.approx(np.mean(fold_aucs_by_sklearn(far)))
    with pytest.raises(DataError, match="geometry"):
        dnn_auc(a, b, e, e, features="high")


def test_high_level_features_match_a_computation_by_hand():
    """Two showers (GeV) in three layers: 4 sectors x 2 rings, one unsectored layer of 2 rings, a 2 x 2 grid."""
    geo = ShowerGeometry("toy", (PolarLayer(0, (0.0, 10.0, 30.0), 4), PolarLayer(1, (0.0, 50.0, 150.0), 1),
                                 GridLayer(2, 2, 2, 40.0, 20.0)))
    s = np.zeros((2, 14))
    s[0, :8] = [1, 0, 0, 2, 0, 0, 0, 0.5]  # layer 0: sector-major (sector, ring)
    s[0, 8:10] = [3, 1]
    s[0, 10:] = [0, 2, 2, 0]
    s[1, :8] = [0, 0, 4, 0, 0, 0, 0, 0]
    s[1, 8:10] = [0, 0.25]  # grid layer empty
    e_inc = np.array([[20.0], [10.0]])
    f = high_level_features(s, e_inc, geo, unit="GeV")
    # cell centres written out: ring middles 5, 20 mm at sector middles -3/4 pi, -1/4 pi, 1/4 pi, 3/4 pi
    alphas = [-0.75 * math.pi, -0.25 * math.pi, 0.25 * math.pi, 0.75 * math.pi]
    pos0 = [(r * math.cos(al), r * math.sin(al), r) for al in alphas for r in (5.0, 20.0)]
    pos1 = [(r, 0.0, r) for r in (25.0, 100.0)]  # one sector: only its radii enter (no centres in x, y)
    pos2 = [(x, y, math.hypot(x, y)) for y in (-5.0, 5.0) for x in (-10.0, 10.0)]
    expected = []
    for row, e in zip(s * 1000.0, e_inc[:, 0] * 1000.0):  # MeV, as the challenge
        layers = [(row[:8], pos0, True), (row[8:10], pos1, False), (row[10:], pos2, True)]
        energies = [cells.sum() for cells, _, _ in layers]

        def moments(cells, coord):
            if cells.sum() == 0:
                return 0.0, 0.0
            c = sum(w * v for w, v in zip(cells, coord)) / cells.sum()
            return c, math.sqrt(max(sum(w * v * v for w, v in zip(cells, coord)) / cells.sum() - c * c, 0.0))

        binned = [(cells, [p[0] for p in pos], [p[1] for p in pos]) for cells, pos, sectored in layers if sectored]
        cx = [moments(c, xs)[0] / 100 for c, xs, _ in binned]
        cy = [moments(c, ys)[0] / 100 for c, _, ys in binned]
        wx = [moments(c, xs)[1] / 100 for c, xs, _ in binned]
        wy = [moments(c, ys)[1] / 100 for c, _, ys in binned]
        rs = [moments(cells, [p[2] for p in pos]) for cells, pos, _ in layers]
        expected.append([math.log10(e)] + [math.log10(v + 1e-8) for v in energies] + cx + cy + wx + wy
                        + [math.log10(sum(energies) + 1e-8)] + [float(np.mean(c <= 0)) for c, _, _ in layers]
                        + [m[0] / 100 for m in rs] + [m[1] / 100 for m in rs])
    assert f.shape == (2, 2 + 4 * 3 + 4 * 2)
    np.testing.assert_allclose(f, np.array(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_evaluate_prints_the_three_classifiers_with_floors(tmp_path, capsys):
    f = tmp_path / "e.h5"
    write_showers(f, ShowerSimulator(seed=2).simulate(240, "e+", energy_range=(1, 50)))
    run_dir = tmp_path / "cvae"
    assert main(["train", "cvae", "--data", str(f), "--condition", "vector", "--cond-key", "conditions",
                 "--likelihood", "hurdle", "--scaling", "fractions", "--latent-dim", "4", "--hidden", "64",
                 "--epochs", "1", "--no-progress", "--out", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--data", str(f), "--cond-key", "conditions", "--split", "all"]) == 0
    text = capsys.readouterr().out
    for name in ("The project's classifier", "The CaloChallenge's low-level DNN classifier",
                 "The CaloChallenge's high-level DNN classifier"):
        line = next(x for x in text.splitlines() if name in x)
        assert "k-fold held-out AUC" in line and "floor, reference against reference" in line and "5 folds" in line
    assert main(["evaluate", "--json", str(run_dir), "--data", str(f), "--cond-key", "conditions", "--split",
                 "all"]) == 0
    c = json.loads(capsys.readouterr().out)["showers"]["classifiers"]
    assert c["n_per_side"] == 120 and "skipped" not in c
    for name in ("project", "calochallenge_low_level", "calochallenge_high_level"):
        assert 0 <= c[name]["auc"] <= 1 and abs(c[name]["floor"] - 0.5) < 0.2 and len(c[name]["fold_aucs"]) == 5
