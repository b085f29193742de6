"""Outputs in the user's formats: every array a run writes goes to .npz, .npy, .csv, .h5, .fits or a folder of PNG
images, named with what the run knows of its data (column names, units, wavelengths, shower layout), read back
here with readers that are not latentforge's (numpy, csv, h5py, astropy, matplotlib)."""

import csv
import errno
import os

import h5py
import numpy as np
import pytest

import latentforge as lf
from latentforge.cli.main import main
from latentforge.domains.showers.files import read_showers, write_showers
from latentforge.domains.showers.simulator import ShowerSimulator

fits = pytest.importorskip("astropy.io.fits")


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@pytest.fixture
def catalogue(tmp_path):
    """A FITS table of stars: three columns with TUNIT (K, dex, dex) and a text class column."""
    rng = np.random.default_rng(0)
    n = 12
    values = {"TEFF": rng.uniform(4000, 7000, n), "LOGG": rng.uniform(1, 5, n), "FEH": rng.normal(0, 0.3, n)}
    cols = [fits.Column(name=k, format="D", unit=u, array=v) for (k, v), u in zip(values.items(), ("K", "dex", "dex"))]
    cols.append(fits.Column(name="CLASS", format="5A", array=["dwarf", "giant"] * (n // 2)))
    fits.BinTableHDU.from_columns(cols).writeto(tmp_path / "stars.fits")
    ds = lf.load_dataset(tmp_path / "stars.fits", key="TEFF,LOGG,FEH", labels_key="CLASS")
    return ds, np.stack(list(values.values()), 1)


def test_each_format_holds_the_values_with_their_names_and_units(tmp_path, catalogue):
    ds, want = catalogue
    arrays = {"samples": ds.x, "labels": ds.y}
    for name in ("o.npz", "o.npy", "o.csv", "o.h5", "o.fits"):
        assert lf.save_arrays(tmp_path / name, arrays, like=ds) == ["samples", "labels"]
    assert ds.x.dtype == np.float32  # what a run gives: float32 values, compared at float32 precision below
    np.testing.assert_allclose(np.load(tmp_path / "o.npz")["samples"], want, rtol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), want, rtol=1e-6)
    assert np.load(tmp_path / "o.labels.npy").tolist() == ["dwarf", "giant"] * 6  # the other array beside it
    header, rows = read_csv(tmp_path / "o.csv")
    assert header == ["TEFF [K]", "LOGG [dex]", "FEH [dex]", "labels"]
    assert len(rows) == 12 and [r[3] for r in rows] == ["dwarf", "giant"] * 6
    np.testing.assert_allclose(np.array([r[:3] for r in rows], float), want, rtol=1e-6)
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert f["samples"].shape == (12, 3) and list(f["samples"].attrs["columns"]) == ["TEFF", "LOGG", "FEH"]
        assert list(f["samples"].attrs["units"]) == ["K", "dex", "dex"]
        np.testing.assert_allclose(f["samples"][()], want, rtol=1e-6)
        assert [v.decode() for v in f["labels"][()]] == ["dwarf", "giant"] * 6
    with fits.open(tmp_path / "o.fits") as hdus:
        table = hdus["SAMPLES"]
        assert table.columns.names == ["TEFF", "LOGG", "FEH", "labels"]
        assert [table.columns[k].unit for k in ("TEFF", "LOGG", "FEH")] == ["K", "dex", "dex"]
        np.testing.assert_allclose(np.stack([table.data[k] for k in ("TEFF", "LOGG", "FEH")], 1), want, rtol=1e-6)
        assert [s.strip() for s in table.data["labels"]] == ["dwarf", "giant"] * 6


def test_another_data_array_is_named_by_its_key_and_codes_are_numbered(tmp_path, catalogue):
    ds, want = catalogue
    z = np.arange(24, dtype=np.float32).reshape(12, 2)
    lf.save_arrays(tmp_path / "r.csv", {"mean": ds.x, "std": ds.x / 10, "z": z}, like=ds)
    header, rows = read_csv(tmp_path / "r.csv")
    assert header == ["TEFF [K]", "LOGG [dex]", "FEH [dex]", "std_TEFF [K]", "std_LOGG [dex]", "std_FEH [dex]", "z0",
                      "z1"]
    table = np.array(rows, float)
    np.testing.assert_allclose(table[:, 3:6], want / 10, rtol=1e-6)
    np.testing.assert_array_equal(table[:, 6:], z)


FLUX_UNIT = "1e-17 erg/(s cm2 Angstrom)"  # SDSS's


def _spectra_file(path, n=5, p=40):
    rng = np.random.default_rng(1)
    loglam = 3.6 + 1e-3 * np.arange(p)
    flux = rng.normal(5, 1, (n, p)).astype(np.float32)
    z = np.linspace(0.0, 0.4, n)
    mass = np.linspace(9.0, 11.0, n)
    spectra = fits.BinTableHDU.from_columns([
        fits.Column(name="FLUX", format=f"{p}E", unit=FLUX_UNIT, array=flux), fits.Column(name="IVAR", format=f"{p}E",
                                                                         array=np.full((n, p), 4.0)),
        fits.Column(name="LOGLAM", format=f"{p}D", array=np.tile(loglam, (n, 1))),
        fits.Column(name="Z", format="D", array=z), fits.Column(name="CLASS", format="6A", array=["GALAXY"] * n)],
        name="SPECTRA")
    catalog = fits.BinTableHDU.from_columns([fits.Column(name="MASS", format="D", array=mass)], name="CATALOG")
    fits.HDUList([fits.PrimaryHDU(), spectra, catalog]).writeto(path)
    return flux, 10 ** loglam, z, mass


def test_spectra_outputs_carry_their_wavelength_grid_in_angstrom(tmp_path):
    flux, wave, _, _ = _spectra_file(tmp_path / "spectra.fits")
    ds = lf.load_dataset(tmp_path / "spectra.fits")
    lf.save_arrays(tmp_path / "s.fits", {"reconstruction": ds.x}, like=ds)
    with fits.open(tmp_path / "s.fits") as hdus:
        np.testing.assert_allclose(hdus["RECONSTRUCTION"].data["reconstruction"], flux, rtol=1e-6)
        assert hdus["RECONSTRUCTION"].columns["reconstruction"].unit == FLUX_UNIT
        grid = hdus["WAVELENGTH"]
        assert grid.columns["WAVELENGTH"].unit == "Angstrom"
        np.testing.assert_allclose(grid.data["WAVELENGTH"], wave, rtol=1e-9)
    lf.save_arrays(tmp_path / "s.csv", {"reconstruction": ds.x}, like=ds)
    header, rows = read_csv(tmp_path / "s.csv")
    assert all(h.endswith(f"A [{FLUX_UNIT}]") for h in header)  # flux_<Å>A [unit]
    np.testing.assert_allclose([float(h.split()[0][len("flux_"):-1]) for h in header], wave, atol=0.006)
    np.testing.assert_allclose(np.array(rows, float), flux, rtol=1e-6)
    lf.save_arrays(tmp_path / "s.h5", {"reconstruction": ds.x}, like=ds)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["wavelength"].attrs["unit"] == "Angstrom"
        np.testing.assert_allclose(f["wavelength"][()], wave, rtol=1e-9)


def test_images_become_a_folder_of_png_files(tmp_path):
    import matplotlib.image as mpimg

    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (4, 6, 5)).astype(np.uint8)
    x[0, 0, :2] = 0, 255  # the data's range, 0 ... 255, is the PNG's
    np.save(tmp_path / "imgs.npy", x)
    ds = lf.load_dataset(tmp_path / "imgs.npy")
    labels = np.array([3, 1, 4, 1])
    assert lf.save_arrays(tmp_path / "pngs/", {"samples": ds.x, "labels": labels}, like=ds) == ["samples", "labels"]
    files = sorted(p.name for p in (tmp_path / "pngs").iterdir())
    assert files == ["000000.png", "000001.png", "000002.png", "000003.png", "index.csv"]
    for i in range(4):
        back = mpimg.imread(tmp_path / "pngs" / f"{i:06d}.png")  # PNG grey levels as floats in [0, 1]
        assert back.shape == (6, 5)
        np.testing.assert_array_equal(np.rint(back * 255).astype(np.uint8), x[i])  # the 0 ... 255 range kept
    header, rows = read_csv(tmp_path / "pngs" / "index.csv")
    assert header == ["file", "labels"] and [r[1] for r in rows] == ["3", "1", "4", "1"]
    rgb = rng.uniform(0, 1, (2, 4, 4, 3)).astype(np.float32)  # channels last, values in [0, 1]
    lf.save_arrays(tmp_path / "rgb", {"x": rgb}, like={"axes": "NHWC", "value_range": (0.0, 1.0)})
    back = mpimg.imread(tmp_path / "rgb" / "000001.png")
    assert back.shape == (4, 4, 3) and np.abs(back - rgb[1]).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(lf.ConfigError, match="holds images"):  # a table is not an image
        lf.save_arrays(tmp_path / "table/", np.zeros((3, 4), np.float32))
    assert not (tmp_path / "table").exists()


def test_unknown_ending_is_refused_in_one_line_that_lists_the_accepted_ones(tmp_path, catalogue, capsys):
    ds, _ = catalogue
    with pytest.raises(lf.ConfigError) as e:
        lf.save_arrays(tmp_path / "o.xlsx", ds.x, like=ds)
    msg = str(e.value)
    assert "\n" not in msg and ".xlsx" in msg
    assert all(s in msg for s in (".npz", ".npy", ".csv", ".h5", ".fits", "PNG"))
    assert list(tmp_path.glob("o.*")) == []
    lf.save_arrays(tmp_path / "o.csv", ds.x, like=ds)  # one of the endings it lists: written
    assert read_csv(tmp_path / "o.csv")[0] == ["TEFF [K]", "LOGG [dex]", "FEH [dex]"]


def test_a_failed_write_leaves_no_file(tmp_path, catalogue, monkeypatch):
    ds, _ = catalogue
    real_save = np.save
    calls = []

    def full_disk(f, a, **kw):  # the second file of an .npy output fails: neither stays
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(f, a, **kw)

    monkeypatch.setattr(np, "save", full_disk)
    with pytest.raises(lf.ArtifactError, match="disk .* is full"):
        lf.save_arrays(tmp_path / "o.npy", {"x": ds.x, "labels": ds.y}, like=ds)
    monkeypatch.undo()
    for name in ("o.fits", "o.h5"):  # a failure inside the format's own writer
        monkeypatch.setattr(fits.BinTableHDU, "from_columns", classmethod(lambda *a, **k: 1 / 0))
        monkeypatch.setattr(h5py.Group, "create_dataset", lambda *a, **k: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            lf.save_arrays(tmp_path / name, {"x": ds.x}, like=ds)
        monkeypatch.undo()
    with pytest.raises(lf.ConfigError, match="channels"):  # PNG: a folder half written is removed
        lf.save_arrays(tmp_path / "imgs/", np.zeros((2, 2, 4, 4), np.float32), like={"axes": "NCHW"})
    assert sorted(os.listdir(tmp_path)) == ["stars.fits"]  # nothing written, no temporary left


def test_shower_samples_in_the_layout_the_run_was_trained_on(tmp_path, capsys):
    d = ShowerSimulator(seed=3).simulate(60, "e+", energy_range=(5, 50))
    write_showers(tmp_path / "calogan.hdf5", d, layout="calogan")
    run = lf.train("cvae", tmp_path / "calogan.hdf5", cond_key="conditions", condition="vector", epochs=1,
                   progress=False)
    run.save(tmp_path / "run")  # (trained without out=: no training plots to draw)
    assert main(["sample", str(tmp_path / "run"), "-n", "7", "--condition", "1.0,1,0,0", "--out",
                 str(tmp_path / "s.h5")]) == 0
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert {"layer_0", "layer_1", "layer_2", "energy"} <= set(f)
        assert [f[f"layer_{k}"].shape for k in range(3)] == [(7, 3, 96), (7, 12, 12), (7, 12, 6)]
        np.testing.assert_allclose(f["energy"][()], 10.0, rtol=1e-6)  # log10(E / GeV) = 1: 10 GeV, as CaloGAN
        layers = np.concatenate([f[f"layer_{k}"][()].reshape(7, -1) for k in range(3)], 1)
    back = read_showers(tmp_path / "s.h5")  # the project's own reader takes it as a CaloGAN file
    assert back["layout"] == "calogan" and back["showers"].shape == (7, 504) and back["particle"].tolist() == [0] * 7
    np.testing.assert_allclose(back["incident_energies"], 10_000.0, rtol=1e-6)  # MeV
    want = run.sample(7, np.array([1.0, 1, 0, 0], np.float32), seed=0)  # the command's default seed
    np.testing.assert_allclose(layers, want, rtol=1e-6)  # the same showers, in MeV as the training file
    # a CaloChallenge file keeps its layout: showers + incident_energies in MeV
    ds1 = ShowerSimulator(seed=4, geometry="calochallenge-1-photons").simulate(5, "gamma")
    write_showers(tmp_path / "ds1.hdf5", ds1)
    data = lf.load_dataset(tmp_path / "ds1.hdf5", cond_key="energy")
    lf.save_arrays(tmp_path / "c.h5", {"reconstruction": data.x}, like=data)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert f["showers"].shape == (5, 368) and f["incident_energies"].shape == (5, 1)
        np.testing.assert_allclose(f["incident_energies"][()], ds1["incident_energies"] * 1000, rtol=1e-6)
    np.testing.assert_allclose(read_showers(tmp_path / "c.h5")["showers"], ds1["showers"] * 1000, rtol=1e-5)


def test_cli_sample_to_csv_has_the_header_of_the_training_table(tmp_path, capsys):
    rng = np.random.default_rng(0)
    with open(tmp_path / "cat.csv", "w") as f:
        f.write("teff_K,logg,feh\n")
        for r in rng.normal(size=(80, 3)):
            f.write(f"{5000 + 500 * r[0]:.2f},{4 + r[1]:.3f},{r[2]:.3f}\n")
    run = lf.train("vae", tmp_path / "cat.csv", epochs=1, progress=False)
    run.save(tmp_path / "run")
    assert main(["sample", str(tmp_path / "run"), "-n", "9", "--out", str(tmp_path / "s.csv")]) == 0
    header, rows = read_csv(tmp_path / "s.csv")
    assert header == ["teff_K", "logg", "feh"]
    np.testing.assert_allclose(np.array(rows, float), run.sample(9, seed=0), rtol=1e-6)  # the command's seed 0
    assert (tmp_path / "s.png").exists()
    data = str(tmp_path / "cat.csv")
    assert main(["reconstruct", str(tmp_path / "run"), "--data", data, "--out", str(tmp_path / "r.csv")]) == 0
    header, rows = read_csv(tmp_path / "r.csv")
    assert header == ["teff_K", "logg", "feh", "input_teff_K", "input_logg", "input_feh"]
    np.testing.assert_allclose(np.array(rows, float)[:, 3:], np.loadtxt(data, delimiter=",", skiprows=1), rtol=1e-6)
    np.testing.assert_allclose(np.array(rows, float)[:, :3], run.reconstruct(data), rtol=1e-5)
    capsys.readouterr()
    assert main(["encode", str(tmp_path / "run"), "--data", str(tmp_path / "cat.csv"), "--out",
                 str(tmp_path / "z.xlsx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown output ending '.xlsx'" in err and ".csv" in err
