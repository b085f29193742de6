"""Frozen configuration dataclasses with validation and a JSON round-trip.

Each field carries its help text (and allowed choices) in its metadata, so the command line can offer
every option as a flag without a second list of names to keep in step.
"""

from __future__ import annotations

import dataclasses
import numbers
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import ConfigError

ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid", "identity")
OUTPUTS = ("sigmoid", "identity")
LOSSES = ("bce", "mse")
CORRUPTIONS = ("gaussian", "masking", "salt-pepper")
SCALINGS = ("minmax", "standard", "none", "log", "fractions", "median")


def option(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A dataclass field with its command-line help (and choices) attached."""
    meta = {"help": help, "choices": choices}
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed; use a tuple")
    return field(default=default, metadata=meta)


class Config:
    """Mixin for frozen config dataclasses: validation, dict/JSON round-trip, replace."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            # JSON gives lists where the config holds tuples
            if _is_tuple_type(hints[f.name]) and isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
                value = tuple(value)
            _check_type(self, f.name, hints[f.name], value)
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise ConfigError(
                    f"{type(self).__name__}.{f.name} = {value!r} is not allowed; choose one of {', '.join(choices)}"
                )
        self.validate()

    def validate(self) -> None:  # overridden where values constrain each other
        pass

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"unknown {cls.__name__} option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(names))}"
            )
        return cls(**data)

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _check_type(obj: Any, name: str, tp: Any, value: Any) -> None:
    """Refuse values of the wrong type (a string for a number, a float for a count ...) with a ConfigError,
    before any comparison could fail inside Python with a TypeError."""
    def bad(what: str) -> ConfigError:
        return ConfigError(f"{type(obj).__name__}.{name} must be {what}, got {value!r} ({type(value).__name__})")

    if tp is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise bad("an integer")
        object.__setattr__(obj, name, int(value))  # numpy integers -> int (JSON-able)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise bad("a number")
        if value != value:
            raise bad("a number (not NaN)")
        object.__setattr__(obj, name, float(value) if not isinstance(value, int) else value)
    elif tp is str:
        if not isinstance(value, str):
            raise bad("a string")
    elif _is_tuple_type(tp):
        if not isinstance(value, tuple) or any(isinstance(v, bool) or not isinstance(v, numbers.Integral)
                                               for v in value):
            raise bad("a list of integers")
        object.__setattr__(obj, name, tuple(int(v) for v in value))


def _is_tuple_type(tp: Any) -> bool:
    return tp is tuple or typing.get_origin(tp) is tuple


def _positive(obj: Any, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        if not v > 0:
            raise ConfigError(f"{type(obj).__name__}.{n} must be > 0, got {v!r}")


def _widths(obj: Any, name: str) -> None:
    v = getattr(obj, name)
    if any((not isinstance(w, int)) or w <= 0 for w in v):
        raise ConfigError(f"{type(obj).__name__}.{name} must be positive integers (e.g. 256,64), got {v!r}")


# ----------------------------------------------------------------------------------------------------
# models


@dataclass(frozen=True)
class MLPAutoencoderConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one example, e.g. 1,28,28 (filled in from the data)")
    latent_dim: int = option(2, "size of the bottleneck (the code)")
    hidden: tuple[int, ...] = option((256, 64), "encoder hidden widths, comma separated; the decoder mirrors them")
    activation: str = option("relu", "hidden-layer nonlinearity", ACTIVATIONS)
    output: str = option("sigmoid", "decoder output: sigmoid for data in [0, 1], identity for real values", OUTPUTS)
    code_activation: str = option("identity", "nonlinearity applied to the code", ACTIVATIONS)

    def validate(self) -> None:
        _positive(self, "latent_dim")
        _widths(self, "hidden")
        _widths(self, "input_shape")


@dataclass(frozen=True)
class LinearAutoencoderConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one example (filled in from the data)")
    latent_dim: int = option(2, "size of the bottleneck (the number of principal directions learned)")
    hidden: tuple[int, ...] = option((), "optional linear hidden widths (the map stays linear)")

    def validate(self) -> None:
        _positive(self, "latent_dim")
        _widths(self, "hidden")
        _widths(self, "input_shape")


@dataclass(frozen=True)
class ConvAutoencoderConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one image, channels first: C,H,W (filled in from the data)")
    latent_dim: int = option(16, "size of the bottleneck (the code)")
    channels: tuple[int, ...] = option((16, 32), "conv channels per level; each level halves H and W by max-pooling")
    kernel_size: int = option(3, "convolution kernel size (odd)")
    activation: str = option("relu", "nonlinearity", ACTIVATIONS)
    output: str = option("sigmoid", "decoder output: sigmoid for data in [0, 1], identity for real values", OUTPUTS)
    upsample: str = option("nearest", "decoder up-sampling: nearest (UpSampling + conv) or transpose (ConvTranspose)",
                           ("nearest", "transpose"))
    code_activation: str = option("identity", "nonlinearity applied to the code", ACTIVATIONS)

    def validate(self) -> None:
        _positive(self, "latent_dim", "kernel_size")
        _widths(self, "channels")
        _widths(self, "input_shape")
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"ConvAutoencoderConfig.kernel_size must be odd to keep sizes, got {self.kernel_size}")
        if not self.channels:
            raise ConfigError("ConvAutoencoderConfig.channels needs at least one level, e.g. 16,32")
        if self.input_shape and len(self.input_shape) != 3:
            raise ConfigError(
                f"conv models need images of shape (C, H, W), got {self.input_shape}; "
                "use an MLP model (ae) for vector data"
            )


