"""Device and precision options: cpu / cuda / auto, bf16 / fp16 autocast, GPU paths where a GPU exists."""

import math

import pytest
import torch

import latentforge as lf
from latentforge.cli.main import main
from latentforge.io import load_tensors
from latentforge.data.batches import to_device
from latentforge.training import distributed, runtime

REAL_NATIVE_BF16 = runtime.native_bf16

COMMON = dict(hidden=(16,), latent_dim=3, batch_size=128, seed=2, progress=False)
no_cuda = not torch.cuda.is_available()


@pytest.mark.skipif(not no_cuda, reason="a GPU is visible here")
def test_cuda_asked_without_a_gpu_is_a_clear_config_error(digits, tmp_path, capsys):
    with pytest.raises(lf.ConfigError, match="no CUDA GPU.*device='cpu' or device='auto'"):
        lf.train("ae", digits, epochs=1, device="cuda", **COMMON)
    with pytest.raises(lf.ConfigError, match="precision=.fp16. needs a CUDA GPU"):
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


def _fake_step(seconds: dict, calls: list):
    """A training step whose time per precision is given (sleeps), recording each call."""
    import time

    def step(precision):
        calls.append(precision)
        time.sleep(seconds[precision])

    return step


@pytest.mark.parametrize("native,bf16_s,expected", [(True, 0.004, "bf16"), (True, 0.011, "fp32"),
                                                     (True, 0.0095, "fp32"), (False, 0.001, "fp32")])
def test_auto_takes_bf16_only_where_it_is_measured_faster(monkeypatch, native, bf16_s, expected):
    monkeypatch.setattr(runtime, "native_bf16", lambda device: native)
    monkeypatch.setattr(runtime, "_MEASURED", {})
    calls: list = []
    choice = runtime.choose_precision("auto", torch.device("cpu"), risk=None,
                                      step=_fake_step({"fp32": 0.01, "bf16": bf16_s}, calls), key=("m",))
    assert choice.precision == expected
    if not native:  # nothing to time: the hardware has no bf16 arithmetic
        assert calls == [] and "no native bfloat16" in choice.reason
        return
    assert set(calls) == {"fp32", "bf16"} and 8 <= len(calls) <= 16  # a warm-up and 3 to 7 timed steps each
    ratio = choice.step_seconds["bf16"] / choice.step_seconds["fp32"]
    assert ratio == pytest.approx(bf16_s / 0.01, rel=0.3)
    assert f"{ratio:.2f}x the fp32 step" in choice.reason and choice.reason.startswith(f"auto: {expected}")
    # the same device and model shape again: the measurement is reused, nothing is timed
    calls.clear()
    again = runtime.choose_precision("auto", torch.device("cpu"), risk=None,
                                     step=_fake_step({"fp32": 0.01, "bf16": bf16_s}, calls), key=("m",))
    assert again.precision == expected and calls == []


def test_a_model_declared_unsafe_never_gets_bf16_and_nothing_is_timed(digits, monkeypatch):
    monkeypatch.setattr(runtime, "native_bf16", lambda device: True)
    monkeypatch.setattr(runtime, "_MEASURED", {})

    def never(*a, **k):
        raise AssertionError("timed a model that declares bf16 unsafe")

    monkeypatch.setattr(runtime, "time_steps", never)
    choice = runtime.choose_precision("auto", torch.device("cpu"), risk="it exponentiates", step=lambda p: None)
    assert choice.precision == "fp32" and choice.reason == "auto: fp32, since it exponentiates"
    run = lf.train("vae", digits, hidden=(16,), latent_dim=3, epochs=1, likelihood="gaussian-hetero",
                   scaling="standard", progress=False)
    assert run.runtime["precision"] == "fp32" and "log sigma" in run.runtime["precision_reason"]
    assert run.history[-1]["precision"] == "fp32"
    from latentforge.catalog import MODELS

    for name, kw in (("spectrum-vae", {}), ("vae", {"likelihood": "hurdle"}), ("vae", {"likelihood": "gaussian-shared"})):
        spec = MODELS.get(name)
        net, _ = spec.build(*spec.configs((64,), **kw))
        assert net.reduced_precision_risk(), (name, kw)
    for name, kw in (("ae", {}), ("vae", {}), ("vae", {"likelihood": "gaussian"}), ("gan", {})):
        spec = MODELS.get(name)
        net, _ = spec.build(*spec.configs((64,), **kw))
        assert net.reduced_precision_risk() is None, (name, kw)


