"""Shower files streamed in chunks (--stream): the streamed scalings and conditions against numpy and the in-memory
path, incident energies over three decades and CaloChallenge dataset 1's powers of two, conditional shower models
trained from the command line, and one-line errors for files that do not fit a layout."""

import json

import h5py
import numpy as np
import pytest

import latentforge as lf
from latentforge.cli.main import main
from latentforge.data import split_indices
from latentforge.domains.showers.files import read_showers, write_showers
from latentforge.domains.showers.simulator import ShowerSimulator
from latentforge.domains.showers.simulator_files import simulate_shower_file
from latentforge.data.stream import TRAIN, fit_scaler, open_chunked, training_conditions


def shower_file(path, n=300, geometry="calochallenge-1-photons", particles=("gamma", "pi+"), **kw):
    sim = ShowerSimulator(seed=3, geometry=geometry, deposits_per_gev=kw.pop("deposits_per_gev", 4))
    return simulate_shower_file(path, sim, n, particles, kw.pop("energy_range", (1.0, 1000.0)), chunk_rows=64, **kw)


def training_part(n, seed=0):
    idx = split_indices(n, val_fraction=0.1, test_fraction=0.1, seed=seed)
    part = np.zeros(n, np.int8)
    part[idx["train"]], part[idx["val"]], part[idx["test"]] = 1, 2, 3
    return idx, part


@pytest.fixture(scope="module")
def showers(tmp_path_factory):
    p = tmp_path_factory.mktemp("stream") / "ds1.h5"
    shower_file(p)
    return p


def test_streamed_shower_scalings_equal_numpy_and_the_in_memory_fit(showers):
    d = read_showers(showers)
    idx, part = training_part(len(d["showers"]))
    x, c = d["showers"][idx["train"]].astype(np.float64), d["conditions"][idx["train"]]
    f = open_chunked(showers)
    np.testing.assert_array_equal(training_conditions(f, part, 50), c)
    # fractions-response, by numpy: eps the 1st percentile of the non-zero fractions, log totals' range with a
    # 10 % margin, least squares of log total on [condition, 1]
    total = x.sum(1)
    frac = x[total > 0] / total[total > 0, None]
    lt = np.log(total[total > 0])
    design = np.concatenate([c[total > 0], np.ones((int((total > 0).sum()), 1))], 1)
    w = np.linalg.lstsq(design, lt, rcond=None)[0]
    resid = lt - design @ w
    streamed = fit_scaler(f, part, "fractions-response", 50)
    memory = lf.Scaler("fractions-response").fit(d["showers"][idx["train"]], cond=c)
    want = {"eps": np.percentile(frac[frac > 0], 1), "hi": np.log1p(frac.max() / np.percentile(frac[frac > 0], 1)),
            "w": w, "total_lo": resid.min() - 0.1 * (resid.max() - resid.min()),
            "total_hi": resid.max() + 0.1 * (resid.max() - resid.min())}
    assert set(streamed.params) == set(memory.params) == set(want)
    for k, v in want.items():
        np.testing.assert_allclose(streamed.params[k], v, rtol=1e-9, err_msg=k)
        np.testing.assert_allclose(memory.params[k], v, rtol=1e-9, err_msg=k)
    # shower-layers, by numpy: u_0 = E_tot / E_inc, u_k = E_{k-1} / sum_{j >= k-1} E_j, logit(1e-6 + (1 - 2e-6) u)
    sizes = [layer.n_cells for layer in d["geometry"].layers]
    e_layer = np.stack([p.sum(1) for p in np.split(x, np.cumsum(sizes)[:-1], axis=1)], 1)
    e_inc = d["incident_energies"][idx["train"], 0]  # MeV
    tail = np.cumsum(e_layer[:, ::-1], 1)[:, ::-1]
    u = np.concatenate([tail[:, :1] / e_inc[:, None], np.where(tail[:, :-1] > 0, e_layer[:, :-1] /
                                                                np.where(tail[:, :-1] > 0, tail[:, :-1], 1), 0)], 1)
    v = 1e-6 + (1 - 2e-6) * u
    y = np.log(v / (1 - v))
    per = np.repeat(e_layer, sizes, axis=1)
    lfrac = x / np.where(per > 0, per, 1)
    streamed = fit_scaler(f, part, "shower-layers", 50)
    memory = lf.Scaler("shower-layers").fit(d["showers"][idx["train"]], cond=c, info={
        "geometry": d["geometry"], "energy_unit": "MeV"})
    want = {"u_mean": y.mean(0), "u_std": np.maximum(y.std(0), 1e-6), "threshold": x[x > 0].min(),
            "eps": np.percentile(lfrac[lfrac > 0], 1), "sizes": sizes, "gev_per_unit": 1e-3}
    assert set(streamed.params) == set(memory.params) >= set(want)
    for k, v in want.items():  # the scaling reads E_inc from the float32 log10 condition: 1e-7 of it
        np.testing.assert_allclose(streamed.params[k], v, rtol=1e-6 if k.startswith("u_") else 1e-9, err_msg=k)
        np.testing.assert_allclose(memory.params[k], v, rtol=1e-6 if k.startswith("u_") else 1e-9, err_msg=k)
    for k in memory.params:  # and the two paths agree to float64 rounding
        np.testing.assert_allclose(streamed.params[k], memory.params[k], rtol=1e-10, atol=1e-12, err_msg=k)
    f.close()