LIKELIHOODS = ("bernoulli", "gaussian", "gaussian-shared", "gaussian-hetero", "hurdle")


@dataclass(frozen=True)
class VAEConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one example (filled in from the data)")
    latent_dim: int = option(16, "number of latent dimensions")
    hidden: tuple[int, ...] = option((512, 256), "encoder hidden widths, comma separated; the decoder mirrors them")
    activation: str = option("relu", "hidden-layer nonlinearity", ACTIVATIONS)
    likelihood: str = option(
        "bernoulli",
        "p(x|z): bernoulli (BCE on logits, data in [0, 1]); gaussian (fixed --sigma); gaussian-shared (one "
        "learned sigma); gaussian-hetero (the decoder predicts a sigma per output); hurdle (sparse non-negative "
        "data such as log-scaled energies: per output a probability of being non-zero and a Gaussian for the "
        "non-zero value; samples are drawn from it, so they are as sparse and noisy as the data)", LIKELIHOODS)
    sigma: float = option(0.1, "gaussian: the fixed sigma; gaussian-shared: its starting value (scaled units)")
    condition: str = option("none", "what the model is conditioned on: none, label (one-hot class) or vector "
                            "(continuous parameters from --cond-key)", ("none", "label", "vector"))
    condition_dim: int = option(0, "length of the condition vector (filled in from the data)")

    def validate(self) -> None:
        _positive(self, "latent_dim", "sigma")
        _widths(self, "hidden")
        _widths(self, "input_shape")
        if self.condition != "none" and self.input_shape and self.condition_dim <= 0:
            raise ConfigError("a conditional model needs condition_dim > 0 (it is filled in from the data)")


