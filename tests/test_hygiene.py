"""Evaluation hygiene: held-out rows that copy training rows are counted, sample-based metrics carry their N and
their uncertainty (and refuse too few rows), conditions outside the training range are flagged."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import latentforge as lf
from latentforge.cli.main import main


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _with_copies(rng, n=200, d=6, copies=60):
    """n rows of which ``copies`` (at random places) repeat other rows."""
    x = rng.normal(size=(n, d)).astype(np.float32)
    where = rng.choice(n, copies, replace=False)
    rest = np.setdiff1d(np.arange(n), where)
    x[where] = x[rng.choice(rest, copies)]
    return x


def test_evaluate_counts_held_out_rows_that_copy_training_rows(rng, tmp_path, capsys, monkeypatch):
    x = _with_copies(rng)
    np.save(tmp_path / "d.npy", x)
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "train", "ae", "--data", "d.npy", "--epochs", "1", "--no-progress", "--out", "r")[0] == 0
    # the count, independently: the test rows whose bytes equal those of a train or validation row
    split = lf.data.split_for(len(x), lf.load("r").train_config)
    saw = {row.tobytes() for row in x[np.concatenate([split["train"], split["val"]])]}
    expected = sum(row.tobytes() in saw for row in x[split["test"]])
    assert expected > 0
    sentence = f"{expected} of {len(split['test'])} evaluated rows duplicate training rows"
    with pytest.warns(UserWarning, match=sentence):  # the CLI prints it as a warning line
        code, out, err = run_cli(capsys, "evaluate", "--json", "r", "--data", "d.npy")
    m = json.loads(out)
    assert code == 0 and m["split"] == "test" and m["n_duplicates_of_training"] == expected
    assert sentence in m["duplicates_warning"] and "--split unseen" in m["duplicates_warning"]
    with pytest.warns(UserWarning, match=sentence):
        code, out, err = run_cli(capsys, "evaluate", "r", "--data", "d.npy")  # in words
    assert code == 0 and sentence in out
    # the suggested fix: the copies are left out, the other test rows measured
    code, out, err = run_cli(capsys, "evaluate", "--json", "r", "--data", "d.npy", "--split", "unseen")
    u = json.loads(out)
    unseen_test = [i for i in split["test"] if x[i].tobytes() not in saw]
    assert code == 0 and u["split"] == "unseen" and u["n"] == len(unseen_test)
    assert u["n_duplicates_of_training"] == 0 and "duplicates_warning" not in u
    run = lf.load("r")
    direct = run.evaluate(x[unseen_test], split="all")["recon_mse"]
    assert u["recon_mse"] == pytest.approx(direct, rel=1e-5)
    # the Python API says it too
    with pytest.warns(UserWarning, match=sentence):
        api = run.evaluate(x)
    assert api["n_duplicates_of_training"] == expected
    assert "split='unseen' leaves them out" in api["duplicates_warning"] and "--" not in api["duplicates_warning"]


def test_no_copies_no_warning(rng, recwarn):
    x = rng.normal(size=(120, 5)).astype(np.float32)
    run = lf.train("ae", x, epochs=1, progress=False)
    m = run.evaluate(x)
    assert m["n_duplicates_of_training"] == 0 and "duplicates_warning" not in m
    assert not [w for w in recwarn if "duplicate" in str(w.message)]
    assert "n_duplicates_of_training" not in run.evaluate(x, "train")  # training rows themselves: no question


# ---------------------------------------------------------------- sample-based metrics: N, uncertainty, minimum
def _gan_files(tmp_path, rng):
    x, y = rng.random((300, 8, 8)).astype(np.float32), rng.integers(0, 3, 300)
    np.savez(tmp_path / "train.npz", x=x, y=y)
    new_x, new_y = rng.random((40, 8, 8)).astype(np.float32), rng.integers(0, 3, 40)
    np.savez(tmp_path / "three.npz", x=new_x[:3], y=new_y[:3])
    np.savez(tmp_path / "twenty.npz", x=new_x[:20], y=new_y[:20])


def test_gan_evaluate_on_a_handful_of_rows_is_refused_in_one_line_and_the_fix_works(rng, tmp_path, capsys,
                                                                                     monkeypatch):
    from latentforge.analysis.quality import MIN_ROWS

    _gan_files(tmp_path, rng)
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "train", "gan", "--data", "train.npz", "--epochs", "1", "--g-hidden", "16",
                   "--d-hidden", "16", "--no-progress", "--out", "g")[0] == 0
    code, out, err = run_cli(capsys, "evaluate", "--json", "g", "--data", "three.npz")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"at least {MIN_ROWS} examples in each set, got 3 real" in err and "give data with at least" in err
    code, out, err = run_cli(capsys, "evaluate", "--json", "g", "--data", "twenty.npz")  # the advice, followed
    m = json.loads(out)
    assert code == 0 and m["n_real"] == 20 and m["n_generated"] == 20
    for key in ("fd_classifier", "precision", "recall", "mode_coverage", "min_class_share", "mean_confidence"):
        assert np.isfinite(m[key]) and np.isfinite(m[f"{key}_err"]) and m[f"{key}_err"] >= 0, key
    assert m["fd_classifier_err"] > 0 and "20 real and 20 generated" in m["sample_size_note"]
    assert "biased upward" in m["sample_size_note"]
    code, out, err = run_cli(capsys, "evaluate", "g", "--data", "twenty.npz")  # in words: value ± error
    line = next(w for w in out.splitlines() if "Fréchet distance" in w)
    assert f"{m['fd_classifier']:.4g} ± {m['fd_classifier_err']:.4g}" in line


def _frechet_scipy(a, b):
    from scipy import linalg

    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa + sb - 2 * np.real(linalg.sqrtm(sa @ sb)))


def test_frechet_distance_error_matches_an_independent_bootstrap_and_shrinks_like_one_over_root_n():
    from latentforge.analysis.quality import frechet_bootstrap, frechet_distance

    rng = np.random.default_rng(1)

    def sets(n):
        return rng.normal(size=(n, 4)), rng.normal(size=(n, 4)) * 1.3 + 0.5

    a, b = sets(300)
    assert frechet_distance(a, b) == pytest.approx(_frechet_scipy(a, b), rel=1e-9)
    ours = frechet_bootstrap(a, b, n_boot=300, seed=3)
    r2 = np.random.default_rng(11)
    ref = [_frechet_scipy(a[r2.integers(0, 300, 300)], b[r2.integers(0, 300, 300)]) for _ in range(300)]
    assert ours["err"] == pytest.approx(np.std(ref, ddof=1), rel=0.2)
    assert ours["bias"] == pytest.approx(np.mean(ref) - _frechet_scipy(a, b), abs=3 * ours["err"] / np.sqrt(300)
                                         + 0.3 * abs(ours["bias"]))
    small, large = frechet_bootstrap(*sets(200), n_boot=200)["err"], frechet_bootstrap(*sets(3200), n_boot=200)["err"]
    assert 2.8 < small / large < 5.6  # sqrt(16) = 4


def _precision_recall_numpy(real, fake, k=3):
    """Kynkäänniemi et al. 2019 with plain numpy; a row's k-th neighbour skips rows with the same ``id``."""
    def radii(x, ids):
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
        d[ids[:, None] == ids[None, :]] = np.inf
        return np.partition(d, k - 1, axis=1)[:, k - 1]

    (r, ir), (f, jf) = real, fake
    d = np.sqrt(((f[:, None] - r[None]) ** 2).sum(-1))
    return (d <= radii(r, ir)[None]).any(1).mean(), (d.T <= radii(f, jf)[None]).any(1).mean()


