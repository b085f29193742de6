"""Shower geometry as data and the published file layouts: CaloGAN's per-layer HDF5, CaloChallenge datasets 1
(photons 368, pions 533 voxels), 2 (6480) and 3 (40500) in MeV, ROOT trees; each written here in exactly that
layout, read back with shapes and units checked."""

import json

import h5py
import numpy as np
import pytest

import latentforge as lf
from latentforge.domains.showers.validation import observables
from latentforge.cli.main import main
from latentforge.data import read_file
from latentforge.domains.showers.geometry import (GEOMETRIES, ShowerGeometry, builtin_geometry, geometry_for_cells,
                                       read_binning_xml)
from latentforge.domains.showers.files import read_showers, write_showers
from latentforge.domains.showers.simulator import ShowerSimulator

# the layer lines of CaloChallenge's binning_dataset_1_photons.xml, in its format
DS1_PHOTONS_XML = """<Bins>
   <Bin pid="22" etaMin="0" etaMax="130" name="photon">
      <Layer id="0" r_edges="0,5,10,30,50,100,200,400,600" n_bin_alpha="1" />
      <Layer id="1" r_edges="0,2,4,6,8,10,12,15,20,30,40,50,70,90,120,150,200" n_bin_alpha="10"/>
      <Layer id="2" r_edges="0,2,5,10,15,20,25,30,40,50,60,80,100,130,160,200,250,300,350,400" n_bin_alpha="10"/>
      <Layer id="3" r_edges="0,50,100,200,400,600" n_bin_alpha="1" />
""" + "".join(f'      <Layer id="{i}" r_edges="0" n_bin_alpha="1" />\n' for i in range(4, 12)) + """\
      <Layer id="12" r_edges="0,100,200,400,1000,2000" n_bin_alpha="1" />
""" + "".join(f'      <Layer id="{i}" r_edges="0" n_bin_alpha="1" />\n' for i in range(13, 24)) + """\
   </Bin>
</Bins>
"""


@pytest.mark.parametrize("name, cells, layers", [("calogan", 504, 3), ("calochallenge-1-photons", 368, 5),
                                                 ("calochallenge-1-pions", 533, 7), ("calochallenge-2", 6480, 45),
                                                 ("calochallenge-3", 40500, 45)])
def test_builtin_geometries_have_the_published_cell_counts(name, cells, layers):
    g = builtin_geometry(name)
    assert g.n_cells == cells and len(g.layers) == layers
    assert geometry_for_cells(cells) == g
    assert sum(s.stop - s.start for s in g.layer_slices()) == cells
    assert ShowerGeometry.from_json(g.to_json()) == g


def test_binning_xml_is_read_and_written_in_the_challenges_format(tmp_path):
    (tmp_path / "binning_dataset_1_photons.xml").write_text(DS1_PHOTONS_XML)
    g = read_binning_xml(tmp_path / "binning_dataset_1_photons.xml")
    assert g.n_cells == 8 + 160 + 190 + 5 + 5 == 368 and g.particle == "gamma"
    assert [layer.id for layer in g.layers] == [0, 1, 2, 3, 12] and len(g.all_layers) == 24
    assert [layer.n_cells for layer in g.layers] == [layer.n_cells for layer in builtin_geometry(
        "calochallenge-1-photons").layers]
    again = read_binning_xml(g.to_binning_xml())
    assert again.n_cells == 368 and again.layers == g.layers
    with pytest.raises(lf.DataError, match="no <Bin> with <Layer>"):
        read_binning_xml("<Bins></Bins>")
    with pytest.raises(lf.DataError, match="r_edges must increase"):
        read_binning_xml('<Bins><Bin><Layer id="0" r_edges="0,5,3" n_bin_alpha="1"/></Bin></Bins>')


def test_cell_centres_land_in_their_own_cells():
    for name in GEOMETRIES:
        for layer in builtin_geometry(name).layers[:3]:
            x, y = layer.centres()
            np.testing.assert_array_equal(layer.cell_of(x, y), np.arange(layer.n_cells))
    ring = builtin_geometry("calochallenge-2").layers[0]  # angle-major: voxel = alpha bin * 9 + r bin
    assert ring.cell_of(np.array([-1.0]), np.array([-1e-3])) == 0 * 9 + 0  # alpha just above -pi, r < 4.65
    assert ring.cell_of(np.array([10.0]), np.array([1e-3])) == 8 * 9 + 2  # alpha just above 0, 9.3 <= r < 13.95
    assert ring.cell_of(np.array([50.0]), np.array([0.0])) == -1  # beyond the last ring