def test_auto_measured_faster_trains_in_bf16_and_records_why(digits, tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "native_bf16", lambda device: True)
    monkeypatch.setattr(runtime, "_MEASURED", {})
    monkeypatch.setattr(runtime, "time_steps", lambda step, precisions: {"fp32": 0.002, "bf16": 0.001})
    assert lf.TrainConfig().precision == "auto"  # the default
    run = lf.train("ae", digits, hidden=(16,), epochs=1, progress=False, out=tmp_path / "r")
    assert run.train_config.precision == "auto"
    assert run.runtime["precision"] == "bf16" and "0.50x the fp32 step" in run.runtime["precision_reason"]
    assert run.history[-1]["precision"] == "bf16"
    assert lf.load(tmp_path / "r").runtime["precision"] == "bf16"  # config.json records it


def test_auto_times_the_real_step_of_every_kind_of_model(digits, monkeypatch):
    """On this machine's CPU: the measurement runs (where bf16 is native) for an AE, a VAE and a GAN, once each,
    and does not change what the training computes. (Its cost, a fraction of a second, is a figure for
    benchmarks/, not a bound here: a wall-clock assert fails on a loaded machine.)"""
    monkeypatch.setattr(runtime, "_MEASURED", {})
    real_time_steps, spent = runtime.time_steps, []

    def timed(*a, **k):
        out = real_time_steps(*a, **k)
        spent.append(out)
        return out

    monkeypatch.setattr(runtime, "time_steps", timed)
    native = runtime.native_bf16(torch.device("cpu"))
    runs = {name: lf.train(name, digits, latent_dim=3, epochs=1, progress=False, **kw)
            for name, kw in (("ae", {"hidden": (32,)}), ("vae", {"hidden": (32,)}),
                             ("gan", {"g_hidden": (32,), "d_hidden": (32,)}))}
    for name, run in runs.items():
        info = run.runtime
        assert info["precision"] in ("fp32", "bf16") and run.history[-1]["precision"] == info["precision"]
        measured = info.get("step_seconds")  # which precisions were measured; their values are not bounded here
        if native:  # both precisions were measured: the record holds one finite, non-negative figure for each
            assert sorted(measured) == ["bf16", "fp32"], (name, info)
            assert all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in measured.values()), measured
        else:  # nothing was measured, so the record has no measurements, and the reason says why
            assert measured is None and "no native bfloat16" in info["precision_reason"], (name, info)
    assert len(spent) == (3 if native else 0), spent  # one measurement per model, none where bf16 is emulated
    # the timing steps ran on copies: a run in the precision auto chose equals an explicit run in that precision
    gan = runs["gan"]
    explicit = lf.train("gan", digits, latent_dim=3, g_hidden=(32,), d_hidden=(32,), epochs=1, progress=False,
                        precision=gan.runtime["precision"])
    assert explicit.history[-1]["d_loss"] == gan.history[-1]["d_loss"]


def test_bf16_asked_of_an_emulating_cpu_warns_with_the_measured_cost(monkeypatch):
    monkeypatch.setattr(runtime, "native_bf16", lambda device: False)
    monkeypatch.setattr(runtime, "_WARNED_BF16", set())
    monkeypatch.setattr(runtime, "bf16_cost", lambda device: 3.2)  # as measured on a CPU without bf16 units
    with pytest.warns(UserWarning, match=r"bf16 on this cpu is slower than fp32 \(no native bfloat16 instructions\): "
                                         r"a matrix product takes 3.2x its fp32 time here \(measured now\)"):
        assert runtime.resolve_precision("bf16", torch.device("cpu")) == "bf16"


@pytest.mark.parametrize("native", [False, True])
def test_the_bf16_warning_comes_from_a_measurement_not_from_the_cpu_flags(monkeypatch, recwarn, native):
    import warnings

    monkeypatch.setattr(runtime, "native_bf16", lambda device: native)
    monkeypatch.setattr(runtime, "_WARNED_BF16", set())
    monkeypatch.setattr(runtime, "bf16_cost", lambda device: 0.8)  # measured faster: no warning, whatever the flags
    warnings.simplefilter("always")
    assert runtime.resolve_precision("bf16", torch.device("cpu")) == "bf16"
    assert not [w for w in recwarn if "bf16" in str(w.message)]
    monkeypatch.setattr(runtime, "_WARNED_BF16", set())
    monkeypatch.setattr(runtime, "bf16_cost", lambda device: 1.5)  # measured slower: a warning, whatever the flags
    with pytest.warns(UserWarning, match="1.5x its fp32 time"):
        runtime.resolve_precision("bf16", torch.device("cpu"))


