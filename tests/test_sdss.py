"""Real SDSS spectrum files: spec-*.fits in their published layout (HDU COADD with flux / loglam / ivar / and_mask
..., HDU SPECOBJ with Z, CLASS ...), several of them on different wavelength grids, read as one set by
flux-conserving resampling; a model trained on them answers spectra on other grids on those grids."""

import json

import numpy as np
import pytest

import latentforge as lf
from latentforge.cli.main import main
from latentforge.domains.spectra.resample import common_log_grid, log_grid, resample_spectra

fits = pytest.importorskip("astropy.io.fits")
pytest.importorskip("spectres")


def write_spec(path, loglam, flux, ivar, and_mask=None, z=0.1, cls="GALAXY"):
    """A spec-PLATE-MJD-FIBER.fits file as SDSS DR18 writes it (the columns the layout has, fewer rows)."""
    n = len(loglam)
    and_mask = np.zeros(n, np.int32) if and_mask is None else and_mask
    coadd = fits.BinTableHDU.from_columns([
        fits.Column(name="flux", format="E", array=flux), fits.Column(name="loglam", format="E", array=loglam),
        fits.Column(name="ivar", format="E", array=ivar), fits.Column(name="and_mask", format="J", array=and_mask),
        fits.Column(name="or_mask", format="J", array=and_mask), fits.Column(name="wdisp", format="E",
                                                                             array=np.full(n, 1.1, np.float32)),
        fits.Column(name="sky", format="E", array=np.ones(n, np.float32)),
        fits.Column(name="model", format="E", array=flux)], name="COADD")
    specobj = fits.BinTableHDU.from_columns([
        fits.Column(name="PLATE", format="J", array=[1234]), fits.Column(name="MJD", format="J", array=[52000]),
        fits.Column(name="FIBERID", format="J", array=[7]), fits.Column(name="CLASS", format="6A", array=[cls]),
        fits.Column(name="SUBCLASS", format="21A", array=[""]), fits.Column(name="Z", format="E", array=[z]),
        fits.Column(name="Z_ERR", format="E", array=[1e-4]), fits.Column(name="ZWARNING", format="J", array=[0])],
        name="SPECOBJ")
    spzline = fits.BinTableHDU.from_columns([fits.Column(name="LINENAME", format="13A", array=["H_alpha"]),
                                             fits.Column(name="LINEWAVE", format="D", array=[6564.6])], name="SPZLINE")
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "SDSS 2.5-M"
    fits.HDUList([primary, coadd, specobj, spzline]).writeto(path)


def spectrum(wave, z, amp=1.0):
    """A smooth continuum with H-alpha and [O III] emission at redshift z (1e-17 erg/s/cm^2/Å)."""
    line = lambda rest, s: np.exp(-0.5 * ((wave - rest * (1 + z)) / 3.0) ** 2) * s
    return (amp * (5 + 2 * np.sin(wave / 700.0) + line(6564.6, 12) + line(5008.2, 8))).astype(np.float32)


# log10 wavelength grids; steps of 1e-3 (SDSS: 1e-4) keep the files small while spanning 3800-9600 Å
def grid_a(n=400):
    return 3.5800 + 1e-3 * np.arange(n)


def grid_b(n=380):  # starts 22.5 pixels redder, half a pixel out of phase with grid A, ends 1.5 pixels further
    return 3.6025 + 1e-3 * np.arange(n)