def _challenge_file(path, geometry, n=40, seed=0):
    """A file in CaloChallenge's layout: showers (N, voxels), incident_energies (N, 1), MeV, nothing else."""
    rng = np.random.default_rng(seed)
    e_mev = 2.0 ** rng.integers(8, 23, size=(n, 1)).astype(np.float64)  # 256 MeV - 4 TeV, powers of two
    showers = rng.gamma(0.3, 1.0, size=(n, geometry.n_cells)) * (rng.random((n, geometry.n_cells)) < 0.3)
    showers *= 0.5 * e_mev / showers.sum(1, keepdims=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("showers", data=showers.astype(np.float32))
        f.create_dataset("incident_energies", data=e_mev.astype(np.float32))
    return showers, e_mev


@pytest.mark.parametrize("name, particle", [("calochallenge-1-photons", "gamma"), ("calochallenge-1-pions", "pi+"),
                                            ("calochallenge-2", None), ("calochallenge-3", None)])
def test_calochallenge_files_load_in_mev_with_their_geometry(tmp_path, name, particle):
    g = builtin_geometry(name)
    showers, e_mev = _challenge_file(tmp_path / "dataset.hdf5", g, n=12 if g.n_cells > 10000 else 40)
    back = read_showers(tmp_path / "dataset.hdf5")
    assert back["geometry"] == g and back["energy_unit"] == "MeV" and back["layout"] == "calochallenge"
    np.testing.assert_allclose(back["showers"], showers, rtol=1e-6)
    np.testing.assert_allclose(back["conditions"][:, 0], np.log10(e_mev[:, 0] / 1000), rtol=1e-6)  # log10 E / GeV
    assert back["conditions"].shape[1] == (4 if particle else 1)
    ds = lf.load_dataset(tmp_path / "dataset.hdf5")
    assert ds.x.shape == (len(showers), g.n_cells) and ds.info["geometry"] == g
    obs = observables(back["showers"], back["incident_energies"], g)
    np.testing.assert_allclose(obs["E_total/E_inc"], 0.5, rtol=1e-5)  # in one unit: the ratio is the file's
    first = g.layers[0].id
    assert len(obs) == 1 + 6 * len(g.layers) and np.isfinite(obs[f"width_x_layer{first}"]).all()


def _calogan_file(path, n=30, seed=0):
    """CaloGAN's published layout: layer_0 (N, 3, 96), layer_1 (N, 12, 12), layer_2 (N, 12, 6) in MeV,
    energy (N, 1) in GeV, overflow (N, 3)."""
    rng = np.random.default_rng(seed)
    e_gev = rng.uniform(1, 100, size=(n, 1))
    layers = [rng.gamma(0.5, 1.0, size=(n, *s)) for s in ((3, 96), (12, 12), (12, 6))]
    total = sum(layer.sum((1, 2)) for layer in layers)
    layers = [layer * (0.9 * e_gev[:, 0] * 1000 / total)[:, None, None] for layer in layers]
    with h5py.File(path, "w") as f:
        for k, layer in enumerate(layers):
            f.create_dataset(f"layer_{k}", data=layer.astype(np.float32))
        f.create_dataset("energy", data=e_gev.astype(np.float32))
        f.create_dataset("overflow", data=np.zeros((n, 3), np.float32))
    return layers, e_gev


def test_calogan_file_is_read_not_refused(tmp_path):
    layers, e_gev = _calogan_file(tmp_path / "eplus.hdf5")
    arrays = read_file(tmp_path / "eplus.hdf5")  # was: "holds several arrays ... choose one with key="
    assert arrays["x"].shape == (30, 504)
    np.testing.assert_allclose(arrays["x"][:, :288], layers[0].reshape(30, -1), rtol=1e-6)
    np.testing.assert_allclose(arrays["x"][:, 288:432], layers[1].reshape(30, -1), rtol=1e-6)
    back = read_showers(tmp_path / "eplus.hdf5")
    assert back["energy_unit"] == "MeV"
    np.testing.assert_allclose(back["incident_energies"], e_gev * 1000, rtol=1e-6)  # GeV -> the cells' MeV
    ratio = observables(back["showers"], back["incident_energies"], back["geometry"])["E_total/E_inc"]
    np.testing.assert_allclose(ratio, 0.9, rtol=1e-5)
    assert read_file(tmp_path / "eplus.hdf5", key="layer_1")["x"].shape == (30, 12, 12)  # one array on request


def test_simulator_writes_calogan_and_calochallenge_layouts(tmp_path):
    d = ShowerSimulator(seed=2).simulate(20, "gamma", energy_range=(1, 20))
    write_showers(tmp_path / "gamma.hdf5", d, layout="calogan")
    with h5py.File(tmp_path / "gamma.hdf5", "r") as f:
        assert f["layer_0"].shape == (20, 3, 96) and f["layer_1"].shape == (20, 12, 12)
        assert f["layer_2"].shape == (20, 12, 6) and f["overflow"].shape == (20, 3)
        np.testing.assert_allclose(f["energy"][()], d["incident_energies"], rtol=1e-6)  # GeV
        np.testing.assert_allclose(f["layer_1"][()].reshape(20, -1), d["showers"][:, 288:432] * 1000, rtol=1e-5)
    back = read_showers(tmp_path / "gamma.hdf5")
    assert back["particle"].tolist() == [1] * 20 and back["conditions"].shape == (20, 4)
    ds1 = ShowerSimulator(seed=2, geometry="calochallenge-1-photons").simulate(10, "gamma")
    write_showers(tmp_path / "ds1.hdf5", ds1)
    with h5py.File(tmp_path / "ds1.hdf5", "r") as f:
        assert f["showers"].shape == (10, 368) and f.attrs["energy_unit"] == "MeV"
        assert read_binning_xml(f.attrs["binning_xml"]).n_cells == 368
    with pytest.raises(lf.DataError, match="CaloGAN's layout holds"):
        write_showers(tmp_path / "bad.hdf5", ds1, layout="calogan")


@pytest.mark.parametrize("particle", ["e+", "gamma", "pi+"])
def test_simulator_never_deposits_more_than_the_incident_energy(particle):
    e = np.concatenate([np.full(150, 1.0), np.geomspace(1, 100, 150)])  # the low end is where it used to fail
    d = ShowerSimulator(seed=11, deposits_per_gev=60).simulate(len(e), particle, energies=e)
    deposited = d["showers"].sum(1, dtype=np.float64) + d["overflow"].sum(1, dtype=np.float64)
    assert np.all(deposited <= e) and np.all(d["deposited"] < e)
    assert np.all(d["showers"] >= 0)
    fs = d["sampling_fraction"]
    calibrated = d["deposited"] / (fs * e)
    if particle != "pi+":  # calibrated response 1, spread as a / sqrt(E) (+) b: 10 % at 1 GeV
        assert calibrated[:150].mean() == pytest.approx(1.0, abs=0.03)
        assert calibrated[:150].std() == pytest.approx(np.hypot(0.10, 0.007), rel=0.2)
    else:  # non-compensating: pi / e < 1
        assert calibrated.mean() < 0.9


def test_root_tree_of_cell_energies(tmp_path):
    uproot = pytest.importorskip("uproot")
    d = ShowerSimulator(seed=3).simulate(25, "pi+", energy_range=(1, 10))
    cells_mev = d["showers"] * 1000
    with uproot.recreate(tmp_path / "g4.root") as f:
        t = f.mktree("showers", {"cells": ("f4", (504,)), "incident_energy": "f8", "pdg": "i4"})
        t.extend({"cells": cells_mev, "incident_energy": d["incident_energies"][:, 0] * 1000,
                  "pdg": np.full(25, 211, np.int32)})
    back = read_showers(tmp_path / "g4.root")  # no unit in the titles: MeV, Geant4's unit
    assert back["energy_unit"] == "MeV" and back["geometry"].name == "calogan" and back["layout"] == "root"
    np.testing.assert_allclose(back["showers"], cells_mev, rtol=1e-6)
    assert back["particle"].tolist() == [2] * 25
    ds = lf.load_dataset(tmp_path / "g4.root", labels_key="particle")
    assert ds.x.shape == (25, 504) and set(ds.y) == {"pi+"}
    np.testing.assert_allclose(ds.cond[:, 0], np.log10(d["incident_energies"][:, 0]), rtol=1e-5)
    # per-layer branches, GeV said in the tree title, a binning stored in the file
    g = builtin_geometry("calochallenge-1-photons")
    e = ShowerSimulator(seed=4, geometry=g).simulate(10, "gamma")
    with uproot.recreate(tmp_path / "layers.root") as f:
        parts = g.split(e["showers"])
        t = f.mktree("events", {f"layer_{k}": ("f4", (p.shape[1],)) for k, p in enumerate(parts)}
                     | {"E_inc": "f8"}, title="energies in GeV")
        t.extend({f"layer_{k}": p for k, p in enumerate(parts)} | {"E_inc": e["incident_energies"][:, 0]})
        f["binning"] = g.to_binning_xml()
    back = read_showers(tmp_path / "layers.root")
    assert back["energy_unit"] == "GeV" and back["geometry"].n_cells == 368
    np.testing.assert_allclose(back["showers"], e["showers"], rtol=1e-6)
    with uproot.recreate(tmp_path / "empty.root") as f:
        f.mktree("t", {"x": "f8"}).extend({"x": np.zeros(3)})
    with pytest.raises(lf.DataError, match="no tree with cell energies"):
        read_showers(tmp_path / "empty.root")


def test_evaluate_on_a_calochallenge_file_prints_every_metric(tmp_path, capsys):
    """368 voxels used to stop evaluate ("this layout has 504"); an unknown count is skipped with its reason."""
    g = builtin_geometry("calochallenge-1-photons")
    write_showers(tmp_path / "photons.hdf5", ShowerSimulator(seed=5, geometry=g).simulate(300, "gamma"))
    run = lf.train("cvae", tmp_path / "photons.hdf5", cond_key="conditions", condition="vector", scaling="fractions",
                   likelihood="hurdle", latent_dim=4, hidden=(32,), epochs=2, progress=False, out=tmp_path / "run")
    m = run.evaluate(tmp_path / "photons.hdf5", "test", k=5)
    assert "elbo" in m and m["showers"]["geometry"] == "calochallenge-1-photons" and m["showers"]["n_cells"] == 368
    assert {"E_layer12", "width_y_layer2", "sparsity_layer0", "voxel_energy"} <= set(m["showers"]["separation_power"])
    assert "showers" not in m.get("skipped", {})  # (calibration is skipped with its reason: a hurdle decoder)
    # the same showers stored in GeV: the run generates in its training file's MeV and is compared like with like
    write_showers(tmp_path / "photons_gev.hdf5", ShowerSimulator(seed=5, geometry=g).simulate(300, "gamma"), unit="GeV")
    m_gev = run.evaluate(tmp_path / "photons_gev.hdf5", "test", k=5)["showers"]
    assert m_gev["energy_unit"] == "GeV" and run.data_info["energy_unit"] == "MeV"
    assert abs(m_gev["S_E_total_over_E_inc"] - m["showers"]["S_E_total_over_E_inc"]) < 1e-3
    # 100 cells: no geometry known -> the VAE metrics still print, the shower check says why it is missing
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "odd.hdf5", "w") as f:
        f.create_dataset("showers", data=rng.gamma(0.5, 1.0, (200, 100)).astype(np.float32))
        f.create_dataset("incident_energies", data=rng.uniform(1e3, 1e5, (200, 1)).astype(np.float32))
    lf.train("cvae", tmp_path / "odd.hdf5", cond_key="conditions", condition="vector", scaling="fractions",
             likelihood="hurdle", latent_dim=4, hidden=(32,), epochs=1, progress=False, out=tmp_path / "odd")
    assert main(["evaluate", "--json", str(tmp_path / "odd"), "--data", str(tmp_path / "odd.hdf5"), "--k", "5"]) == 0
    captured = capsys.readouterr()
    m = json.loads(captured.out)
    assert "elbo" in m and "no geometry is known" in m["skipped"]["showers"]
    assert "skipped showers: showers have 100 cells" in captured.err


