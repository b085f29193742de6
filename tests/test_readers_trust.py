"""Readers hand over what the file says: null values as masked points, headers as names, every option used or
refused, and refusals whose advice works when it is followed."""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf

fits = pytest.importorskip("astropy.io.fits")


def _scaled_null_table(path, raw: np.ndarray, scale: float, zero: float, null: int) -> None:
    """A binary table whose int16 column ``counts`` stores ``raw`` with TSCAL / TZERO and TNULL in its header."""
    hdu = fits.BinTableHDU.from_columns([fits.Column(name="counts", format="I", null=null, array=raw),
                                         fits.Column(name="b", format="E", array=np.arange(len(raw), dtype=np.float32))])
    hdu.header["TSCAL1"], hdu.header["TZERO1"] = scale, zero
    hdu.writeto(path)


def test_fits_table_nulls_with_scaling_are_masked_points(tmp_path):
    raw = np.array([100, -32768, 250, 7, -32768, 12], np.int16)
    _scaled_null_table(tmp_path / "t.fits", raw, 0.01, 20.0, -32768)
    ds = lf.load_dataset(tmp_path / "t.fits")
    null = raw == -32768
    # the reference: the stored integers through the FITS scaling (physical = TZERO + TSCAL * stored)
    expected = 20.0 + 0.01 * raw.astype(np.float64)
    assert ds.mask is not None and np.array_equal(ds.mask[:, 0], null) and not ds.mask[:, 1].any()
    np.testing.assert_allclose(ds.x[~null, 0], expected[~null], rtol=1e-6)
    assert not np.isclose(ds.x[:, 0], 20.0 + 0.01 * -32768).any()  # -307.68 is nowhere a value


def test_fits_float_nan_and_integer_null_columns_are_masked(tmp_path):
    ints = np.array([1, 2, -1, 4], np.int32)
    floats = np.array([1.0, np.nan, 3.0, 4.0], np.float32)
    fits.BinTableHDU.from_columns([fits.Column(name="a", format="J", null=-1, array=ints),
                                   fits.Column(name="f", format="E", array=floats)]).writeto(tmp_path / "n.fits")
    ds = lf.load_dataset(tmp_path / "n.fits")
    assert np.argwhere(ds.mask).tolist() == [[1, 1], [2, 0]]
    assert ds.x[0].tolist() == [1.0, 1.0] and ds.x[3].tolist() == [4.0, 4.0]


def test_fits_spectra_with_a_null_flux_pixel_mask_it(tmp_path):
    n, p = 3, 5
    flux = np.arange(n * p, dtype=np.int32).reshape(n, p) + 10
    flux[1, 2] = -999
    cols = [fits.Column(name="flux", format=f"{p}J", null=-999, array=flux),
            fits.Column(name="ivar", format=f"{p}E", array=np.ones((n, p), np.float32)),
            fits.Column(name="loglam", format=f"{p}D", array=np.tile(np.linspace(3.6, 3.61, p), (n, 1)))]
    fits.BinTableHDU.from_columns(cols).writeto(tmp_path / "s.fits")
    ds = lf.load_dataset(tmp_path / "s.fits")
    assert np.argwhere(ds.mask).tolist() == [[1, 2]]
    assert np.array_equal(ds.x[~ds.mask], flux[flux != -999].astype(np.float32))


# ------------------------------------------------------------------ CSV headers (a numeric header is a header)
def _spectra_csv(path, rng, header: bool = True):
    grid = np.linspace(4000.0, 4100.0, 11)
    flux = rng.normal(1.0, 0.1, size=(300, 11))
    lines = ([",".join(f"{g:.1f}" for g in grid)] if header else []) + [",".join(f"{v:.6f}" for v in r) for r in flux]
    path.write_text("\n".join(lines) + "\n")
    return grid, flux


def test_a_numeric_header_is_recognised_said_and_kept(tmp_path, rng, capsys):
    grid, flux = _spectra_csv(tmp_path / "s.csv", rng)
    ds = lf.load_dataset(tmp_path / "s.csv")
    assert ds.x.shape == (300, 11)  # was 301 rows: the grid read as a spectrum
    np.testing.assert_allclose(ds.x, flux, rtol=1e-6)
    np.testing.assert_array_equal(ds.info["column_values"], grid)
    assert ds.info["columns"][0] == "4000.0" and ds.info["header"] == "numeric names"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "read as the column names" in err and "--header no" in err
    as_data = lf.load_dataset(tmp_path / "s.csv", header="no")  # the explicit choice is followed, silently
    assert as_data.x.shape == (301, 11) and capsys.readouterr().err == ""


