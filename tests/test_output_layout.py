"""Outputs come back in the caller's layout: (N, D), (N, H, W), (N, C, H, W) and channels-last (N, H, W, C) input
give reconstructions, samples, predictions, denoised, inpainted, translated and corrupted examples of the same
layout, so ``out - x`` compares each point with itself (numpy would broadcast (N, 1, H, W) against (N, H, W)
silently). The expected arrays are the model-layout answers moved with numpy by hand."""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from latentforge.analysis.inversion import inpaint
from latentforge.cli.main import main

#: caller's layout -> (shape of 40 examples, the axes that take them to (N, C, H, W) / (N, D))
LAYOUTS = {
    "NHW": ((40, 6, 6), lambda a: a[:, None]),
    "NHWC": ((40, 6, 6, 2), lambda a: np.moveaxis(a, -1, 1)),
    "NCHW": ((40, 2, 6, 6), lambda a: a),
    "ND": ((40, 12), lambda a: a),
}


def _data(layout: str, seed: int = 0) -> np.ndarray:
    shape, _ = LAYOUTS[layout]
    return np.random.default_rng(seed).random(shape).astype(np.float32)


@pytest.fixture(scope="module", params=list(LAYOUTS))
def vae_run(request, tmp_path_factory):
    layout = request.param
    d = tmp_path_factory.mktemp(layout)
    x = _data(layout)
    sigma = np.full_like(x, 0.05)
    np.savez(d / "data.npz", x=x, sigma=sigma)  # per-point sigma for denoise, stored in the same layout
    run = lf.train("vae", str(d / "data.npz"), out=d / "run", latent_dim=2, epochs=1, likelihood="gaussian-hetero",
                   progress=False)
    return layout, run, x, d


def test_every_vae_output_has_the_layout_of_its_input(vae_run):
    layout, run, x, d = vae_run
    to_model = LAYOUTS[layout][1]
    assert run.input_axes == layout and run.info()["data"]["axes"] == layout
    recon = run.reconstruct(x)
    assert recon.shape == x.shape and recon.dtype == np.float32
    # the same numbers as the model-layout answer (an ArrayDataset in, its (N, C, H, W) / (N, D) x out)
    ds = lf.data.as_dataset(x)
    model_recon = run.reconstruct(lf.data.ArrayDataset(ds.x))
    np.testing.assert_array_equal(to_model(recon), model_recon)
    assert run.reconstruct(str(d / "data.npz")).shape == x.shape  # a file: its own layout
    assert run.sample(5).shape == (5, *x.shape[1:])
    assert run.sample(5, layout="model").shape == (5, *model_recon.shape[1:])
    np.testing.assert_array_equal(to_model(run.sample(5, seed=3)), run.sample(5, seed=3, layout="model"))
    assert run.decode(np.zeros((4, 2), np.float32)).shape == (4, *x.shape[1:])
    assert all(a.shape == x.shape for a in run.predict(x, samples=3))
    assert all(a.shape == x.shape for a in run.denoise(str(d / "data.npz"), samples=3))
    mask = np.zeros(x.shape[1:], bool)  # one example's mask in the caller's layout: its first row of points
    mask.reshape(-1)[: mask.size // 4] = True
    res = inpaint(run, x, mask, steps=3)
    assert res["filled"].shape == res["mask"].shape == res["reconstruction"].shape == x.shape
    m = np.broadcast_to(mask, x.shape)
    np.testing.assert_array_equal(res["filled"][~m], x[~m])  # observed points kept, in the caller's layout
    assert run.encode(x).shape == (len(x), 2)


def test_cli_output_files_have_the_layout_of_the_data_file(vae_run, tmp_path):
    layout, run, x, d = vae_run
    assert main(["reconstruct", str(run.run_dir), "--data", str(d / "data.npz"), "--split", "all",
                 "--out", str(tmp_path / "r.npz")]) == 0
    r = np.load(tmp_path / "r.npz")
    assert r["reconstruction"].shape == r["input"].shape == x.shape
    np.testing.assert_array_equal(r["input"], x)
    assert main(["sample", str(run.run_dir), "-n", "7", "--out", str(tmp_path / "s.npz")]) == 0
    s = np.load(tmp_path / "s.npz")["samples"]
    assert s.shape == (7, *x.shape[1:])
    np.testing.assert_allclose(s, run.sample(7, seed=0), rtol=1e-6)
    assert main(["inpaint", str(run.run_dir), "--data", str(d / "data.npz"), "--split", "all", "--steps", "2",
                 "--mask", "random:0.3", "--out", str(tmp_path / "i.npz")]) == 0
    f = np.load(tmp_path / "i.npz")
    assert f["filled"].shape == f["mask"].shape == f["input"].shape == x.shape
    np.testing.assert_array_equal(f["filled"][~f["mask"]], x[~f["mask"]])


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_denoising_autoencoder_and_translation_keep_the_layout(layout):
    x = _data(layout)
    run = lf.train("denoising-ae", x, latent_dim=2, epochs=1, progress=False)
    noisy = run.add_noise(x, seed=0)
    assert noisy.shape == run.reconstruct(noisy).shape == x.shape
    cg = lf.train("cyclegan", x, data_b=_data(layout, seed=1), epochs=1, batch_size=20, progress=False)
    assert cg.translate(x).shape == cg.translate(x, "b_to_a").shape == x.shape


def test_estimators_give_tables_back():
    x = _data("ND").astype(np.float64)
    est = lf.VAEEstimator(latent_dim=2, epochs=1).fit(x)
    z = est.transform(x)
    assert z.shape == (40, 2) and z.dtype == np.float64
    back = est.inverse_transform(z)
    assert back.shape == x.shape and back.dtype == np.float64
    assert est.sample(3).shape == (3, 12)
