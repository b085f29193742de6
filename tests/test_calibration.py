"""Calibrated uncertainties: learned likelihood scales start from the data; held-out coverage, PIT and
split-conformal intervals checked against independent numpy / scipy computations."""

import numpy as np
import pytest
import torch
from scipy.stats import norm

import latentforge as lf


def gaussian_toy(n=2000, d=4, seed=0):
    return np.random.default_rng(seed).normal(300.0, 50.0, (n, d)).astype(np.float32)


def test_learned_sigma_starts_at_the_training_data_spread():
    x = torch.as_tensor(np.random.default_rng(1).normal(2.0, [0.5, 1.0, 2.0], (500, 3)), dtype=torch.float32)
    shared, _ = lf.build("vae", (3,), likelihood="gaussian-shared")
    shared.start_scales_from_data(x)
    xn = x.numpy().astype(np.float64)
    pooled = np.sqrt(np.mean((xn - xn.mean(0)) ** 2))
    assert float(shared.likelihood.log_sigma.exp()) == pytest.approx(pooled, rel=1e-5)
    hetero, _ = lf.build("vae", (3,), likelihood="gaussian-hetero")
    hetero.start_scales_from_data(x)
    bias = hetero.decoder.linears[-1].bias.detach().numpy()[3:]
    np.testing.assert_allclose(bias, np.log(xn.std(0)), rtol=1e-5)
    fixed, _ = lf.build("vae", (3,), likelihood="gaussian")  # a fixed sigma is the user's and stays
    assert fixed.start_scales_from_data(x) is None and float(fixed.likelihood.log_sigma.exp()) == pytest.approx(0.1)


def test_default_gaussian_vae_intervals_cover_their_level():
    """`train vae` at its defaults on N(300, 50^2 I_4): the held-out predictive intervals of ``predict``
    (mean +- 1 and 2 standard deviations) hold about 68.3 % and 95.4 % of the values."""
    run = lf.train("vae", gaussian_toy(600), progress=False)
    fresh = gaussian_toy(2000, seed=5)  # rows the run never saw, from the same distribution
    mean, std = run.predict(fresh, samples=32, seed=0)
    r = np.abs(fresh - mean)
    one, two = np.mean(r < std), np.mean(r < 2 * std)
    assert abs(one - (norm.cdf(1) - norm.cdf(-1))) < 0.05, one
    assert abs(two - (norm.cdf(2) - norm.cdf(-2))) < 0.04, two