def test_a_headerless_table_of_numbers_stays_data_and_says_so(tmp_path, rng, capsys):
    _, flux = _spectra_csv(tmp_path / "n.csv", rng, header=False)
    ds = lf.load_dataset(tmp_path / "n.csv")
    assert ds.x.shape == (300, 11) and ds.info["header"] == "none"
    assert "is read as data; --header yes" in capsys.readouterr().err
    assert lf.load_dataset(tmp_path / "n.csv", header="yes").x.shape == (299, 11)
    with pytest.raises(lf.DataError, match="choose one of auto, yes, no"):
        lf.load_dataset(tmp_path / "n.csv", header="maybe")


def test_the_cli_takes_the_header_option(tmp_path, rng, capsys):
    from latentforge.cli.main import main

    _spectra_csv(tmp_path / "s.csv", rng)
    assert main(["train", "ae", "--data", str(tmp_path / "s.csv"), "--header", "no", "--epochs", "1",
                 "--out", str(tmp_path / "r")]) == 0
    config = (tmp_path / "r" / "config.json").read_text()
    assert '"header": "no"' in config
    assert "read as the column names" not in capsys.readouterr().err


# ------------------------------------------------------------------ every option a reader accepts is used
def test_sigma_key_selects_the_uncertainty_columns_of_a_csv(tmp_path, rng):
    a, b = rng.normal(5, 1, 40), rng.normal(-3, 2, 40)
    ea, eb = rng.uniform(0.1, 0.2, 40), rng.uniform(0.3, 0.4, 40)
    rows = ["a,b,err_a,err_b"] + [f"{a[i]},{b[i]},{ea[i]},{eb[i]}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows))
    ds = lf.load_dataset(tmp_path / "t.csv", sigma_key="err_*")
    assert ds.x.shape == (40, 2) and ds.info["columns"] == ["a", "b"]
    np.testing.assert_allclose(ds.sigma, np.stack([ea, eb], 1), rtol=1e-6)
    ivar = lf.load_dataset(tmp_path / "t.csv", ivar_key="err_a,err_b")  # the same columns read as 1/sigma^2
    np.testing.assert_allclose(ivar.sigma, 1 / np.sqrt(np.stack([ea, eb], 1)), rtol=1e-5)
    cond = lf.load_dataset(tmp_path / "t.csv", key="a", cond_key="b")
    np.testing.assert_allclose(cond.cond[:, 0], b, rtol=1e-5)
    masked = lf.load_dataset(tmp_path / "t.csv", key="a", mask_key="err_a")  # non-zero flags mask the point
    assert masked.mask.all()
    with pytest.raises(lf.DataError, match="one sigma column per feature column"):
        lf.load_dataset(tmp_path / "t.csv", sigma_key="err_a")


def test_sigma_key_selects_the_uncertainty_columns_of_a_fits_table(tmp_path, rng):
    a, ea = rng.normal(5, 1, 30), rng.uniform(0.1, 0.2, 30)
    fits.BinTableHDU.from_columns([fits.Column(name="mag", format="D", unit="mag", array=a),
                                   fits.Column(name="mag_err", format="D", array=ea)]).writeto(tmp_path / "t.fits")
    ds = lf.load_dataset(tmp_path / "t.fits", sigma_key="mag_err")
    assert ds.x.shape == (30, 1) and ds.info["columns"] == ["mag"] and ds.info["column_units"] == ["mag"]
    np.testing.assert_allclose(ds.sigma[:, 0], ea, rtol=1e-6)


@pytest.mark.parametrize("option", ["key", "labels_key", "sigma_key", "ivar_key", "mask_key", "cond_key", "header",
                                    "missing"])
def test_an_option_a_reader_does_not_use_is_refused(tmp_path, rng, option):
    np.save(tmp_path / "x.npy", rng.random((10, 3)))
    with pytest.raises(lf.DataError, match=f"does not use {option}="):
        lf.load_dataset(tmp_path / "x.npy", **{option: "a"})
    if option in ("header", "missing"):  # containers name arrays, never headers
        np.savez(tmp_path / "x.npz", x=rng.random((10, 3)))
        with pytest.raises(lf.DataError, match=f"does not use {option}="):
            lf.load_dataset(tmp_path / "x.npz", **{option: "yes"})


def test_a_folder_of_images_refuses_keys(tmp_path):
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.full((4, 4), i * 50, np.uint8)).save(tmp_path / f"{i}.png")
    with pytest.raises(lf.DataError, match="does not use sigma_key="):
        lf.load_dataset(tmp_path, sigma_key="s")


