import json

import h5py
import numpy as np
import pytest

import latentforge as lf
from latentforge.analysis.readable import fmt
from latentforge.domains.showers.validation import classifier_auc, observables, response, separation_power
from latentforge.cli.main import main
from latentforge.domains.showers.geometry import builtin_geometry
from latentforge.domains.showers.simulator import ShowerSimulator
from latentforge.domains.showers.files import read_showers, write_showers

CALOGAN = builtin_geometry("calogan")


def test_default_geometry_is_calogans():
    assert ShowerSimulator().geometry.n_cells == CALOGAN.n_cells == 3 * 96 + 12 * 12 + 12 * 6 == 504


@pytest.mark.parametrize("particle", ["e+", "gamma", "pi+"])
def test_deposits_sum_to_the_deposited_energy(particle):
    d = ShowerSimulator(seed=1).simulate(40, particle, return_deposits=True, batch=40)
    dep = d["deposits"]
    per_shower = np.bincount(dep["owner"], weights=dep["energy"], minlength=40)
    np.testing.assert_allclose(per_shower, d["deposited"], rtol=1e-9)
    kept = d["showers"].sum(1, dtype=np.float64) + d["overflow"].sum(1, dtype=np.float64)
    assert np.all(kept <= d["deposited"] * (1 + 1e-5))  # cells and overflow hold what did not leak behind
    assert np.all(d["showers"] >= 0)


def test_cost_grows_with_energy():
    sim = ShowerSimulator(seed=0)
    low = sim.simulate(50, "e+", energies=np.full(50, 2.0), return_deposits=True, batch=50)["deposits"]
    high = sim.simulate(50, "e+", energies=np.full(50, 50.0), return_deposits=True, batch=50)["deposits"]
    assert len(high["owner"]) > 20 * len(low["owner"])


def test_mean_depth_grows_with_log_energy_and_pions_are_wider():
    sim = ShowerSimulator(seed=2)
    depth = []
    for e in (2.0, 10.0, 50.0):
        dep = sim.simulate(30, "e+", energies=np.full(30, e), return_deposits=True, batch=30)["deposits"]
        depth.append(np.average(dep["depth"], weights=dep["energy"]))
    assert depth[0] < depth[1] < depth[2]
    assert (depth[2] - depth[1]) == pytest.approx(depth[1] - depth[0], rel=0.35)  # ~ linear in log E
    el = sim.simulate(300, "e+", energies=np.full(300, 20.0))
    pi = sim.simulate(300, "pi+", energies=np.full(300, 20.0))
    o_el = observables(el["showers"], el["incident_energies"], CALOGAN)
    o_pi = observables(pi["showers"], pi["incident_energies"], CALOGAN)
    showering = o_pi["E_layer1"] > 0.5 * sim.sampling_fraction  # pions that started a shower in the calorimeter
    assert o_pi["width_x_layer1"][showering].mean() > 1.3 * o_el["width_x_layer1"].mean()
    assert o_pi["E_total/E_inc"].mean() < 0.8 * sim.sampling_fraction < o_el["E_total/E_inc"].mean()


def test_hdf5_round_trip_and_loading_as_a_dataset(tmp_path):
    d = ShowerSimulator(seed=3).simulate(20, "gamma")
    write_showers(tmp_path / "s.h5", d, unit="GeV")
    back = read_showers(tmp_path / "s.h5")
    assert back["energy_unit"] == "GeV" and back["geometry"] == CALOGAN
    np.testing.assert_array_equal(back["showers"], d["showers"])
    np.testing.assert_allclose(back["incident_energies"], d["incident_energies"], rtol=1e-6)
    write_showers(tmp_path / "m.h5", d)  # MeV, as CaloChallenge stores them
    mev = read_showers(tmp_path / "m.h5")
    assert mev["energy_unit"] == "MeV"
    np.testing.assert_allclose(mev["showers"], d["showers"] * 1000, rtol=1e-6)
    np.testing.assert_allclose(mev["conditions"], back["conditions"], rtol=1e-6)  # log10(E / GeV) either way
    ds = lf.load_dataset(tmp_path / "s.h5", cond_key="conditions")
    assert ds.x.shape == (20, 504) and ds.cond.shape == (20, 4)
    np.testing.assert_allclose(ds.cond[:, 0], np.log10(d["incident_energies"][:, 0]), rtol=1e-6)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f.attrs["kind"] == "calorimeter-showers"


