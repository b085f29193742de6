"""Scalings: the change of variables to data units, fits on data alone, float64 statistics, relative constants.

Every expected number here comes from an independent computation (finite differences, scipy.stats, numpy's
nan-aware statistics), never from the scaling's own output."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from latentforge.data.scaling import SCALINGS, Scaler
from latentforge.errors import ConfigError

SQUARE_KINDS = [k for k in SCALINGS.names() if SCALINGS.get(k).square_jacobian]


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
