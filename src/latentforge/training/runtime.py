"""Where training runs: device choice, mixed precision, host-to-device transfers and multi-process
(DistributedDataParallel) bookkeeping shared by both trainers.

Distributed training is switched on by the environment ``torchrun`` sets (``WORLD_SIZE`` > 1, ``RANK``,
``LOCAL_RANK``): gloo on CPU, NCCL on GPU. Every rank shuffles with the same seeded stream and takes its
own slice of the permutation; sums of metrics are all-reduced; only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..errors import ConfigError
from ..spelling import speak


def prefetch_optimizer_imports() -> threading.Thread | None:
    """Start importing ``torch._dynamo`` on a background thread; returns the thread (join it before exit), or
    None when there is nothing to do.

    Every ``torch.optim`` optimiser imports ``torch._dynamo`` at its first step (0.8 s on a 2-core CPU, a fifth of
    a short run's start-up). Done in the background, the import overlaps the data reading and scaling, whose
    numpy work leaves the interpreter lock free. For the command line only, in one process: under torchrun the
    main thread imports ``torch.distributed`` at the same time, and two threads importing one package's modules
    can meet halfway through it."""
    if "torch._dynamo" in sys.modules or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return None

    switch = sys.getswitchinterval()

    def load() -> None:
        try:
            import torch._dynamo  # noqa: F401
        except Exception:  # noqa: BLE001 - a prefetch only: the optimiser imports it again and raises there
            pass
        finally:
            sys.setswitchinterval(switch)

    # the import holds the interpreter lock for long stretches: a short switch interval lets the main thread's
    # numpy calls (each needs the lock to start) wait 0.5 ms instead of 5 ms
    sys.setswitchinterval(min(switch, 0.0005))

    thread = threading.Thread(target=load, name="latentforge-prefetch", daemon=True)
    thread.start()
    return thread


def mps_available() -> bool:
    """True when PyTorch sees Apple's GPU (the Metal Performance Shaders backend, macOS on Apple silicon)."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``cpu``, ``cuda``, ``mps`` (an error when absent) or ``auto`` -> a torch.device.

    ``auto`` takes a CUDA GPU when one is visible, else Apple's GPU (``mps``) when PyTorch sees one, else the CPU.
    Under torchrun ``auto`` never picks ``mps`` (torch.distributed does not run there) and ``mps`` is refused.
    Raises ConfigError for an unknown name or a device that is not there.
    """
    if name == "cpu":
        return torch.device("cpu")
    if name not in ("cuda", "mps", "auto"):
        raise ConfigError(f"unknown device {name!r}; choose cpu, cuda, mps or auto")
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if name == "mps":
        if distributed:
            raise ConfigError("--device mps cannot train under torchrun (torch.distributed has no Apple GPU "
                              "backend); use --device cpu, or train in one process")
        if not mps_available():
            raise ConfigError("--device mps was asked for but PyTorch sees no Apple GPU (MPS needs macOS on Apple "
                              f"silicon and a PyTorch built with it; torch {torch.__version__}); use --device cpu "
                              "or --device auto")
        return torch.device("mps")
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "auto":
        return torch.device("mps") if mps_available() and not distributed else torch.device("cpu")
    raise ConfigError("--device cuda was asked for but no CUDA GPU is visible to PyTorch (torch "
                      f"{torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); use --device cpu or "
                      "--device auto, or install a CUDA build of PyTorch")


def check_precision(precision: str, device: torch.device) -> None:
    """ConfigError for fp16 without a GPU."""
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("--precision fp16 needs a CUDA GPU (it runs with a gradient scaler there); on a CPU use "
                          "--precision bf16 or fp32")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a GPU that supports it, or a CPU with AVX-512 BF16 or AMX
    instructions (others emulate it, slower than fp32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def bf16_cost(device: torch.device, size: int = 256, repeats: int = 10) -> float:
    """Time of a (size x size) matmul under bf16 autocast over its fp32 time on ``device`` (measured now)."""
    import time

    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)

    def timed(ctx) -> float:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            with ctx():
                for _ in range(repeats):
                    a @ b
            best = min(best, time.perf_counter() - t0)
        return best

    return timed(lambda: torch.autocast(device.type, dtype=torch.bfloat16)) / max(timed(contextlib.nullcontext),
                                                                               1e-9)


_WARNED_BF16: set[str] = set()

#: a reduced precision is chosen only when its measured step time is below this fraction of fp32's
FASTER_BY = 0.9
#: step times measured in this process: (device, model and batch shape) -> {precision: seconds per step}
_MEASURED: dict[tuple, dict[str, float]] = {}


@dataclass(frozen=True)
class PrecisionChoice:
    """The arithmetic a training runs in and why: ``precision`` (fp32, bf16 or fp16), ``reason`` (one
    sentence), ``step_seconds`` (the measured seconds per training step of each precision timed; empty when
    nothing was timed)."""

    precision: str
    reason: str
    step_seconds: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"precision": self.precision, "precision_reason": self.reason}
        if self.step_seconds:
            out["step_seconds"] = {k: round(v, 6) for k, v in self.step_seconds.items()}
        return out


def time_steps(step: Callable[[str], None], precisions: tuple[str, ...], budget_s: float = 0.25,
               repeats: int = 7, least: int = 3) -> dict[str, float]:
    """The shortest time of ``step(precision)`` for each precision: one untimed warm-up call each (first calls
    build kernels), then ``least`` to ``repeats`` timed calls each, interleaved (so a change of load hits both
    alike), stopped after ``least`` rounds once ``budget_s`` seconds have gone by. A model whose warm-up alone
    takes more than four budgets gets one timed round. ``step`` must wait for the device itself."""
    import time

    started = time.perf_counter()
    for p in precisions:
        step(p)
    if time.perf_counter() - started > 4 * budget_s:
        repeats = least = 1
    best = {p: float("inf") for p in precisions}
    started = time.perf_counter()
    for r in range(repeats):
        for p in precisions:
            t0 = time.perf_counter()
            step(p)
            best[p] = min(best[p], time.perf_counter() - t0)
        if r + 1 >= least and time.perf_counter() - started > budget_s:
            break
    return best


def choose_precision(precision: str, device: torch.device, *, risk: str | None,
                     step: Callable[[str], None] | None = None, key: tuple = ()) -> PrecisionChoice:
    """The precision a training runs in.

    An explicit ``fp32`` / ``bf16`` / ``fp16`` is kept (see ``resolve_precision``). ``auto`` is fp32 unless bf16
    is both numerically safe for the model and measured faster: ``risk`` (the model's reason why bf16 is not safe
    for it, or None) makes it fp32 without timing anything; a device without native bfloat16 arithmetic gives
    fp32 too; otherwise ``step(precision)`` (one training step of the actual model on an actual batch, forward
    and backward, on ``device``) is timed in fp32 and bf16 (``time_steps``, about a quarter of a second at most)
    and bf16 is chosen only when its step takes under ``FASTER_BY`` of fp32's. Timings are kept per ``key``
    (device, model and batch shapes) for the rest of the process and in ``measurement_file()`` for later runs on
    the same hardware, so one command decides the same way each time. fp16 is never chosen by ``auto``: its range
    needs a gradient scaler and loses small values of scientific data.
    """
    if precision != "auto":
        asked = speak(f"--precision {precision} was asked for")  # a keyword argument from Python
        return PrecisionChoice(resolve_precision(precision, device), asked, {})
    if risk:
        return PrecisionChoice("fp32", f"auto: fp32, since {risk}", {})
    if not native_bf16(device):
        return PrecisionChoice("fp32", f"auto: fp32, since this {device.type} has no native bfloat16 arithmetic",
                               {})
    if step is None:
        return PrecisionChoice("fp32", "auto: fp32, since no training step was given to time", {})
    cache_key = (str(device), *key)
    times = _MEASURED.get(cache_key) or _read_measured(device, cache_key)
    if times is None:
        try:
            times = time_steps(step, ("fp32", "bf16"))
        except Exception as e:  # noqa: BLE001 - a step that cannot be timed here is trained in fp32, and says why
            return PrecisionChoice("fp32", f"auto: fp32, since the training step could not be timed here "
                                           f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})", {})
        _write_measured(device, cache_key, times)
    _MEASURED[cache_key] = times
    ratio = times["bf16"] / max(times["fp32"], 1e-12)
    measured = (f"a bf16 step took {ratio:.2f}x the fp32 step ({times['bf16'] * 1e3:.3g} ms against "
                f"{times['fp32'] * 1e3:.3g} ms, measured on this {device.type})")
    if ratio < FASTER_BY:
        return PrecisionChoice("bf16", f"auto: bf16, since {measured}", dict(times))
    return PrecisionChoice("fp32", f"auto: fp32, since {measured}", dict(times))


def measurement_file() -> str | None:
    """Where step timings are kept between runs: ``$LATENTFORGE_CACHE_DIR/precision.json`` (default
    ``$XDG_CACHE_HOME/latentforge`` or ``~/.cache/latentforge``); None when ``LATENTFORGE_CACHE_DIR`` is empty
    (nothing kept). Keeping them makes ``auto`` decide once per machine, model and batch shape: a timing taken
    on a busy machine would otherwise let two runs of one command pick different precisions, and so give
    different numbers."""
    folder = os.environ.get("LATENTFORGE_CACHE_DIR")
    if folder == "":
        return None
    if folder is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "latentforge")
    return os.path.join(folder, "precision.json")


def _hardware(device: torch.device) -> str:
    """The device's model name (the CPU's or GPU's) and torch's version: timings hold for that pair only."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = device.type
        try:
            with open("/proc/cpuinfo") as f:
                name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
        except OSError:
            pass
    return f"{name} | torch {torch.__version__}"


def _read_measured(device: torch.device, cache_key: tuple) -> dict[str, float] | None:
    import json

    path = measurement_file()
    if path is None:
        return None
    try:
        with open(path) as f:
            saved = json.load(f)
        times = saved.get(_hardware(device), {}).get(repr(cache_key))
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(times, dict) and {"fp32", "bf16"} <= set(times):
        return {k: float(v) for k, v in times.items()}
    return None


def _write_measured(device: torch.device, cache_key: tuple, times: dict[str, float]) -> None:
    """Add one measurement to the file (written whole to a temporary file, then renamed); a cache that cannot
    be written is skipped."""
    import json
    import tempfile

    path = measurement_file()
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path) as f:
                saved = json.load(f)
            if not isinstance(saved, dict):
                saved = {}
        except (OSError, ValueError):
            saved = {}
        saved.setdefault(_hardware(device), {})[repr(cache_key)] = times
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".precision.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(saved, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass


