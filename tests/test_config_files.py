"""Configuration files a user writes or a run saved: YAML beside TOML and JSON, and data paths that work from any
working directory."""

import json

import numpy as np

from latentforge.cli.main import main
from latentforge.io import load_tensors


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _weights(path):
    return load_tensors(path / "model.safetensors")[0]


def test_yaml_config_trains_the_same_run_as_toml(tmp_path, capsys):
    (tmp_path / "c.toml").write_text('model = "ae"\ndata = "digits"\nlatent_dim = 3\nepochs = 1\n\n'
                                     '[model_config]\nhidden = [16]\n')
    (tmp_path / "c.yaml").write_text("model: ae\ndata: digits\nlatent_dim: 3\nepochs: 1\nmodel_config:\n"
                                     "  hidden: [16]\n")
    for name in ("c.toml", "c.yaml"):
        code, _, err = run_cli(capsys, "train", "--config", tmp_path / name, "--no-progress", "--out",
                               tmp_path / name.replace(".", "_"))
        assert code == 0, err
    a, b = _weights(tmp_path / "c_toml"), _weights(tmp_path / "c_yaml")
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert json.loads((tmp_path / "c_yaml" / "config.json").read_text())["model_config"]["hidden"] == [16]


def test_bad_yaml_and_unknown_formats_are_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "broken.yml").write_text("model: [ae\n")
    code, _, err = run_cli(capsys, "train", "--config", tmp_path / "broken.yml", "--out", tmp_path / "r")
    assert code == 2 and "not a readable YML file" in err and "Traceback" not in err and len(err.splitlines()) == 1
    (tmp_path / "c.ini").write_text("[x]\n")
    code, _, err = run_cli(capsys, "train", "--config", tmp_path / "c.ini", "--out", tmp_path / "r")
    assert code == 2 and ".toml, .yaml / .yml or .json" in err
    assert not (tmp_path / "r").exists()


def test_a_config_with_a_relative_data_path_replays_from_another_directory(tmp_path, capsys, monkeypatch):
    work = tmp_path / "project"
    work.mkdir()
    np.save(work / "x.npy", np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32))
    (work / "c.toml").write_text('model = "ae"\ndata = "x.npy"\nlatent_dim = 2\nepochs = 1\n')
    monkeypatch.chdir(work)
    code, _, err = run_cli(capsys, "train", "--config", "c.toml", "--no-progress", "--out", "run")
    assert code == 0, err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # the hand-written file: its relative path is taken from the file's folder
    code, _, err = run_cli(capsys, "train", "--config", work / "c.toml", "--no-progress", "--out", "again")
    assert code == 0, err
    # the run's own config.json: the absolute path it recorded
    code, _, err = run_cli(capsys, "train", "--config", work / "run" / "config.json", "--no-progress", "--out",
                           "replayed")
    assert code == 0, err
    first = _weights(work / "run")
    for other in (elsewhere / "again", elsewhere / "replayed"):
        w = _weights(other)
        assert all(np.array_equal(first[k].numpy(), w[k].numpy()) for k in first)


def test_a_trained_model_says_what_it_is():
    import latentforge as lf

    run = lf.train("vae", np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32), latent_dim=2, epochs=1,
                   progress=False)
    text = repr(run)
    n_params = sum(p.numel() for p in run.model.parameters())
    assert text.startswith("<TrainedModel vae: ") and f"{n_params:,} parameters" in text
    assert "shape 6" in text and "sample" in text and "encode" in text and "applies" not in text