def test_tf32_products_are_allowed_on_cuda_unless_turned_off_and_restored_after():
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    before = (matmul.allow_tf32, cudnn.allow_tf32)
    try:
        for asked in (True, False):
            matmul.allow_tf32, cudnn.allow_tf32 = (not asked, not asked)
            with runtime.fp32_products(torch.device("cuda"), asked) as in_effect:
                assert in_effect is asked and matmul.allow_tf32 is asked and cudnn.allow_tf32 is asked
            assert (matmul.allow_tf32, cudnn.allow_tf32) == (not asked, not asked)  # the process's own again
        matmul.allow_tf32 = False
        with runtime.fp32_products(torch.device("cpu"), True) as in_effect:  # no TF32 on a CPU: nothing is set
            assert in_effect is False and matmul.allow_tf32 is False
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = before


def test_the_tf32_setting_is_used_and_recorded(digits, tmp_path, monkeypatch, capsys):
    import json

    from latentforge.cli.main import main

    asked = []
    real = runtime.fp32_products
    monkeypatch.setattr(runtime, "fp32_products", lambda device, tf32: asked.append((device.type, tf32)) or
                        real(device, tf32))
    out = tmp_path / "run"
    assert main(["train", "ae", "--data", "digits", "--epochs", "1", "--hidden", "8", "--latent-dim", "2",
                 "--no-progress", "--no-tf32", "--out", str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert asked == [("cpu", False)]
    assert saved["train_config"]["tf32"] is False and saved["runtime"]["tf32"] is False
    run = lf.train("ae", digits, epochs=1, hidden=(8,), latent_dim=2, progress=False)
    assert asked[-1] == ("cpu", True) and run.train_config.tf32 is True
    assert run.runtime["tf32"] is False  # asked for, but a CPU has no TF32: recorded as not in effect


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
    with pytest.raises(lf.ConfigError, match="torchrun.*device='cpu'"):
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
    with pytest.raises(lf.ConfigError, match="no Apple GPU.*device='cpu'"):
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
    out = distributed.Dist().sum_dict({"loss": torch.tensor(1.5), "n": 3.0}, torch.device("mps"))
    assert out == {"loss": 1.5, "n": 3.0}


def test_auto_decides_once_per_machine_and_model_shape_across_processes(monkeypatch, tmp_path):
    """A timing taken on a busy machine could flip the choice between two runs of one command (and so their
    numbers): the measurement is kept on disk and read back by a later process instead of timing again."""
    import json

    monkeypatch.setenv("LATENTFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(runtime, "native_bf16", lambda device: True)
    monkeypatch.setattr(runtime, "_MEASURED", {})
    calls: list = []
    first = runtime.choose_precision("auto", torch.device("cpu"), risk=None,
                                     step=_fake_step({"fp32": 0.01, "bf16": 0.004}, calls), key=("m", 7))
    saved = json.loads((tmp_path / "cache" / "precision.json").read_text())
    [(hardware, entries)] = saved.items()
    assert "torch" in hardware and list(entries) == [repr(("cpu", "m", 7))]
    monkeypatch.setattr(runtime, "_MEASURED", {})  # a new process: nothing in memory
    calls.clear()
    again = runtime.choose_precision("auto", torch.device("cpu"), risk=None,
                                     step=_fake_step({"fp32": 0.01, "bf16": 0.02}, calls), key=("m", 7))
    assert calls == [] and again.precision == first.precision == "bf16"
    monkeypatch.setenv("LATENTFORGE_CACHE_DIR", "")  # nothing kept: timed again
    monkeypatch.setattr(runtime, "_MEASURED", {})
    third = runtime.choose_precision("auto", torch.device("cpu"), risk=None,
                                     step=_fake_step({"fp32": 0.01, "bf16": 0.02}, calls), key=("m", 7))
    assert calls and third.precision == "fp32"
