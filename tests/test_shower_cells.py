"""The compound Poisson-Gamma cell reading of the two-stage shower surrogate, against numpy and scipy."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from latentforge.domains.showers.layers import layer_energies, layer_u, logit_u
from latentforge.domains.showers.cells_model import (LOG_ALPHA_RANGE, LOG_LAMBDA_RANGE, CellNoise, layer_shares,
                                                     log_layer_shares,
                                                     segment_log_softmax, soft_clamp)

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


def test_log_layer_shares_of_extreme_layer_energies_match_float64():
    """Logits v = y std + mean up to +-30 (a layer that takes all that is left, or nothing): in float32 1 - sigmoid(v)
    rounds to 0 beyond v = 17; the float32 log shares agree with the float64 product u_0 prod_{0<j<=k} (1 - u_j)
    u_{k+1} written out."""
    rng = np.random.default_rng(4)
    v = rng.uniform(-30.0, 30.0, (64, 45))
    mean, std = rng.normal(0.0, 2.0, 45), rng.uniform(0.5, 3.0, 45)
    y = (v - mean) / std
    u, rest = 1.0 / (1.0 + np.exp(-v)), 1.0 / (1.0 + np.exp(v))  # u and 1 - u, each without a difference
    want = np.empty_like(v)
    for r in range(64):
        for k in range(45):
            e = u[r, 0] * np.prod(rest[r, 1:k + 1]) * (u[r, k + 1] if k < 44 else 1.0)  # E_k / E_inc
            want[r, k] = np.log(e) if e > 0 else -np.inf
    got = log_layer_shares(*(torch.tensor(a, dtype=torch.float32) for a in (y, mean, std))).double().numpy()
    assert np.isfinite(got).all()
    ok = np.isfinite(want)  # float64 itself underflows for shares below 1e-308
    assert ok.mean() > 0.5
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-4)


def test_segment_log_softmax_sums_to_one_per_layer():
    logits = torch.randn(5, 9, dtype=torch.float64)
    p = segment_log_softmax(logits, (4, 3, 2)).exp().numpy()
    np.testing.assert_allclose(np.add.reduceat(p, [0, 4, 7], axis=1), 1.0, rtol=1e-12)
    mid = np.exp(logits[:, 4:7].numpy())
    np.testing.assert_allclose(p[:, 4:7], mid / mid.sum(1, keepdims=True))


def numpy_soft_clamp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The documented bound in float64: x within [lo + 1, hi - 1], beyond it hi - 1 + (1 - e^-(x - hi + 1)) (and
    the mirror image below lo + 1)."""
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):  # both branches are evaluated everywhere
        return np.where(x > hi - 1, hi - np.exp(-(x - hi + 1)), np.where(x < lo + 1, lo + np.exp(x - lo - 1), x))


def test_soft_clamp_keeps_values_inside_and_passes_a_gradient():
    x = torch.tensor([-1e4, -40.0, -30.0, -28.0, 0.0, 10.0, 17.5, 18.0, 30.0, 1e4], dtype=torch.float64,
                     requires_grad=True)
    y = soft_clamp(x, *LOG_LAMBDA_RANGE)
    y.sum().backward()
    lo, hi = LOG_LAMBDA_RANGE
    assert (y >= lo).all() and (y <= hi).all()
    np.testing.assert_allclose(y.detach().numpy(), numpy_soft_clamp(x.detach().numpy(), lo, hi), rtol=1e-12)
    inside = (x > lo + 1) & (x < hi - 1)
    assert (y[inside] == x[inside]).all() and inside.sum() == 3  # inside: the value itself
    assert (x.grad[1:-1] > 0).all()  # a hard clamp gives 0 beyond its bounds


def test_cells_of_many_quanta_keep_a_positive_variance_and_a_finite_density():
    """sigma^2 = log((1 - e^-lam)(lam + 1 + 1/alpha) / lam), computed in float64 by numpy, for lam up to e^25
    (pressed below e^18): in float32 lam + 1 rounds to lam beyond about 1e7, which once made sigma^2 zero and the
    density NaN."""
    log_lam = torch.tensor([[-20.0, 0.0, 10.0, 17.0, 20.0, 25.0]])
    log_alpha = torch.zeros_like(log_lam)
    log_p = torch.full_like(log_lam, math.log(1 / 6))
    noise = CellNoise(log_p, log_lam, log_alpha, EPS, HI)
    lam = np.exp(numpy_soft_clamp(log_lam.double().numpy(), *LOG_LAMBDA_RANGE))
    want = np.log(-np.expm1(-lam)) + np.log1p(2.0 / lam)  # 1 + 1/alpha = 2
    got = noise.sigma2.double().numpy()
    assert (got > 0).all()
    np.testing.assert_allclose(got, np.maximum(want, 1e-10), rtol=1e-4)
    s = noise.mean  # the expected shares, scaled: every cell fired
    assert torch.isfinite(noise.log_prob(s)).all()


