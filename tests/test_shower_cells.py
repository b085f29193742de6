"""The compound Poisson-Gamma cell reading of the two-stage shower surrogate, against numpy and scipy."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from latentforge.domains.showers.layers import layer_energies, layer_u, logit_u
from latentforge.domains.showers.cells_model import CellNoise, layer_shares, segment_log_softmax

EPS, HI = 1e-4, 12.0


def noise(p: np.ndarray, m: float, alpha: float) -> CellNoise:
    lp = torch.log(torch.tensor(p, dtype=torch.float64))
    return CellNoise(lp, lp + math.log(m), torch.full_like(lp, math.log(alpha)), EPS, HI)


def shares(noise_: CellNoise, s: torch.Tensor) -> np.ndarray:
    return (EPS * torch.expm1(HI * s)).numpy()


@pytest.mark.parametrize("p, m, alpha", [(0.3, 2000.0, 2.0), (0.01, 300.0, 2.0), (2e-4, 400.0, 1.5)])
def test_draws_have_the_compound_poisson_gamma_moments(p, m, alpha):
    """Zero fraction, mean and variance of the drawn shares against a numpy compound Poisson-Gamma simulation
    (N ~ Poisson(m p) quanta of Gamma(alpha, 1 / (alpha m)) each)."""
    n = 200_000
    d = noise(np.full((n, 1), p), m, alpha)
    f = shares(d, d.sample(torch.Generator().manual_seed(0)))[:, 0]
    rng = np.random.default_rng(1)
    counts = rng.poisson(m * p, n)
    ref = np.where(counts > 0, rng.gamma(np.maximum(alpha * counts, 1e-12), 1 / (alpha * m)), 0.0)
    assert (f == 0).mean() == pytest.approx(math.exp(-m * p), abs=4e-3)
    assert (f == 0).mean() == pytest.approx((ref == 0).mean(), abs=4e-3)
    assert f.mean() == pytest.approx(ref.mean(), rel=0.02)
    assert f.var() == pytest.approx(ref.var(), rel=0.05)
    assert f.var() == pytest.approx(p * (1 + 1 / alpha) / m, rel=0.05)  # the formula the module states
    np.testing.assert_allclose(d.share_variance.numpy()[0, 0], p * (1 + 1 / alpha) / m, rtol=1e-9)


def test_relative_noise_shrinks_as_one_over_sqrt_deposit():
    """One cell with a share of 0.2 of layers holding 100x more quanta: relative spread 10x smaller."""
    spreads = []
    for m in (500.0, 50_000.0):
        d = noise(np.full((100_000, 1), 0.2), m, 2.0)
        f = shares(d, d.sample(torch.Generator().manual_seed(2)))[:, 0]
        spreads.append(f.std() / f.mean())
    np.testing.assert_allclose(spreads, [math.sqrt(1.5 / (500 * 0.2)), math.sqrt(1.5 / (50_000 * 0.2))], rtol=0.05)


@pytest.mark.parametrize("p, m", [(0.05, 100.0), (1e-3, 200.0)])
def test_log_prob_is_a_normalised_density_of_the_scaled_share(p, m):
    """The point mass at 0 plus the integral of exp(log_prob) over s > 0 (scipy quadrature) is 1, and the mass
    at 0 is exp(-m p)."""
    d = noise(np.array([[p]]), m, 2.0)
    zero = math.exp(float(d.log_prob(torch.zeros(1, 1, dtype=torch.float64))))
    assert zero == pytest.approx(math.exp(-m * p), rel=1e-9)

    def dens(s: float) -> float:
        return math.exp(float(d.log_prob(torch.tensor([[s]], dtype=torch.float64))))

    mode = math.log1p(p / EPS) / HI
    total = sum(integrate.quad(dens, a, b, limit=200)[0] for a, b in ((1e-12, mode), (mode, 1.5 * mode + 0.2)))
    assert zero + total == pytest.approx(1.0, abs=2e-3)
    # a reading given that the cell fired is log-normal in f: compare with scipy at one point
    s = torch.tensor([[mode]], dtype=torch.float64)
    f = p
    sigma = math.sqrt(float(d.sigma2[0, 0]))
    expect = (math.log(-math.expm1(-m * p)) + stats.lognorm(sigma, scale=math.exp(float(d.mu[0, 0]))).logpdf(f)
              + math.log(EPS * HI) + HI * mode)
    assert float(d.log_prob(s)) == pytest.approx(expect, rel=1e-9)


def test_layer_shares_match_the_scalings_inverse():
    rng = np.random.default_rng(3)
    e = rng.gamma(2.0, 3.0, size=(50, 4))
    e_inc = e.sum(1) / rng.uniform(0.1, 0.9, 50)
    y = logit_u(layer_u(e, e_inc))
    mean, std = y.mean(0), y.std(0)
    got = layer_shares(torch.tensor((y - mean) / std), torch.tensor(mean), torch.tensor(std)).numpy()
    np.testing.assert_allclose(got, layer_energies(layer_u(e, e_inc), e_inc) / e_inc[:, None], rtol=1e-4)


def test_segment_log_softmax_sums_to_one_per_layer():
    logits = torch.randn(5, 9, dtype=torch.float64)
    p = segment_log_softmax(logits, (4, 3, 2)).exp().numpy()
    np.testing.assert_allclose(np.add.reduceat(p, [0, 4, 7], axis=1), 1.0, rtol=1e-12)
    mid = np.exp(logits[:, 4:7].numpy())
    np.testing.assert_allclose(p[:, 4:7], mid / mid.sum(1, keepdims=True))


def test_cells_of_many_quanta_keep_a_positive_variance_and_a_finite_density():
    """sigma^2 = log((1 - e^-lam)(lam + 1 + 1/alpha) / lam), computed in float64 by numpy, for lam up to e^25:
    in float32 lam + 1 rounds to lam beyond about 1e7, which once made sigma^2 zero and the density NaN."""
    log_lam = torch.tensor([[-20.0, 0.0, 10.0, 17.0, 20.0, 25.0]])
    log_alpha = torch.zeros_like(log_lam)
    log_p = torch.full_like(log_lam, math.log(1 / 6))
    noise = CellNoise(log_p, log_lam, log_alpha, EPS, HI)
    lam = np.exp(log_lam.double().numpy())
    want = np.log(-np.expm1(-lam)) + np.log1p(2.0 / lam)  # 1 + 1/alpha = 2
    got = noise.sigma2.double().numpy()
    assert (got > 0).all()
    np.testing.assert_allclose(got, np.maximum(want, 1e-10), rtol=1e-4)
    s = noise.mean  # the expected shares, scaled: every cell fired
    assert torch.isfinite(noise.log_prob(s)).all()


def test_likelihood_in_checkpointed_blocks_has_the_numpy_value_and_the_whole_batch_gradient(monkeypatch):
    """log_prob under autograd runs in blocks of cells (activation checkpointing); its value equals a float64
    numpy evaluation of the hurdle log-normal density, and its gradient the gradient of one unblocked pass."""
    import latentforge.domains.showers.cells_model as cells_model

    g = torch.Generator().manual_seed(3)
    b, d = 5, 37
    raw = [torch.randn(b, d, generator=g, dtype=torch.float64) for _ in range(3)]
    s = (torch.rand(b, d, generator=g, dtype=torch.float64) * 0.6) * (torch.rand(b, d, generator=g) > 0.4)

    def run(block: int) -> tuple[np.ndarray, list[np.ndarray]]:
        monkeypatch.setattr(cells_model, "LOG_PROB_BLOCK_VALUES", block)
        ins = [t.clone().requires_grad_(True) for t in raw]
        lp = CellNoise(ins[0], ins[1] + 4.0, ins[2], EPS, HI).log_prob(s)
        lp.sum().backward()
        return lp.detach().numpy(), [t.grad.numpy() for t in ins]

    blocked, g_blocked = run(b * 6)  # 7 blocks of 6 cells (the last of 1)
    whole, g_whole = run(10 ** 9)
    log_p, log_lam, log_alpha = raw[0].numpy(), np.clip(raw[1].numpy() + 4.0, -30, 25), raw[2].numpy()
    lam = np.exp(log_lam)
    log_hit = np.log(-np.expm1(-lam))
    sigma2 = np.maximum(log_hit + np.log1p((1 + np.exp(-log_alpha)) / lam), 1e-10)
    mu = log_p - log_hit - sigma2 / 2
    sv = s.numpy()
    f = EPS * np.expm1(HI * sv)
    with np.errstate(divide="ignore"):
        dens = (log_hit + stats.norm.logpdf(np.log(f), mu, np.sqrt(sigma2)) - np.log(f) + np.log(EPS * HI) + HI * sv)
    want = np.where(sv > 0, dens, -lam).sum(1)
    np.testing.assert_allclose(blocked, want, rtol=1e-10)
    np.testing.assert_allclose(whole, want, rtol=1e-10)
    for a, w in zip(g_blocked, g_whole):
        np.testing.assert_allclose(a, w, rtol=1e-10, atol=1e-12)
