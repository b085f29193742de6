import json
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

import latentforge as lf
from latentforge.cli.main import main
from latentforge.models import DiagonalGaussian
from latentforge.objectives import ELBOObjective, importance_weights, iwae_bound
from latentforge.models.distributions import gaussian_log_likelihood, hurdle_log_likelihood

FAST = dict(hidden=(64,), batch_size=64, seed=0, progress=False)


def test_kl_matches_closed_form_of_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    q = DiagonalGaussian(mean, logvar)
    ref = kl_divergence(Normal(mean, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(q.kl(), ref)
    assert torch.all(DiagonalGaussian(torch.zeros(2, 3), torch.zeros(2, 3)).kl() == 0)
    # log_prob agrees too
    z = torch.randn(7, 5, generator=g)
    torch.testing.assert_close(q.log_prob(z), Normal(mean, torch.exp(0.5 * logvar)).log_prob(z).sum(-1))


def test_reparameterised_sample_has_the_right_moments_and_gradients():
    mean = torch.tensor([[1.5, -2.0]], requires_grad=True)
    logvar = torch.tensor([[math.log(0.25), math.log(4.0)]], requires_grad=True)
    q = DiagonalGaussian(mean, logvar)
    z = q.sample(torch.Generator().manual_seed(1), n=200_000)  # (K, 1, 2)
    m, v = z.mean((0, 1)), z.var((0, 1))
    torch.testing.assert_close(m, torch.tensor([1.5, -2.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(v, torch.tensor([0.25, 4.0]), atol=0.0, rtol=0.02)
    z.sum().backward()  # differentiable in both parameters: d sum(z) / d mean = K
    assert mean.grad.tolist() == [[200_000.0, 200_000.0]]
    assert logvar.grad.abs().min() > 0


def test_gaussian_nll_with_point_sigma_matches_hand_computation():
    x = torch.tensor([[1.0, 2.0, 0.0]])
    mu = torch.tensor([[0.5, 2.5, 1.0]])
    log_sigma_model = torch.log(torch.tensor([[0.3, 0.3, 0.3]]))
    sigma_meas = torch.tensor([[0.4, 0.0, 1.2]])
    var = 0.3 ** 2 + np.array([0.4, 0.0, 1.2]) ** 2
    hand = -0.5 * np.sum(np.array([0.25, 0.25, 1.0]) / var + np.log(2 * np.pi * var))
    got = gaussian_log_likelihood(x, mu, log_sigma_model, sigma_meas)
    assert got.item() == pytest.approx(hand, rel=1e-6)
    # a point with a large measurement error is penalised less for the same residual
    def penalty(sigma0):
        sig = torch.tensor([[sigma0, 0.1, 0.1]])
        off = x + torch.tensor([[0.5, 0.0, 0.0]])
        return (gaussian_log_likelihood(x, x, None, sig) - gaussian_log_likelihood(x, off, None, sig)).item()

    assert penalty(1.0) == pytest.approx(0.5 * 0.25 / 1.0) and penalty(0.1) == pytest.approx(0.5 * 0.25 / 0.01)
    # masked points carry no weight at all
    masked = gaussian_log_likelihood(x, mu, log_sigma_model, sigma_meas, mask=torch.tensor([[False, False, True]]))
    only_two = gaussian_log_likelihood(x[:, :2], mu[:, :2], log_sigma_model[:, :2], sigma_meas[:, :2])
    assert masked.item() == pytest.approx(only_two.item(), rel=1e-6)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "gaussian-shared", "gaussian-hetero"])
def test_masked_points_do_not_change_the_loss(likelihood):
    torch.manual_seed(0)
    model, objective = lf.build("vae", (12,), hidden=(16,), latent_dim=3, likelihood=likelihood)
    x = torch.rand(6, 12)
    mask = torch.zeros(6, 12, dtype=torch.bool)
    mask[:, ::3] = True
    batch = {"x": x, "mask": mask}
    if model.likelihood.gaussian:  # measurement errors enter only a Gaussian likelihood
        batch["sigma"] = torch.full((6, 12), 0.05)
    changed = dict(batch, x=torch.where(mask, torch.rand(6, 12), x))
    model.eval()
    a = objective(model, batch, torch.Generator().manual_seed(3))
    b = objective(model, changed, torch.Generator().manual_seed(3))
    assert a["loss"].item() == b["loss"].item()
    c = objective(model, dict(batch, mask=torch.zeros_like(mask)), torch.Generator().manual_seed(3))
    assert c["loss"].item() != a["loss"].item()


def test_kl_warmup_ramps_beta_linearly():
    obj = ELBOObjective(lf.objectives.ELBOConfig(beta=2.0, warmup_epochs=4))
    seen = []
    for epoch in range(1, 7):
        obj.begin_epoch(epoch)
        seen.append(obj.beta_now)
    assert seen == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]


@pytest.fixture(scope="module")
def digits_vae(tmp_path_factory):
    ds = lf.load_dataset("digits")
    out = tmp_path_factory.mktemp("vae") / "run"
    return lf.train("vae", ds, out=out, latent_dim=4, epochs=25, **FAST), ds


def test_iwae_is_above_the_elbo_and_tightens_with_k(digits_vae):
    run, ds = digits_vae
    test = run.select(ds, "test")
    b = run.batch(test)
    lw = importance_weights(run.model, b, 500, generator=torch.Generator().manual_seed(0))
    elbo = lw.mean(0)
    bounds = [iwae_bound(lw[:k]).mean().item() for k in (1, 10, 100, 500)]
    assert torch.all(iwae_bound(lw) >= elbo - 1e-4)  # Jensen, per example, on the same draws
    assert bounds[0] == pytest.approx(lw[:1].mean().item())
    assert bounds[0] < bounds[1] < bounds[2] < bounds[3], bounds
    m = run.evaluate(ds, "test", k=200)
    assert m["K"] == 200 and m["nll_iwae"] < -m["elbo"] and m["kl"] > 0
    assert {"recon_mse", "elbo", "nll_iwae", "kl"} <= set(m)


def test_predictive_std_shrinks_where_the_decoder_is_certain():
    ds = lf.load_dataset("digits")
    run = lf.train("vae", ds, likelihood="gaussian-hetero", latent_dim=4, epochs=30, **FAST)
    mean, std = run.predict(ds.subset(np.arange(300)), samples=50)
    assert mean.shape == std.shape == (300, 1, 8, 8)
    x = ds.x.reshape(len(ds), -1)
    always_dark = x.max(0) == 0  # pixels that are 0 in every digit (left / right border columns)
    busy = x.std(0) > np.percentile(x.std(0), 75)
    s = std.reshape(300, -1)
    assert always_dark.sum() >= 3
    assert s[:, always_dark].mean() < 0.25 * s[:, busy].mean(), (s[:, always_dark].mean(), s[:, busy].mean())
    # the decoder's own sigma is part of the answer: without it the std is smaller everywhere
    _, std_latent_only = run.predict(ds.subset(np.arange(300)), samples=50, include_decoder_noise=False)
    assert np.all(std_latent_only <= std + 1e-6) and std_latent_only.mean() < std.mean()


@pytest.mark.parametrize("likelihood", ["gaussian", "gaussian-shared", "gaussian-hetero"])
def test_gaussian_vaes_save_load_identical(likelihood, tmp_path):
    ds = lf.load_dataset("digits")
    run = lf.train("vae", ds, out=tmp_path / "r", likelihood=likelihood, latent_dim=3, epochs=2, **FAST)
    back = lf.load(tmp_path / "r")
    x = ds.subset(np.arange(10))
    for a, b in zip(run.predict(x, samples=5, seed=2), back.predict(x, samples=5, seed=2)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(run.sample(4, seed=1), back.sample(4, seed=1))
    if likelihood == "gaussian-shared":  # the shared sigma is learned
        assert float(torch.exp(back.model.likelihood.log_sigma.detach())) != pytest.approx(0.1)


def test_measurement_errors_and_masks_from_a_file(tmp_path):
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 32)
    clean = np.sin(2 * np.pi * (t[None] + rng.random((400, 1))))  # phase-shifted sines
    sigma = 0.05 + 0.2 * rng.random(clean.shape)
    noisy = clean + sigma * rng.normal(size=clean.shape)
    mask = rng.random(clean.shape) < 0.1
    noisy[mask] = np.nan  # masked points may hold anything, even NaN
    np.savez(tmp_path / "spec.npz", flux=noisy, ivar=np.where(mask, 0.0, 1 / sigma ** 2))
    run = lf.train("vae", tmp_path / "spec.npz", likelihood="gaussian-shared", scaling="none", latent_dim=2,
                   epochs=40, **FAST)
    info = run.info()["data"]
    assert info["has_sigma"] and info["has_mask"]
    ds = lf.load_dataset(tmp_path / "spec.npz")
    assert ds.mask.sum() == mask.sum() and np.allclose(ds.sigma[~mask], sigma[~mask], rtol=1e-5)
    recon = run.reconstruct(ds)
    # the reconstruction is closer to the clean truth than the noisy data, also where data were masked
    assert np.mean((recon - clean)[~mask] ** 2) < np.mean((np.nan_to_num(noisy) - clean)[~mask] ** 2)
    assert np.mean((recon - clean)[mask] ** 2) < np.mean(clean[mask] ** 2)


def test_cvae_samples_honour_the_requested_label():
    from sklearn.linear_model import LogisticRegression

    ds = lf.load_dataset("digits")
    run = lf.train("cvae", ds, latent_dim=4, epochs=40, hidden=(128,), batch_size=64, seed=0, progress=False)
    clf = LogisticRegression(max_iter=2000).fit(ds.x.reshape(len(ds), -1), ds.y)
    labels = np.repeat(np.arange(10), 20)
    samples = run.sample(len(labels), labels, seed=0)
    agree = (clf.predict(samples.reshape(len(samples), -1)) == labels).mean()
    assert agree > 0.6, agree  # chance is 0.1
    with pytest.raises(lf.ConfigError, match="conditional: give a condition"):
        run.sample(5)
    with pytest.raises(lf.ConfigError, match=r"not seen in training; known: \[0, 1"):
        run.sample(5, 11)


def test_cvae_on_a_continuous_parameter_vector(tmp_path):
    rng = np.random.default_rng(1)
    amp = rng.uniform(0.5, 2.0, size=(500, 1))
    x = amp * np.sin(np.linspace(0, 3, 20))[None] + 0.05 * rng.normal(size=(500, 20))
    np.savez(tmp_path / "d.npz", x=x, params=amp)
    run = lf.train("cvae", tmp_path / "d.npz", cond_key="params", condition="vector", likelihood="gaussian",
                   sigma=0.05, scaling="none", latent_dim=2, epochs=150, **FAST)
    # the generated amplitude follows the requested one (z also carries some of it, as in any CVAE
    # whose input reveals the condition)
    amps = [np.abs(run.sample(100, [a], seed=0)).max(1).mean() for a in (0.6, 1.2, 1.8)]
    assert amps[0] < amps[1] < amps[2] and amps[2] > 1.3 * amps[0], amps


def test_cli_sample_reconstruct_samples_and_evaluate(digits_vae, capsys, tmp_path):
    run, _ = digits_vae
    assert main(["sample", str(run.run_dir), "-n", "16", "--out", str(tmp_path / "s.npz")]) == 0
    s = np.load(tmp_path / "s.npz")["samples"]
    assert s.shape == (16, 1, 8, 8) and (tmp_path / "s.png").stat().st_size > 1000
    np.testing.assert_allclose(s, run.sample(16, seed=0), rtol=1e-6)
    assert main(["reconstruct", str(run.run_dir), "--data", "digits", "--split", "test", "--samples", "20",
                 "--out", str(tmp_path / "r.npz")]) == 0
    r = np.load(tmp_path / "r.npz")
    assert r["mean"].shape == r["std"].shape == (180, 1, 8, 8) and (r["std"] > 0).all()
    capsys.readouterr()
    assert main(["evaluate", "--json", str(run.run_dir), "--data", "digits", "--k", "50"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["K"] == 50 and m["split"] == "test"
    for k in ("elbo", "nll_iwae", "recon_mse", "kl"):
        assert np.isfinite(m[k])


def test_sampling_an_autoencoder_is_refused_with_a_reason(tmp_path, capsys):
    lf.train("ae", "digits", out=tmp_path / "ae", epochs=1, progress=False)
    code = main(["sample", str(tmp_path / "ae"), "--out", str(tmp_path / "x.npz")])
    assert code == 2 and "needs a model with a prior" in capsys.readouterr().err


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_cli_2d_vae_on_mnist_separates_classes(tmp_path, capsys):
    """A 2-D VAE trained by the CLI on the built-in MNIST digits: classes occupy their own regions."""
    from sklearn.neighbors import KNeighborsClassifier

    out = tmp_path / "vae2"
    assert main(["train", "vae", "--data", "mnist", "--latent-dim", "2", "--epochs", "20", "--no-progress",
                 "--out", str(out)]) == 0
    assert main(["encode", str(out), "--data", "mnist", "--out", str(tmp_path / "z.npz")]) == 0
    z = np.load(tmp_path / "z.npz")
    run = lf.load(out)
    idx = lf.data.split_indices(5000, val_fraction=0.1, test_fraction=0.1, seed=0)
    knn = KNeighborsClassifier(15).fit(z["z"][idx["train"]], z["labels"][idx["train"]])
    acc = knn.score(z["z"][idx["test"]], z["labels"][idx["test"]])
    assert acc > 0.6, acc  # chance: 0.1
    assert (out / "latent.png").exists() and (out / "samples.png").exists()
    samples = run.sample(100, seed=0)
    assert samples.shape == (100, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 255


def test_hurdle_likelihood_is_a_zero_mass_plus_a_gaussian_density():
    x = torch.tensor([[0.0, 0.5, 0.0, 1.2]])
    mean, log_sigma = torch.tensor([[0.3, 0.4, 0.3, 1.0]]), torch.log(torch.tensor([[0.2, 0.1, 0.2, 0.5]]))
    logit = torch.tensor([[0.4, -1.0, 2.0, 0.0]])
    p = torch.sigmoid(logit)
    want = (torch.log(1 - p[0, 0]) + torch.log(p[0, 1]) + Normal(0.4, 0.1).log_prob(torch.tensor(0.5))
            + torch.log(1 - p[0, 2]) + torch.log(p[0, 3]) + Normal(1.0, 0.5).log_prob(torch.tensor(1.2)))
    torch.testing.assert_close(hurdle_log_likelihood(x, mean, log_sigma, logit)[0], want)
    mask = torch.tensor([[True, False, True, False]])  # masked points carry no weight
    want_masked = torch.log(p[0, 1]) + Normal(0.4, 0.1).log_prob(torch.tensor(0.5)) + torch.log(p[0, 3]) \
        + Normal(1.0, 0.5).log_prob(torch.tensor(1.2))
    torch.testing.assert_close(hurdle_log_likelihood(x, mean, log_sigma, logit, mask)[0], want_masked)


def test_hurdle_vae_learns_sparsity_and_its_samples_contain_exact_zeros():
    g = np.random.default_rng(0)
    n, d = 2000, 12
    active = g.random((n, d)) < np.linspace(0.1, 0.9, d)  # feature j is non-zero with probability ~ j
    x = np.where(active, g.uniform(0.3, 0.7, (n, d)), 0.0).astype(np.float32)
    run = lf.train("vae", x, likelihood="hurdle", scaling="none", latent_dim=2, epochs=15, lr=3e-3, **FAST)
    s = run.sample(4000, seed=1)
    assert s.shape == (4000, d) and s.min() >= 0
    frac = (s > 0).mean(0)
    np.testing.assert_allclose(frac, np.linspace(0.1, 0.9, d), atol=0.08)
    nz = s[s > 0]
    assert 0.4 < nz.mean() < 0.6 and 0.06 < nz.std() < 0.16  # uniform(0.3, 0.7): mean 0.5, std 0.115
    mean, std = run.predict(x[:50], samples=20)
    assert mean.shape == (50, d) and np.all(std > 0)


def test_tcvae_parts_add_up_to_the_kl_and_see_correlation():
    from latentforge.objectives.tcvae import kl_decomposition
    from latentforge.models.distributions import standard_normal_log_prob

    g = torch.Generator().manual_seed(0)
    mean = torch.randn(800, 2, generator=g)
    q = DiagonalGaussian(mean, torch.full((800, 2), np.log(0.05 ** 2)))
    z = q.sample(g)
    for n in (0, 10_000):  # over the batch as the dataset, and MWS for a batch of a larger dataset
        parts = kl_decomposition(q, z, n)
        total = parts["mi"] + parts["tc"] + parts["dim_kl"]
        torch.testing.assert_close(total, q.log_prob(z) - standard_normal_log_prob(z))
    independent = kl_decomposition(q, z, 0)["tc"].mean().item()
    tied = mean.clone()
    tied[:, 1] = tied[:, 0]  # the second code copies the first: total correlation
    qt = DiagonalGaussian(tied, q.logvar)
    correlated = kl_decomposition(qt, qt.sample(g), 0)["tc"].mean().item()
    assert independent < 0.6 and correlated > independent + 1.5, (independent, correlated)


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_tcvae_beta_lowers_the_total_correlation(digits, tmp_path, capsys):
    common = dict(latent_dim=6, hidden=(128,), epochs=25, batch_size=128, seed=0, progress=False)
    plain = lf.train("beta-tcvae", digits, beta=1.0, **common).evaluate(digits, "test", k=20)
    strong = lf.train("beta-tcvae", digits, beta=8.0, **common).evaluate(digits, "test", k=20)
    assert strong["tc"] < 0.5 * plain["tc"], (plain["tc"], strong["tc"])
    assert main(["train", "beta-tcvae", "--data", "digits", "--epochs", "1", "--latent-dim", "3", "--out",
                 str(tmp_path / "tc"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--json", str(tmp_path / "tc"), "--data", "digits", "--k", "5"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert {"tc", "mi", "dim_kl", "elbo"} <= set(m) and m["beta"] == 6.0


def test_predictive_moments_add_the_decoders_fixed_variance_by_the_law_of_total_variance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    sigma = 0.3
    run = lf.train("vae", x, likelihood="gaussian", sigma=sigma, scaling="none", latent_dim=2, epochs=1, **FAST)
    mean, std = run.predictive_moments(x[:8], samples=16, seed=3)
    mean_z, std_z = run.predictive_moments(x[:8], samples=16, seed=3,
                                           combine=lambda b, p: (p.mean, torch.zeros_like(p.mean)))
    np.testing.assert_allclose(mean, mean_z)
    # a fixed-sigma decoder in unscaled units: Var = Var_k[mean_k] + sigma^2, the same draws in both calls
    np.testing.assert_allclose(std ** 2, std_z ** 2 + sigma ** 2, rtol=1e-4)
    one_mean, one_std = run.predictive_moments(x[:8], samples=1, seed=3,
                                               combine=lambda b, p: (p.mean, torch.zeros_like(p.mean)))
    assert np.all(one_std == 0) and one_mean.shape == (8, 5)
    np.testing.assert_array_equal(run.predict(x[:8], samples=16, seed=3, calibrated=False)[1], std)
    c = float(run.model.predictive_scale)  # predict's std is the mixture's, times the calibrated scale
    np.testing.assert_allclose(run.predict(x[:8], samples=16, seed=3)[1], c * std, rtol=1e-5)
    with pytest.raises(lf.ConfigError, match="samples must be at least 1, got 0"):
        run.predictive_moments(x[:8], samples=0)