def resolve_precision(precision: str, device: torch.device) -> str:
    """An explicit precision checked for ``device`` (fp16 needs a GPU), with a warning, once per process and
    device kind, when bf16 is asked for and a matrix product in it is measured slower than in fp32
    (``bf16_cost``; e.g. a CPU that emulates bfloat16); ``auto`` needs the model and is decided by
    ``choose_precision``."""
    if precision == "auto":
        raise ValueError("auto is decided by choose_precision (it needs the model and a batch)")
    check_precision(precision, device)
    if precision == "bf16" and device.type in ("cpu", "cuda") and device.type not in _WARNED_BF16:
        _WARNED_BF16.add(device.type)
        cost = bf16_cost(device)  # measured now: the warning never comes from the CPU's flags alone
        if cost > 1.0 / FASTER_BY:  # measured slower: say by how much
            import warnings

            why = " (no native bfloat16 instructions)" if not native_bf16(device) else ""
            warnings.warn(speak(f"bf16 on this {device.type} is slower than fp32{why}: a matrix product takes "
                                f"{cost:.1f}x its fp32 time here (measured now); --precision auto (the default) or "
                                "--precision fp32 would be faster"), stacklevel=3)
    return precision


@contextlib.contextmanager
def fp32_products(device: torch.device, tf32: bool):
    """Inside: fp32 matrix products and convolutions on a CUDA ``device`` may use TF32 tensor cores when ``tf32``
    (``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32``), or must not; the
    process's settings are restored on exit. On a CPU or Apple's GPU nothing is set (TF32 is an NVIDIA format;
    the CPU's own reduced-precision fp32 modes are left alone). Yields whether TF32 is in effect."""
    if device.type != "cuda":
        yield False
        return
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def autocast(device: torch.device, precision: str):
    """bf16 autocast on CPU or GPU, fp16 on GPU; fp32: a no-op context."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str):
    """A GradScaler for fp16 on a GPU (small gradients would underflow otherwise); None elsewhere."""
    if precision == "fp16" and device.type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None
