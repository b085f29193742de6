"""The training configuration: epochs, batches, optimiser, split, scaling, schedule, device and streaming."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..config import Config, option, positive
from ..data.scaling import SCALINGS
from ..errors import ConfigError
from ..registry import Registry

#: learning-rate schedules: epoch (1-based), epochs -> multiplier of the base rate
LR_SCHEDULES: Registry = Registry("learning-rate schedule")


@dataclass(frozen=True)
class TrainConfig(Config):
    """How a model is trained: passes, optimiser, data split, scaling, hardware. Each field is a keyword of
    ``latentforge.train`` and a flag of ``latentforge train`` (``batch_size``: ``--batch-size``); a value out of
    range raises ConfigError."""

    epochs: int = option(20, "number of passes over the training set")
    batch_size: int = option(128, "examples per optimiser step")
    lr: float = option(1e-3, "Adam learning rate")
    weight_decay: float = option(0.0, "Adam weight decay")
    seed: int = option(0, "seed for the split, initialisation, shuffling and corruption")
    patience: int = option(10, "stop after this many epochs without a better validation loss (0: never)")
    val_fraction: float = option(0.1, "fraction of the data held out for validation")
    test_fraction: float = option(0.1, "fraction of the data held out for testing")
    scaling: str = option("minmax", "data scaling: minmax (global, to [0, 1]), minmax-feature (each feature's own range to [0, 1]; tables), "
                          "standard (per feature), none, "
                          "log (non-negative data such as energies), fractions (non-negative deposits: shape as "
                          "log-scaled fractions of the total, plus the total as one more feature), fractions-response "
                          "(fractions with the total taken relative to a fit on the condition vector; conditional "
                          "conditional surrogates), median (each example divided by its own median, e.g. a flux; sigma "
                          "scaled the same)", SCALINGS)
    lr_schedule: str = option("constant", "learning rate over the epochs: constant, or cosine (from --lr down to "
                              "a hundredth of it at the last epoch; finer fits at the end)", LR_SCHEDULES)
    threads: int = option(0, "CPU threads for torch (0: leave torch's default)")
    time_limit: float = option(0.0, "stop after the epoch during which this many seconds of training have passed "
                               "(0: no limit); the run is complete and loadable, with the epochs it reached")
    precision: str = option("auto", "arithmetic of the network's forward pass in training: auto (bf16 only where "
                            "the model is numerically safe in it and a few timed training steps on this device are "
                            "at least a tenth faster in it than in fp32, else fp32; the choice and its reason are "
                            "recorded in the run), fp32, bf16 autocast (losses stay fp32; emulated, "
                            "and slower, on CPUs without bf16 instructions) or fp16 autocast with a gradient scaler "
                            "(GPU only)", ("auto", "fp32", "bf16", "fp16"))
    device: str = option("cpu", "where to train: cpu, cuda or mps (Apple's GPU) (an error when that GPU is not "
                         "visible) or auto (cuda when available, else mps, else cpu); the trained model is saved "
                         "and used on the CPU", ("cpu", "cuda", "mps", "auto"))
    tf32: bool = option(True, "on a CUDA GPU, let fp32 matrix products and convolutions run on TF32 tensor cores "
                        "(inputs rounded to a 10-bit mantissa, sums kept in fp32; several times faster on Ampere and "
                        "later); --no-tf32 keeps full fp32 products. No effect on a CPU or Apple's GPU")
    compile: bool = option(False, "compile each training step's forward pass and loss with torch.compile (CUDA: "
                           "replayed as a CUDA graph; CPU: C++ kernels, needs a C++ compiler); the last, partial "
                           "batch of an epoch runs uncompiled; the first steps take longer (compiling)")
    stream: bool = option(False, "stream the training data from an .npy or HDF5 file in shuffled chunks instead "
                          "of loading it (for data larger than memory; no sigma / mask; conditional models on files of "
                          "a known layout, whose condition vectors are read per chunk)")
    chunk_size: int = option(8192, "--stream: rows per chunk read from the file")
    buffer_chunks: int = option(4, "--stream: chunks held and shuffled together (memory ~ buffer_chunks * "
                                "chunk_size rows)")

    #: settings that may change when a run is resumed (they do not change what the run computes)
    fields_not_in_config_hash: ClassVar[tuple[str, ...]] = ("epochs", "patience", "threads", "device", "time_limit",
                                                             "tf32", "compile")

    def validate(self) -> None:
        positive(self, "epochs", "batch_size", "lr", "chunk_size", "buffer_chunks")
        if self.patience < 0 or self.threads < 0 or self.time_limit < 0:
            raise ConfigError("patience, threads and time_limit must be >= 0")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise ConfigError(
                f"val_fraction ({self.val_fraction}) and test_fraction ({self.test_fraction}) must be in [0, 1) "
                "and leave data for training"
            )


def _constant(epoch: int, epochs: int) -> float:
    return 1.0


def _cosine(epoch: int, epochs: int) -> float:
    """A cosine from 1 at the first epoch down to 0.01 at the last (Loshchilov & Hutter 2017, no restarts)."""
    if epochs <= 1:
        return 1.0
    t = (epoch - 1) / (epochs - 1)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))


LR_SCHEDULES.register("constant", _constant)
LR_SCHEDULES.register("cosine", _cosine)


def lr_factor(config: TrainConfig, epoch: int) -> float:
    """Learning-rate multiplier for 1-based ``epoch`` under the config's schedule."""
    return LR_SCHEDULES.get(config.lr_schedule)(epoch, config.epochs)
