"""The two-stage shower surrogate (shower-flow-vae) and its shower-layers scaling, on the project's simulator."""

import numpy as np
import pytest

import latentforge as lf
from latentforge.cli.main import main
from latentforge.domains.showers.geometry import builtin_geometry
from latentforge.domains.showers.layers import layer_energies, layer_u
from latentforge.domains.showers.files import read_showers
from latentforge.errors import ConfigError

CALOGAN = builtin_geometry("calogan")


@pytest.fixture(scope="module")
def showers(shower_file):
    return shower_file(400, seed=5)


@pytest.fixture(scope="module")
def trained(showers):
    return lf.train("shower-flow-vae", showers, cond_key="conditions", epochs=2, progress=False)


def numpy_u(e: np.ndarray, e_inc: np.ndarray) -> np.ndarray:
    """u-space written out term by term: u_0 = E_tot / E_inc, u_k = E_{k-1} / sum_{j >= k-1} E_j."""
    n, n_layers = e.shape
    u = np.zeros((n, n_layers))
    for r in range(n):
        u[r, 0] = e[r].sum() / e_inc[r]
        for k in range(1, n_layers):
            rest = e[r, k - 1:].sum()
            u[r, k] = e[r, k - 1] / rest if rest > 0 else 0.0
    return u


def test_u_space_matches_numpy_and_inverts_exactly():
    rng = np.random.default_rng(0)
    e = rng.gamma(2.0, 3.0, size=(200, 5)) * (rng.random((200, 5)) > 0.1)  # some empty layers
    e_inc = e.sum(1) / rng.uniform(0.05, 0.9, 200)
    u = layer_u(e, e_inc)
    np.testing.assert_allclose(u, numpy_u(e, e_inc), rtol=1e-12)
    assert u.min() >= 0 and u.max() <= 1
    np.testing.assert_allclose(layer_energies(u, e_inc), e, rtol=1e-6, atol=1e-9 * e.max())


