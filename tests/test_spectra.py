"""Spectra: simulator physics and noise, readers, the masked / per-pixel-sigma likelihood, median scaling,
calibration arithmetic, and a small spectrum-VAE run that must denoise."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.domains.spectra.validation import calibration_curve, interpolate_masked, interval_coverage
from latentforge.data import Scaler, read_file
from latentforge.domains.spectra.simulator import PARAMETERS as SPECTRUM_PARAMETERS
from latentforge.domains.spectra.simulator import SpectrumSimulator, read_spectra, write_spectra
from latentforge.domains.spectra.simulator import EMISSION_LINES
from latentforge.errors import DataError
from latentforge.models.distributions import gaussian_log_likelihood


def _params(n: int, **fixed) -> dict[str, np.ndarray]:
    p = SpectrumSimulator(seed=5).draw_parameters(n)
    for k, v in fixed.items():
        p[k] = np.full(n, v) if np.isscalar(v) else np.asarray(v, float)
    return p


# ---------------------------------------------------------------------------------------------- simulator
@pytest.mark.parametrize("line, neighbours_off", [("Halpha_6563", {"nii_halpha": 0.0}),
                                                  ("OIII_5007", {}), ("Hbeta_4861", {})])
def test_lines_land_at_one_plus_z_times_rest_wavelength(line, neighbours_off):
    sim = SpectrumSimulator(n_pix=2048)
    z = np.array([0.0, 0.05, 0.123, 0.2, 0.29])
    p = _params(len(z), redshift=z, line_strength=0.8, velocity_dispersion=100.0, **neighbours_off)
    with_lines = sim.clean_spectra(p)
    no_lines = sim.clean_spectra({**p, "line_strength": np.zeros(len(z))})
    excess = with_lines - no_lines  # the emission lines alone
    rest = EMISSION_LINES[line]
    for i, zi in enumerate(z):
        expected = np.log10(rest * (1 + zi))
        near = np.abs(sim.loglam - expected) < 0.0015  # +- 8 pixels, clear of the neighbouring lines
        centroid = np.sum(excess[i, near] * sim.loglam[near]) / np.sum(excess[i, near])
        pixel = sim.loglam[1] - sim.loglam[0]
        assert abs(centroid - expected) < 0.1 * pixel, (line, zi, (centroid - expected) / pixel)
        assert excess[i, near].max() > 0.5 * excess[i].max() or line != "Halpha_6563"


def test_per_pixel_sigma_matches_the_scatter_of_noisy_minus_clean():
    d = SpectrumSimulator(n_pix=512, seed=3).simulate(600)
    keep = ~d["mask"]
    pull = ((d["flux"] - d["clean"]) / d["sigma"])[keep]
    assert abs(pull.mean()) < 0.01 and abs(pull.std() - 1) < 0.01
    # sigma varies with wavelength (sky lines, throughput): in each sigma quartile the scatter follows sigma
    rel = (d["sigma"] / np.median(d["sigma"], 1, keepdims=True))[keep]
    resid = (d["flux"] - d["clean"])[keep]
    sig = d["sigma"][keep]
    edges = np.quantile(rel, [0, 0.25, 0.5, 0.75, 0.999])
    assert rel.max() > 2.5 * rel.min()  # the sigma really varies along the spectrum
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (rel >= lo) & (rel < hi)
        assert np.std(resid[sel] / sig[sel]) == pytest.approx(1.0, abs=0.02)
    # each spectrum's median S/N is the one drawn, and masked pixels carry no data
    np.testing.assert_allclose(np.median(d["clean"], 1) / np.median(d["sigma"], 1), d["snr"], rtol=1e-4)
    assert d["mask"].any(1).mean() > 0.5 and (d["flux"][d["mask"]] == 0).all() and (d["ivar"][d["mask"]] == 0).all()
    assert d["mask"].mean(0).max() < 1  # sky brightness varies, so no pixel is masked in every spectrum


def test_simulator_is_seeded_and_outliers_are_flagged():
    a = SpectrumSimulator(n_pix=256, seed=11).simulate(50, outlier_fraction=0.3)
    b = SpectrumSimulator(n_pix=256, seed=11).simulate(50, outlier_fraction=0.3)
    np.testing.assert_array_equal(a["flux"], b["flux"])
    assert 5 < a["broad_line"].sum() < 30
    assert a["parameters"].shape == (50, len(SPECTRUM_PARAMETERS))
    assert (a["redshift"] >= 0).all() and (a["redshift"] <= 0.3).all()


# ---------------------------------------------------------------------------------------------- readers
def test_hdf5_and_npz_readers_round_trip(tmp_path):
    d = SpectrumSimulator(n_pix=256, seed=1).simulate(40, outlier_fraction=0.2)
    path = tmp_path / "spec.h5"
    write_spectra(path, d)
    back = read_spectra(path)
    for k in ("flux", "clean", "mask", "broad_line", "redshift", "parameters"):
        np.testing.assert_array_equal(back[k], d[k])
    ds = lf.load_dataset(str(path))  # the generic reader: flux, ivar -> sigma, mask
    np.testing.assert_array_equal(ds.x, d["flux"])
    np.testing.assert_array_equal(ds.mask, d["mask"])
    keep = ~d["mask"]
    np.testing.assert_allclose(ds.sigma[keep], d["sigma"][keep], rtol=1e-5)
    # npz with flux / ivar / mask; a zero ivar masks the pixel even where the mask array does not
    ivar = d["ivar"].copy()
    ivar[0, 7] = 0
    np.savez(tmp_path / "spec.npz", flux=d["flux"], ivar=ivar, mask=d["mask"])
    arr = read_file(tmp_path / "spec.npz")
    assert arr["mask"][0, 7] and np.array_equal(arr["mask"] & ~((ivar == 0) & ~d["mask"]), d["mask"])
    np.testing.assert_allclose(arr["sigma"][keep & (ivar > 0)], d["sigma"][keep & (ivar > 0)], rtol=1e-5)


def test_fits_reader_sdss_like_columns(tmp_path):
    pytest.importorskip("astropy")
    from astropy.io import fits

    d = SpectrumSimulator(n_pix=300, seed=2).simulate(4)
    loglam = np.log10(d["wavelength"])
    and_mask = np.zeros(d["flux"].shape, np.int32)
    and_mask[:, 10:14] = 1 << 23  # e.g. BRIGHTSKY
    ivar = d["ivar"]
    # SDSS spec-*.fits: HDU 1 holds one spectrum, one row per pixel
    cols = [fits.Column(name="flux", format="E", array=d["flux"][0]),
            fits.Column(name="loglam", format="E", array=loglam.astype(np.float32)),
            fits.Column(name="ivar", format="E", array=ivar[0]),
            fits.Column(name="and_mask", format="J", array=and_mask[0])]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(tmp_path / "spec-1.fits")
    one = read_file(tmp_path / "spec-1.fits")
    assert one["x"].shape == (1, 300)
    want_mask = d["mask"][0] | (and_mask[0] != 0)
    np.testing.assert_array_equal(one["mask"][0], want_mask)
    np.testing.assert_allclose(one["x"][0][~want_mask], d["flux"][0][~want_mask])
    np.testing.assert_allclose(one["sigma"][0][~want_mask], d["sigma"][0][~want_mask], rtol=1e-5)
    np.testing.assert_allclose(one["wavelength"], d["wavelength"], rtol=1e-6)
    # one spectrum per row, array columns, upper-case names
    n, p = d["flux"].shape
    cols = [fits.Column(name="FLUX", format=f"{p}E", array=d["flux"]),
            fits.Column(name="IVAR", format=f"{p}E", array=ivar),
            fits.Column(name="LOGLAM", format=f"{p}D", array=np.tile(loglam, (n, 1))),
            fits.Column(name="AND_MASK", format=f"{p}J", array=and_mask)]
    fits.BinTableHDU.from_columns(cols).writeto(tmp_path / "many.fits")
    ds = lf.load_dataset(str(tmp_path / "many.fits"))
    assert ds.x.shape == (4, 300)
    np.testing.assert_array_equal(ds.mask, d["mask"] | (and_mask != 0))
    # a table without the needed columns is refused by name
    fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=d["flux"][0]),
                                   fits.Column(name="ivar", format="E", array=ivar[0])]).writeto(tmp_path / "bad.fits")
    with pytest.raises(DataError, match="loglam"):
        read_file(tmp_path / "bad.fits")


def test_fits_without_astropy_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "x.fits").write_bytes(b"SIMPLE  =                    T")
    monkeypatch.setitem(sys.modules, "astropy", None)
    monkeypatch.setitem(sys.modules, "astropy.io", None)
    with pytest.raises(DataError, match=r"latentforge\[fits\]"):
        read_file(tmp_path / "x.fits")


# ---------------------------------------------------------------------------------------------- likelihood
def test_likelihood_masked_pixels_carry_no_weight_and_large_sigma_less():
    x = torch.zeros(1, 6)
    mean = torch.zeros(1, 6, requires_grad=True)
    log_sigma = torch.full((1, 6), np.log(0.1))
    sigma_meas = torch.tensor([[1.0, 1.0, 10.0, 1.0, 1.0, 1.0]])
    mask = torch.tensor([[False, True, False, False, False, False]])
    ll0 = gaussian_log_likelihood(x, mean, log_sigma, sigma_meas, mask)
    # a wild value at the masked pixel changes nothing, and gets no gradient
    x_bad = x.clone()
    x_bad[0, 1] = 1e6
    assert torch.equal(gaussian_log_likelihood(x_bad, mean, log_sigma, sigma_meas, mask), ll0)
    shifted = mean.detach().clone()
    shifted[0, 0] += 1.0  # the same residual at a sigma = 1 pixel ...
    shifted_big = mean.detach().clone()
    shifted_big[0, 2] += 1.0  # ... and at a sigma = 10 pixel
    d_small = (ll0 - gaussian_log_likelihood(x, shifted, log_sigma, sigma_meas, mask)).detach()
    d_big = (ll0 - gaussian_log_likelihood(x, shifted_big, log_sigma, sigma_meas, mask)).detach()
    assert float(d_big) == pytest.approx(0.5 / (100 + 0.01), rel=1e-4)
    assert float(d_small) == pytest.approx(0.5 / (1 + 0.01), rel=1e-4)
    (-(gaussian_log_likelihood(x + 1.0, mean, log_sigma, sigma_meas, mask))).sum().backward()
    g = mean.grad[0].abs()
    assert g[1] == 0 and g[2] < g[0] / 50


def test_spectrum_vae_objective_ignores_masked_pixel_values():
    model, objective = lf.build("spectrum-vae", input_shape=(128,), latent_dim=4, channels=(8, 8), hidden=(32, 32))
    model.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 128, generator=g)
    mask = torch.zeros(3, 128, dtype=torch.bool)
    mask[:, 40:50] = True
    sigma = torch.full((3, 128), 0.5)
    a = objective(model, {"x": x, "sigma": sigma, "mask": mask}, torch.Generator().manual_seed(1))
    x2 = x.clone()
    x2[:, 40:50] = 1e4  # junk where masked: neither the encoder nor the likelihood may see it
    b = objective(model, {"x": x2, "sigma": sigma, "mask": mask}, torch.Generator().manual_seed(1))
    assert torch.equal(a["loss"], b["loss"])


def test_median_scaling_scales_flux_and_sigma_per_spectrum():
    x = np.array([[1.0, 2.0, 3.0, 100.0], [10.0, 20.0, 30.0, 0.0]], np.float32)
    mask = np.array([[False, False, False, True], [False, False, False, True]])
    s = Scaler("median").fit(x, mask)
    f = s.factors(x, mask)
    np.testing.assert_allclose(f[:, 0], [2.0, 20.0])
    np.testing.assert_allclose(s.transform(x, factors=f)[:, :3], [[0.5, 1, 1.5], [0.5, 1, 1.5]])
    np.testing.assert_allclose(s.sigma_to_model(np.ones_like(x), factors=f)[:, 0], [0.5, 0.05])
    np.testing.assert_allclose(s.inverse_transform(s.transform(x, factors=f), factors=f), x, rtol=1e-6)
    s2 = Scaler.from_state_dict(json.loads(json.dumps(s.state_dict())))
    np.testing.assert_allclose(s2.factors(x, mask), f)


# ---------------------------------------------------------------------------------------------- calibration
def test_interval_coverage_on_a_case_with_known_coverage():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=200_000)
    std = rng.uniform(0.5, 2.0, size=mean.shape)
    truth = mean + std * rng.normal(size=mean.shape)
    cov = interval_coverage(truth, mean, std)
    assert cov[0.68] == pytest.approx(0.68, abs=0.005) and cov[0.95] == pytest.approx(0.95, abs=0.003)
    # intervals half as wide as the true scatter: coverage 2 Phi(z / 2) - 1
    half = interval_coverage(truth, mean, std / 2)
    assert half[0.68] == pytest.approx(0.3809, abs=0.005) and half[0.95] == pytest.approx(0.6729, abs=0.005)
    keep = np.zeros(mean.shape, bool)
    keep[:1000] = True
    truth_bad = truth.copy()
    truth_bad[1000:] += 100  # outside every interval, but not counted
    assert interval_coverage(truth_bad, mean, std, keep=keep)[0.95] == pytest.approx(0.95, abs=0.02)
    levels, observed = calibration_curve(truth, mean, std)
    assert np.all(np.diff(observed) > 0) and np.max(np.abs(observed - levels)) < 0.01


def test_interpolate_masked_fills_gaps_linearly():
    flux = np.arange(10, dtype=float)[None] * 2
    mask = np.zeros((1, 10), bool)
    mask[0, 3:6] = True
    out = interpolate_masked(np.where(mask, -99, flux), mask)
    np.testing.assert_allclose(out, flux)


# ---------------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def small_spectra(tmp_path_factory):
    d = tmp_path_factory.mktemp("spectra")
    path = d / "train.h5"
    write_spectra(path, SpectrumSimulator(n_pix=256, seed=0, snr_range=(3, 10)).simulate(800))
    return path


def test_spectrum_vae_trains_denoises_and_reloads(small_spectra, tmp_path):
    from latentforge.cli.main import main

    torch.set_num_threads(1)
    out = tmp_path / "run"
    rc = main(["train", "spectrum-vae", "--data", str(small_spectra), "--out", str(out), "--epochs", "20",
               "--latent-dim", "8", "--channels", "8,16", "--hidden", "64,128", "--lr", "3e-3", "--batch-size", "32",
               "--no-progress", "--threads", "1"])
    assert rc == 0
    state = json.loads((out / "transform.json").read_text())
    assert state["scaler"]["kind"] == "median"  # the model's own default, stored in the artifact
    run = lf.load(out)
    test = run.select(str(small_spectra), "test")
    truth = read_spectra(small_spectra)
    clean = truth["clean"][test.info["index"]]
    keep = ~test.mask
    recon = run.reconstruct(test)
    # chi-square per pixel against the clean truth, median over spectra: the noisy input sits at 1
    chi2_vae = np.median(np.sum(((recon - clean) / test.sigma) ** 2 * keep, 1) / keep.sum(1))
    chi2_noisy = np.median(np.sum(((test.x - clean) / test.sigma) ** 2 * keep, 1) / keep.sum(1))
    assert chi2_noisy == pytest.approx(1.0, abs=0.1)
    assert chi2_vae < 0.8 * chi2_noisy, (chi2_vae, chi2_noisy)
    # load() reproduces the normalisation: raw flux in, raw flux out, in the data's own units
    again = lf.load(out).reconstruct(test)
    np.testing.assert_allclose(again, recon, rtol=1e-5, atol=1e-6)
    assert abs(np.median(recon / np.maximum(clean, 1e-6)) - 1) < 0.1
    mean, std = run.predict(test, samples=8)
    assert mean.shape == std.shape == test.x.shape and (std > 0).all()
    # the posterior of the clean spectrum given the data: closer to the truth than the decoder alone
    post, post_std = run.denoise(test, samples=8, seed=3)
    chi2_post = np.median(np.sum(((post - clean) / test.sigma) ** 2 * keep, 1) / keep.sum(1))
    assert chi2_post < chi2_vae, (chi2_post, chi2_vae)
    assert (post_std > 0).all() and np.mean(post_std[keep] < test.sigma[keep]) > 0.99  # narrower than the data
    assert main(["reconstruct", str(out), "--data", str(small_spectra), "--split", "test", "--with-data",
                 "--samples", "8", "--seed", "3", "--out", str(tmp_path / "post.npz")]) == 0
    with np.load(tmp_path / "post.npz") as f:
        np.testing.assert_allclose(f["mean"], post, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(f["std"], post_std, rtol=1e-5, atol=1e-7)


def test_denoise_weighs_each_measurement_by_its_sigma(small_spectra, tmp_path):
    from latentforge.data import ArrayDataset

    torch.set_num_threads(1)
    run = lf.train("spectrum-vae", str(small_spectra), out=tmp_path / "run", epochs=1, latent_dim=4, channels=(8,),
                   hidden=(32,), progress=False, threads=1)
    test = run.select(str(small_spectra), "test")
    keep, mask = ~test.mask, test.mask
    # the same latent draws as denoise with the same seed; the model's own mixture (denoise's posterior of the
    # signal is not rescaled by the calibration of the reconstruction predictive)
    pm, ps = run.predict(test, samples=6, seed=5, calibrated=False)
    post, post_std = run.denoise(test, samples=6, seed=5)
    # masked pixels carry no measurement: the decoder's prediction and its spread
    np.testing.assert_allclose(post[mask], pm[mask], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(post_std[mask], ps[mask], rtol=1e-4)

    def with_sigma(factor):
        return ArrayDataset(test.x, sigma=test.sigma * factor, mask=test.mask, name="scaled")

    sharp, sharp_std = run.denoise(with_sigma(1e-4), samples=6, seed=5)  # near-perfect measurements win
    np.testing.assert_allclose(sharp[keep], test.x[keep], atol=1e-3 * float(test.sigma.max()))
    ratio = sharp_std[keep] / (1e-4 * test.sigma[keep])
    assert np.median(ratio) == pytest.approx(1, abs=1e-3) and np.percentile(np.abs(ratio - 1), 99) < 0.05
    vague, vague_std = run.denoise(with_sigma(1e4), samples=6, seed=5)  # useless measurements: the model
    np.testing.assert_allclose(vague, pm, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(vague_std, ps, rtol=1e-3)
    with pytest.raises(lf.ConfigError, match="measurement sigma"):
        run.denoise(test.x)


def test_cli_simulate_spectra(tmp_path, capsys):
    from latentforge.cli.main import main

    out = tmp_path / "s.h5"
    assert main(["simulate", "--json", "spectra", "-n", "12", "--pixels", "300", "--outlier-fraction", "0.5",
                 "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n"] == 12 and summary["pixels"] == 300
    d = read_spectra(out)
    assert d["flux"].shape == (12, 300) and d["wavelength"][0] == pytest.approx(3800)


def test_the_tutorials_two_commands_train_at_the_defaults(tmp_path, capsys):
    """The README's spectra tutorial as a user runs it (no --precision, no other setting), on fewer spectra."""
    from latentforge.cli.main import main

    data, out = tmp_path / "spectra.h5", tmp_path / "run"
    assert main(["simulate", "spectra", "-n", "200", "--out", str(data)]) == 0
    assert main(["train", "spectrum-vae", "--data", str(data), "--epochs", "2", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "trained spectrum-vae" in printed and "in fp32" in printed
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(np.isfinite(r["train_loss"]) and np.isfinite(r["val_loss"]) for r in rows)
    config = json.loads((out / "config.json").read_text())
    assert config["train_config"]["precision"] == "auto"
    assert config["runtime"]["precision"] == "fp32" and "spectrum-vae" in config["runtime"]["precision_reason"]


def test_rest_frame_model_finds_redshift_and_shifts_its_rest_spectrum():
    d = SpectrumSimulator(n_pix=1024, seed=4).simulate(200)
    model, _ = lf.build("spectrum-vae", input_shape=(1024,), latent_dim=4, channels=(8,), hidden=(16,))
    x = torch.from_numpy(d["flux"] / np.median(d["flux"], 1, keepdims=True))
    with torch.no_grad():
        z_found = model.redshift_of(model.encode(x)[:, 0]).numpy()
    strong = d["line_strength"] > 0.3
    assert np.mean(np.abs(z_found - d["redshift"])[strong] < 0.002) > 0.95  # the untrained template already works
    # bright spectra with weak lines: the absorption template finds them, and masked pixels (zeros) are ignored
    # rather than taken for absorption dips (which sent half of them to a wrong redshift)
    d = SpectrumSimulator(n_pix=1024, seed=4, snr_range=(15, 40)).simulate(300)
    x = torch.from_numpy(d["flux"] / np.median(d["flux"], 1, keepdims=True))
    with torch.no_grad():
        z_found = model.redshift_of(model.encode(x)[:, 0]).numpy()
    weak = d["line_strength"] < 0.1
    assert weak.sum() > 20 and np.mean(np.abs(z_found - d["redshift"])[weak] < 0.002) > 0.85
    # the decoder moves a rest-frame feature to (1 + z) x its rest wavelength
    rest = torch.exp(-0.5 * ((torch.arange(model.n_rest) - 700.0) / 1.5) ** 2)[None]  # a line 1.5 pixels wide
    rest_loglam = np.log10(3800.0) + (700 - model.max_shift) * model.dloglam
    obs_loglam = np.log10(3800.0) + np.arange(1024) * model.dloglam
    for z in (0.0, 0.1, 0.25):
        shift = torch.tensor([np.log10(1 + z) / model.dloglam], dtype=torch.float32)
        out = model._shift_to_observed(rest, shift)[0].numpy()
        centroid = np.sum(out * obs_loglam) / out.sum()
        assert abs(centroid - (rest_loglam + np.log10(1 + z))) < 0.01 * model.dloglam
    # a line one pixel wide keeps its sampled shape at any fractional shift (linear interpolation lowers its
    # peak by up to 7 %), on top of a sloping continuum that is carried along
    r = np.arange(model.n_rest)
    for s in (1.0, 1.5):
        rest = torch.tensor(np.exp(-0.5 * ((r - 700.3) / s) ** 2) + 0.5 + 1e-3 * r, dtype=torch.float32)[None]
        for shift in (0.0, 0.5, 37.25, 200.75, float(model.max_shift)):
            out = model._shift_to_observed(rest, torch.tensor([shift]))[0].numpy()
            j = model.max_shift + np.arange(1024)
            truth = np.exp(-0.5 * ((j - shift - 700.3) / s) ** 2) + 0.5 + 1e-3 * (j - shift)
            assert np.abs(out - truth).max() < 5e-3, (s, shift)


def test_spectra_demo_writes_its_report(tmp_path, capsys):
    from latentforge.domains.spectra.demo import run_spectra_demo

    torch.set_num_threads(1)
    res = run_spectra_demo(tmp_path / "demo", n=300, pixels=256, epochs=2, n_outliers=80, progress=False, threads=1)
    for f in ("summary.md", "summary.json", "spectra_denoising.png", "spectra_calibration.png",
              "spectra_inpainting.png", "spectra_probes.png", "spectra_line_strength_walk.png",
              "spectra_outliers.png", "spectra_denoising_table.png"):
        assert (tmp_path / "demo" / f).stat().st_size > 1000, f
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert set(summary["probes"]) == set(SPECTRUM_PARAMETERS)
    assert 0 <= summary["outliers"]["auc_negative_elbo"] <= 1
    assert {"0.68", "0.95"} <= set(summary["calibration"]["latent+decoder_sigma"])
    assert "vae posterior mean" in summary["denoising"]["all"] and res["n_test"] == 30
    assert "Denoising" in capsys.readouterr().out


def test_measured_snr_ignores_masked_pixels():
    from latentforge.domains.spectra.validation import measured_snr

    sigma = np.full((3, 50), 0.5)
    flux = 5.0 * sigma * np.linspace(0.5, 1.5, 50)  # median flux / sigma = 5
    mask = np.zeros((3, 50), bool)
    mask[1, :20] = True
    flux[1, :20] = 1e6  # masked garbage must not count
    mask[2] = True
    np.testing.assert_allclose(measured_snr(flux, sigma, mask), [5.0, 5.0 * 1.2, 0.0], rtol=0.02)


def test_conformal_multipliers_restore_coverage_of_too_narrow_intervals():
    from latentforge.domains.spectra.validation import conformal_multipliers

    rng = np.random.default_rng(1)
    std = rng.uniform(0.5, 1.5, 200_000)
    truth = rng.standard_t(4, size=std.shape) * 1.5 * std  # heavier tails and wider than std says
    mean, keep = np.zeros_like(std), np.ones(std.shape, bool)
    half = len(std) // 2
    k = conformal_multipliers(truth[:half], mean[:half], std[:half], keep[:half])
    assert interval_coverage(truth[half:], mean[half:], std[half:])[0.68] < 0.6  # the Gaussian intervals miss
    pull = np.abs(truth[half:]) / std[half:]
    assert np.mean(pull <= k[0.68]) == pytest.approx(0.68, abs=0.01)
    assert np.mean(pull <= k[0.95]) == pytest.approx(0.95, abs=0.005)
