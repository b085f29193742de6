"""Evaluation hygiene: held-out rows that copy training rows are counted, sample-based metrics carry their N and
their uncertainty (and refuse too few rows), conditions outside the training range are flagged."""

from __future__ import annotations

import json

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


def test_no_copies_no_warning(rng, recwarn):
    x = rng.normal(size=(120, 5)).astype(np.float32)
    run = lf.train("ae", x, epochs=1, progress=False)
    m = run.evaluate(x)
    assert m["n_duplicates_of_training"] == 0 and "duplicates_warning" not in m
    assert not [w for w in recwarn if "duplicate" in str(w.message)]
    assert "n_duplicates_of_training" not in run.evaluate(x, "train")  # training rows themselves: no question