def test_scaling_round_trip_on_simulated_showers(showers):
    d = read_showers(showers)
    s = lf.Scaler("shower-layers").fit(d["showers"], cond=d["conditions"], info={"geometry": d["geometry"],
                                                                                 "energy_unit": d["energy_unit"]})
    m = s.transform(d["showers"], factors=d["conditions"])
    opts = s.model_options()
    assert m.shape == (400, 3 + 504) and opts["layer_cells"] == (288, 144, 72)
    layers = np.stack([p.sum(1) for p in CALOGAN.split(d["showers"].astype(np.float64))], 1)
    v = 1e-6 + (1 - 2e-6) * numpy_u(layers, d["incident_energies"][:, 0])  # the logit's epsilon, 1e-6
    y = np.log(v / (1 - v))
    np.testing.assert_allclose(opts["u_mean"], y.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(opts["u_std"], y.std(0), rtol=1e-4)
    frac = np.concatenate([p / np.maximum(p.sum(1, keepdims=True), 1e-30) for p in CALOGAN.split(d["showers"])], 1)
    np.testing.assert_allclose(s.log_down(m[:, 3:].astype(np.float64), 0.0), frac, rtol=1e-4, atol=1e-7)
    back = s.inverse_transform(m, factors=d["conditions"])
    np.testing.assert_allclose(back, d["showers"], rtol=2e-4, atol=1e-3 * float(d["showers"].min(initial=1, where=d["showers"] > 0)))


def test_samples_keep_the_sampled_layer_energies_and_the_threshold(trained, showers):
    run = trained
    d = read_showers(showers)
    scaler = run.preprocess.scaler
    threshold = float(scaler.params["threshold"])
    assert threshold == pytest.approx(float(d["showers"][d["showers"] > 0].min()))  # the data's own, by default
    import torch

    c = run.preprocess.condition_vectors(100, d["conditions"][:100], name=run.name, check=False)
    with torch.no_grad():
        model_space = run.model.sample(100, c, torch.Generator().manual_seed(0)).numpy()
    before = scaler.to_cells(model_space, d["conditions"][:100], threshold=False)
    sums = np.stack([p.sum(1) for p in CALOGAN.split(before)], 1)
    np.testing.assert_allclose(sums, scaler.layer_energies(model_space[:, :3], d["conditions"][:100]), rtol=1e-9)
    x = run.sample(300, d["conditions"][:300], seed=3)
    assert x.min() >= 0 and not ((x > 0) & (x < threshold)).any() and (x == 0).mean() > 0.5


def test_threshold_option_is_used(showers, tmp_path):
    run = lf.train("shower-flow-vae", showers, cond_key="conditions", epochs=1, progress=False, threshold=2.0)
    assert float(run.preprocess.scaler.params["threshold"]) == 2.0
    x = run.sample(200, read_showers(showers)["conditions"][:200], seed=0)
    assert not ((x > 0) & (x < 2.0)).any() and (x >= 2.0).any()


def test_save_load_gives_the_same_samples_and_plausible_energies(trained, showers, tmp_path):
    run = trained
    d = read_showers(showers)
    a = run.sample(400, d["conditions"], seed=7)
    b = lf.load(run.save(tmp_path / "run")).sample(400, d["conditions"], seed=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, run.sample(400, d["conditions"], seed=8))
    assert run.model.prior_sampler.is_fitted()  # codes come from the gmm fitted to the encoded showers
    ratio_gen = a.sum(1) / d["incident_energies"][:, 0]
    ratio_sim = d["showers"].sum(1) / d["incident_energies"][:, 0]
    assert ratio_gen.max() < 1 and abs(np.median(ratio_gen) / np.median(ratio_sim) - 1) < 0.1


def test_refuses_another_scaling_and_energy_conditions_with_a_fix(showers):
    with pytest.raises(ConfigError, match="scaling='shower-layers'"):
        lf.train("shower-flow-vae", showers, cond_key="conditions", epochs=1, progress=False, scaling="fractions")
    with pytest.raises(ConfigError, match="cond_key='conditions'"):
        lf.train("shower-flow-vae", showers, cond_key="energy", epochs=1, progress=False)


@pytest.mark.slow  # writes the run's plots
def test_cli_trains_and_samples(showers, tmp_path, capsys):
    run_dir = tmp_path / "flow"
    assert main(["train", "shower-flow-vae", "--data", str(showers), "--cond-key", "conditions", "--epochs", "1",
                 "--no-progress", "--out", str(run_dir)]) == 0
    assert main(["sample", str(run_dir), "-n", "20", "--condition", "1.0,1,0,0", "--out", str(tmp_path / "s.npz")]) == 0
    arr = np.load(tmp_path / "s.npz")["samples"]
    assert arr.shape == (20, 504) and arr.min() >= 0


def test_challenge_dnn_features_and_auc(showers):
    from latentforge.domains.showers.calo_dnn import dnn_auc, low_level_features

    d = read_showers(showers)
    x, e = d["showers"][:300], d["incident_energies"][:300]
    f = low_level_features(x, e, "MeV")
    np.testing.assert_allclose(f[:, 0], np.log10(e[:, 0]), rtol=1e-6)  # the challenge takes log10 of MeV
    np.testing.assert_allclose(f[:, 1:], x / e, rtol=1e-6)
    rng = np.random.default_rng(0)  # 20 voxels: two draws of one distribution, and one scaled by 1.5
    a, b, e = rng.gamma(1.0, 1.0, (150, 20)), rng.gamma(1.0, 1.0, (150, 20)), np.full((150, 1), 100.0)
    same = dnn_auc(a, b, e, e, folds=3, epochs=3)
    assert abs(same["auc"] - 0.5) < 0.1 and len(same["fold_aucs"]) == 3 and same["auc_err"] > 0
    assert dnn_auc(a, 1.5 * a, e, e, folds=3, epochs=20)["auc"] > 0.75


def test_a_layer_drawn_empty_gets_its_most_probable_cell(trained, showers):
    """Rows whose layer 1 drew nothing: exactly one cell of that layer is set, the one of largest expected share
    (numpy argmax), at its expected share; other layers and rows are left as drawn."""
    import torch

    m, d = trained.model, read_showers(showers)
    c = trained.preprocess.condition_vectors(50, d["conditions"][:50], name=trained.name, check=False)
    with torch.no_grad():
        y = m.energy.sample(c, 50, torch.Generator().manual_seed(0))
        p = m.shape_dist(m.draw_codes(50, torch.Generator().manual_seed(1)), y, c)
        s = p.sample(torch.Generator().manual_seed(2))
        s[:10, 288:432] = 0
        out = m.keep_layers_alive(s, p).numpy()
    log_p, mean, before = p.log_p.numpy(), p.mean.numpy(), s.numpy()
    for r in range(10):
        cells = np.flatnonzero(out[r, 288:432])
        assert len(cells) == 1 and cells[0] == np.argmax(log_p[r, 288:432])
        assert out[r, 288 + cells[0]] == pytest.approx(mean[r, 288 + cells[0]])
    alive_rows = [r for r in range(10, 50)
                  if all((before[r, a:b] > 0).any() for a, b in ((0, 288), (288, 432), (432, 504)))]
    np.testing.assert_array_equal(out[alive_rows], before[alive_rows])
    np.testing.assert_array_equal(out[:10, :288], before[:10, :288])


def test_config_takes_lists_of_numbers_and_refuses_other_values():
    from latentforge.domains.showers.flow_model import ShowerFlowVAEConfig

    cfg = ShowerFlowVAEConfig(u_mean=(-1, 0.5), u_std=(np.float64(0.25), 2))
    assert cfg.u_mean == (-1.0, 0.5) and all(type(v) is float for v in cfg.u_mean + cfg.u_std)
    assert ShowerFlowVAEConfig.from_dict(cfg.to_dict()) == cfg  # JSON gives lists back
    for bad in (("a",), (float("nan"),), (True,)):
        with pytest.raises(ConfigError, match="u_mean must be a list of numbers"):
            ShowerFlowVAEConfig(u_mean=bad)



def test_calibration_and_denoise_say_the_cell_reading_is_no_gaussian_decoder(trained, showers):
    """The cells are read by a law of the surrogate's own, not a VAE decoder likelihood: evaluate names calibration
    as skipped with that reason, --calibrate conformal and denoise refuse in one line (each stopped with an
    AttributeError on config.likelihood)."""
    from latentforge.analysis.validations import VALIDATIONS

    reason = VALIDATIONS.get("calibration").applies(trained, trained.dataset(showers))
    assert reason == ("calibration needs a continuous (Gaussian) predictive distribution and shower-flow-vae has "
                      "none: it has no decoder likelihood (a vae trained with --likelihood gaussian-hetero or "
                      "--likelihood gaussian-shared has one)")
    with pytest.raises(ConfigError, match="calibrate conformal: calibration needs a continuous"):
        trained.evaluate(showers, calibrate="conformal")
    with pytest.raises(ConfigError, match="denoise needs a Gaussian decoder and 'shower-flow-vae' has none: it has no "
                                          "decoder likelihood"):
        trained.denoise(read_showers(showers)["showers"][:5])


@pytest.mark.slow  # the shower validation's classifiers: half a minute
def test_evaluate_measures_the_rest_and_names_calibration_skipped(trained, showers):
    out = trained.evaluate(showers)
    assert "showers" in out and "it has no decoder likelihood" in out["skipped"]["calibration"], out.get("skipped")