def test_incident_energies_over_three_decades_and_ds1_powers_of_two_are_read_in_mev(tmp_path):
    wide = tmp_path / "wide.h5"
    shower_file(wide, n=400, particles=("gamma",))
    f = open_chunked(wide)
    e = np.concatenate([f.energies(s, s + 64)[:, 0] for s in range(0, 400, 64)])
    assert f.info["energy_unit"] == "MeV" and e.min() >= 1e3 and e.max() <= 1e6
    assert np.log10(e.max() / e.min()) > 2.8  # log-uniform over 1 GeV - 1 TeV: nearly three decades in 400 draws
    lo, hi = np.quantile(np.log10(e), [0.25, 0.75])
    assert abs(lo - 3.75) < 0.15 and abs(hi - 5.25) < 0.15  # quartiles of a uniform log10 E / MeV on [3, 6]
    np.testing.assert_allclose(f.conditions(0, 400)[:, 0], np.log10(e / 1e3), rtol=1e-6)  # log10(E / GeV)
    f.close()
    ds1 = tmp_path / "ds1.h5"
    shower_file(ds1, n=600, particles=("gamma",), energy_range=(0.256, 4194.304), spectrum="powers-of-two")
    f = open_chunked(ds1)
    e = np.concatenate([f.energies(s, s + 64)[:, 0] for s in range(0, 600, 64)])
    assert set(np.log2(e)) == set(range(8, 23))  # 256 MeV ... 4 TeV: 2^8 ... 2^22 MeV, all 15 drawn
    np.testing.assert_array_equal(e, read_showers(ds1)["incident_energies"][:, 0])
    f.close()
    # CaloGAN's layout stores the incident energy in GeV and the cells in MeV: both come out in MeV
    d = ShowerSimulator(seed=1, deposits_per_gev=4).simulate(70, "e+", energies=np.array([1.0, 1000.0] * 35))
    write_showers(tmp_path / "calogan.h5", d, layout="calogan")
    f = open_chunked(tmp_path / "calogan.h5")
    full = read_showers(tmp_path / "calogan.h5")
    np.testing.assert_allclose(f.energies(0, 70)[:, 0], [1e3, 1e6] * 35, rtol=1e-6)
    np.testing.assert_array_equal(f.rows(10, 40), full["showers"][10:40])
    np.testing.assert_allclose(f.conditions(0, 70), full["conditions"], rtol=1e-6)
    f.close()


@pytest.fixture(scope="module")
def calogan_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("stream") / "e.h5"
    shower_file(p, n=400, geometry="calogan", particles=("e+",), deposits_per_gev=10)
    return p


def check_streamed_run(run, data):
    """The run knows the file's unit and geometry, its conditioner saw every training row, and it samples."""
    d = read_showers(data)
    idx = split_indices(400, val_fraction=0.1, test_fraction=0.1, seed=0)
    assert run.data_info["energy_unit"] == "MeV" and run.data_info["geometry"]["name"] == "calogan"
    cond = run.preprocess.conditioner
    train_c = d["conditions"][idx["train"]].astype(np.float64)
    np.testing.assert_allclose(cond.mean, train_c.mean(0), rtol=1e-6, atol=1e-9)  # every training row, not a preview
    np.testing.assert_allclose(cond.low, train_c.min(0), rtol=1e-6)
    gen = run.sample(6, np.array([[1.0, 1, 0, 0]]))
    assert gen.shape == (6, 504) and np.isfinite(gen).all() and gen.min() >= 0


