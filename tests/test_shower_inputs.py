"""Bad input to the shower commands and readers: one line naming the problem and a fix, and the fix works."""

import re

import h5py
import numpy as np
import pytest

import latentforge as lf
from latentforge.cli.main import main
from latentforge.domains.showers.files import read_showers
from latentforge.domains.showers.units import PARTICLES


def cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) <= 1, err
    return code, err


@pytest.mark.parametrize("bad, says, fix", [
    (["--energy-range", "-1", "100"], "--energy-range -1 100: incident energies need 0 < LOW <= HIGH in GeV",
     ["--energy-range", "1", "100"]),
    (["--energy-range", "-1", "100", "--chunk-rows", "4"], "--energy-range -1 100: incident energies need",
     ["--energy-range", "1", "100", "--chunk-rows", "4"]),
    (["--deposits-per-gev", "0"], "--deposits-per-gev 0: give a whole number of at least 1",
     ["--deposits-per-gev", "1"]),
    (["--chunk-rows", "-5"], "--chunk-rows -5: give 0 (all at once, the default)", ["--chunk-rows", "0"]),
    (["--layout", "calogan", "--geometry", "calochallenge-1-photons"], "simulate with --geometry calogan, or write "
     "--layout calochallenge", ["--layout", "calogan", "--geometry", "calogan"]),
])
def test_simulate_refuses_a_bad_flag_in_one_line_and_its_fix_runs(capsys, tmp_path, bad, says, fix):
    out = tmp_path / "s.h5"
    code, err = cli(capsys, "simulate", "showers", "-n", 5, "--out", out, *bad)
    assert code == 2 and says in err and not list(tmp_path.iterdir()), err  # nothing left behind
    code, err = cli(capsys, "simulate", "showers", "-n", 5, "--out", out, *fix)
    assert code == 0 and len(read_showers(out)["showers"]) == 5, err


def test_simulate_wants_an_h5_name_for_every_simulator(capsys, tmp_path):
    for what in ("showers", "spectra"):
        code, err = cli(capsys, "simulate", what, "-n", 3, "--out", tmp_path / "a.txt")
        assert code == 2 and err.endswith("--out " + str(tmp_path / "a.txt") + ": give a file name ending in .h5")
    assert not list(tmp_path.iterdir())


@pytest.fixture
def small(tmp_path):
    assert main(["simulate", "showers", "-n", "4", "--particle", "e+,gamma,pi+", "--out", str(tmp_path / "a.h5")]) == 0
    return tmp_path / "a.h5"


def _set_particle(path, values) -> None:
    with h5py.File(path, "a") as f:
        del f["particle"]
        if values is not None:
            f.create_dataset("particle", data=values)


def test_particle_values_are_codes_or_names_and_others_are_refused_with_the_fix(small):
    codes = read_showers(small)["particle"]
    _set_particle(small, np.array([PARTICLES[c].encode() for c in codes]))  # names, as bytes in HDF5
    np.testing.assert_array_equal(read_showers(small)["particle"], codes)
    onehot = read_showers(small)["conditions"][:, 1:]
    assert (onehot.argmax(1) == codes).all() and (onehot.sum(1) == 1).all()
    for bad, named in ((np.where(codes == 0, 7, codes), "[7]"), (np.array([b"electron"] * len(codes)), "['electron']")):
        _set_particle(small, bad)
        with pytest.raises(lf.DataError, match=rf"particle values {re.escape(named)} are neither codes nor names of "
                                                r"the known particles \(0: e\+, 1: gamma, 2: pi\+\); rewrite the "
                                                "particle dataset with those, or delete it"):
            read_showers(small)
    _set_particle(small, None)  # the fix: condition on the incident energy alone
    d = read_showers(small)
    assert d["particle"] is None and d["conditions"].shape == (12, 1)


@pytest.mark.parametrize("kind, streamed", [("shower-layers", False), ("layer-log", False), ("shower-layers", True)])
def test_negative_cells_name_their_count_and_clipping_them_is_the_fix(small, kind, streamed):
    d = read_showers(small)
    x = d["showers"].copy()
    x[2, 5], x[3, 9] = -3.0, -0.5
    info = {"geometry": d["geometry"], "energy_unit": d["energy_unit"]}

    def fit(cells):
        if streamed:  # the pass over a file larger than memory, in two chunks
            chunks = [(cells[:6], d["conditions"][:6]), (cells[6:], d["conditions"][6:])]
            return lf.Scaler(kind).fit_chunks(iter(chunks), n_chunks=2, info=info)
        return lf.Scaler(kind).fit(cells, cond=d["conditions"], info=info)
    with pytest.raises(lf.DataError, match=rf"{kind} scaling needs non-negative deposits, and 2 cell value\(s\) in 2 "
                                           r"shower\(s\) are negative \(smallest -3\): set them to 0"):
        fit(x)
    fit(np.maximum(x, 0))


