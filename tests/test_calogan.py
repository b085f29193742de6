"""CaloGAN's shower GAN (calogan) and its layer-log scaling, on the project's simulator."""

import json

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.cli.main import main
from latentforge.domains.showers.files import read_showers, write_showers
from latentforge.domains.showers.simulator import ShowerSimulator
from latentforge.errors import ConfigError
from latentforge.domains.showers.gan_model import CaloGAN, CaloGANConfig
from latentforge.domains.showers.gan_objective import energy_regression

@pytest.fixture(scope="module")
def showers(shower_file):
    return shower_file(300, seed=7)


@pytest.fixture(scope="module")
def trained(showers):
    return lf.train("calogan", showers, epochs=2, batch_size=64, progress=False)


def numpy_layer_log(x: np.ndarray, e_inc: np.ndarray, sizes) -> tuple[np.ndarray, list, list]:
    """The layer-log map written out layer by layer: share = x / E_inc, eps_l the 1st percentile of the layer's
    non-zero shares, hi_l = log1p(max / eps_l), v = log1p(share / eps_l) / hi_l."""
    out, eps, hi, start = [], [], [], 0
    for n in sizes:
        share = x[:, start:start + n] / e_inc[:, None]
        nz = share[share > 0]
        e = np.percentile(nz, 1)
        h = np.log(1 + nz.max() / e)
        out.append(np.log(1 + share / e) / h)
        eps.append(e)
        hi.append(h)
        start += n
    return np.concatenate(out, 1), eps, hi


def test_layer_log_scaling_matches_numpy_and_round_trips(showers):
    d = read_showers(showers)
    x, cond = d["showers"].astype(np.float64), d["conditions"]
    s = lf.Scaler("layer-log").fit(d["showers"], cond=cond, info={"geometry": d["geometry"],
                                                                  "energy_unit": d["energy_unit"]})
    want, eps, hi = numpy_layer_log(x, d["incident_energies"][:, 0], (288, 144, 72))
    m = s.transform(d["showers"], factors=cond)
    np.testing.assert_allclose(m, want, rtol=1e-5, atol=1e-6)
    assert m.min() == 0 and m.max() == pytest.approx(1, abs=1e-6) and ((m == 0) == (x == 0)).all()
    opts = s.model_options()
    assert opts["layer_cells"] == (288, 144, 72)
    np.testing.assert_allclose(opts["layer_eps"], eps, rtol=1e-6)  # E_inc from float32 log10 conditions
    np.testing.assert_allclose(opts["layer_hi"], hi, rtol=1e-6)
    back = s.inverse_transform(m, factors=cond)
    np.testing.assert_allclose(back, x, rtol=2e-5, atol=1e-3 * float(x[x > 0].min()))
    assert float(s.params["threshold"]) == pytest.approx(float(x[x > 0].min()))  # the data's own by default


def test_layer_log_log_det_jacobian_matches_finite_differences(showers):
    """The layer-log map is diagonal (each cell on its own), so central differences of ``transform`` cell by cell
    give its Jacobian; log |det| over the cells left unmasked equals the scaler's, per shower."""
    d = read_showers(showers)
    x, cond = d["showers"][:5].astype(np.float64), d["conditions"][:5]
    s = lf.Scaler("layer-log").fit(d["showers"], cond=d["conditions"],
                                   info={"geometry": d["geometry"], "energy_unit": d["energy_unit"]})
    mask = x <= 0  # empty cells: left out of the comparison (the map's kink at 0)
    h = 1e-4 * np.where(mask, 1.0, x)
    slope = (s.transform(x + h, factors=cond).astype(np.float64)
             - s.transform(x - h, factors=cond).astype(np.float64)) / (2 * h)
    want = np.where(mask, 0.0, np.log(np.abs(np.where(mask, 1.0, slope)))).sum(1)
    got = s.log_abs_det_jacobian(x, mask, factors=cond)
    np.testing.assert_allclose(got, want, rtol=2e-4)  # transform gives float32: differences good to ~1e-4


@pytest.mark.parametrize("kind", ["layer-log", "shower-layers"])
def test_the_smallest_training_deposit_survives_the_default_threshold(showers, kind):
    """The default readout threshold is the smallest training deposit: the round trip keeps every non-zero cell."""
    d = read_showers(showers)
    s = lf.Scaler(kind).fit(d["showers"], cond=d["conditions"], info={"geometry": d["geometry"],
                                                                     "energy_unit": d["energy_unit"]})
    back = s.inverse_transform(s.transform(d["showers"], factors=d["conditions"]), factors=d["conditions"])
    assert ((back > 0) == (d["showers"] > 0)).all()