def test_resampling_conserves_flux_and_carries_ivar_and_masks():
    rng = np.random.default_rng(0)
    old = 10 ** grid_b()
    new = log_grid(3.5800, 1e-3, 420)
    flux = rng.uniform(1, 3, size=(2, len(old)))
    sigma = rng.uniform(0.1, 0.3, size=flux.shape)
    mask = np.zeros(flux.shape, bool)
    mask[1, 100] = True
    f, s, m = resample_spectra(new, old, flux, sigma, mask)
    edges = lambda w: np.concatenate([[w[0] - (w[1] - w[0]) / 2], (w[1:] + w[:-1]) / 2, [w[-1] + (w[-1] - w[-2]) / 2]])
    e_old, e_new = edges(old), edges(new)
    inside = (e_new[:-1] >= e_old[0]) & (e_new[1:] <= e_old[-1])
    assert m[0, ~inside].all() and not m[0, inside].any()  # uncovered pixels, and only those, are masked
    lo, hi = e_new[:-1][inside][0], e_new[1:][inside][-1]  # the covered span: the same integral on both grids
    old_part = np.clip(np.minimum(e_old[1:], hi) - np.maximum(e_old[:-1], lo), 0, None)
    assert (f[0, inside] * np.diff(e_new)[inside]).sum() == pytest.approx((flux[0] * old_part).sum(), rel=1e-9)
    # a new pixel over parts w1, w2 of two old ones: sigma = sqrt((w1 s1)^2 + (w2 s2)^2) / (w1 + w2)
    j = np.flatnonzero(inside)[10]
    k = np.searchsorted(e_old, e_new[j]) - 1
    w1, w2 = e_old[k + 1] - e_new[j], e_new[j + 1] - e_old[k + 1]
    assert 0.45 < w1 / (w1 + w2) < 0.55  # half a pixel out of phase
    assert s[0, j] == pytest.approx(np.hypot(w1 * sigma[0, k], w2 * sigma[0, k + 1]) / (w1 + w2), rel=1e-9)
    assert f[0, j] == pytest.approx((w1 * flux[0, k] + w2 * flux[0, k + 1]) / (w1 + w2), rel=1e-9)
    bad = np.flatnonzero(m[1] & inside)  # the masked old pixel masks the two new pixels it overlaps
    assert len(bad) == 2 and (e_new[bad[0]] < old[100] < e_new[bad[1] + 1])
    assert (f[1, bad] == 0).all() and (s[1, bad] == 1).all()


def test_folder_of_spec_files_on_two_grids_loads_as_one_set(tmp_path):
    la, lb = grid_a(), grid_b()
    a = spectrum(10 ** la, 0.05)
    b = spectrum(10 ** lb, 0.08, amp=2.0)
    mask_b = np.zeros(len(lb), np.int32)
    mask_b[50] = 1 << 23  # BRIGHTSKY
    write_spec(tmp_path / "spec-1234-52000-0007.fits", la.astype(np.float32), a, np.full(len(la), 4.0, np.float32),
               z=0.05, cls="GALAXY")
    write_spec(tmp_path / "spec-1234-52000-0100.fits", lb.astype(np.float32), b, np.full(len(lb), 1.0, np.float32),
               mask_b, z=0.08, cls="QSO")
    for source in (tmp_path, str(tmp_path / "spec-*.fits")):  # a folder and a glob: both used to be refused
        ds = lf.load_dataset(source, cond_key="Z", labels_key="CLASS")
        wave = ds.info["wavelength"]
        assert ds.x.shape == (2, len(wave)) and len(wave) == 402  # 3.5800 ... 3.6025 + 0.379, half a pixel in
        np.testing.assert_allclose(np.diff(np.log10(wave)), 1e-3, rtol=1e-5)
        np.testing.assert_allclose(ds.cond[:, 0], [0.05, 0.08], rtol=1e-6)
        assert ds.y.tolist() == ["GALAXY", "QSO"]
    np.testing.assert_allclose(ds.x[0, :400], a, rtol=1e-6)  # on the common grid already: kept as it is
    assert ds.mask[0, 400:].all() and not ds.mask[0, :400].any()
    np.testing.assert_allclose(ds.sigma[0, :400], 0.5, rtol=1e-6)
    covered = ~ds.mask[1]
    assert ds.mask[1, :23].all() and covered.sum() == 379 - 2  # half-pixel edges and the BRIGHTSKY pixel's two
    np.testing.assert_allclose(ds.sigma[1, covered], np.sqrt(2) / 2, rtol=3e-3)  # two pixels of sigma 1, averaged
    peak = np.argmax(ds.x[1] * covered)  # H-alpha at z = 0.08 stays where it was, to within a pixel
    assert abs(wave[peak] - 6564.6 * 1.08) < wave[peak] * (10 ** 1e-3 - 1)
    with pytest.raises(lf.DataError, match="no catalogue column 'ZZ'"):
        lf.load_dataset(tmp_path, cond_key="ZZ")