def test_cli_simulates_any_geometry_and_layout(tmp_path, capsys):
    assert main(["simulate", "--json", "showers", "-n", "20", "--particle", "e+,gamma,pi+", "--geometry", "calochallenge-2",
                 "--energy-range", "1", "10", "--out", str(tmp_path / "ds2.h5")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n"] == 60 and info["cells"] == 6480 and info["max_deposited_fraction"] < 1
    ds = lf.load_dataset(tmp_path / "ds2.h5")
    assert ds.x.shape == (60, 6480) and sorted(np.unique(ds.cond[:, 1:].argmax(1))) == [0, 1, 2]
    assert main(["simulate", "--json", "showers", "-n", "5", "--layout", "calogan", "--out", str(tmp_path / "cg.h5")]) == 0
    with h5py.File(tmp_path / "cg.h5", "r") as f:
        assert sorted(f) == ["energy", "layer_0", "layer_1", "layer_2", "overflow"]
    assert main(["simulate", "--json", "showers", "-n", "5", "--geometry", "nope", "--out", str(tmp_path / "x.h5")]) == 2
    assert "unknown geometry 'nope'" in capsys.readouterr().err


def test_dataset_2_shaped_run_gets_the_full_validation_table(tmp_path, capsys):
    assert main(["simulate", "--json", "showers", "-n", "240", "--geometry", "calochallenge-2", "--energy-range", "1", "100",
                 "--out", str(tmp_path / "ds2.hdf5")]) == 0
    capsys.readouterr()
    assert main(["train", "cvae", "--data", str(tmp_path / "ds2.hdf5"), "--cond-key", "conditions", "--condition",
                 "vector", "--scaling", "fractions", "--likelihood", "hurdle", "--latent-dim", "4", "--hidden", "32",
                 "--epochs", "1", "--test-fraction", "0.25", "--no-progress", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--json", str(tmp_path / "run"), "--data", str(tmp_path / "ds2.hdf5"), "--k", "5"]) == 0
    m = json.loads(capsys.readouterr().out)
    sh = m["showers"]
    assert sh["geometry"] == "calochallenge-2" and sh["n_cells"] == 6480 and sh["auc_features"] == "rings"
    assert len(sh["separation_power"]) == 1 + 45 * 6 + 1  # E_total/E_inc, 6 per layer, voxel spectrum
    assert all(0 <= s <= 1 for s in sh["separation_power"].values()) and 0.5 <= sh["auc"] <= 1
    assert sh["response_reference"][0]["unit"] == "MeV" and "calibrated_response" in sh["response_reference"][0]
    assert "elbo" in m and "showers" not in m.get("skipped", {})


def test_damaged_shower_files_are_refused_by_name(tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["showers"] = np.ones((5, 504), np.float32)
        f["incident_energies"] = np.array([1.0, 2, 0, 4, 5])  # a zero energy
    with pytest.raises(lf.DataError, match="incident energies must be finite and > 0"):
        lf.load_dataset(tmp_path / "a.h5")
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["showers"] = np.ones(5, np.float32)  # not (N, voxels)
        f["incident_energies"] = np.ones((5, 1))
    with pytest.raises(lf.DataError, match="do not fit"):
        lf.load_dataset(tmp_path / "b.h5")
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["showers"] = np.array([b"x"] * 5)
        f["incident_energies"] = np.ones((5, 1))
    with pytest.raises(lf.DataError, match="cannot read as showers"):
        lf.load_dataset(tmp_path / "c.h5")
    _calogan_file(tmp_path / "d.h5")
    with h5py.File(tmp_path / "d.h5", "a") as f:
        del f["layer_2"]
        f["layer_2"] = np.ones((30, 6, 12), np.float32)  # rows and columns swapped
    with pytest.raises(lf.DataError, match=r"layer_2 has shape \(30, 6, 12\)"):
        lf.load_dataset(tmp_path / "d.h5")


def test_shower_figures_label_their_axes_with_units(tmp_path):
    from latentforge.analysis.plots import save_figure
    from latentforge.domains.showers.figures import histogram_figure, layer_profile_figure
    from latentforge.domains.showers.validation import separation_table

    g = builtin_geometry("calochallenge-1-pions")
    ref = read_showers_of(ShowerSimulator(seed=8, geometry=g).simulate(60, "pi+"), tmp_path / "r.h5")
    gen = read_showers_of(ShowerSimulator(seed=9, geometry=g).simulate(60, "pi+"), tmp_path / "g.h5")
    fig = histogram_figure(ref, gen)
    labels = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
    assert "E_layer0 (MeV)" in labels and "centre_x_layer14 (mm)" in labels and "log10 voxel energy (MeV)" in labels
    save_figure(fig, tmp_path / "h.png")
    sep = separation_table(ref, gen, g)
    fig = layer_profile_figure(sep, g)
    assert fig.axes[0].get_xlabel() == "layer id" and fig.axes[0].get_ylabel() == "separation power S"
    save_figure(fig, tmp_path / "p.png")
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "p.png").stat().st_size > 1000


def read_showers_of(data, path):
    write_showers(path, data)
    return read_showers(path)