def test_separation_power_limits():
    h = np.array([1.0, 4.0, 2.0, 0.0])
    assert separation_power(h, h) == 0.0
    assert separation_power(np.array([1.0, 2.0, 0.0, 0.0]), np.array([0.0, 0.0, 3.0, 1.0])) == pytest.approx(1.0)


def test_classifier_cannot_tell_two_reference_samples_apart():
    a = ShowerSimulator(seed=4).simulate(150, "e+")  # five folds of 30 + 30 showers scored
    b = ShowerSimulator(seed=5).simulate(150, "e+")
    auc, kind = classifier_auc(a["showers"], b["showers"], a["incident_energies"], b["incident_energies"], CALOGAN)
    assert 0.4 < auc < 0.6 and kind == "voxels", auc
    c = ShowerSimulator(seed=6).simulate(150, "pi+")
    assert classifier_auc(a["showers"], c["showers"], a["incident_energies"], c["incident_energies"], CALOGAN)[0] > 0.95


def test_response_is_linear_for_electrons():
    sim = ShowerSimulator(seed=7)
    rows = response(sim.simulate(800, "e+"))
    assert len(rows) >= 4
    for r in rows:  # a deposited share of about f_s, calibrated to about 1
        assert r["response"] == pytest.approx(sim.sampling_fraction, rel=0.05)
        assert r["calibrated_response"] == pytest.approx(1.0, abs=0.05)
    assert rows[0]["resolution"] > rows[-1]["resolution"]  # relative resolution improves with energy


def test_log_scaling_round_trip_keeps_zeros_and_non_negativity():
    d = ShowerSimulator(seed=8).simulate(100, "e+")["showers"]
    s = lf.Scaler("log").fit(d)
    u = s.transform(d)
    assert u.min() >= 0 and u.max() == pytest.approx(1.0, abs=1e-6)
    back = s.inverse_transform(u)
    eps = float(s.params["eps"])  # the 1st percentile of the non-zero values: smaller ones become 0
    np.testing.assert_allclose(back[d >= eps], d[d >= eps], rtol=1e-4)
    assert np.all(back[d < eps] == 0) and 0 < (d[d > 0] < eps).mean() < 0.02
    assert s.inverse_transform(np.full((1, 504), -0.3)).max() == 0.0
    with pytest.raises(lf.ConfigError, match="non-negative"):
        lf.Scaler("log").fit(-d)


def test_fractions_scaling_separates_shape_from_total_and_round_trips():
    d = ShowerSimulator(seed=9).simulate(200, "e+")
    x = d["showers"]
    s = lf.Scaler("fractions").fit(x)
    assert s.model_shape((504,)) == (505,) and s.raw_shape((505,)) == (504,)
    u = s.transform(x)
    assert u.shape == (200, 505) and u.min() >= 0 and u.max() <= 1
    assert np.all(u[:, :-1][x == 0] == 0)  # empty cells stay exactly 0
    # the last feature is the log total on [0, 1]: monotone in the shower's total energy
    order = np.argsort(x.sum(1))
    assert np.all(np.diff(u[order, -1]) >= 0) and 0.05 < u[:, -1].min() < u[:, -1].max() < 0.95
    back = s.inverse_transform(u)
    np.testing.assert_allclose(back.sum(1), x.sum(1), rtol=1e-5)  # totals exact, whatever the cells lose
    big = x >= 2 * float(s.params["eps"]) * x.sum(1, keepdims=True)
    np.testing.assert_allclose(back[big], x[big], rtol=0.02)
    # a decoded example always sums to its decoded total, even when its shape part does not sum to one
    v = u.copy()
    v[:, :-1] *= 0.9
    np.testing.assert_allclose(s.inverse_transform(v).sum(1), x.sum(1), rtol=1e-5)
    with pytest.raises(lf.ConfigError, match="flat examples"):
        s.transform(x.reshape(200, 1, 504))
    with pytest.raises(lf.ConfigError, match="non-negative"):
        lf.Scaler("fractions").fit(-x)