@dataclass(frozen=True)
class SpectrumVAEConfig(Config):
    input_shape: tuple[int, ...] = option((), "pixels of one spectrum, (D,) (filled in from the data)")
    latent_dim: int = option(16, "number of latent dimensions")
    channels: tuple[int, ...] = option((8, 16, 32, 32), "1-D conv channels per encoder level; each stride-2 "
                                       "level halves the length (none: an MLP encoder)")
    kernel_size: int = option(5, "1-D convolution kernel size (odd)")
    hidden: tuple[int, ...] = option((256, 512), "widths: the encoder's head uses the first; the MLP decoder "
                                     "goes latent -> these -> pixels")
    activation: str = option("leaky_relu", "nonlinearity", ACTIVATIONS)
    decoder: str = option("mlp", "decoder: mlp (latent -> hidden widths -> pixels) or conv (a head to a coarse "
                          "sequence, then up-sampling 1-D convolutions mirroring the encoder's channels)",
                          ("mlp", "conv"))
    frame: str = option(
        "rest", "rest: latent 0 is the redshift (found by the encoder by cross-correlating the spectrum with "
        "learnable emission-line and absorption templates; prior uniform in [0, max_redshift]) and the decoder draws a rest-frame "
        "spectrum that it shifts by it; observed: the decoder draws the observed spectrum directly",
        ("rest", "observed"))
    max_redshift: float = option(0.3, "frame rest: the largest redshift the model considers")
    wave_min: float = option(3800.0, "frame rest: observed wavelength (Å) of the first pixel; pixels are uniform "
                             "in log wavelength")
    wave_max: float = option(9200.0, "frame rest: observed wavelength (Å) of the last pixel")
    likelihood: str = option(
        "gaussian-hetero", "p(x|z): gaussian-hetero (the decoder predicts sigma_model per pixel; variance "
        "sigma_model^2 + sigma_i^2), gaussian-shared or gaussian (fixed --sigma)",
        ("gaussian", "gaussian-shared", "gaussian-hetero"))
    sigma: float = option(0.05, "gaussian: the fixed sigma_model; gaussian-shared: its starting value (normalised "
                          "flux units)")

    def validate(self) -> None:
        _positive(self, "latent_dim", "kernel_size", "sigma")
        _widths(self, "channels")
        _widths(self, "hidden")
        _widths(self, "input_shape")
        if not self.hidden:
            raise ConfigError("SpectrumVAEConfig.hidden needs at least one width, e.g. 256,512")
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"SpectrumVAEConfig.kernel_size must be odd, got {self.kernel_size}")
        if self.input_shape and len(self.input_shape) != 1:
            raise ConfigError(f"spectrum-vae takes spectra as vectors (N, D); got example shape {self.input_shape}; "
                              "flatten each spectrum to one row of pixels")
        if self.input_shape and self.input_shape[0] < 2 ** len(self.channels):
            raise ConfigError(f"{self.input_shape[0]} pixels are too few for {len(self.channels)} stride-2 levels; "
                              "use fewer --channels")


@dataclass(frozen=True)
class ConvVAEConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one image, channels first: C,H,W (filled in from the data)")
    latent_dim: int = option(16, "number of latent dimensions")
    channels: tuple[int, ...] = option((32, 64), "conv channels per level; each level halves H and W by max-pooling")
    kernel_size: int = option(3, "convolution kernel size (odd)")
    activation: str = option("relu", "nonlinearity", ACTIVATIONS)
    upsample: str = option("nearest", "decoder up-sampling: nearest (UpSampling + conv) or transpose (ConvTranspose)",
                           ("nearest", "transpose"))
    likelihood: str = option("bernoulli", "p(x|z): bernoulli, gaussian, gaussian-shared, gaussian-hetero or "
                             "hurdle (zero or Gaussian per output)", LIKELIHOODS)
    sigma: float = option(0.1, "gaussian: the fixed sigma; gaussian-shared: its starting value (scaled units)")

    def validate(self) -> None:
        _positive(self, "latent_dim", "kernel_size", "sigma")
        _widths(self, "channels")
        _widths(self, "input_shape")
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"ConvVAEConfig.kernel_size must be odd to keep sizes, got {self.kernel_size}")
        if self.input_shape and len(self.input_shape) != 3:
            raise ConfigError(f"conv-vae needs images of shape (C, H, W), got {self.input_shape}; use vae for vectors")


@dataclass(frozen=True)
class MLPGANConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one example (filled in from the data)")
    latent_dim: int = option(64, "length of the generator's noise vector z")
    g_hidden: tuple[int, ...] = option((256, 512), "generator hidden widths, comma separated")
    d_hidden: tuple[int, ...] = option((512, 256), "discriminator hidden widths, comma separated")
    activation: str = option("leaky_relu", "hidden-layer nonlinearity of both networks", ACTIVATIONS)
    dropout: float = option(0.3, "dropout after each discriminator hidden layer")
    output: str = option("tanh", "generator output for data in [0, 1]: tanh mapped to [0, 1], or sigmoid",
                         ("sigmoid", "tanh"))
    condition: str = option("none", "what both networks are conditioned on: none, label (one-hot class) or "
                            "vector (continuous parameters from --cond-key)", ("none", "label", "vector"))
    condition_dim: int = option(0, "length of the condition vector (filled in from the data)")
    ema_decay: float = option(0.0, "keep an exponential moving average of the generator's weights for sampling "
                              "(e.g. 0.999; 0: off)")

    def validate(self) -> None:
        _positive(self, "latent_dim")
        _widths(self, "g_hidden")
        _widths(self, "d_hidden")
        _widths(self, "input_shape")
        if not 0 <= self.dropout < 1 or not 0 <= self.ema_decay < 1:
            raise ConfigError("dropout and ema_decay must lie in [0, 1)")
        if self.condition != "none" and self.input_shape and self.condition_dim <= 0:
            raise ConfigError("a conditional model needs condition_dim > 0 (it is filled in from the data)")


