"""Device and precision options: cpu / cuda / auto, bf16 / fp16 autocast, GPU paths where a GPU exists."""

import pytest
import torch

import latentforge as lf
from latentforge.cli.main import main
from latentforge.io import load_tensors
from latentforge.data.batches import to_device
from latentforge.train import runtime

REAL_NATIVE_BF16 = runtime.native_bf16  # before the tests' fixture replaces it

COMMON = dict(hidden=(16,), latent_dim=3, batch_size=128, seed=2, progress=False)
no_cuda = not torch.cuda.is_available()


@pytest.mark.skipif(not no_cuda, reason="a GPU is visible here")
def test_cuda_asked_without_a_gpu_is_a_clear_config_error(digits, tmp_path, capsys):
    with pytest.raises(lf.ConfigError, match="no CUDA GPU.*--device cpu or --device auto"):
        lf.train("ae", digits, epochs=1, device="cuda", **COMMON)
    with pytest.raises(lf.ConfigError, match="fp16 needs a CUDA GPU"):
        lf.train("ae", digits, epochs=1, precision="fp16", **COMMON)
    code = main(["train", "ae", "--data", "digits", "--device", "cuda", "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no CUDA GPU" in err[0]
    assert not (tmp_path / "r").exists()
    assert runtime.resolve_device("auto") == torch.device("cpu")


def test_auto_on_this_machine_matches_the_explicit_device(digits):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    a = lf.train("ae", digits, epochs=2, device="auto", **COMMON)
    b = lf.train("ae", digits, epochs=2, device=expected, **COMMON)
    assert a.history[-1]["train_loss"] == b.history[-1]["train_loss"]
    assert next(a.model.parameters()).device.type == "cpu"  # the trained model lives on the CPU


def test_cpu_bf16_trains(digits):
    run = lf.train("ae", digits, epochs=3, precision="bf16", **COMMON)
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]


@pytest.mark.skipif(no_cuda, reason="needs a CUDA GPU")
@pytest.mark.parametrize("name,precision", [("ae", "fp32"), ("vae", "bf16"), ("denoising-ae", "fp16"),
                                            ("gan", "fp16")])
def test_gpu_training_resumes_exactly_and_loads_on_cpu(digits, tmp_path, name, precision):
    kw = dict(seed=4, progress=False, device="cuda", precision=precision)
    lf.train(name, digits, out=tmp_path / "full", epochs=3, **kw)
    lf.train(name, digits, out=tmp_path / "part", epochs=1, **kw)
    lf.train(name, digits, out=tmp_path / "part", epochs=3, resume=True, **kw)
    a = load_tensors(tmp_path / "full" / "model.safetensors")[0]
    b = load_tensors(tmp_path / "part" / "model.safetensors")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    run = lf.load(tmp_path / "full")
    out = run.sample(4) if name in ("vae", "gan") else run.reconstruct(digits.x[:4])
    assert out.shape[0] == 4


def test_transfers_use_pinned_memory_only_for_a_gpu():
    b = {"x": torch.ones(3, 2)}
    assert to_device(b, torch.device("cpu")) is b
    if torch.cuda.is_available():
        out = to_device(b, torch.device("cuda"))
        assert out["x"].is_cuda


@pytest.mark.parametrize("native", [True, False])
def test_precision_auto_follows_the_hardware(digits, monkeypatch, native):
    monkeypatch.setattr(runtime, "native_bf16", lambda device: native)
    cpu = torch.device("cpu")
    assert runtime.resolve_precision("auto", cpu) == ("bf16" if native else "fp32")
    assert lf.TrainConfig().precision == "auto"  # the default
    run = lf.train("ae", digits, hidden=(16,), epochs=1, progress=False)
    assert run.train_config.precision == "auto"
    from latentforge.train import Trainer

    tr = Trainer(run.model, run.objective, run.train_config, progress=False)
    assert tr.precision == ("bf16" if native else "fp32")


def test_bf16_asked_of_an_emulating_cpu_warns_with_the_measured_cost(monkeypatch):
    monkeypatch.setattr(runtime, "native_bf16", lambda device: False)
    monkeypatch.setattr(runtime, "_WARNED_BF16", set())
    monkeypatch.setattr(runtime, "bf16_cost", lambda device: 3.2)  # as measured on a CPU without bf16 units
    with pytest.warns(UserWarning, match=r"bf16 on this cpu is emulated.*takes 3.2x its fp32 time"):
        assert runtime.resolve_precision("bf16", torch.device("cpu")) == "bf16"


def test_native_bf16_reads_the_cpu_flags(monkeypatch, tmp_path):
    import builtins

    real_open = builtins.open
    for flags, expected in (("fpu avx2 avx512f", False), ("fpu avx512f amx_bf16 avx512_bf16", True)):
        (tmp_path / "cpuinfo").write_text(f"processor : 0\nflags : {flags}\n")
        monkeypatch.setattr(builtins, "open", lambda p, *a, **k: real_open(tmp_path / "cpuinfo", *a, **k)
                            if str(p) == "/proc/cpuinfo" else real_open(p, *a, **k))
        assert REAL_NATIVE_BF16(torch.device("cpu")) is expected
def test_auto_finds_apples_gpu_when_there_is_no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert runtime.resolve_device("auto") == torch.device("mps")
    assert runtime.resolve_device("mps") == torch.device("mps")
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun: torch.distributed has no MPS backend
    assert runtime.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(lf.ConfigError, match="torchrun.*--device cpu"):
        runtime.resolve_device("mps")


def test_auto_prefers_cuda_over_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert runtime.resolve_device("auto", local_rank=3) == torch.device("cuda", 1)


def test_mps_without_an_apple_gpu_is_a_clear_config_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(lf.ConfigError, match="no Apple GPU.*--device cpu"):
        runtime.resolve_device("mps")
    with pytest.raises(lf.ConfigError, match="choose cpu, cuda, mps or auto"):
        runtime.resolve_device("metal")
    code = main(["train", "ae", "--data", "digits", "--device", "mps", "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no Apple GPU" in err[0]
    assert not (tmp_path / "r").exists()


def test_epoch_sums_for_apples_gpu_are_taken_on_the_cpu():
    # MPS has no float64: the per-epoch sums must not be cast on the device (this machine has no MPS, so a
    # cast there would fail too)
    out = runtime.Dist().sum_dict({"loss": torch.tensor(1.5), "n": 3.0}, torch.device("mps"))
    assert out == {"loss": 1.5, "n": 3.0}