def numpy_log_density(log_p, log_lam, log_alpha, s, eps, hi):
    """Per-cell log density (B, D) of scaled shares s in float64, from the compound sum's first two moments given
    a reading (E[f | f > 0] = p / (1 - e^-lam), E[f^2 | f > 0] = p^2 ((1 + 1/alpha) / lam + 1) / (1 - e^-lam)),
    scipy's log-normal log density of f = eps expm1(hi s) and the Jacobian log(df / ds) = log(eps hi) + hi s."""
    lam = np.exp(numpy_soft_clamp(log_lam, *LOG_LAMBDA_RANGE))
    alpha = np.exp(numpy_soft_clamp(log_alpha, *LOG_ALPHA_RANGE))
    p, hit = np.exp(log_p), -np.expm1(-lam)
    m1 = p / hit
    m2 = p ** 2 * ((1 + 1 / alpha) / lam + 1) / hit
    sigma2 = np.log(m2 / m1 ** 2)
    mu = np.log(m1) - sigma2 / 2
    f = eps * np.expm1(hi * s)
    with np.errstate(divide="ignore"):
        read = (np.log(hit) + stats.lognorm(np.sqrt(sigma2), scale=np.exp(mu)).logpdf(np.where(s > 0, f, 1.0))
                + np.log(eps * hi) + hi * s)
    return np.where(s > 0, read, -lam)


def ds2_cells(n_showers: int, seed: int):
    """Showers shaped like the CaloChallenge dataset-2 geometry (45 layers of 16 x 9 = 144 cells): per layer a
    softmax of random logits as the expected shares, layer quanta log-uniform in 1e6 .. 1e10 (a TeV shower read
    finely; the top is beyond e^18 on purpose), alpha 0.5 .. 3, and readings drawn with relative spread
    sqrt((1 + 1/alpha) / lam), zeros with probability e^-lam; s stored in float32 like the data."""
    rng = np.random.default_rng(seed)
    sizes = (144,) * 45
    logits = rng.normal(0.0, 3.0, (n_showers, sum(sizes)))
    log_p = np.concatenate([lg - np.logaddexp.reduce(lg, axis=1, keepdims=True)
                            for lg in np.split(logits, np.cumsum(sizes)[:-1], axis=1)], 1)
    log_m = np.repeat(rng.uniform(np.log(1e6), np.log(1e10), (n_showers, 45)), 144, axis=1)
    log_lam = log_m + log_p
    log_alpha = np.log(rng.uniform(0.5, 3.0, log_p.shape))
    lam = np.exp(log_lam)
    rel = np.sqrt((1 + np.exp(-log_alpha)) / lam)
    f = np.exp(log_p) * np.exp(rng.normal(0.0, np.minimum(rel, 1.0)))
    f = np.where(rng.random(f.shape) < np.exp(-lam), 0.0, f)
    s = (np.log1p(f / EPS) / HI).astype(np.float32).astype(np.float64)
    return sizes, log_p, log_lam, log_alpha, s


def test_dataset_2_shaped_density_is_finite_and_matches_float64():
    """6480 cells per shower with 1e6 .. 1e10 quanta per layer: the float32 density per shower agrees with the
    float64 numpy / scipy computation to 1e-4 of its size, and its gradient is finite."""
    sizes, log_p, log_lam, log_alpha, s = ds2_cells(4, seed=7)
    t32 = [torch.tensor(v, dtype=torch.float32) for v in (log_p, log_lam, log_alpha, s)]
    t32[1].requires_grad_(True)
    noise = CellNoise(t32[0], t32[1], t32[2], EPS, HI)
    got = noise.log_prob(t32[3])
    want = numpy_log_density(log_p, log_lam, log_alpha, s, EPS, HI)
    assert np.isfinite(want).all() and torch.isfinite(got).all()
    np.testing.assert_allclose(got.detach().double().numpy(), want.sum(1), rtol=1e-4)
    got.sum().backward()
    assert torch.isfinite(t32[1].grad).all()
    # cell by cell in float64 the two computations agree to rounding
    t64 = CellNoise(*[torch.tensor(v) for v in (log_p, log_lam, log_alpha)], EPS, HI)
    np.testing.assert_allclose(t64.log_prob(torch.tensor(s)).numpy(), want.sum(1), rtol=1e-9)


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
    log_p, log_lam = raw[0].numpy(), numpy_soft_clamp(raw[1].numpy() + 4.0, *LOG_LAMBDA_RANGE)
    log_alpha = numpy_soft_clamp(raw[2].numpy(), *LOG_ALPHA_RANGE)
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