def test_samples_have_exact_zeros_and_respect_the_threshold(trained, showers):
    d = read_showers(showers)
    threshold = float(trained.preprocess.scaler.params["threshold"])
    x = trained.sample(300, d["conditions"], seed=1)
    assert x.shape == (300, 504) and x.min() >= 0
    assert (x == 0).mean() > 0.2 and (x > 0).any()
    assert not ((x > 0) & (x < threshold)).any()
    c = trained.preprocess.condition_vectors(50, d["conditions"][:50], name=trained.name, check=False)
    with torch.no_grad():  # the generator's own ReLU output already holds exact zeros in model space
        raw = trained.model.sample(50, c, torch.Generator().manual_seed(0))
    assert (raw == 0).any() and raw.min() >= 0


def small_model(sizes=(3, 2), eps=(0.01, 0.02), hi=(2.0, 3.0), cdim=2, kernels=4) -> CaloGAN:
    torch.manual_seed(0)
    cfg = CaloGANConfig(input_shape=(sum(sizes),), layer_cells=sizes, layer_eps=eps, layer_hi=hi,
                        condition_dim=cdim, latent_dim=4, g_hidden=(8,), head_hidden=8, d_hidden=(8,),
                        minibatch_features=kernels, ema_decay=0.0)
    return CaloGAN(cfg)


