"""The CaloGAN generator's start: a per-cell offset and gain set from the training showers, so that each cell's
bounded-ReLU output starts with the training occupancy and mean (its mean image), checked against scipy."""

import numpy as np
import pytest
import torch
from scipy import stats

from latentforge.domains.showers.gan_model import CaloGAN, CaloGANConfig, bounded_relu
from latentforge.errors import ConfigError

SIZES = (24, 16)


def model_and_showers(n=3000, seed=0):
    torch.manual_seed(seed)
    cfg = CaloGANConfig(input_shape=(sum(SIZES),), layer_cells=SIZES, layer_eps=(0.01, 0.02), layer_hi=(2.0, 3.0),
                        condition_dim=2, latent_dim=16, g_hidden=(64,), head_hidden=64, d_hidden=(8,),
                        minibatch_features=2, ema_decay=0.0)
    rng = np.random.default_rng(seed)
    d = sum(SIZES)
    centre = np.concatenate([np.arange(n_l) - (n_l - 1) / 2 for n_l in SIZES])
    p = 0.95 * np.exp(-0.5 * (centre / 3.0) ** 2)  # a centred shower: outer cells rarely hit
    p[0] = 0.0  # one cell never hit
    level = 0.8 * np.exp(-0.5 * (centre / 5.0) ** 2)  # mean model-space value of a hit cell
    x = (rng.random((n, d)) < p) * np.clip(level * rng.uniform(0.5, 1.5, (n, d)), 0, 1)
    c = rng.normal(size=(n, 2))
    return CaloGAN(cfg), x, c


def numpy_targets(x: np.ndarray, sizes=SIZES):
    """Occupancy p (clipped to [0.001, 0.999]), mean atanh of the hit cells t (a never-hit cell: its layer's),
    and the normal N(b, s^2) with P(> 0) = p and truncated mean t."""
    hit = x > 0
    a = np.arctanh(np.clip(x, 0, 0.999))
    p = np.clip(hit.mean(0), 1e-3, 1 - 1e-3)
    t = np.zeros(x.shape[1])
    start = 0
    for n_l in sizes:
        cols = slice(start, start + n_l)
        layer_mean = a[:, cols][hit[:, cols]].mean()
        for j in range(start, start + n_l):
            t[j] = a[hit[:, j], j].mean() if hit[:, j].any() else layer_mean
        start += n_l
    q = stats.norm.ppf(p)
    s = t / (q + stats.norm.pdf(q) / p)
    return p, t, s * q, s


def test_output_targets_give_the_occupancy_and_truncated_mean_against_scipy():
    model, x, _ = model_and_showers()
    p, t, b, s = numpy_targets(x)
    got_b, got_s = model.output_targets(torch.tensor(x))
    np.testing.assert_allclose(got_b.numpy(), b, rtol=1e-6)
    np.testing.assert_allclose(got_s.numpy(), s, rtol=1e-6)
    # independently of the closed form: the normal N(b, s^2) has P(> 0) = p and mean t above 0
    np.testing.assert_allclose(stats.norm.sf(0, loc=b, scale=s), p, rtol=1e-6)
    np.testing.assert_allclose(stats.truncnorm.mean(-b / s, np.inf, loc=b, scale=s), t, rtol=1e-6)


