"""A device for every command and API call that runs a network: ``--device`` on the commands, ``device=`` in
``lf.load`` and ``TrainedModel.to``; results come back as numpy arrays on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.cli.main import DEFAULT_DEVICE, NETWORK_COMMANDS, build_parser, main
from latentforge.run import TrainedModel

no_cuda = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("device")
    digits = lf.load_dataset("digits")
    np.savez(d / "x.npz", x=digits.x[:200], y=digits.y[:200])
    data = str(d / "x.npz")
    for name in ("ae", "vae", "denoising-ae"):
        lf.train(name, data, out=d / name, hidden=(16,), latent_dim=3, epochs=1, progress=False)
    lf.train("gan", data, out=d / "gan", g_hidden=(16,), d_hidden=(16,), latent_dim=3, epochs=1, progress=False)
    lf.train("cyclegan", data, data_b=data, out=d / "cyclegan", g_hidden=(16,), d_hidden=(16,), epochs=1,
             progress=False)
    return d


def command_lines(d):
    """One invocation of every inference command on a run that offers it (the training data as --data)."""
    data = ["--data", str(d / "x.npz")]
    return {
        "encode": ["encode", str(d / "ae"), *data, "--out", str(d / "o-encode.npz")],
        "reconstruct": ["reconstruct", str(d / "vae"), *data, "--samples", "3", "--out", str(d / "o-rec.npz")],
        "sample": ["sample", str(d / "vae"), "-n", "8", "--out", str(d / "o-sample.npz")],
        "denoise": ["denoise", str(d / "denoising-ae"), *data, "--add-noise", "--out", str(d / "o-den.npz")],
        "score": ["score", str(d / "gan"), *data, "--out", str(d / "o-score.npz")],
        "evaluate": ["evaluate", str(d / "vae"), *data, "--k", "5", "--json"],
        "inpaint": ["inpaint", str(d / "ae"), *data, "--mask", "bottom", "--steps", "3", "--limit", "8", "--out",
                    str(d / "o-inpaint.npz")],
        "translate": ["translate", str(d / "cyclegan"), *data, "--out", str(d / "o-translate.npz")],
        "explore": ["explore", str(d / "ae"), *data, "--out", str(d / "o-explore")],
        "report": ["report", str(d / "ae"), *data, "--out", str(d / "o-report.html"), "--no-baselines",
                   "--no-progress"],
    }


def test_every_network_command_has_the_device_flag_with_the_cpu_default():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in NETWORK_COMMANDS:
        p = sub.choices[name]
        assert "--device" in p.format_help(), name
        assert next(a for a in p._actions if a.dest == "device").default == DEFAULT_DEVICE == "cpu"


@pytest.mark.parametrize("command", ["encode", "reconstruct", "sample", "denoise", "score", "evaluate", "inpaint",
                                     "translate", "explore", "report"])
def test_each_command_runs_its_network_on_the_device_asked_for(runs, command, monkeypatch, capsys):
    moved = []
    real_to = TrainedModel.to
    monkeypatch.setattr(TrainedModel, "to", lambda self, device: moved.append(device) or real_to(self, device))
    argv = command_lines(runs)[command]
    assert main([*argv, "--device", "cpu"]) == 0, capsys.readouterr().err
    assert moved and all(torch.device(m) == torch.device("cpu") for m in moved)
    moved.clear()
    assert main([*argv, "--device", "auto"]) == 0  # auto: a CUDA GPU when one is visible, else mps, else the CPU
    from latentforge.training.runtime import resolve_device

    assert moved and all(torch.device(m) == resolve_device("auto") for m in moved)


@pytest.mark.skipif(not no_cuda, reason="a GPU is visible here")
@pytest.mark.parametrize("command", ["encode", "reconstruct", "sample", "denoise", "score", "evaluate", "inpaint",
                                     "translate", "explore", "report"])
def test_cuda_without_a_gpu_is_one_line_naming_the_fix(runs, command, capsys, tmp_path):
    argv = command_lines(runs)[command]
    out = [a for a in argv if a.startswith(str(runs / "o-"))]
    argv = [a if a not in out else str(tmp_path / ("o" + a[-4:] if a.endswith((".npz", "html")) else "odir"))
            for a in argv]
    assert main([*argv, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA GPU" in err[0] and "--device cpu or --device auto" in err[0]
    assert not list(tmp_path.iterdir())  # nothing written
    # the fix it names works
    assert main([*argv, "--device", "cpu"]) == 0


@pytest.mark.skipif(not no_cuda, reason="a GPU is visible here")
@pytest.mark.parametrize("command", ["demo", "compare"])
def test_demo_and_compare_refuse_a_missing_gpu_before_any_work(command, capsys, tmp_path):
    argv = {"demo": ["demo", "--out", str(tmp_path / "d"), "--epochs", "1", "--no-progress"],
            "compare": ["compare", "--data", "digits", "--out", str(tmp_path / "c"), "--budget-minutes", "0.05",
                        "--no-progress"]}[command]
    assert main([*argv, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA GPU" in err[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("flags,module,fn", [([], "latentforge.demo", "run_demo"),
                                             (["--spectra"], "latentforge.domains.spectra.demo", "run_spectra_demo"),
                                             (["--filters"], "latentforge.demo", "run_filters_demo")])
def test_demo_hands_the_device_to_training(flags, module, fn, monkeypatch, tmp_path):
    import importlib

    seen = {}
    monkeypatch.setattr(importlib.import_module(module), fn, lambda **kw: seen.update(kw))
    assert main(["demo", *flags, "--out", str(tmp_path / "d"), "--device", "cpu"]) == 0
    assert seen["device"] == "cpu"


@pytest.mark.slow  # long: runs in the slow checks (pytest -m slow; CI runs them)
def test_compare_trains_and_measures_on_the_device(monkeypatch, tmp_path):
    import latentforge.compare as cmp

    devices = []
    real_train = cmp.train

    def train(*args, **kw):
        devices.append(kw["device"])
        return real_train(*args, **kw)

    monkeypatch.setattr(cmp, "train", train)
    moved = []
    real_to = TrainedModel.to
    monkeypatch.setattr(TrainedModel, "to", lambda self, device: moved.append(device) or real_to(self, device))
    digits = lf.load_dataset("digits")
    cmp.compare(lf.as_dataset(digits.x[:150], labels=digits.y[:150]), tmp_path / "c", budget_minutes=0.05,
                progress=False, device="cpu")
    assert devices == ["cpu"] * 3 and moved == ["cpu"] * 3


def test_load_takes_a_device_and_results_come_back_as_numpy(runs):
    x = lf.as_dataset(str(runs / "x.npz")).x[:16]
    ref = lf.load(runs / "vae")
    run = lf.load(runs / "vae", device="cpu")
    assert run.device == torch.device("cpu") and ref.device == torch.device("cpu")
    for out in (run.encode(x), run.reconstruct(x), run.sample(4, seed=1), run.decode(np.zeros((2, 3), np.float32))):
        assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(run.reconstruct(x), ref.reconstruct(x))
    assert run.reconstruct(x).shape == x.shape  # the caller's layout
    assert run.to("auto") is run
    from latentforge.training.runtime import resolve_device

    assert run.device == resolve_device("auto")


@pytest.mark.skipif(not no_cuda, reason="a GPU is visible here")
def test_load_on_a_missing_gpu_is_a_config_error_naming_the_fix(runs):
    with pytest.raises(lf.ConfigError, match=r"no CUDA GPU.*use device='cpu' or device='auto'"):
        lf.load(runs / "vae", device="cuda")
    with pytest.raises(lf.ConfigError, match="choose cpu, cuda, mps or auto"):
        lf.load(runs / "vae", device="gpu")
    run = lf.load(runs / "vae")
    with pytest.raises(lf.ConfigError, match="no CUDA GPU"):
        run.to("cuda")
    assert run.device == torch.device("cpu")  # unchanged


@pytest.mark.skipif(no_cuda, reason="needs a CUDA GPU")
def test_inference_on_the_gpu_matches_the_cpu(runs):
    x = lf.as_dataset(str(runs / "x.npz")).x[:64]
    cpu, gpu = lf.load(runs / "vae"), lf.load(runs / "vae", device="cuda")
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.reconstruct(x), cpu.reconstruct(x), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gpu.encode(x), cpu.encode(x), rtol=1e-4, atol=1e-5)
    s = gpu.sample(256, seed=0)
    assert isinstance(s, np.ndarray) and s.shape == (256, *x.shape[1:])
    np.testing.assert_array_equal(s, gpu.sample(256, seed=0))  # one seed, one device: the same samples
    ll_cpu, ll_gpu = cpu.log_likelihood(x, k=20), gpu.log_likelihood(x, k=20)
    assert abs(ll_cpu["iwae"].mean() - ll_gpu["iwae"].mean()) < 0.05 * abs(ll_cpu["iwae"].mean())
    gan = lf.load(runs / "gan", device="cuda")
    np.testing.assert_allclose(gan.score(x), lf.load(runs / "gan").score(x), rtol=1e-4, atol=1e-5)
