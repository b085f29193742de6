"""Latent tools, decoder inversion / inpainting, baselines and the HTML report, each checked for meaning."""

import json
import re

import numpy as np
import pytest

import latentforge as lf
from latentforge.analysis import latent as lt
from latentforge.analysis.baselines import baseline_table
from latentforge.analysis.quality import feature_classifier
from latentforge.analysis.inversion import inpaint, invert, mask_pattern
from latentforge.analysis.report import write_report
from latentforge.cli.main import main

from browser import images_decoded


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    ds = lf.load_dataset("digits")
    run = lf.train("vae", ds, out=tmp_path_factory.mktemp("v") / "run", latent_dim=6, hidden=(128,), epochs=40,
                   batch_size=64, seed=0, progress=False)
    return run, ds


@pytest.fixture(scope="module")
def digit_classifier():
    from sklearn.linear_model import LogisticRegression

    ds = lf.load_dataset("digits")
    return LogisticRegression(max_iter=3000).fit(ds.x.reshape(len(ds), -1), ds.y)


def test_interpolation_endpoints_decode_to_the_reconstructions(vae):
    run, ds = vae
    a, b = ds.subset(np.array([0])), ds.subset(np.array([5]))
    for method in ("linear", "slerp"):
        res = lt.interpolate(run, a, b, steps=7, method=method)
        assert res["x"].shape == (7, 1, 8, 8)
        np.testing.assert_allclose(res["x"][0], run.reconstruct(a)[0], atol=1e-4)
        np.testing.assert_allclose(res["x"][-1], run.reconstruct(b)[0], atol=1e-4)
    lin = lt.interpolate(run, a, b, steps=7)["z"]
    sph = lt.interpolate(run, a, b, steps=7, method="slerp")["z"]
    assert np.allclose(np.diff(lin, axis=0), np.diff(lin, axis=0)[0], atol=1e-5)  # equal linear steps
    norms = np.linalg.norm(sph, axis=1)
    assert norms.min() >= min(norms[0], norms[-1]) - 1e-4  # slerp does not cut through the origin


def test_slerp_keeps_the_norm_of_equal_length_vectors():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    out = lt.slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 3.0)
    np.testing.assert_allclose(out[2], [3 / np.sqrt(2), 3 / np.sqrt(2)])


def test_probe_recovers_a_planted_linear_parameter(vae):
    run, ds = vae
    z = run.encode(ds)
    w = np.random.default_rng(1).normal(size=z.shape[1])
    planted = z @ w + 0.05 * np.random.default_rng(2).normal(size=len(z))
    p = lt.fit_probe(z, planted)
    assert p.r2 > 0.9
    assert abs(np.dot(p.direction, w / np.linalg.norm(w))) > 0.99
    walk = lt.probe_walk(run, ds, planted, steps=5)
    assert np.all(np.diff(walk["predicted"]) > 0)  # moving this way increases the parameter
    assert walk["x"].shape == (5, 1, 8, 8)


def test_arithmetic_moves_the_decoded_class(vae, digit_classifier):
    run, ds = vae
    src, dst = 0, 6
    xs = ds.subset(np.flatnonzero(ds.y == src)[:30])
    moved = [lt.arithmetic(run, xs.subset(np.array([i])), ds.subset(np.flatnonzero(ds.y == src)),
                           ds.subset(np.flatnonzero(ds.y == dst)))["x"][0] for i in range(len(xs))]
    before = digit_classifier.predict(run.reconstruct(xs).reshape(len(xs), -1))
    after = digit_classifier.predict(np.stack(moved).reshape(len(xs), -1))
    assert (before == src).mean() > 0.7 and (after == dst).mean() > 0.7, ((before == src).mean(), (after == dst).mean())


def test_traversal_varies_one_dimension_per_row(vae):
    run, _ = vae
    tr = lt.traversal(run, n=5, dims=3)
    z = tr["z"].reshape(3, 5, -1)
    for k in range(3):
        moving = np.flatnonzero(np.ptp(z[k], axis=0) > 0)
        assert moving.tolist() == [k]
    assert tr["x"].shape == (15, 1, 8, 8)


def test_2d_traversal_is_a_grid_over_the_prior_centre(digits):
    run = lf.train("vae", digits, latent_dim=2, hidden=(32,), epochs=1, progress=False)
    tr = lt.traversal(run, n=4)
    assert tr["z"].shape == (16, 2) and tr["kind"] == "grid"
    assert np.abs(tr["z"]).max() == pytest.approx(1.6449, abs=1e-3)  # the 5 % / 95 % quantiles of N(0, 1)


def test_projection_names_its_method(vae):
    run, ds = vae
    z2, name = lt.project_2d(run.encode(ds))
    assert z2.shape == (len(ds), 2) and name.startswith("PCA")
    z2, name = lt.project_2d(run.encode(ds.subset(np.arange(200))), "tsne")
    assert name == "t-SNE" and z2.shape == (200, 2)


def test_inversion_lowers_the_error_from_the_encoder_start(vae):
    run, ds = vae
    res = invert(run, ds.subset(np.arange(20)), steps=150)
    assert res["z"].shape == (20, 6)
    assert np.all(res["error"] <= res["error_start"] + 1e-6) and res["error"].mean() < res["error_start"].mean()