def _folder(path, n=16, seed=0):
    rng = np.random.default_rng(seed)
    path.mkdir()
    for i in range(n):
        grid = grid_a() if i % 2 else grid_b()
        z = rng.uniform(0.0, 0.04)
        f = spectrum(10 ** grid, z, amp=rng.uniform(0.5, 2)) + rng.normal(0, 0.2, len(grid)).astype(np.float32)
        write_spec(path / f"spec-0001-50000-{i:04d}.fits", grid.astype(np.float32), f,
                   np.full(len(grid), 25.0, np.float32), z=z)


def test_spectrum_vae_trains_on_a_glob_and_answers_on_the_inputs_grid(tmp_path, capsys):
    _folder(tmp_path / "spectra")
    glob = str(tmp_path / "spectra" / "*.fits")
    assert main(["train", "spectrum-vae", "--data", glob, "--epochs", "2", "--latent-dim", "4", "--channels", "8,8",
                 "--hidden", "32", "--max-redshift", "0.05", "--no-progress", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    run = lf.load(tmp_path / "run")
    grid = lf.load_dataset(glob).info["wavelength"]
    assert run.model.config.wave_min == pytest.approx(grid[0]) and run.model.config.wave_max == pytest.approx(grid[-1])
    np.testing.assert_allclose(run.preprocess.grid("wavelength"), grid)
    # another grid: coarser (1.5e-3) and reaching 12 pixels redder than the model's; resampled on the way in,
    # answered on its own pixels (NaN where the model's grid does not reach)
    other = 3.5830 + 1.5e-3 * np.arange(280)
    write_spec(tmp_path / "spec-other.fits", other.astype(np.float32), spectrum(10 ** other, 0.02),
               np.full(280, 25.0, np.float32), z=0.02)
    ds = lf.load_dataset(tmp_path / "spec-other.fits")
    rec = run.reconstruct(ds)
    mean, std = run.denoise(ds, samples=4)
    assert rec.shape == mean.shape == std.shape == (1, 280)
    reach = np.log10(grid[-1]) + 0.5e-3 - 0.75e-3  # the model's last pixel edge, less half an input pixel
    np.testing.assert_array_equal(np.isfinite(rec[0]), other <= reach + 1e-9)
    assert np.isfinite(std[0, other <= reach]).all() and (std[0, other <= reach] > 0).all()
    # in and back out: a smooth spectrum comes back to itself on its own grid
    on_model = run.preprocess.on_model_grid(ds)
    assert on_model.x.shape == (1, len(grid)) and on_model.mask[0, np.log10(grid) < 3.5830 - 0.75e-3].all()
    back = run.preprocess.on_input_grid(on_model.x, on_model)
    smooth = (other <= reach) & (np.abs(10 ** other - 6564.6 * 1.02) > 40) & (np.abs(10 ** other - 5008.2 * 1.02) > 40)
    smooth[0] = False  # its model-grid neighbour is half uncovered, so masked (flux 0) on the way in
    np.testing.assert_allclose(back[0, smooth], ds.x[0, smooth], rtol=0.02)
    assert main(["reconstruct", str(tmp_path / "run"), "--data", str(tmp_path / "spec-other.fits"),
                 "--out", str(tmp_path / "rec.npz")]) == 0
    saved = np.load(tmp_path / "rec.npz")
    assert saved["reconstruction"].shape == saved["input"].shape == (1, 280)
    assert main(["evaluate", "--json", str(tmp_path / "run"), "--data", str(tmp_path / "spec-other.fits"), "--k", "5"]) == 0
    assert np.isfinite(json.loads(capsys.readouterr().out)["elbo"])
    # the catalogue redshift as a per-spectrum parameter: a probe of the latent space
    assert main(["explore", "--json", str(tmp_path / "run"), "--data", glob, "--param", "Z", "--split", "all",
                 "--out", str(tmp_path / "explore")]) == 0
    probe = json.loads(capsys.readouterr().out)["probe"]
    assert probe["parameter"] == "Z" and np.isfinite(probe["r2_heldout"])


def _per_row_file(path, n=6, p=40):
    """Spectra one per row with a per-row Z and CLASS beside the flux, and a second table (CATALOG) with one row
    per spectrum (MASS)."""
    rng = np.random.default_rng(3)
    loglam = 3.6 + 1e-3 * np.arange(p)
    spectra = fits.BinTableHDU.from_columns([
        fits.Column(name="FLUX", format=f"{p}E", unit="1e-17 erg/(s cm2 Angstrom)",
                    array=rng.normal(5, 1, (n, p)).astype(np.float32)),
        fits.Column(name="IVAR", format=f"{p}E", array=np.full((n, p), 4.0, np.float32)),
        fits.Column(name="LOGLAM", format=f"{p}D", array=np.tile(loglam, (n, 1))),
        fits.Column(name="Z", format="D", array=np.linspace(0.0, 0.5, n)),
        fits.Column(name="CLASS", format="6A", array=["GALAXY", "QSO"] * (n // 2))], name="SPECTRA")
    catalog = fits.BinTableHDU.from_columns([fits.Column(name="MASS", format="D", array=np.linspace(9, 11, n))],
                                            name="CATALOG")
    fits.HDUList([fits.PrimaryHDU(), spectra, catalog]).writeto(path)


def test_a_per_row_column_of_the_spectra_table_is_a_cond_key(tmp_path, capsys):
    """``--cond-key Z`` with Z a column beside the flux was refused ("no SPECOBJ table")."""
    _per_row_file(tmp_path / "rows.fits")
    ds = lf.load_dataset(tmp_path / "rows.fits", cond_key="Z", labels_key="CLASS")
    np.testing.assert_allclose(ds.cond[:, 0], np.linspace(0.0, 0.5, 6), rtol=1e-6)  # float32
    assert ds.y.tolist() == ["GALAXY", "QSO"] * 3
    other = lf.load_dataset(tmp_path / "rows.fits", cond_key="mass")  # another table with one row per spectrum
    np.testing.assert_allclose(other.cond[:, 0], np.linspace(9, 11, 6), rtol=1e-6)
    with pytest.raises(lf.DataError) as e:
        lf.load_dataset(tmp_path / "rows.fits", cond_key="REDSHIFT")
    assert "no catalogue column 'REDSHIFT'" in str(e.value) and str(e.value).endswith(": MASS, Z, CLASS")
    run = lf.train("cvae", tmp_path / "rows.fits", condition="vector", cond_key="Z", epochs=1, progress=False)
    run.save(tmp_path / "run")
    assert main(["encode", str(tmp_path / "run"), "--data", str(tmp_path / "rows.fits"), "--cond-key", "Z",
                 "--out", str(tmp_path / "z.npz")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "z.npz")["z"], run.encode(ds), rtol=1e-5, atol=1e-6)
    # the run keeps the flux unit (TUNIT) and the grid: its outputs carry them
    assert lf.load(tmp_path / "run").data_info["flux_unit"] == "1e-17 erg/(s cm2 Angstrom)"
    lf.save_arrays(tmp_path / "r.fits", {"reconstruction": run.reconstruct(ds)}, like=lf.load(tmp_path / "run"))
    with fits.open(tmp_path / "r.fits") as hdus:
        assert hdus["RECONSTRUCTION"].columns["reconstruction"].unit == "1e-17 erg/(s cm2 Angstrom)"
        np.testing.assert_allclose(hdus["WAVELENGTH"].data["WAVELENGTH"], 10 ** (3.6 + 1e-3 * np.arange(40)),
                                   rtol=1e-9)