@dataclass(frozen=True)
class DCGANConfig(Config):
    input_shape: tuple[int, ...] = option((), "shape of one image, channels first: C,H,W (filled in from the data)")
    latent_dim: int = option(100, "length of the generator's noise vector z")
    g_channels: int = option(64, "generator channels at full resolution; doubled at each coarser level")
    d_channels: int = option(64, "discriminator channels after its first strided conv; doubled per level")
    norm: str = option("batch", "normalisation: batch (DCGAN: every generator layer but the output, every "
                       "discriminator layer but the first) or none (needed by a WGAN-GP critic)", ("batch", "none"))
    output: str = option("tanh", "generator output for data in [0, 1]: tanh mapped to [0, 1], or sigmoid",
                         ("sigmoid", "tanh"))
    ema_decay: float = option(0.0, "exponential moving average of the generator's weights for sampling (0: off)")

    def validate(self) -> None:
        _positive(self, "latent_dim", "g_channels", "d_channels")
        _widths(self, "input_shape")
        if self.input_shape and len(self.input_shape) != 3:
            raise ConfigError(f"dcgan needs images (C, H, W), got {self.input_shape}; use gan for vectors")
        if self.input_shape and min(self.input_shape[1:]) < 4:
            raise ConfigError(f"dcgan needs images of at least 4x4, got {self.input_shape}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError("ema_decay must lie in [0, 1)")


# ----------------------------------------------------------------------------------------------------
# objectives


@dataclass(frozen=True)
class ReconstructionConfig(Config):
    loss: str = option("bce", "reconstruction loss: bce (data in [0, 1]) or mse", LOSSES)


@dataclass(frozen=True)
class DenoisingConfig(Config):
    loss: str = option("bce", "reconstruction loss against the clean input: bce or mse", LOSSES)
    corruption: str = option("gaussian", "how inputs are corrupted during training", CORRUPTIONS)
    noise_level: float = option(0.5, "gaussian: sigma (scaled units); masking / salt-pepper: fraction of values hit")
    clip: bool = option(True, "clip corrupted inputs to [0, 1]")

    def validate(self) -> None:
        if self.noise_level < 0:
            raise ConfigError(f"noise_level must be >= 0, got {self.noise_level}")
        if self.corruption != "gaussian" and self.noise_level > 1:
            raise ConfigError(f"noise_level is a fraction for {self.corruption} corruption; got {self.noise_level}")


@dataclass(frozen=True)
class SparseConfig(Config):
    loss: str = option("bce", "reconstruction loss: bce or mse", LOSSES)
    penalty: str = option("l1", "sparsity penalty on the code: l1 (mean |z|) or kl (KL to a target rate)", ("l1", "kl"))
    sparsity_weight: float = option(0.05, "weight of the sparsity penalty")
    target_sparsity: float = option(0.05, "kl penalty: the target mean activation rho of each unit")
    active_threshold: float = option(0.05, "a code unit counts as active on an example when |z| exceeds this")

    def validate(self) -> None:
        if self.sparsity_weight < 0:
            raise ConfigError(f"sparsity_weight must be >= 0, got {self.sparsity_weight}")
        if not 0 < self.target_sparsity < 1:
            raise ConfigError(f"target_sparsity must lie in (0, 1), got {self.target_sparsity}")


@dataclass(frozen=True)
class ELBOConfig(Config):
    beta: float = option(1.0, "weight C of the KL term: loss = reconstruction + beta * KL")
    warmup_epochs: int = option(0, "linear KL warm-up: beta grows from beta/warmup to beta over this many epochs")
    mc_samples: int = option(1, "latent samples per example for the reconstruction term during training")

    def validate(self) -> None:
        if self.beta < 0 or self.warmup_epochs < 0:
            raise ConfigError("beta and warmup_epochs must be >= 0")
        _positive(self, "mc_samples")


@dataclass(frozen=True)
class GANConfig(Config):
    loss: str = option("ns", "the game: ns (non-saturating generator, maximise log D(G(z))), minimax (minimise "
                       "log(1 - D(G(z)))), or wgan-gp (Wasserstein critic with gradient penalty)",
                       ("ns", "minimax", "wgan-gp"))
    lr_g: float = option(2e-4, "generator learning rate (Adam)")
    lr_d: float = option(2e-4, "discriminator / critic learning rate (Adam)")
    beta1: float = option(0.5, "Adam beta1 of both optimisers")
    beta2: float = option(0.999, "Adam beta2 of both optimisers")
    n_critic: int = option(1, "discriminator steps per generator step")
    g_steps: int = option(1, "generator steps per generator phase")
    gp_weight: float = option(10.0, "wgan-gp: weight lambda of the gradient penalty")
    label_smoothing: float = option(0.0, "one-sided label smoothing: real targets 1 - this (ns / minimax)")
    sample_every: int = option(5, "write a sample grid PNG every this many epochs (0: never)")

    def validate(self) -> None:
        _positive(self, "lr_g", "lr_d", "n_critic", "g_steps")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("beta1 and beta2 must lie in [0, 1)")
        if self.gp_weight < 0 or not 0 <= self.label_smoothing < 0.5 or self.sample_every < 0:
            raise ConfigError("gp_weight >= 0, label_smoothing in [0, 0.5) and sample_every >= 0 are required")


# ----------------------------------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class TrainConfig(Config):
    epochs: int = option(20, "number of passes over the training set")
    batch_size: int = option(128, "examples per optimiser step")
    lr: float = option(1e-3, "Adam learning rate")
    weight_decay: float = option(0.0, "Adam weight decay")
    seed: int = option(0, "seed for the split, initialisation, shuffling and corruption")
    patience: int = option(10, "stop after this many epochs without a better validation loss (0: never)")
    val_fraction: float = option(0.1, "fraction of the data held out for validation")
    test_fraction: float = option(0.1, "fraction of the data held out for testing")
    scaling: str = option("minmax", "data scaling: minmax (global, to [0, 1]), standard (per feature), none, "
                          "log (non-negative data such as energies), fractions (non-negative deposits: shape as "
                          "log-scaled fractions of the total, plus the total as one more feature), median (each "
                          "example divided by its own median, e.g. spectra; sigma scaled the same)", SCALINGS)
    lr_schedule: str = option("constant", "learning rate over the epochs: constant, or cosine (from --lr down to "
                              "a hundredth of it at the last epoch; finer fits at the end)", ("constant", "cosine"))
    threads: int = option(0, "CPU threads for torch (0: leave torch's default)")
    precision: str = option("fp32", "arithmetic of the network's forward pass in training: fp32, bf16 "
                            "autocast (CPU or GPU; faster on CPUs with bf16 instructions; losses stay fp32) or fp16 "
                            "autocast with a gradient scaler (GPU only)", ("fp32", "bf16", "fp16"))
    device: str = option("cpu", "where to train: cpu, cuda (an error when no GPU is visible) or auto (cuda when "
                         "available); the trained model is saved and used on the CPU", ("cpu", "cuda", "auto"))
    stream: bool = option(False, "stream the training data from an .npy or HDF5 file in shuffled chunks instead "
                          "of loading it (for data larger than memory; unconditional models, no sigma / mask)")
    chunk_size: int = option(8192, "--stream: rows per chunk read from the file")
    buffer_chunks: int = option(4, "--stream: chunks held and shuffled together (memory ~ buffer_chunks * "
                                "chunk_size rows)")

    fields_not_in_config_hash: ClassVar[tuple[str, ...]] = ("epochs", "patience", "threads", "device")

    def validate(self) -> None:
        _positive(self, "epochs", "batch_size", "lr", "chunk_size", "buffer_chunks")
        if self.patience < 0 or self.threads < 0:
            raise ConfigError("patience and threads must be >= 0")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise ConfigError(
                f"val_fraction ({self.val_fraction}) and test_fraction ({self.test_fraction}) must be in [0, 1) "
                "and leave data for training"
            )