def test_cli_simulate_train_evaluate_showers(tmp_path, capsys):
    f = tmp_path / "e.h5"
    assert main(["simulate", "--json", "showers", "-n", "600", "--particle", "e+", "--energy-range", "1", "50",
                 "--out", str(f)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n"] == 600 and info["energy_unit"] == "MeV" and info["cells"] == 504
    assert 0.95 < info["mean_calibrated_response"] < 1.05 and info["max_deposited_fraction"] < 1
    run_dir = tmp_path / "cvae"
    assert main(["train", "cvae", "--data", str(f), "--condition", "vector", "--cond-key", "conditions",
                 "--likelihood", "hurdle", "--scaling", "fractions", "--latent-dim", "8", "--hidden", "128",
                 "--epochs", "3", "--lr-schedule", "cosine", "--no-progress", "--out", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--json", str(run_dir), "--data", str(f), "--cond-key", "conditions", "--k", "10"]) == 0
    m = json.loads(capsys.readouterr().out)
    sh = m["showers"]
    assert 0.5 <= sh["auc"] <= 1.0 and 0 <= sh["S_E_total_over_E_inc"] <= 1
    assert "E_layer1" in sh["separation_power"] and "voxel_energy" in sh["separation_power"]
    assert f"held-out AUC {fmt(sh['auc'])}" in sh["in_words"][0]  # the physics in words, for the summary and report
    run = lf.load(run_dir)
    gen = run.sample(10, np.tile([[1.0, 1, 0, 0]], (10, 1)))
    assert gen.shape == (10, 504) and gen.min() >= 0 and (gen == 0).any()  # draws: sparse like the data
    assert run.input_shape == (504,) and run.model.input_shape == (505,)
    np.testing.assert_array_equal(gen, run.sample(10, np.tile([[1.0, 1, 0, 0]], (10, 1))))  # seeded


def test_fractions_response_scaling_models_the_total_relative_to_the_condition(tmp_path):
    from latentforge.domains.showers.files import read_showers

    sim = ShowerSimulator(seed=12)
    write_showers(tmp_path / "mix.h5", sim.simulate_mix(150, energy_range=(1, 100)))
    d = read_showers(tmp_path / "mix.h5")
    x, c = d["showers"], d["conditions"]
    s = lf.Scaler("fractions-response").fit(x, cond=c)
    u = s.transform(x, factors=c)
    plain = lf.Scaler("fractions").fit(x).transform(x)
    np.testing.assert_array_equal(u[:, :-1], plain[:, :-1])  # the cells are the same log-scaled fractions
    back = s.inverse_transform(u, factors=c)
    np.testing.assert_allclose(back.sum(1), x.sum(1), rtol=1e-5)  # totals exact through the round trip
    em = d["particle"] < 2  # e+ and photons: the fit takes out the energy scale, leaving a narrow response
    assert u[em, -1].std() < 0.25 * plain[em, -1].std()
    with pytest.raises(lf.ConfigError, match="condition vector"):
        lf.Scaler("fractions-response").fit(x)
    with pytest.raises(lf.ConfigError, match="condition vector"):
        lf.train("vae", tmp_path / "mix.h5", scaling="fractions-response", likelihood="hurdle", epochs=1,
                 progress=False)
    run = lf.train("cvae", tmp_path / "mix.h5", cond_key="conditions", condition="vector",
                   scaling="fractions-response", likelihood="hurdle", latent_dim=4, hidden=(32,), epochs=1,
                   progress=False, out=tmp_path / "run")
    gen = lf.load(tmp_path / "run").sample(5, [1.5, 0, 0, 1])  # 31.6 GeV pions, in the file's MeV
    assert gen.shape == (5, 504) and np.isfinite(gen).all() and (gen.sum(1) < 31623).all()
    np.testing.assert_array_equal(gen, run.sample(5, [1.5, 0, 0, 1]))


def test_negative_generated_cells_are_read_out_as_zero_and_counted():
    """A Gaussian decoder draws negative cells, which have no observable (log of a negative share): the
    validation reads them out as zero, as a calorimeter would, and says what share of the cells they were."""
    from latentforge.domains.showers.validation import validate

    ref = ShowerSimulator(seed=4).simulate(120, "e+")
    gen = ShowerSimulator(seed=5).simulate(120, "e+")
    noisy = gen["showers"] + np.random.default_rng(0).normal(0, 0.02 * gen["showers"].max(), gen["showers"].shape)
    quick = dict(folds=3, dnn_epochs=2)  # the read-out is tested, not the classifiers' training
    out = validate({**ref, "geometry": CALOGAN}, {**gen, "showers": noisy}, **quick)
    assert out["negative_cells_fraction"] == pytest.approx(np.mean(noisy < 0))
    assert np.isfinite(out["auc"]) and all(np.isfinite(v) for v in out["separation_power"].values())
    clipped = validate({**ref, "geometry": CALOGAN}, {**gen, "showers": np.clip(noisy, 0, None)}, **quick)
    assert clipped["auc"] == out["auc"] and clipped["negative_cells_fraction"] == 0.0
    assert any("were negative and were read out as zero" in line for line in out["in_words"])
