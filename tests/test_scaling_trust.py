"""Scalings: the change of variables to data units, fits on data alone, float64 statistics, relative constants.

Every expected number here comes from an independent computation (finite differences, scipy.stats, numpy's
nan-aware statistics), never from the scaling's own output."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import latentforge as lf
from latentforge.data.scaling import SCALINGS, Scaler
from latentforge.errors import ConfigError

# scalings whose map depends on each example's condition vector and a geometry are checked with their domain's data
SQUARE_KINDS = [k for k in SCALINGS.names() if SCALINGS.get(k).square_jacobian and not SCALINGS.get(k).uses_condition]


def _data(kind: str, rng: np.random.Generator, n: int = 6, d: int = 5) -> np.ndarray:
    """Positive data on different scales per column (log and median need non-negative values)."""
    return (rng.gamma(4.0, 1.0, size=(n, d)) * np.array([1.0, 10.0, 0.1, 300.0, 2.0])[:d] + 0.5)


def _fd_log_det(s: Scaler, x: np.ndarray, mask: np.ndarray | None, factors) -> np.ndarray:
    """log |det| of the central finite-difference Jacobian of ``transform``, on the unmasked values of each row."""
    out = []
    for i in range(len(x)):
        row = x[i:i + 1].astype(np.float64)
        keep = np.ones(row.shape[1], bool) if mask is None else ~mask[i]
        fac = None if factors is None else factors[i:i + 1]
        cols = np.flatnonzero(keep)
        jac = np.zeros((len(cols), len(cols)))
        for a, j in enumerate(cols):
            h = 1e-3 * max(abs(row[0, j]), 1.0)
            up, down = row.copy(), row.copy()
            up[0, j] += h
            down[0, j] -= h
            diff = (s.transform(up, fac).astype(np.float64) - s.transform(down, fac).astype(np.float64)) / (2 * h)
            jac[:, a] = diff[0, cols]
        sign, logdet = np.linalg.slogdet(jac)
        assert sign != 0
        out.append(logdet)
    return np.array(out)


@pytest.mark.parametrize("kind", SQUARE_KINDS)
@pytest.mark.parametrize("masked", [False, True])
def test_log_abs_det_jacobian_matches_finite_differences(kind, masked):
    rng = np.random.default_rng(3)
    x = _data(kind, rng)
    mask = rng.random(x.shape) < 0.3 if masked else None
    if mask is not None:
        mask[:, 0] = False  # every row keeps a value
    s = Scaler(kind).fit(x, mask)
    factors = s.factors(x, mask) if s.per_example else None
    got = s.log_abs_det_jacobian(x, mask)
    assert got.shape == (len(x),) and got.dtype == np.float64
    np.testing.assert_allclose(got, _fd_log_det(s, x, mask, factors), rtol=0, atol=2e-3)


@pytest.mark.parametrize("kind", ["standard", "minmax", "minmax-feature", "none"])
def test_gaussian_density_in_data_units_is_the_scaled_density_minus_the_log_det(kind):
    """x ~ N(mu, s^2) per column; the scaled values u = t(x), t affine, then follow N(t(mu), (t(mu + s) - t(mu))^2)
    (read off two transformed points, not from the scaler's parameters): log p_x(x) = log p_u(u) + log|det J|."""
    rng = np.random.default_rng(0)
    mu, sd = np.array([1000.0, 997.0, 1004.0]), np.array([15.0, 5.0, 2.0])
    x = rng.normal(mu, sd, size=(200, 3))
    s = Scaler(kind).fit(x)
    u = s.transform(x).astype(np.float64)
    t_mu = s.transform(mu[None]).astype(np.float64)[0]
    t_up = s.transform((mu + sd)[None]).astype(np.float64)[0]
    logp_x = stats.norm.logpdf(x, mu, sd).sum(1)
    logp_u = stats.norm.logpdf(u, t_mu, np.abs(t_up - t_mu)).sum(1)
    np.testing.assert_allclose(logp_u + s.log_abs_det_jacobian(x), logp_x, rtol=1e-5, atol=1e-3)


def test_the_same_data_in_mm_and_in_m_differ_by_d_log_1000_in_data_units():
    rng = np.random.default_rng(1)
    x_m = rng.normal(2.0, 0.1, size=(50, 4))
    s_m, s_mm = Scaler("standard").fit(x_m), Scaler("standard").fit(x_m * 1000)
    np.testing.assert_allclose(s_mm.transform(x_m * 1000), s_m.transform(x_m), atol=1e-5)  # same model space
    diff = s_mm.log_abs_det_jacobian(x_m * 1000) - s_m.log_abs_det_jacobian(x_m)
    np.testing.assert_allclose(diff, -4 * np.log(1000.0), rtol=1e-9)


def test_median_log_det_is_minus_unmasked_count_times_log_median():
    rng = np.random.default_rng(2)
    x = rng.uniform(5, 15, size=(4, 9))
    mask = np.zeros(x.shape, bool)
    mask[1, :4] = True
    s = Scaler("median").fit(x, mask)
    med = np.array([np.median(x[i][~mask[i]]) for i in range(4)])
    np.testing.assert_allclose(s.log_abs_det_jacobian(x, mask), -(~mask).sum(1) * np.log(med), rtol=1e-6)


def test_log_scaling_log_det_is_minus_infinity_for_a_clipped_negative_value():
    s = Scaler("log").fit(np.array([[0.0, 1.0], [2.0, 3.0]]))
    assert np.isneginf(s.log_abs_det_jacobian(np.array([[-1.0, 1.0]])))[0]
    assert np.isfinite(s.log_abs_det_jacobian(np.array([[-1.0, 1.0]]), np.array([[True, False]])))[0]


def test_fractions_log_det_refused_in_one_line():
    rng = np.random.default_rng(0)
    s = Scaler("fractions").fit(rng.gamma(2.0, 1.0, size=(20, 4)))
    with pytest.raises(ConfigError, match="different number of values"):
        s.log_abs_det_jacobian(rng.gamma(2.0, 1.0, size=(3, 4)))


# --------------------------------------------------------------------------- masked points are not data
def _masked_counts(seed: int = 0, n: int = 800, d: int = 16):
    """Counts near 1000 +- 15 with 40 % of the points NaN and flagged in a mask beside them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(1000, 15, size=(n, d)).round()
    mask = rng.random(x.shape) < 0.4
    x[mask] = np.nan
    return x, mask


def test_every_scaling_fits_on_unmasked_values_only():
    x, mask = _masked_counts()
    zeroed = np.where(mask, 0.0, x)  # what the container holds at masked points
    raw = np.where(mask, np.nan, x)
    s = Scaler("standard").fit(zeroed, mask)
    np.testing.assert_allclose(s.params["mean"], np.nanmean(raw, axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.params["std"], np.nanstd(raw, axis=0), rtol=1e-10)
    s = Scaler("minmax").fit(zeroed, mask)
    assert float(s.params["lo"]) == np.nanmin(raw) and float(s.params["hi"]) == np.nanmax(raw)
    s = Scaler("minmax-feature").fit(zeroed, mask)
    np.testing.assert_array_equal(s.params["lo"], np.nanmin(raw, axis=0))
    np.testing.assert_array_equal(s.params["hi"], np.nanmax(raw, axis=0))
    s = Scaler("log").fit(zeroed, mask)
    np.testing.assert_allclose(float(s.params["eps"]), np.nanpercentile(raw, 1), rtol=1e-12)
    s = Scaler("median").fit(zeroed, mask)
    np.testing.assert_allclose(s.factors(zeroed, mask).ravel(), np.nanmedian(raw, axis=1), rtol=1e-6)
    # NaN without a mask is a missing value too (as in scikit-learn's scalers)
    s = Scaler("standard").fit(raw)
    np.testing.assert_allclose(s.params["mean"], np.nanmean(raw, axis=0), rtol=1e-12)
    with pytest.raises(ConfigError, match="masked points leave"):
        Scaler("fractions").fit(zeroed, mask)


def _train_rows(n: int, run_dir) -> np.ndarray:
    """The training rows of a run, from the split recorded in its config (the same split function training uses)."""
    import json

    from latentforge.data.split import split_indices

    tc = json.loads((run_dir / "config.json").read_text())["train_config"]
    return split_indices(n, val_fraction=tc["val_fraction"], test_fraction=tc["test_fraction"],
                         seed=tc["seed"])["train"]


@pytest.mark.parametrize("scaling", [None, "minmax"])
def test_cli_train_with_a_mask_fits_the_scaling_on_unmasked_values(tmp_path, capsys, scaling):
    import json

    from latentforge.cli.main import main

    x, mask = _masked_counts()
    np.savez(tmp_path / "counts.npz", x=x, mask=mask)
    args = ["train", "vae", "--data", str(tmp_path / "counts.npz"), "--epochs", "1", "--no-progress",
            "--out", str(tmp_path / "run")]
    assert main(args + (["--scaling", scaling] if scaling else [])) == 0, capsys.readouterr().err
    state = json.loads((tmp_path / "run" / "transform.json").read_text())["scaler"]
    raw = np.where(mask, np.nan, x)[_train_rows(len(x), tmp_path / "run")]
    if scaling is None:  # the default chosen for real-valued data
        assert state["kind"] == "standard"
        np.testing.assert_allclose(state["params"]["mean"], np.nanmean(raw, axis=0), rtol=1e-9)
        np.testing.assert_allclose(state["params"]["std"], np.nanstd(raw, axis=0), rtol=1e-9)
        print("standard: mean of the feature means %.2f, mean std %.2f (numpy nanmean %.2f, nanstd %.2f)"
              % (np.mean(state["params"]["mean"]), np.mean(state["params"]["std"]),
                 np.nanmean(raw), np.mean(np.nanstd(raw, axis=0))))
    else:
        assert state["params"]["lo"] == np.nanmin(raw) and state["params"]["hi"] == np.nanmax(raw)
        print(f"minmax: lo {state['params']['lo']} hi {state['params']['hi']}")


def test_python_api_train_with_a_mask_fits_the_scaling_on_unmasked_values():
    x, mask = _masked_counts(seed=1, n=300, d=8)
    run = lf.train("vae", lf.ArrayDataset(x, mask=mask), epochs=1, progress=False)
    from latentforge.data.split import split_for

    raw = np.where(mask, np.nan, x)[split_for(len(x), run.train_config)["train"]]
    np.testing.assert_allclose(run.scaler.params["mean"], np.nanmean(raw, axis=0), rtol=1e-9)
    np.testing.assert_allclose(run.scaler.params["std"], np.nanstd(raw, axis=0), rtol=1e-9)


# --------------------------------------------------------------------------- "constant" is relative
@pytest.mark.parametrize("kind", ["standard", "minmax", "minmax-feature"])
@pytest.mark.parametrize("unit", [1e-17, 1e5])
def test_a_column_in_small_or_large_units_is_scaled_like_the_same_column_in_unit_units(kind, unit):
    rng = np.random.default_rng(4)
    x = rng.normal(6.0, 1.0, size=(200, 3))  # e.g. a flux in units of 1e-17 erg/s/cm^2/A
    held_out = np.array([[6.2, 4.0, 8.5]])
    s1, su = Scaler(kind).fit(x), Scaler(kind).fit(x * unit)
    np.testing.assert_allclose(su.transform(held_out * unit), s1.transform(held_out), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(su.inverse_transform(su.transform(held_out * unit)) / unit, held_out, rtol=1e-6)
    assert np.abs(su.transform(x * unit)).max() > 0.5  # the column spreads over the model's space


def test_an_exactly_constant_column_maps_to_zero_whatever_its_magnitude():
    for c in (0.0, 1e-17, 3.0, 6e4, 1e20):
        x = np.full((10, 2), c)
        x[:, 1] = np.arange(10)
        s = Scaler("standard").fit(x)
        assert s.params["std"][0] == 1.0 and np.all(s.transform(x)[:, 0] == 0)
        s = Scaler("minmax-feature").fit(x)
        assert np.all(s.transform(x)[:, 0] == 0) and np.all(np.isfinite(s.transform(x)))


@pytest.mark.parametrize("unit", [1e-17, 1e5])
def test_held_out_r2_of_a_table_in_physical_units_matches_the_same_table_in_unit_units(unit):
    """The run's held-out R^2 (numpy: 1 - SSE / SST on the test rows, data units) does not depend on the unit."""
    from latentforge.data.split import split_for

    rng = np.random.default_rng(0)
    x = rng.normal(5, 1, size=(300, 4)) @ rng.normal(size=(4, 4)) + 10

    def held_out_r2(data):
        run = lf.train("ae", data, epochs=15, progress=False)
        test = data[split_for(len(data), run.train_config)["test"]]
        recon = run.reconstruct(test).reshape(test.shape).astype(np.float64)
        return 1 - ((recon - test) ** 2).sum() / ((test - test.mean(0)) ** 2).sum()

    r2_1, r2_u = held_out_r2(x), held_out_r2(x * unit)
    print(f"held-out R^2 (test rows, data units): unit 1: {r2_1:.4f}; unit {unit:g}: {r2_u:.4f}")
    assert abs(r2_u - r2_1) < 1e-3


# --------------------------------------------------------------------------- large offsets: float64 before the cast
OFFSET_KINDS = ["standard", "minmax", "minmax-feature"]


def _mjds(n: int = 1000) -> np.ndarray:
    """n distinct MJD times (days) over one night near MJD 60000, at least 10 s apart."""
    rng = np.random.default_rng(7)
    return 60000.2 + np.sort(rng.choice(60000, size=n, replace=False))[:, None] * (1.0 / 86400) + \
        rng.uniform(0, 1e-6, size=(n, 1))


@pytest.mark.parametrize("kind", OFFSET_KINDS)
def test_mjd_times_stay_distinct_and_round_trip_to_well_under_a_second(kind):
    t = _mjds()
    assert len(np.unique(t.astype(np.float32))) < 200  # what a float32 cast before the offset leaves
    s = Scaler(kind).fit(t)
    u = s.transform(t)
    assert u.dtype == np.float32 and len(np.unique(u)) == len(t)
    back = s.inverse_transform(u)
    assert back.dtype == np.float64
    err_s = np.abs(back - t).max() * 86400
    print(f"{kind}: {len(np.unique(u))} distinct of {len(t)} after transform; round trip max error {err_s:.2e} s")
    assert err_s < 0.01
    # the float64 raw dtype survives saving the run's transform
    again = Scaler.from_state_dict(s.state_dict())
    assert again.inverse_transform(u).dtype == np.float64
    np.testing.assert_array_equal(again.transform(t), u)


@pytest.mark.parametrize("kind", ["standard", "minmax", "minmax-feature", "log", "median", "none"])
def test_transform_in_place_and_by_blocks_equals_the_float64_formula(kind, monkeypatch):
    """Row blocks (forced small here) and copy=False give the same float32 values as one float64 computation."""
    import latentforge.data.scaling_base as scaling_base

    rng = np.random.default_rng(5)
    x = rng.gamma(3.0, 2.0, size=(37, 6)).astype(np.float32)
    s = Scaler(kind).fit(x)
    whole = s.transform(x)
    monkeypatch.setattr(scaling_base, "BLOCK_VALUES", 13)
    np.testing.assert_array_equal(s.transform(x), whole)
    own = x.copy()
    out = s.transform(own, copy=False)
    np.testing.assert_array_equal(out, whole)
    back = s.inverse_transform(whole, s.factors(x) if s.per_example else None)
    keep = x >= float(s.params["eps"]) if kind == "log" else np.ones(x.shape, bool)  # log zeroes values below eps
    np.testing.assert_allclose(back[keep], x[keep], rtol=2e-6, atol=1e-6)


# (no import circle through the scaling files: tests/test_architecture.py::test_no_import_cycle_between_files)


@pytest.mark.parametrize("unit", [1e-17, 1e5])
def test_a_condition_vector_in_small_or_large_units_is_standardised_like_unit_units(unit):
    from latentforge.data.conditions import Conditioner

    rng = np.random.default_rng(8)
    c = rng.normal(3.0, 0.5, size=(100, 2))
    c1, cu = Conditioner("vector").fit(c), Conditioner("vector").fit(c * unit)
    np.testing.assert_allclose(cu.transform(c[:5] * unit), c1.transform(c[:5]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c1.transform(c[:5]), (c[:5] - c.mean(0)) / c.std(0), rtol=1e-5)
    flat = Conditioner("vector").fit(np.full((10, 1), 2e-17))  # exactly constant: maps to 0
    assert np.all(flat.transform(np.full((3, 1), 2e-17)) == 0)


def test_median_transform_leaves_masked_points_out_of_each_factor():
    rng = np.random.default_rng(9)
    x = rng.uniform(10, 20, size=(5, 11))
    mask = np.zeros(x.shape, bool)
    mask[:, :5] = True
    zeroed = np.where(mask, 0.0, x)
    s = Scaler("median").fit(zeroed, mask)
    want = x / np.median(x[:, 5:], axis=1, keepdims=True)
    np.testing.assert_allclose(s.transform(zeroed, mask=mask)[:, 5:], want[:, 5:], rtol=1e-6)


@pytest.mark.parametrize("kind", OFFSET_KINDS)
def test_float32_data_with_a_large_offset_map_as_the_float64_formula_does(kind):
    """float32 MJDs: the model-space values equal numpy's float64 formula on the same float32 values to float32
    resolution (rounding the offset itself to float32 would shift them by up to 0.002 d / spread)."""
    t = _mjds().astype(np.float32)
    s = Scaler(kind).fit(t)
    t64 = t.astype(np.float64)
    if kind == "standard":
        want = (t64 - t64.mean(0)) / t64.std(0)
    else:
        want = (t64 - t64.min()) / (t64.max() - t64.min())
    got = s.transform(t)
    print(f"{kind}: float32 MJDs, largest model-space difference from the float64 formula "
          f"{np.abs(got - want).max():.1e}")
    np.testing.assert_allclose(got, want, rtol=0, atol=3e-7 * np.abs(want).max())
    back = s.inverse_transform(got)
    assert back.dtype == np.float32 and np.abs(back.astype(np.float64) - t64).max() * 86400 < 400  # 1 float32 ulp


def test_mjd_times_from_a_csv_keep_their_precision_through_training(tmp_path):
    """Case 5 end to end: a table of MJD times read from a file, trained on and mapped back. The reader keeps
    float64 where float32 would blur a feature, the scaling removes the offset in float64: 1000 distinct times
    stay 1000 distinct model-space values and round-trip to well under a second (numpy's float64 is the
    reference; float32 storage alone would merge them into a few hundred)."""
    rng = np.random.default_rng(0)
    t = 60000 + np.sort(rng.uniform(0, 0.7, 1000))
    np.savetxt(tmp_path / "mjd.csv", np.c_[t, rng.normal(10, 1, 1000)], delimiter=",", header="mjd,flux",
               comments="")
    assert len(np.unique(t.astype(np.float32))) < 500  # what float32 storage would have done
    ds = lf.load_dataset(str(tmp_path / "mjd.csv"))
    assert ds.x.dtype == np.float64 and len(np.unique(ds.x[:, 0])) == 1000
    run = lf.train("ae", str(tmp_path / "mjd.csv"), latent_dim=1, epochs=1, progress=False)
    scaled = run.preprocess.scaler.transform(ds.x)
    assert scaled.dtype == np.float32 and len(np.unique(scaled[:, 0])) == 1000
    back = run.preprocess.scaler.inverse_transform(scaled)
    assert np.abs(back[:, 0] - t).max() * 86400 < 0.1
    # ordinary float64 data still become float32 (the models' arithmetic)
    assert lf.as_dataset(rng.normal(size=(50, 3))).x.dtype == np.float32