# ------------------------------------------------------------------ the advice of a refusal works when followed
def test_a_missing_marker_advice_works(tmp_path):
    rows = ["a,b"] + [f"{i},{'-' if i == 3 else 2 * i}" for i in range(10)]
    (tmp_path / "m.csv").write_text("\n".join(rows))
    with pytest.raises(lf.DataError, match=r"missing='-' \(CLI: --missing=-\)") as e:
        lf.load_dataset(tmp_path / "m.csv")
    assert "label column" not in str(e.value)
    ds = lf.load_dataset(tmp_path / "m.csv", missing="-")  # the advice, followed
    assert np.argwhere(ds.mask).tolist() == [[3, 1]] and ds.x[4].tolist() == [4.0, 8.0]
    only_a = lf.load_dataset(tmp_path / "m.csv", key="a")  # the other advice: leave the column out
    assert only_a.x.shape == (10, 1)


def test_a_text_column_advice_works(tmp_path):
    rows = ["a,kind"] + [f"{i},{'star' if i % 2 else 'galaxy'}" for i in range(10)]
    (tmp_path / "k.csv").write_text("\n".join(rows))
    with pytest.raises(lf.DataError, match=r"labels_key='kind'") as e:
        lf.load_dataset(tmp_path / "k.csv")
    assert "--key a" in str(e.value)
    assert set(lf.load_dataset(tmp_path / "k.csv", labels_key="kind").y) == {"star", "galaxy"}
    assert lf.load_dataset(tmp_path / "k.csv", key="a").x.shape == (10, 1)


def test_an_hdf5_compound_table_is_read_by_field_and_the_python_advice_works(tmp_path, rng):
    h5py = pytest.importorskip("h5py")
    table = np.zeros(20, dtype=[("ra", "f8"), ("dec", "f8"), ("name", "S8"), ("mag", "f4")])
    table["ra"], table["dec"], table["mag"] = rng.random(20), rng.random(20), rng.random(20)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f.create_dataset("catalogue", data=table)
    ds = lf.load_dataset(tmp_path / "c.h5")  # the numeric fields as columns, the text field left out
    np.testing.assert_allclose(ds.x, np.stack([table["ra"], table["dec"], table["mag"]], 1), rtol=1e-6)
    assert lf.load_dataset(tmp_path / "c.h5", key="ra,mag").x.shape == (20, 2)
    with pytest.raises(lf.DataError, match="structured_to_unstructured") as e:
        lf.as_dataset(table)
    advice = str(e.value).split("as columns: ")[1]
    import numpy.lib.recfunctions  # noqa: F401  (the advice names it)

    x = eval(advice, {"numpy": np, "x": table})  # the advice, run as written
    assert lf.as_dataset(x).x.shape == (20, 3)


