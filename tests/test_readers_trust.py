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