def test_precision_recall_errors_match_an_independent_bootstrap_and_shrink():
    from latentforge.analysis.quality import precision_recall, precision_recall_bootstrap

    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(150, 2)), rng.normal(size=(150, 2)) * 0.8 + 0.4
    ours = precision_recall_bootstrap(real, fake, n_boot=300, seed=5)
    ident = np.arange(150)
    p, r = _precision_recall_numpy((real, ident), (fake, ident))
    assert (ours["precision"], ours["recall"]) == pytest.approx((p, r)) == precision_recall(real, fake)
    r2 = np.random.default_rng(7)
    draws = []
    for _ in range(300):
        i, j = r2.integers(0, 150, 150), r2.integers(0, 150, 150)
        draws.append(_precision_recall_numpy((real[i], i), (fake[j], j)))
    sd = np.std(draws, axis=0, ddof=1)
    assert ours["precision_err"] == pytest.approx(sd[0], rel=0.25)
    assert ours["recall_err"] == pytest.approx(sd[1], rel=0.25)
    small = precision_recall_bootstrap(rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 0.4, n_boot=200)
    large = precision_recall_bootstrap(rng.normal(size=(1600, 2)), rng.normal(size=(1600, 2)) + 0.4, n_boot=200)
    assert 2.5 < small["precision_err"] / large["precision_err"] < 6.5  # sqrt(16) = 4


def test_auc_error_matches_hanley_and_mcneil():
    from latentforge.analysis.metrics import auc_with_error

    rng = np.random.default_rng(3)
    n1 = n2 = 400
    y = np.r_[np.zeros(n1), np.ones(n2)]
    score = np.r_[rng.normal(size=n1), rng.normal(size=n2) + 1.0]
    auc, err = auc_with_error(y, score, n_boot=400)
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)  # Hanley & McNeil (1982)
    se = np.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc ** 2) + (n2 - 1) * (q2 - auc ** 2)) / (n1 * n2))
    assert err == pytest.approx(se, rel=0.2)