# ------------------------------------------------------------------ keys naming parts of a known layout
def test_a_calogan_file_takes_cond_key_energy(tmp_path):
    from latentforge.domains.showers.files import write_showers
    from latentforge.domains.showers.simulator import ShowerSimulator

    d = ShowerSimulator(seed=1, geometry="calogan").simulate(25, "e+", energy_range=(2, 50))
    write_showers(tmp_path / "eplus.hdf5", d, layout="calogan")
    for spelling in ("energy", "incident energy", "incident_energies"):
        ds = lf.load_dataset(tmp_path / "eplus.hdf5", cond_key=spelling)  # was: "holds several arrays ..."
        assert ds.x.shape == (25, 504)
        # the reference: the simulator's incident energies (GeV) in the cells' unit, MeV
        np.testing.assert_allclose(ds.cond[:, 0], np.asarray(d["incident_energies"]).reshape(-1) * 1e3, rtol=1e-5)
        assert ds.info["energy_unit"] == "MeV"
    layer = lf.load_dataset(tmp_path / "eplus.hdf5", key="layer_1", cond_key="incident energy")  # a part of it
    assert layer.x.shape == (25, 1, 12, 12)
    np.testing.assert_allclose(layer.cond[:, 0], np.asarray(d["incident_energies"]).reshape(-1) * 1e3, rtol=1e-5)
    with pytest.raises(lf.DataError, match="no cond_key='momentum'; give cond_key='conditions' .* or cond_key='energy'"):
        lf.load_dataset(tmp_path / "eplus.hdf5", cond_key="momentum")  # from Python, in keywords
    with pytest.raises(lf.DataError, match="does not use sigma_key="):
        lf.load_dataset(tmp_path / "eplus.hdf5", sigma_key="layer_0")


# ------------------------------------------------------------------ more refusals, each followed as it advises
def _advice(error: Exception, pattern: str) -> str:
    import re

    found = re.search(pattern, str(error))
    assert found, str(error)
    return found.group(1)


def test_several_arrays_advice_names_one_that_reads(tmp_path, rng):
    np.savez(tmp_path / "two.npz", counts=rng.random((8, 3)), other=rng.random((8, 2)))
    with pytest.raises(lf.DataError, match="holds several arrays") as e:
        lf.load_dataset(tmp_path / "two.npz")
    key = _advice(e.value, r"key='([^']+)'")
    assert lf.load_dataset(tmp_path / "two.npz", key=key).x.shape[0] == 8