def test_an_unknown_cond_key_of_a_shower_file_names_the_two_it_has_in_either_spelling(small, capsys, tmp_path):
    code, err = cli(capsys, "train", "shower-flow-vae", "--data", small, "--cond-key", "nosuch", "--epochs", 1,
                    "--out", tmp_path / "run")
    assert code == 2 and "a shower file has no --cond-key nosuch; give --cond-key conditions" in err
    with pytest.raises(lf.DataError, match="has no cond_key='nosuch'; give cond_key='conditions'"):
        lf.as_dataset(small, cond_key="nosuch")
    assert lf.as_dataset(small, cond_key="conditions").cond.shape == (12, 4)  # the fix


def test_epochs_0_names_the_flag_on_the_command_line_and_the_keyword_in_python(small, capsys, tmp_path):
    code, err = cli(capsys, "train", "shower-flow-vae", "--data", small, "--epochs", 0, "--out", tmp_path / "run")
    assert code == 2 and err.endswith("--epochs must be > 0, got 0; give a positive value")
    with pytest.raises(lf.ConfigError, match="^epochs must be > 0, got 0"):
        lf.TrainConfig(epochs=0)
    assert not (tmp_path / "run").exists()


def test_cells_under_another_name_beside_incident_energies_are_named_with_the_rename_fix(small, tmp_path, capsys):
    """A CaloChallenge-like file whose cells are called 'voxels': the layout is named and renaming them is the fix
    (it used to say: holds several arrays, choose key='incident_energies')."""
    d = read_showers(small)
    path = tmp_path / "voxels.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("voxels", data=d["showers"])
        f.create_dataset("incident_energies", data=d["incident_energies"])
    code, err = cli(capsys, "train", "shower-flow-vae", "--data", path, "--cond-key", "conditions", "--epochs", 1,
                    "--out", tmp_path / "run")
    assert code == 2 and err.endswith("holds the CaloChallenge layout's incident_energies but no showers dataset; "
                                      "rename the cells' dataset to showers (h5py: f.move('voxels', 'showers')), or "
                                      "read it as plain data with --key voxels"), err
    assert lf.as_dataset(path, key="voxels").x.shape == (12, 504)  # named, it is plain data
    with h5py.File(path, "a") as f:
        f.move("voxels", "showers")  # the fix
    ds = lf.as_dataset(path, cond_key="conditions")
    np.testing.assert_array_equal(ds.x, d["showers"])
    np.testing.assert_allclose(ds.cond[:, 0], np.log10(d["incident_energies"][:, 0] / 1e3), rtol=1e-6)  # MeV -> GeV


def test_conditions_of_another_width_than_the_training_ones_are_named_with_both_widths(small):
    """Showers without the particle (conditions: log10 E alone) for a model trained with it (4 values each)."""
    from latentforge.data.conditions import VectorConditioner

    trained_on = VectorConditioner().fit(read_showers(small)["conditions"])
    _set_particle(small, None)
    cond = lf.as_dataset(small, cond_key="conditions").cond
    with pytest.raises(lf.ConfigError, match=r"^a condition is a vector of 4 value\(s\) as in training \(one, or one "
                                             r"per example\); got 12 value\(s\) for 12 example\(s\), 1 per example"):
        trained_on.broadcast(cond, 12)
    assert trained_on.broadcast(np.array([0.5, 0, 0, 1]), 12).shape == (12, 4)  # the fix: one vector of 4


def test_a_negative_comma_list_after_a_flag_is_its_value():
    """`--condition -0.2,0,0,1` (log10 E below 1 GeV) was refused by argparse as an unknown flag."""
    from latentforge.cli.main import build_parser, glue_negative_lists

    argv = ["sample", "run", "-n", "5", "--condition", "-0.2,0,0,1", "--out", "s.npz"]
    a = build_parser().parse_args(glue_negative_lists(argv))
    assert a.condition == "-0.2,0,0,1" and a.n == 5 and a.out == "s.npz"
    for kept in (["--energy-range", "-1", "100"], ["--condition=-1,2"], ["-n", "5"]):  # argparse reads these itself
        assert glue_negative_lists(kept) == kept