def test_reconstruction_error_carries_its_standard_error(rng):
    x = rng.normal(size=(400, 6)).astype(np.float32)
    run = lf.train("ae", x, epochs=1, progress=False)
    m = run.evaluate(x, "all")
    per_example = ((run.reconstruct(x).astype(np.float64) - x) ** 2).mean(1)
    assert m["recon_mse_raw"] == pytest.approx(per_example.mean(), rel=1e-4)
    assert m["recon_mse_raw_err"] == pytest.approx(per_example.std(ddof=1) / np.sqrt(len(x)), rel=0.25)


# ---------------------------------------------------------------- conditions beyond the training range
def _vector_condition_file(tmp_path, rng, n=200):
    cond = np.c_[rng.uniform(1, 50, n), rng.uniform(-1, 1, n)]  # an energy and an angle
    x = (cond[:, :1] * rng.random((n, 6)) / 50).astype(np.float32)
    np.savez(tmp_path / "vc.npz", x=x, cond=cond)
    return x, cond


@pytest.mark.parametrize("name,options", [("cvae", {"hidden": (8,), "latent_dim": 2}),
                                          ("cgan", {"g_hidden": (8,), "d_hidden": (8,), "latent_dim": 2})])
@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_conditions_beyond_the_training_range_are_flagged(name, options, rng, tmp_path, capsys, monkeypatch):
    from latentforge.data.conditions import ConditionOutsideTraining

    x, cond = _vector_condition_file(tmp_path, rng)
    monkeypatch.chdir(tmp_path)
    lf.train(name, "vc.npz", condition="vector", cond_key="cond", epochs=1, progress=False, out="r", **options)
    run = lf.load("r")  # what the run saved
    train_rows = lf.data.split_for(len(x), run.train_config)["train"]
    low, high = cond[train_rows].min(0), cond[train_rows].max(0)
    state = json.loads((tmp_path / "r" / "transform.json").read_text())["condition"]
    np.testing.assert_allclose(state["low"], low)
    np.testing.assert_allclose(state["high"], high)
    far = [1e4 * high[0], 0.0]  # 10^4 times the largest training energy
    with pytest.warns(ConditionOutsideTraining) as caught:
        run.sample(10000, far, seed=0)  # two chunks: one warning
    assert len(caught) == 1
    text = str(caught[0].message)
    saved_low, saved_high = state["low"][0], state["high"][0]  # equal to low, high above (as read: float32)
    assert f"component 0 = {far[0]:.6g}" in text and f"[{saved_low:.6g}, {saved_high:.6g}]" in text
    assert "component 1" not in text
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConditionOutsideTraining)  # inside the range: nothing said
        run.sample(4, [(low[0] + high[0]) / 2, 0.0])
    # the CLI says it in one warning line
    with pytest.warns(ConditionOutsideTraining, match=f"component 0 = {far[0]:.6g}"):
        assert run_cli(capsys, "sample", "r", "-n", "4", "--condition", f"{far[0]},0", "--out", "s.npz")[0] == 0
    # evaluate names it, once, on data whose conditions lie beyond the range
    shifted = cond.copy()
    shifted[:5, 1] = 3.0  # angles of 3 where training saw [-1, 1]
    np.savez(tmp_path / "beyond.npz", x=x, cond=shifted)
    with pytest.warns(ConditionOutsideTraining) as caught:
        m = run.evaluate(lf.as_dataset("beyond.npz", cond_key="cond"), split="all")
    assert len([w for w in caught if w.category is ConditionOutsideTraining]) == 1
    assert "component 1 = 3 " in m["condition_warning"] and "5 of 200 conditions" in m["condition_warning"]
    assert "condition_warning" not in run.evaluate(lf.as_dataset("vc.npz", cond_key="cond"), split="train")


def test_a_label_only_held_out_rows_had_is_flagged(rng):
    from latentforge.data.conditions import ConditionOutsideTraining

    n = 120
    x, y = rng.random((n, 6)).astype(np.float32), rng.integers(0, 3, n)
    test_rows = lf.data.split_for(n, lf.TrainConfig())["test"]
    y[test_rows[:3]] = 7  # a class that only test rows have
    run = lf.train("cvae", x, labels=y, epochs=1, progress=False, hidden=(8,), latent_dim=2)
    assert run.conditioner.trained == sorted(set(y.tolist()) - {7})  # independent: the labels less the held-out one
    with pytest.warns(ConditionOutsideTraining, match=r"label\(s\) \[7\] were in none of the training rows"):
        run.sample(3, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConditionOutsideTraining)
        run.sample(3, 1)