def test_gzip_advice_decompresses_to_a_readable_file(tmp_path, rng):
    import gzip
    import shutil

    np.savez(tmp_path / "a.npz", x=rng.random((5, 3)))
    with open(tmp_path / "a.npz", "rb") as f, gzip.open(tmp_path / "a.npz.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    (tmp_path / "a.npz").unlink()
    with pytest.raises(lf.DataError, match=r"decompress it first \(gunzip a.npz.gz\)"):
        lf.load_dataset(tmp_path / "a.npz.gz")
    with gzip.open(tmp_path / "a.npz.gz", "rb") as g, open(tmp_path / "a.npz", "wb") as f:  # what gunzip does
        shutil.copyfileobj(g, f)
    assert lf.load_dataset(tmp_path / "a.npz").x.shape == (5, 3)


def test_mixed_folder_advice_pattern_reads(tmp_path, rng):
    np.save(tmp_path / "a.npy", rng.random((4, 3)))
    np.save(tmp_path / "b.npy", rng.random((4, 3)))
    (tmp_path / "c.csv").write_text("p,q,r\n1,2,3\n")
    with pytest.raises(lf.DataError, match=r"e\.g\. '(data/\*\.npy)'"):
        lf.load_dataset(tmp_path)
    assert lf.load_dataset(str(tmp_path / "*.npy")).x.shape == (8, 3)  # the advised pattern, for this folder


def test_array_advice_runs(rng):
    ambiguous = rng.random((4, 3, 5, 3)).astype(np.float32)
    with pytest.raises(lf.DataError, match="channels_last=True"):
        lf.as_dataset(ambiguous)
    assert lf.as_dataset(ambiguous, channels_last=True).x.shape == (4, 3, 3, 5)
    z = rng.random((6, 2)) + 1j * rng.random((6, 2))
    with pytest.raises(lf.DataError, match="np.abs"):
        lf.as_dataset(z)
    assert lf.as_dataset(np.abs(z)).x.shape == (6, 2)
    text = np.array([["1.5", "2"], ["3", "4.25"]])
    with pytest.raises(lf.DataError, match=r"np.asarray\(x, dtype=float\)"):
        lf.as_dataset(text)
    assert lf.as_dataset(np.asarray(text, dtype=float)).x.tolist() == [[1.5, 2.0], [3.0, 4.25]]


def test_fortran_order_stream_advice_runs(tmp_path, rng):
    from latentforge.data.stream import ChunkedFile

    x = np.asfortranarray(rng.random((50, 4)))
    np.save(tmp_path / "f.npy", x)
    with pytest.raises(lf.DataError, match=r"np.save\(path, np.ascontiguousarray\(x\)\)"):
        ChunkedFile(tmp_path / "f.npy")
    np.save(tmp_path / "f.npy", np.ascontiguousarray(x))  # the advice
    f = ChunkedFile(tmp_path / "f.npy")
    np.testing.assert_allclose(f.rows(0, 50), x.astype(np.float32))


def test_shower_labels_key_advice_runs(tmp_path):
    from latentforge.domains.showers.files import write_showers
    from latentforge.domains.showers.simulator import ShowerSimulator

    d = ShowerSimulator(seed=3, geometry="calogan").simulate(10, "gamma", energy_range=(2, 20))
    write_showers(tmp_path / "g.hdf5", d, layout="calochallenge")
    with pytest.raises(lf.DataError, match=r"no labels_key='species'; give labels_key='particle'"):
        lf.load_dataset(tmp_path / "g.hdf5", labels_key="species")
    assert set(lf.load_dataset(tmp_path / "g.hdf5", labels_key="particle").y) == {"gamma"}


def test_the_format_lists_come_from_the_registry(tmp_path):
    import argparse

    from latentforge.cli.flags import data_flags
    from latentforge.data import READERS, supported
    from latentforge.domains.spectra.fits import FITS_SUFFIXES
    from latentforge.data.images import IMAGE_SUFFIXES

    assert set(IMAGE_SUFFIXES) == set(READERS.get("image").suffixes)
    assert set(FITS_SUFFIXES) >= set(READERS.get("fits").suffixes) and ".fits.gz" in FITS_SUFFIXES
    parser = argparse.ArgumentParser()
    data_flags(parser)
    help_text = " ".join(parser.format_help().split())
    text = supported()
    (tmp_path / "data.xyz").write_text("1,2\n")
    with pytest.raises(lf.DataError, match="unknown file type; supported: ") as e:
        lf.load_dataset(tmp_path / "data.xyz")
    for _, reader in READERS.items():  # every registered ending in every list
        assert all(s in text and s in help_text and s in str(e.value) for s in reader.suffixes), reader


def test_channels_last_for_data_that_are_not_images_is_refused(tmp_path, rng):
    np.save(tmp_path / "t.npy", rng.random((10, 4)))
    for value, flag in ((True, "--channels-last"), (False, "--channels-first")):
        with pytest.raises(lf.DataError, match=f"channels_last={value} \\(CLI: {flag}\\).*shape \\(10, 4\\); drop it"):
            lf.load_dataset(tmp_path / "t.npy", channels_last=value)
        with pytest.raises(lf.DataError, match="drop it"):
            lf.as_dataset(rng.random((10, 4)), channels_last=value)
    assert lf.load_dataset(tmp_path / "t.npy").x.shape == (10, 4)  # the advice: without it


def test_as_dataset_uses_or_refuses_every_array_option(rng):
    """An accepted option is used: sigma / ivar / mask / cond beside an array reach the data set, options that
    name arrays inside a file are refused for an array, and an ArrayDataset refuses options it would ignore."""
    x = rng.normal(size=(30, 4)).astype(np.float32)
    sigma = np.full_like(x, 0.5)
    ds = lf.as_dataset(x, sigma=sigma)
    np.testing.assert_array_equal(ds.sigma, sigma)
    ivar = np.full_like(x, 4.0)
    ivar[0, 1] = 0
    ds = lf.as_dataset(x, ivar=ivar)
    assert ds.sigma[1, 1] == pytest.approx(1 / np.sqrt(4.0)) and ds.mask[0, 1] and ds.mask.sum() == 1
    cond = rng.normal(size=(30, 2))
    np.testing.assert_allclose(lf.as_dataset(x, cond=cond).cond, cond, rtol=1e-6)
    with pytest.raises(lf.DataError, match="sigma_key name"):
        lf.as_dataset(x, sigma_key="err")
    with pytest.raises(lf.DataError, match="sigma or ivar, not both"):
        lf.as_dataset(x, sigma=sigma, ivar=ivar)
    with pytest.raises(lf.DataError, match="already holds its arrays; drop sigma"):
        lf.as_dataset(lf.ArrayDataset(x), sigma=sigma)