def test_inpainting_beats_mean_fill_on_held_out_mnist(tmp_path):
    mnist = lf.load_dataset("mnist")
    run = lf.train("vae", mnist, latent_dim=16, hidden=(256,), epochs=15, seed=0, progress=False)
    test, train = run.select(mnist, "test").subset(np.arange(100)), run.select(mnist, "train")
    mask = mask_pattern("bottom", (1, 28, 28))
    res = inpaint(run, test, mask, steps=200)
    m = np.broadcast_to(mask, test.x.shape)
    mse_fill = np.mean((res["filled"] - test.x)[m] ** 2)
    mse_mean = np.mean((train.x.mean(0, keepdims=True) - test.x)[m.reshape(test.x.shape)] ** 2)
    assert mse_fill < 0.85 * mse_mean, (mse_fill, mse_mean)
    np.testing.assert_array_equal(res["filled"][~m], test.x[~m])  # observed pixels are kept as they are


def test_gan_tools_work_in_noise_space(digits):
    run = lf.train("gan", digits, g_hidden=(32,), d_hidden=(32,), epochs=1, progress=False)
    g = np.random.default_rng(0)
    a, b = g.normal(size=run.model.latent_dim), g.normal(size=run.model.latent_dim)
    res = lt.interpolate(run, a, b, steps=4)
    np.testing.assert_allclose(res["x"][0], run.decode(a[None].astype(np.float32))[0], atol=1e-5)
    ar = lt.arithmetic(run, g.normal(size=(5, run.model.latent_dim)), g.normal(size=(5, run.model.latent_dim)),
                       g.normal(size=(5, run.model.latent_dim)))
    assert ar["x"].shape == (1, 1, 8, 8)
    inv = invert(run, digits.subset(np.arange(4)), steps=50)
    assert inv["error"].mean() <= inv["error_start"].mean()


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_baselines_table_puts_the_model_beside_classical_ones(vae):
    run, ds = vae
    train, test = run.select(ds, "train"), run.select(ds, "test")
    rows = baseline_table(run, train, test, classifier=feature_classifier(run, ds))
    assert {"vae", "pca (k=6)", "gaussian", "gaussian_mixture", "kde"} <= set(rows)
    for name in ("vae", "gaussian", "gaussian_mixture", "kde"):
        assert all(np.isfinite(rows[name][k]) for k in ("fd_classifier", "precision", "recall")), name
    x = run.scaler.transform(test.x).reshape(len(test), -1)
    assert rows["pca (k=6)"]["recon_mse"] < np.mean((x - x.mean(0)) ** 2)


def test_cli_explore_and_inpaint(vae, tmp_path, capsys):
    run, _ = vae
    out = tmp_path / "explore"
    assert main(["explore", "--json", str(run.run_dir), "--data", "digits", "--out", str(out), "--arithmetic", "1,2,3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for f in ("scatter.png", "traversal.png", "interpolation.png", "arithmetic.png",
              "interpolation.npz", "summary.json"):
        assert (out / f).stat().st_size > 0, f
    # digit labels are classes: a classification probe, never a regression line through class numbers
    probe = summary["probe"]
    assert summary["arithmetic"] == [1, 2, 3] and probe["kind"] == "classes" and "r2_heldout" not in probe
    assert probe["accuracy_heldout"] > probe["chance"] + 0.2
    # a continuous parameter gets the regression probe and its walk
    x = lf.load_dataset("digits").x
    np.savez(tmp_path / "d.npz", x=x, brightness=x.reshape(len(x), -1).mean(1))
    assert main(["explore", "--json", str(run.run_dir), "--data", str(tmp_path / "d.npz"), "--param", "brightness", "--out",
                 str(tmp_path / "ex2")]) == 0
    probe = json.loads(capsys.readouterr().out)["probe"]
    assert probe["parameter"] == "brightness" and -1 <= probe["r2_heldout"] <= 1 and "accuracy_heldout" not in probe
    assert (tmp_path / "ex2" / "probe.png").stat().st_size > 0
    z = np.load(out / "interpolation.npz")
    assert z["linear"].shape == (10, 6) and z["slerp"].shape == (10, 6)
    assert main(["inpaint", "--json", str(run.run_dir), "--data", "digits", "--mask", "right", "--steps", "50",
                 "--out", str(tmp_path / "f.npz")]) == 0
    s = json.loads(capsys.readouterr().out)
    f = np.load(tmp_path / "f.npz")
    assert f["filled"].shape == f["mask"].shape == (180, 1, 8, 8) and 0.4 < s["missing_fraction"] < 0.6
    assert s["mse_filled_region"] < s["mse_mean_fill"]
    np.save(tmp_path / "m.npy", np.zeros((8, 9), bool))
    code = main(["inpaint", "--json", str(run.run_dir), "--data", "digits", "--mask", str(tmp_path / "m.npy"),
                 "--out", str(tmp_path / "g.npz")])
    assert code == 2 and "fits neither" in capsys.readouterr().err


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_report_is_one_self_contained_page_whose_images_all_load(vae, tmp_path):
    run, ds = vae
    path = write_report(run, ds, tmp_path / "report.html", k=20)
    page = path.read_text()
    n_img = len(re.findall(r"<img ", page))
    assert n_img >= 6
    assert "http://" not in page and "https://" not in page and "src=\"data:image/png;base64," in page
    for section in ("Metrics", "Training", "Reconstructions", "Samples", "Latent space", "Traversal",
                    "Interpolation", "Classical baselines", "Configuration"):
        assert f"<h2>{section}</h2>" in page, section
    assert "images loaded" not in page  # no test harness on the reader's page
    decoded = images_decoded(path, tmp_path)
    if decoded is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); the page was checked as text")
    assert decoded == (n_img, n_img)
