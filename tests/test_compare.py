"""``latentforge compare`` and the training time limit it relies on."""

import json

import numpy as np
import pytest

import latentforge as lf
from latentforge.cli.main import main
from latentforge.compare import MEASURE_SHARE, compare
from latentforge.errors import ConfigError

from browser import images_decoded


def _blobs(n=240, d=12, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = rng.normal(0, 3, (3, d))
    return (centres[y] + rng.normal(0, 1, (n, d))).astype(np.float32), y


def test_time_limit_stops_after_the_epoch_and_leaves_a_complete_run(tmp_path):
    x, _ = _blobs(2000, 32)
    run = lf.train("ae", x, out=tmp_path / "r", epochs=10_000, time_limit=0.5, progress=False, hidden=(64,))
    epochs = len(run.history)
    assert 1 <= epochs < 10_000
    again = lf.TrainedModel.load(tmp_path / "r")
    assert np.allclose(again.encode(x[:5]), run.encode(x[:5]))
    with pytest.raises(ConfigError, match="time_limit"):
        lf.train("ae", x, epochs=1, time_limit=-1, progress=False)


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_compare_measures_every_family_on_the_same_held_out_rows(tmp_path):
    x, y = _blobs()
    table = compare(x, tmp_path / "cmp", budget_minutes=0.05, progress=False, labels=y)
    models = table["models"]
    assert list(models) == ["pca", "ae", "vae", "gan"]
    for name in ("pca", "ae", "vae"):
        assert np.isfinite(models[name]["recon_mse"]) and models[name]["recon_mse"] >= 0
        assert models[name]["probe"].startswith("accuracy")
    assert np.isfinite(models["vae"]["elbo"]) and np.isfinite(models["vae"]["nll_iwae"])
    assert "recon_mse" not in models["gan"] and models["gan"]["sample_ms"] > 0
    # every model was given a time limit, and the limits add up to at most the training share of the 3 s budget
    # (a wall-clock bound on the training itself belongs in benchmarks/: it fails on a loaded machine)
    limits = [json.loads((tmp_path / "cmp" / m / "config.json").read_text())["train_config"]["time_limit"]
              for m in ("ae", "vae", "gan")]
    assert all(lim > 0 for lim in limits) and sum(limits) <= 3 * (1 - MEASURE_SHARE) + 2  # floor of 1 s each
    on_disk = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert on_disk["models"].keys() == models.keys()
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert md.count("\n| ") == 5 and "recon_mse" in md
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "<table>" in page and "http://" not in page and "https://" not in page
    n_img = page.count("<img ")  # vectors: the table alone (image data adds each model's pictures)
    decoded = images_decoded(tmp_path / "cmp" / "compare.html", tmp_path)
    if decoded is not None:  # the page renders and every image decodes in a headless browser
        assert decoded == (n_img, n_img)
    for name in ("ae", "vae", "gan"):
        assert (tmp_path / "cmp" / name / "model.safetensors").exists()


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_compare_cli_prints_the_table_and_refuses_a_bad_budget(tmp_path, capsys):
    x, y = _blobs(120, 6)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert main(["compare", "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "c"), "--budget-minutes", "0.03",
                 "--labels-key", "y", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| pca |" in out and "| vae |" in out and "compare.html" in out
    assert main(["compare", "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "c2"), "--budget-minutes", "0"]) != 0
    err = capsys.readouterr().err
    assert "--budget-minutes must be > 0" in err and "Traceback" not in err
    assert not (tmp_path / "c2").exists()
