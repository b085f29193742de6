"""A scientist's own data in the first five minutes: each case of the own-data issue, with the right value."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.cli.main import main

FAST = dict(epochs=1, batch_size=32, progress=False)


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_labels_from_python_arrays_train(rng):  # case 1
    x = rng.random((60, 10)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    run = lf.train("ae", x, labels=y, **FAST)
    assert run.data_info["labels_kind"].startswith("int")
    est = lf.AutoencoderEstimator(epochs=1).fit(x, y)
    assert est.transform(x).shape == (60, 2)


def test_real_valued_data_gets_a_loss_that_fits_and_says_so(rng, capsys, tmp_path):  # case 2
    x = rng.normal(size=(500, 12)).astype(np.float32)
    run = lf.train("ae", x, epochs=2, progress=False)
    assert run.objective.config.loss == "mse" and run.model.config.output == "identity" and run.scaler.kind == "standard"
    assert "loss=mse" in run.data_info["chosen_from_data"]
    vae = lf.train("vae", x, epochs=2, progress=False)
    assert vae.model.config.likelihood == "gaussian-shared"
    np.save(tmp_path / "g.npy", x)
    code, out, err = run_cli(capsys, "train", "ae", "--data", tmp_path / "g.npy", "--epochs", "1", "--no-progress",
                             "--out", tmp_path / "r")
    assert code == 0 and "chose from the data: loss=mse, output=identity, scaling=standard" in out
    # images keep their BCE: grey levels are intensities
    assert lf.train("ae", "digits", **FAST).objective.config.loss == "bce"


def test_table_columns_keep_their_own_ranges(rng):  # case 2, the same kind: one column's range set by another
    # a table on a [0, 1] scale for a GAN: a narrow column (mm) beside a wide one (km) must not be squeezed to a
    # constant by one global min-max
    x = np.stack([rng.normal(1000.0, 100.0, 400), rng.normal(0.001, 0.0001, 400)], axis=1).astype(np.float32)
    run = lf.train("gan", x, **FAST)
    assert run.scaler.kind == "minmax-feature" and "scaling=minmax-feature" in run.data_info["chosen_from_data"]
    z = run.scaler.transform(x)
    assert -0.5 < z.min() and z.max() < 1.5 and z[:, 0].std() > 0.1 and z[:, 1].std() > 0.1  # fitted on train rows
    assert np.allclose(run.scaler.inverse_transform(z), x, rtol=1e-4)
    # a table of values in [0, 1] that are not 0 / 1 is a measurement, not an intensity: squared error
    assert lf.train("ae", rng.random((200, 8)).astype(np.float32), **FAST).objective.config.loss == "mse"
    # a binary table keeps its Bernoulli view
    assert lf.train("ae", (rng.random((200, 8)) > 0.5).astype(np.float32), **FAST).objective.config.loss == "bce"


@pytest.mark.parametrize("seed", range(8))
def test_uniform_unit_data_never_refused_for_held_out_rows(seed):  # case 2: about a quarter failed before
    x = np.random.default_rng(seed).random((300, 32)).astype(np.float32)
    run = lf.train("vae", x, **FAST)
    m = run.evaluate(x)
    assert m["split"] == "test" and np.isfinite(m["elbo"])


def test_multiband_images_stored_channels_last_train_as_bands(rng):  # case 3
    cube = rng.random((40, 16, 16, 5)).astype(np.float32)
    run = lf.train("conv-ae", cube, channels=(4,), latent_dim=3, **FAST)
    assert run.input_shape == (5, 16, 16)
    # channels-last input recognised at inference too, and answered channels last
    assert run.reconstruct(cube).shape == (40, 16, 16, 5)
    assert run.reconstruct(np.moveaxis(cube, -1, 1)).shape == (40, 5, 16, 16)
    with pytest.raises(lf.DataError, match="--channels-last"):
        lf.train("conv-ae", rng.random((10, 8, 8, 8)), **FAST)


@pytest.mark.parametrize("fmt", ["npz", "h5"])
def test_class_names_are_kept_shown_and_usable(tmp_path, capsys, fmt):  # case 4
    rng = np.random.default_rng(0)
    x = rng.random((90, 8, 8)).astype(np.float32)
    names = np.array(["galaxy", "star", "quasar"])[np.arange(90) % 3]
    path = tmp_path / f"d.{fmt}"
    if fmt == "npz":
        np.savez(path, x=x, y=names)
    else:
        with h5py.File(path, "w") as f:
            f["x"], f["y"] = x, np.array([n.encode() for n in names])  # bytes, as HDF5 stores text
    assert lf.load_dataset(path).y.dtype.kind == "U"
    run_dir = tmp_path / "cvae"
    assert run_cli(capsys, "train", "cvae", "--data", path, "--epochs", "1", "--no-progress", "--out", run_dir)[0] == 0
    state = json.loads((run_dir / "transform.json").read_text())
    assert state["condition"]["classes"] == ["galaxy", "quasar", "star"]
    assert (run_dir / "latent.png").stat().st_size > 0
    code, _, err = run_cli(capsys, "sample", run_dir, "--condition", "galaxy", "-n", "4", "--out", tmp_path / "g.npz")
    assert code == 0, err
    code, _, err = run_cli(capsys, "sample", run_dir, "--condition", "comet", "-n", "4", "--out", tmp_path / "c.npz")
    assert code == 2 and "'comet'" in err and "galaxy" in err
    code, out, _ = run_cli(capsys, "explore", "--json", run_dir, "--data", path, "--out", tmp_path / "ex", "--arithmetic",
                           "star,galaxy,quasar")
    probe = json.loads(out)["probe"]
    assert code == 0 and probe["kind"] == "classes" and 0 <= probe["accuracy_heldout"] <= 1  # no R^2 on classes
    assert run_cli(capsys, "report", run_dir, "--no-baselines")[0] == 0


def test_training_data_is_recognised_by_what_it_is(tmp_path, capsys, rng, monkeypatch):  # case 5
    x = rng.random((200, 6)).astype(np.float32)
    np.save(tmp_path / "d.npy", x)
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "train", "ae", "--data", "d.npy", "--epochs", "2", "--no-progress", "--out", "r")[0] == 0
    results = {}
    for spelling in ("./d.npy", str(tmp_path / "d.npy"), "d.npy"):
        code, out, err = run_cli(capsys, "evaluate", "--json", "r", "--data", spelling)
        m = json.loads(out)
        assert code == 0 and m["split"] == "test" and m["n"] == 20, spelling
        assert "evaluated the held-out test split (20 of 200 rows)" in err
        results[spelling] = m["recon_mse"]
    assert len(set(results.values())) == 1
    np.save(tmp_path / "copy.npy", x)  # the same values under another name: the same data
    assert json.loads(run_cli(capsys, "evaluate", "--json", "r", "--data", "copy.npy")[1])["split"] == "test"
    # part of the training data, or a shuffled copy beside new rows: only the rows training did not see count
    test_rows = lf.data.split_for(200, lf.load("r").train_config)["test"]
    np.save(tmp_path / "part.npy", x[:150])
    code, out, err = run_cli(capsys, "evaluate", "--json", "r", "--data", "part.npy")
    m = json.loads(out)
    assert m["split"] == "unseen" and m["n"] == int((test_rows < 150).sum())
    assert f"the other {150 - m['n']} are training rows" in err
    new = rng.random((30, 6)).astype(np.float32)
    mixed = np.concatenate([x[rng.permutation(200)], new])
    np.save(tmp_path / "mixed.npy", mixed)
    m = json.loads(run_cli(capsys, "evaluate", "--json", "r", "--data", "mixed.npy")[1])
    assert m["split"] == "unseen" and m["n"] == 20 + 30
    assert np.isclose(m["recon_mse"], lf.load("r").evaluate(np.concatenate([x[test_rows], new]), split="all")["recon_mse"],
                      rtol=1e-5)
    np.save(tmp_path / "other.npy", new)
    m = json.loads(run_cli(capsys, "evaluate", "--json", "r", "--data", "other.npy")[1])
    assert m["split"] == "all" and m["n"] == 30 and "not the run's training data" in m["split_reason"]
    # asked for explicitly; refused in one line when nothing is left
    assert run_cli(capsys, "evaluate", "--json", "r", "--data", "part.npy", "--split", "unseen")[0] == 0
    np.save(tmp_path / "seen.npy", x[lf.data.split_for(200, lf.load("r").train_config)["train"]])
    code, out, err = run_cli(capsys, "evaluate", "--json", "r", "--data", "seen.npy", "--split", "unseen")
    assert code == 2 and "every one of the" in err and len(err.strip().splitlines()) == 1
    assert "nothing here was held out" in run_cli(capsys, "evaluate", "--json", "r", "--data", "seen.npy")[2]


def test_resume_keeps_the_runs_meaning_or_refuses(tmp_path, digits):  # case 6
    common = dict(hidden=(16,), latent_dim=2, batch_size=64, progress=False, lr_schedule="cosine")
    lf.train("ae", digits, out=tmp_path / "r", epochs=4, **common)
    before = (tmp_path / "r" / "config.json").read_bytes()
    with pytest.raises(lf.ConfigError, match=r"cosine learning-rate schedule was laid out over 4 epochs.*Keep "
                                              r"epochs=4"):
        lf.train("ae", digits, out=tmp_path / "r", epochs=8, resume=True, **common)
    assert (tmp_path / "r" / "config.json").read_bytes() == before  # a refused resume writes nothing
    # a constant rate keeps its meaning over more epochs
    flat = {**common, "lr_schedule": "constant"}
    lf.train("ae", digits, out=tmp_path / "c", epochs=2, **flat)
    assert len(lf.train("ae", digits, out=tmp_path / "c", epochs=3, resume=True, **flat).history) == 3
    # an early-stopped run continues only with a larger patience
    stop = {**flat, "lr": 0.5, "patience": 1}
    run = lf.train("ae", digits, out=tmp_path / "s", epochs=30, **stop)
    assert len(run.history) < 30
    with pytest.raises(lf.ConfigError, match="stopped early.*larger patience"):
        lf.train("ae", digits, out=tmp_path / "s", epochs=40, resume=True, **stop)
    # fewer epochs than trained: refused, not a silent no-op
    with pytest.raises(lf.ConfigError, match="already trained 3 epochs; epochs=2"):
        lf.train("ae", digits, out=tmp_path / "c", epochs=2, resume=True, **flat)


def test_resume_takes_the_runs_own_options(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    np.save(tmp_path / "d.npy", x)
    args = ["--data", tmp_path / "d.npy", "--out", tmp_path / "r", "--no-progress"]
    assert run_cli(capsys, "train", "vae", "--latent-dim", "3", "--hidden", "16", "--epochs", "2", *args)[0] == 0
    code, out, err = run_cli(capsys, "train", "vae", "--epochs", "4", "--resume", *args)  # only what changes
    assert code == 0, err
    run = lf.load(tmp_path / "r")
    assert run.model.latent_dim == 3 and len(run.history) == 4
    chosen = run.data_info["chosen_from_data"]
    assert chosen[:2] == ["likelihood=gaussian-shared", "scaling=standard"]
    assert len(chosen) == 4 and chosen[2].startswith("the learned sigma was set to")  # once, by the first training
    assert chosen[3].startswith("reconstruction predictive calibrated on the validation rows")  # refitted, said once
    code, out, err = run_cli(capsys, "train", "ae", "--epochs", "6", "--resume", *args)
    assert code == 2 and "holds a 'vae' run" in err


def test_batch_norm_and_a_last_batch_of_one(rng):  # case 7
    x = rng.random((21, 16, 16)).astype(np.float32)
    run = lf.train("dcgan", x, batch_size=16, epochs=2, val_fraction=0, test_fraction=0, progress=False)
    assert len(run.history) == 2 and run.sample(2).shape == (2, 16, 16)  # the layout of the training data
    assert run.sample(2, layout="model").shape == (2, 1, 16, 16)
    with pytest.raises(lf.ConfigError, match="batch norm needs at least 2 examples"):
        lf.train("dcgan", x[:1], epochs=1, val_fraction=0, test_fraction=0, progress=False)


def test_samples_stream_to_disk_and_impossible_requests_are_refused(tmp_path, capsys):  # case 8
    run_dir = tmp_path / "v"
    lf.train("vae", "digits", out=run_dir, hidden=(16,), **FAST)
    code, _, err = run_cli(capsys, "sample", run_dir, "-n", 20000, "--out", tmp_path / "s.npz")
    assert code == 0, err
    s = np.load(tmp_path / "s.npz")["samples"]
    assert s.shape == (20000, 1, 8, 8)
    np.testing.assert_array_equal(s, lf.load(run_dir).sample(20000))  # the same numbers, streamed in chunks
    assert "the first 64 of 20000" in err or (tmp_path / "s.png").exists()
    code, _, err = run_cli(capsys, "sample", run_dir, "-n", 10 ** 12, "--out", tmp_path / "big.npz")
    assert code == 2 and "need 256 TB of disk" in err and "\n" not in err.strip()
    assert not (tmp_path / "big.npz").exists()
    with pytest.raises(lf.ConfigError, match="need 256 TB of memory"):
        lf.load(run_dir).sample(10 ** 12)


def test_options_before_the_model_name(tmp_path, capsys):  # case 11
    code, _, err = run_cli(capsys, "train", "--data", "digits", "ae", "--latent-dim", "2", "--epochs", "1",
                           "--no-progress", "--out", tmp_path / "r")
    assert code == 0, err
    assert lf.load(tmp_path / "r").model.latent_dim == 2


def test_pytorch_data_goes_in_as_it_is():  # case 12
    from torch.utils.data import DataLoader, TensorDataset

    x = torch.rand(64, 12, requires_grad=True)
    y = torch.arange(64) % 4
    # a DataLoader's batch size is the training batch size (one that differs from batch_size= is refused)
    for data in (x, TensorDataset(x.detach(), y), DataLoader(TensorDataset(x.detach(), y),
                                                             batch_size=FAST["batch_size"])):
        run = lf.train("ae", data, **FAST)
        assert run.encode(x).shape == (64, 2)
    assert lf.as_dataset(DataLoader(TensorDataset(x.detach(), y), batch_size=10, shuffle=False)).y.tolist() == \
        y.tolist()


def test_tables_images_folders_and_globs(tmp_path, rng):
    from PIL import Image

    # CSV with a header and a text label column named by the user; TSV found by its name
    rows = ["a,b,c,kind"] + [f"{i},{i * 0.5},{-i},{'red' if i % 2 else 'blue'}" for i in range(20)]
    (tmp_path / "t.csv").write_text("\n".join(rows))
    ds = lf.load_dataset(tmp_path / "t.csv", labels_key="kind")
    assert ds.x.shape == (20, 3) and set(ds.y) == {"red", "blue"}
    (tmp_path / "t.tsv").write_text("x\ty\tlabel\n1\t2\t0\n3\t4\t1\n")
    ds = lf.load_dataset(tmp_path / "t.tsv")
    assert ds.x.tolist() == [[1, 2], [3, 4]] and ds.y.tolist() == [0, 1]
    (tmp_path / "bad.csv").write_text("a,name\n1,x\n2,y\n")
    with pytest.raises(lf.DataError, match="column 'name' is not numeric.*--labels-key"):
        lf.load_dataset(tmp_path / "bad.csv")
    # an image folder with class sub-folders
    for cls in ("cats", "dogs"):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(tmp_path / "img" / cls / f"{i}.png")
    ds = lf.load_dataset(tmp_path / "img")
    assert ds.x.shape == (6, 3, 12, 10) and sorted(set(ds.y)) == ["cats", "dogs"]
    Image.fromarray(rng.integers(0, 60000, (12, 10), dtype=np.uint16)).save(tmp_path / "deep.tif")
    assert lf.load_dataset(tmp_path / "deep.tif").x.max() > 255  # 16-bit values kept
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "img" / "dogs" / "odd.png")
    with pytest.raises(lf.DataError, match="odd.png: image of shape"):
        lf.load_dataset(tmp_path / "img")
    # folders and globs of arrays
    (tmp_path / "parts").mkdir()
    for i in range(3):
        np.savez(tmp_path / "parts" / f"p{i}.npz", x=rng.random((4, 6)), y=np.full(4, i))
    ds = lf.load_dataset(tmp_path / "parts")
    assert ds.x.shape == (12, 6) and ds.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert lf.load_dataset(str(tmp_path / "parts" / "p[01].npz")).x.shape == (8, 6)
    np.savez(tmp_path / "parts" / "p9.npz", x=rng.random((4, 7)), y=np.zeros(4))
    with pytest.raises(lf.DataError, match="p9.npz: examples of shape \\(7,\\)"):
        lf.load_dataset(tmp_path / "parts")


def test_fits_images_cubes_and_tables(tmp_path, rng):
    fits = pytest.importorskip("astropy.io.fits")
    fits.PrimaryHDU(rng.random((7, 9, 11)).astype(np.float32)).writeto(tmp_path / "cube.fits")
    assert lf.load_dataset(tmp_path / "cube.fits").x.shape == (7, 1, 9, 11)
    for i in range(3):
        fits.PrimaryHDU(rng.random((9, 11))).writeto(tmp_path / f"im{i}.fits")
    assert lf.load_dataset(str(tmp_path / "im*.fits")).x.shape == (3, 1, 9, 11)
    cols = [fits.Column(name="mag_g", format="E", array=rng.random(15)),
            fits.Column(name="mag_r", format="E", array=rng.random(15)),
            fits.Column(name="class", format="6A", array=np.array(["star", "galaxy"] * 7 + ["star"]))]
    fits.BinTableHDU.from_columns(cols).writeto(tmp_path / "cat.fits")
    ds = lf.load_dataset(tmp_path / "cat.fits", key="mag_g,mag_r", labels_key="class")
    assert ds.x.shape == (15, 2) and set(ds.y) == {"star", "galaxy"}


def test_sklearn_estimators_pass_the_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    for est in (lf.AutoencoderEstimator(epochs=2), lf.VAEEstimator(epochs=2)):
        failed = [r for r in check_estimator(est, on_fail=None) if r["status"] == "failed"]
        assert not failed, [(r["check_name"], str(r["exception"])[:200]) for r in failed]


def test_sklearn_clone_pipeline_and_grid_search(rng):
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = rng.normal(size=(120, 8))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    est = lf.AutoencoderEstimator(latent_dim=2, epochs=5)
    with pytest.raises(NotFittedError):
        est.transform(x)
    assert clone(est).get_params() == est.get_params()
    pipe = make_pipeline(StandardScaler(), lf.AutoencoderEstimator(latent_dim=3, epochs=5),
                         LogisticRegression()).fit(x, y)
    assert 0 <= pipe.score(x, y) <= 1
    grid = GridSearchCV(lf.AutoencoderEstimator("linear-ae", epochs=40, lr=1e-2, batch_size=32),
                        {"latent_dim": [1, 4]}, cv=2).fit(x)
    assert grid.best_params_["latent_dim"] == 4  # more code dimensions reconstruct better
    assert lf.AutoencoderEstimator(epochs=1).fit(x).n_features_in_ == 8


def test_label_conditions_know_every_class_and_refuse_a_continuous_parameter(rng):
    x = rng.random((60, 8)).astype(np.float32)
    y = np.array(["a"] * 59 + ["rare"])  # the one "rare" row may land in a held-out split
    run = lf.train("cgan", x, labels=y, g_hidden=(8,), d_hidden=(8,), latent_dim=2, **FAST)
    assert run.conditioner.classes == ["a", "rare"]
    assert run.sample(2, "rare", seed=0).shape == (2, 8)
    with pytest.raises(lf.ConfigError, match="continuous parameter.*--condition vector"):
        lf.train("cvae", x, labels=rng.normal(size=60), hidden=(8,), latent_dim=2, **FAST)


def test_the_training_data_is_read_again_with_its_keys_or_asked_for(tmp_path, rng, monkeypatch):
    np.savez(tmp_path / "d.npz", flux=rng.random((80, 6)).astype(np.float32), other=rng.random((80, 3)))
    run = lf.train("ae", str(tmp_path / "d.npz"), key="flux", out=tmp_path / "r", **FAST)
    monkeypatch.chdir(tmp_path.parent)  # from elsewhere: the resolved path and the key come from the run
    again = lf.load(tmp_path / "r").training_data()
    assert again.x.shape == (80, 6) and run.is_training_data(again)
    arrays = lf.train("ae", rng.random((50, 6)).astype(np.float32), **FAST)
    with pytest.raises(lf.ConfigError, match="cannot be read again; pass the data"):
        arrays.training_data()
    from latentforge.analysis.report import build_report

    with pytest.raises(lf.ConfigError, match="pass the data"):
        build_report(arrays)


def test_fits_tables_name_array_columns_missing_values_and_labels(tmp_path, rng):
    fits = pytest.importorskip("astropy.io.fits")
    n = 12
    cols = [fits.Column(name="mag_g", format="E", array=rng.random(n)),
            fits.Column(name="flux", format="5E", array=rng.random((n, 5))),
            fits.Column(name="CLASS", format="6A", array=np.array(["star", "galaxy"] * 6))]
    fits.BinTableHDU.from_columns(cols).writeto(tmp_path / "a.fits")
    with pytest.raises(lf.DataError, match=r"array columns flux \(5 values\).*key='flux'"):
        lf.load_dataset(tmp_path / "a.fits")  # the vector column is never dropped silently
    ds = lf.load_dataset(tmp_path / "a.fits", key="flux")
    assert ds.x.shape == (n, 5) and set(ds.y) == {"star", "galaxy"}  # the class column found by its name
    counts = np.arange(n, dtype=np.int32)
    counts[3] = -99
    fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=rng.random(n)),
                                   fits.Column(name="counts", format="J", null=-99, array=counts)]
                                  ).writeto(tmp_path / "b.fits")
    ds = lf.load_dataset(tmp_path / "b.fits")  # TNULL is a missing value, not the number -99
    assert ds.mask is not None and np.argwhere(ds.mask).tolist() == [[3, 1]]


def test_python_inputs_of_the_wrong_kind_are_refused_in_one_line(tmp_path, rng):
    x = rng.random((30, 6)).astype(np.float32)
    np.savez(tmp_path / "vc.npz", x=x, cond=rng.random((30, 2)))
    run = lf.train("cvae", str(tmp_path / "vc.npz"), condition="vector", cond_key="cond", hidden=(8,), latent_dim=2,
                   **FAST)
    with pytest.raises(lf.ConfigError, match="vector of 2 value.*got 3"):
        run.sample(2, [0.1, 0.2, 0.3])
    with pytest.raises(lf.ConfigError, match="decode takes latent codes"):
        run.decode("abc")
    with pytest.raises(lf.DataError, match="different lengths"):
        lf.train("ae", [[1, 2], [3]], **FAST)
    bf16 = lf.train("ae", torch.rand(30, 6, dtype=torch.bfloat16), **FAST)  # numpy has no bfloat16
    assert bf16.encode(torch.rand(3, 6, dtype=torch.bfloat16)).shape == (3, 2)
    est = lf.AutoencoderEstimator(epochs=1, random_state=None).fit(x)  # scikit-learn's "a fresh seed"
    assert isinstance(est.seed_, int) and est.transform(x).shape == (30, 2)


def test_compressed_files_and_a_labels_text_file(tmp_path, rng):
    import gzip

    x = rng.random((30, 6)).astype(np.float32)
    with gzip.open(tmp_path / "x.npy.gz", "wb") as f:
        np.save(f, x)
    assert np.array_equal(lf.load_dataset(tmp_path / "x.npy.gz").x, x)
    with gzip.open(tmp_path / "t.csv.gz", "wt") as f:
        f.write("a,b\n1,2\n3,4\n")
    assert lf.load_dataset(tmp_path / "t.csv.gz").x.shape == (2, 2)
    np.savetxt(tmp_path / "labels.txt", np.arange(30) % 3, fmt="%d")
    np.save(tmp_path / "x.npy", x)
    ds = lf.load_dataset(tmp_path / "x.npy", labels=tmp_path / "labels.txt")
    assert ds.y.dtype.kind == "i" and list(ds.y[:4]) == [0, 1, 2, 0]
    (tmp_path / "z.npz.gz").write_bytes(gzip.compress((tmp_path / "x.npy").read_bytes()))
    with pytest.raises(lf.DataError, match="gzip-compressed npz.*gunzip z.npz.gz"):
        lf.load_dataset(tmp_path / "z.npz.gz")


def test_newcomer_cases_split_by_position_resume_data_and_text_labels(tmp_path, rng, capsys, monkeypatch):
    x = rng.random((200, 6)).astype(np.float32)
    np.save(tmp_path / "d.npy", x)
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "train", "ae", "--data", "d.npy", "--epochs", "1", "--no-progress", "--out", "r")[0] == 0
    np.save(tmp_path / "shuffled.npy", x[rng.permutation(200)])
    code, out, err = run_cli(capsys, "evaluate", "r", "--data", "shuffled.npy", "--split", "test")
    assert code == 2 and "--split unseen" in err  # positions name other rows in a reordered copy
    assert run_cli(capsys, "evaluate", "--json", "r", "--data", "d.npy", "--split", "test")[0] == 0
    # resume finds its data in the run
    code, out, err = run_cli(capsys, "train", "ae", "--out", "r", "--resume", "--epochs", "2", "--no-progress")
    assert code == 0, err
    # a one-column text file of class names: every line a label
    (tmp_path / "names.txt").write_text("\n".join(["a", "b"] * 100) + "\n")
    ds = lf.load_dataset(tmp_path / "d.npy", labels=tmp_path / "names.txt")
    assert len(ds.y) == 200 and set(ds.y) == {"a", "b"}
    # a model option changed on resume is named
    code, out, err = run_cli(capsys, "train", "ae", "--out", "r", "--resume", "--epochs", "3", "--hidden", "8",
                             "--no-progress")
    assert code == 2 and "model_config (hidden)" in err