def test_energy_regression_against_numpy():
    model = small_model()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (400, 5)) * (rng.random((400, 5)) > 0.3)
    c = np.stack([rng.normal(size=400), np.zeros(400)], 1)  # one particle: its standardised one-hot column is 0
    eps_cell, hi_cell = np.array([0.01] * 3 + [0.02] * 2), np.array([2.0] * 3 + [3.0] * 2)
    u = (eps_cell * np.expm1(hi_cell * x)).sum(1)  # E_tot / E_inc of every shower
    model.fit_energy_reference(torch.tensor(x, dtype=torch.float32), torch.tensor(c, dtype=torch.float32))
    design = np.concatenate([c, c[:, :1] ** 2, np.ones((400, 1))], 1)
    w = np.linalg.lstsq(design, u, rcond=None)[0]
    v = np.linalg.lstsq(design, np.log(np.abs(u - design @ w)), rcond=None)[0]
    v[-1] += (np.euler_gamma + np.log(2)) / 2  # E log|N(0, s)| = log s - (gamma + log 2) / 2
    np.testing.assert_allclose(model.response_w.numpy(), w, rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(model.spread_w.numpy(), v, rtol=2e-3, atol=2e-3)
    fake = rng.uniform(0, 0.8, (20, 5))
    d_fake = design[:20]
    want = np.abs((eps_cell * np.expm1(hi_cell * fake)).sum(1) - d_fake @ w) / np.exp(d_fake @ v)
    got = energy_regression(model, torch.tensor(fake, dtype=torch.float32), torch.tensor(c[:20], dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), want, rtol=5e-3)


def test_energy_features_and_minibatch_discrimination_on_a_hand_made_batch():
    model = small_model(kernels=2)
    x = torch.tensor([[0.0, 0.5, 0.0, 1.0, 0.0], [0.2, 0.2, 0.2, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.3]])
    c = torch.zeros(3, 2)
    f = model.energy_features(x, c)
    assert f.shape == (3, 2 * 2 + 1)
    np.testing.assert_allclose(f[:, 3:].numpy(), [[1 / 3, 1 / 2], [1.0, 0.0], [0.0, 1 / 2]])  # non-empty fractions
    share0 = np.array([0.01 * np.expm1(2.0 * 0.5), 3 * 0.01 * np.expm1(2.0 * 0.2), 0.0])  # layer 0's E_0 / E_inc
    want = 4.0 * np.arcsinh(np.log(share0 + 1e-9) / 4.0)  # reference not fitted: mean 0, std 1; compressed
    np.testing.assert_allclose(f[:, 0].numpy(), want, rtol=1e-5)
    mbd = model.discriminator.energy_mbd  # minibatch discrimination on the energy features: kernels // 4 = 1
    with torch.no_grad():
        mbd.T.copy_(torch.arange(mbd.T.numel(), dtype=torch.float32).reshape(mbd.T.shape) / 1000)
        out = mbd(f).numpy()
    m = (f.detach().numpy() @ mbd.T.detach().numpy()).reshape(3, 1, -1)
    o = np.array([[sum(np.exp(-np.abs(m[i, 0] - m[j, 0]).sum()) for j in range(3) if j != i)] for i in range(3)])
    assert out.shape == (3, 5 + 1)
    np.testing.assert_allclose(out[:, 5:], o, rtol=1e-5)
    assert model.discriminate(x, c).shape == (3,)


def test_needs_its_scaling_and_conditions_with_a_fix(showers):
    with pytest.raises(ConfigError, match="scaling.*layer-log"):  # spoken as the caller spells it
        lf.train("calogan", showers, epochs=1, progress=False, scaling="fractions")
    with pytest.raises(ConfigError, match="cond.key.*conditions"):
        lf.train("calogan", showers, cond_key="energy", epochs=1, progress=False)


def test_save_load_safetensors_gives_the_same_samples(trained, showers, tmp_path):
    d = read_showers(showers)
    path = trained.save(tmp_path / "run")
    files = sorted(p.name for p in path.iterdir())
    assert "model.safetensors" in files and not any(f.endswith((".pt", ".pkl", ".pth")) for f in files)
    loaded = lf.load(path)
    np.testing.assert_array_equal(trained.sample(100, d["conditions"][:100], seed=4),
                                  loaded.sample(100, d["conditions"][:100], seed=4))
    np.testing.assert_array_equal(loaded.model.response_w.numpy(), trained.model.response_w.numpy())


def test_cli_trains_and_samples_on_the_calogan_layout(tmp_path, capsys):
    data = tmp_path / "calogan.h5"
    write_showers(data, ShowerSimulator(seed=3).simulate(150, "e+"), layout="calogan")
    run_dir = tmp_path / "run"
    assert main(["train", "calogan", "--data", str(data), "--epochs", "1", "--no-progress", "--out", str(run_dir)]) == 0
    assert main(["sample", str(run_dir), "-n", "20", "--condition", "1.0,1,0,0", "--out", str(tmp_path / "s.npz")]) == 0
    arr = np.load(tmp_path / "s.npz")["samples"]
    assert arr.shape == (20, 504) and arr.min() >= 0 and (arr == 0).any()


@pytest.mark.slow  # evaluate runs the two-sample tests (boosted trees on 504 cells, per condition bin): minutes
def test_cli_trains_and_evaluates_on_the_calogan_layout(tmp_path, capsys):
    data = tmp_path / "calogan.h5"
    write_showers(data, ShowerSimulator(seed=3).simulate(200, "e+"), layout="calogan")
    run_dir = tmp_path / "run"
    assert main(["train", "calogan", "--data", str(data), "--epochs", "1", "--batch-size", "64", "--no-progress",
                 "--out", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--data", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    showers = report["showers"]
    assert 0 <= showers["auc"] <= 1 and "E_total/E_inc" in showers["separation_power"]


def test_conditions_on_the_particle_of_a_mixed_challenge_file(tmp_path):
    """A CaloChallenge-layout file of e+ and pi+ (DS1-pion binning): the energy reference r(c) follows each
    particle's mean response (pions deposit less: e/h > 1), and showers are drawn for either particle."""
    path = tmp_path / "mix.h5"
    write_showers(path, ShowerSimulator(seed=2, geometry="calochallenge-1-pions").simulate_mix(60, ("e+", "pi+")))
    d = read_showers(path)
    run = lf.train("calogan", path, epochs=1, batch_size=64, progress=False)
    c = torch.as_tensor(run.preprocess.condition_vectors(len(d["conditions"]), d["conditions"], name=run.name,
                                                         check=False), dtype=torch.float32)
    r, _ = run.model.expected_response(c)
    response = d["showers"].sum(1) / d["incident_energies"][:, 0]
    pion = d["particle"] == d["particle"].max()
    fitted_gap = float(r[~torch.as_tensor(pion)].mean() - r[torch.as_tensor(pion)].mean())
    assert fitted_gap == pytest.approx(response[~pion].mean() - response[pion].mean(), rel=0.25)
    x = run.sample(40, d["conditions"][pion][:40], seed=0)
    assert x.shape == (40, 533) and (x == 0).any() and x.min() >= 0


@pytest.mark.slow  # 6480 cells in 45 layers: 45 generator heads
def test_trains_on_the_calochallenge_2_geometry(tmp_path):
    path = tmp_path / "ds2.h5"
    write_showers(path, ShowerSimulator(seed=1, geometry="calochallenge-2").simulate(150, "e+"))
    run = lf.train("calogan", path, epochs=1, batch_size=64, progress=False)
    x = run.sample(20, read_showers(path)["conditions"][:20], seed=0)
    assert x.shape == (20, 6480) and len(run.model.generator.heads) == 45 and (x == 0).any()