def test_the_initial_generator_draws_the_training_mean_image_with_exact_zeros():
    model, x, c = model_and_showers()
    xt, ct = torch.tensor(x, dtype=torch.float32), torch.tensor(c, dtype=torch.float32)
    model.init_output_bias(xt, ct, seed=0)
    _, _, b, s = numpy_targets(x)
    with torch.no_grad():  # on the noise the initialisation used: pre-activations with mean b and spread s
        z = torch.randn(1024, 16, generator=torch.Generator().manual_seed(0))
        raw = model.generator(z, ct[:1024]).double().numpy()
    np.testing.assert_allclose(raw.mean(0), b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(raw.std(0, ddof=1), s, rtol=1e-4)
    with torch.no_grad():  # on fresh noise: the cells' occupancy, exact zeros and mean image
        z = torch.randn(3000, 16, generator=torch.Generator().manual_seed(1))
        cells = bounded_relu(model.generator(z, ct)).numpy()
    hit = x > 0
    assert np.abs((cells > 0).mean(0) - hit.mean(0)).max() < 0.08
    assert abs((cells == 0).mean() - (x == 0).mean()) < 0.02  # exact zeros in the same share as the showers
    mean_image, want = cells.mean(0), x.mean(0)
    assert np.abs(mean_image - want).max() < 0.1 * want.max()
    for lo, hi in ((0, 24), (24, 40)):  # each layer's mean image is centred where the showers' is
        pos = np.arange(hi - lo)
        assert abs(mean_image[lo:hi] @ pos / mean_image[lo:hi].sum() - want[lo:hi] @ pos / want[lo:hi].sum()) < 0.3


def test_critic_sees_each_layers_centre_and_width_as_the_validation_measures_them():
    """The layer-log scaling hands the cells' centres to the model; its differentiable centre and width of each
    layer equal the validation's observables (numpy, on the showers in GeV)."""
    from latentforge.domains.showers.files import shower_conditions
    from latentforge.domains.showers.layer_log import LayerLogScaling
    from latentforge.domains.showers.simulator import ShowerSimulator
    from latentforge.domains.showers.validation import observables

    d = ShowerSimulator(seed=3).simulate(200, "e+")
    cond = shower_conditions(d["incident_energies"], "GeV", d["particle"])
    scaling = LayerLogScaling().fit(d["showers"], cond=cond, info={"geometry": d["geometry"], "energy_unit": "GeV"})
    u = scaling.transform(d["showers"], factors=cond)
    cfg = CaloGANConfig(input_shape=(u.shape[1],), condition_dim=cond.shape[1], **scaling.model_options())
    model = CaloGAN(cfg)
    assert model.n_energy == 2 * 3 + 1 + 4 * 3
    got = model.shape_features(torch.tensor(u, dtype=torch.float64)).numpy()
    want = observables(d["showers"], d["incident_energies"], d["geometry"])
    for k, name in enumerate(("centre_x", "centre_y", "width_x", "width_y")):
        for layer in range(3):
            # a width of one hit cell is held at 1e-3 mm (the square root keeps a finite gradient)
            np.testing.assert_allclose(got[:, 3 * k + layer], want[f"{name}_layer{layer}"], rtol=1e-5, atol=1.1e-3)
    c = torch.zeros(len(u), cond.shape[1])
    x = torch.tensor(u)
    model.fit_energy_reference(x, c)
    f = model.energy_features(x, c)
    assert f.shape == (len(u), model.n_energy)
    standard = (got - got.mean(0)) / got.std(0, ddof=1)  # the critic's view: standardised on the training showers
    np.testing.assert_allclose(f[:, 4:16].numpy(), 4 * np.arcsinh(standard / 4), rtol=1e-3, atol=1e-3)


def test_soft_occupancy_counts_each_layers_hit_cells_against_numpy():
    model, x, c = model_and_showers(n=200)
    model = CaloGAN(CaloGANConfig(**{**model.config.to_dict(), "soft_occupancy": 0.05}))
    assert model.n_energy == 2 * 2 + 1 + 2
    xt = torch.tensor(x)
    got = model.soft_occupancy(xt).numpy()
    soft = x / (x + 0.05)
    want = np.stack([soft[:, :24].sum(1), soft[:, 24:].sum(1)], 1)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    hard = np.stack([(x[:, :24] > 0).sum(1), (x[:, 24:] > 0).sum(1)], 1)
    assert (got <= hard).all() and (got[hard == 0] == 0).all()  # an empty cell counts exactly 0
    model.fit_energy_reference(xt.float(), torch.tensor(c, dtype=torch.float32))
    f = model.energy_features(xt.float(), torch.tensor(c, dtype=torch.float32)).numpy()
    standard = (want - want.mean(0)) / want.std(0, ddof=1)
    np.testing.assert_allclose(f[:, 3:5], 4 * np.arcsinh(standard / 4), rtol=1e-3, atol=1e-3)


def test_cell_centres_must_cover_every_cell():
    with pytest.raises(ConfigError, match="centre for every cell.*layer-log"):
        CaloGANConfig(input_shape=(40,), layer_cells=SIZES, layer_eps=(0.01, 0.02), layer_hi=(2.0, 3.0),
                      condition_dim=2, cell_x=(0.0,) * 3, cell_y=(0.0,) * 3).validate()