def test_tiny_streamed_training_of_shower_models(calogan_file):
    kw = dict(stream=True, chunk_size=128, epochs=1, latent_dim=4, hidden=(16,), progress=False)
    check_streamed_run(lf.train("shower-flow-vae", str(calogan_file), **kw), calogan_file)
    check_streamed_run(lf.train("cvae", str(calogan_file), condition="vector", scaling="fractions-response",
                                likelihood="hurdle", **kw), calogan_file)


@pytest.mark.slow
def test_streamed_shower_models_train_from_the_cli(tmp_path, calogan_file, capsys):
    common = ["--data", str(calogan_file), "--stream", "--chunk-size", "128", "--epochs", "1", "--latent-dim", "4",
              "--hidden", "16", "--no-progress"]
    assert main(["train", "shower-flow-vae", *common, "--out", str(tmp_path / "flow")]) == 0
    assert main(["train", "cvae", *common, "--condition", "vector", "--scaling", "fractions-response",
                 "--likelihood", "hurdle", "--out", str(tmp_path / "cvae")]) == 0
    capsys.readouterr()
    for name in ("flow", "cvae"):
        cfg = json.loads((tmp_path / name / "config.json").read_text())
        assert cfg["train_config"]["stream"] and cfg["data"]["file_layout"] == "calochallenge"
        check_streamed_run(lf.load(tmp_path / name), calogan_file)


def one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def test_bad_shower_layouts_are_refused_in_one_line_when_streamed(tmp_path, showers):
    kw = dict(stream=True, epochs=1, chunk_size=64, hidden=(8,), latent_dim=2, progress=False)
    bad = tmp_path / "flat.h5"
    with h5py.File(bad, "w") as f:
        f["showers"] = np.ones((10, 4, 5), np.float32)
        f["incident_energies"] = np.ones((10, 1), np.float32)
    with pytest.raises(lf.DataError) as e:
        lf.train("shower-flow-vae", str(bad), **kw)
    assert "showers (N, voxels)" in one_line(e)
    with h5py.File(bad, "w") as f:
        f["showers"] = np.ones((10, 368), np.float32)
        f["incident_energies"] = np.ones((7, 1), np.float32)
    with pytest.raises(lf.DataError) as e:
        lf.train("shower-flow-vae", str(bad), **kw)
    assert "one energy per shower" in one_line(e)
    with h5py.File(bad, "w") as f:
        f["layer_0"], f["layer_1"] = np.ones((10, 3, 96), np.float32), np.ones((10, 12, 10), np.float32)
        f["layer_2"], f["energy"] = np.ones((10, 12, 6), np.float32), np.ones((10, 1), np.float32)
    with pytest.raises(lf.DataError) as e:
        lf.train("shower-flow-vae", str(bad), **kw)
    assert "layer_1 has shape (10, 12, 10)" in one_line(e)
    # a shower without an incident energy: named by its row; the fix (remove it) trains
    zero = tmp_path / "zero.h5"
    d = read_showers(showers)
    d["incident_energies"][130] = 0.0
    with h5py.File(zero, "w") as f:
        f["showers"], f["incident_energies"] = d["showers"], d["incident_energies"]
        f.attrs["geometry"] = d["geometry"].to_json()
    with pytest.raises(lf.DataError) as e:
        lf.train("shower-flow-vae", str(zero), **kw)
    assert "row 130" in one_line(e) and "remove the showers without one" in one_line(e)
    keep = np.arange(len(d["showers"])) != 130
    with h5py.File(zero, "w") as f:
        f["showers"], f["incident_energies"] = d["showers"][keep], d["incident_energies"][keep]
        f.attrs["geometry"] = d["geometry"].to_json()
    assert lf.train("shower-flow-vae", str(zero), **kw).history
    # label conditions, or a condition-aware scaling on a file without conditions: what to use instead
    with pytest.raises(lf.ConfigError) as e:
        lf.train("cvae", str(showers), scaling="fractions-response", **kw)
    assert "use condition='vector'" in one_line(e)  # the caller's words
    assert lf.train("cvae", str(showers), scaling="fractions-response", condition="vector", **kw).history
    np.save(tmp_path / "x.npy", d["showers"])
    with pytest.raises(lf.ConfigError) as e:
        lf.train("cvae", str(tmp_path / "x.npy"), scaling="fractions-response", condition="vector", **kw)
    assert "use condition='none'" in one_line(e)
