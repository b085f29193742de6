"""Two-stage latent samplers of VAEs: fitted after training, saved with the run (safetensors + JSON), used by
sampling, and closer to the data than N(0, I) when the encoded training data are multimodal."""

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.models.prior_samplers import FlowSampler, GMMSampler


def blobs(n=1200, seed=0):
    """Four well-separated Gaussian blobs in 2-D: the codes of a VAE trained on them cluster in four groups."""
    rng = np.random.default_rng(seed)
    centres = np.array([[-3, -3], [-3, 3], [3, -3], [3, 3]], float)
    return (centres[rng.integers(0, 4, n)] + 0.3 * rng.normal(size=(n, 2))).astype(np.float32)


def test_gmm_sampler_draws_from_the_fitted_mixture():
    """Draws of the fitted mixture have the mixture's moments (independent numpy: the law of total variance)."""
    rng = np.random.default_rng(1)
    codes = np.concatenate([rng.normal(-2.0, 0.5, (2000, 2)), rng.normal(3.0, 0.2, (1000, 2))])
    s = GMMSampler(2, components=2)
    s.fit(codes)
    z = s.sample(40000, torch.Generator().manual_seed(0)).numpy()
    w = np.array([2 / 3, 1 / 3])
    mean = w @ np.array([-2.0, 3.0])
    var = w @ np.array([0.25, 0.04]) + w @ (np.array([-2.0, 3.0]) - mean) ** 2
    assert z.mean(0) == pytest.approx([mean, mean], abs=0.03)
    assert z.var(0) == pytest.approx([var, var], rel=0.03)
    f = FlowSampler(2, components=4)
    assert not f.is_fitted()
    f.fit(codes + 6.0, steps=300)  # far from N(0, I): draws of an unfitted sampler would sit near 0
    zf = f.sample(4000, torch.Generator().manual_seed(0)).numpy()
    assert f.is_fitted() and np.all(np.isfinite(zf)) and abs(zf.mean() - (mean + 6.0)) < 0.4
    for fitted in (s, f):  # the weights alone carry whether a sampler is fitted
        back = type(fitted)(2, components=fitted.weights.shape[0] if hasattr(fitted, "weights") else 4)
        assert not back.is_fitted()
        back.load_state_dict(fitted.state_dict())
        assert back.is_fitted()
        np.testing.assert_array_equal(back.sample(5, torch.Generator().manual_seed(1)).numpy(),
                                      fitted.sample(5, torch.Generator().manual_seed(1)).numpy())


@pytest.mark.parametrize("sampler", ["gmm", "flow"])
@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_prior_sampler_is_saved_with_the_run(sampler, tmp_path):
    run = lf.train("vae", blobs(400), out=tmp_path / "r", prior_sampler=sampler, latent_dim=2, epochs=3,
                   progress=False)
    assert run.model.prior_sampler.is_fitted()
    back = lf.load(tmp_path / "r")
    assert back.model.config.prior_sampler == sampler and back.model.prior_sampler.is_fitted()
    np.testing.assert_array_equal(run.sample(50, seed=3), back.sample(50, seed=3))
    assert not np.array_equal(back.sample(50, seed=3), back.sample(50, seed=4))
    assert any(sampler in line for line in back.data_info["chosen_from_data"])


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_gmm_sampler_is_closer_to_multimodal_data_than_the_prior():
    """A decoder with a small fixed sigma keeps the blobs apart in the codes (a multimodal aggregate posterior);
    the model's data, x ~ p(x|z), are then told from the real rows less often with z from the fitted mixture."""
    x = blobs()
    run = lf.train("vae", x, prior_sampler="gmm", latent_dim=2, likelihood="gaussian", sigma=0.1, epochs=30,
                   progress=False)
    by = run.evaluate(x, split="all", k=10)["two_sample"]["by_prior_sampler"]
    gmm, normal = by["gmm"], by["normal"]
    err = max(gmm["auc_with_decoder_noise_error"], normal["auc_with_decoder_noise_error"])
    assert gmm["auc_with_decoder_noise"] < normal["auc_with_decoder_noise"] - 2 * err
