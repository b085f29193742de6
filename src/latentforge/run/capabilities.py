"""What a trained model can do, as small mixins of the facade, each tied to a capability of the network
(``models.base``) or of the objective. A run's class is composed from the mixins its model declares, so an
autoencoder has no ``sample`` and a GAN no ``encode``: asking for one raises a CapabilityError that says what
would be needed (and ``hasattr(run, "sample")`` answers False).

Every method takes raw data (arrays in the user's units, datasets, file paths through ``select``) and gives
raw data back: the preprocessing is undone on the way out, and the answer has the caller's layout (``data.axes``):
an answer about given data the layout of those data ((N, D), (N, H, W), (N, C, H, W) or (N, H, W, C); an
``ArrayDataset``'s own ``x`` layout), a generated one (``sample``, ``decode``) the layout of the data the run was
trained on (``layout="model"``: (N, D) or (N, C, H, W)). Outputs are float32, for integer input too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import torch

from ..data.arrays import to_numpy
from ..data.corruption import corrupt
from ..errors import ConfigError
from ..models.base import Decodes, Discriminates, Encodes, HasPosterior, HasPrior, Translates
from ..objectives.autoencoder import DenoisingObjective
from ..objectives.elbo import importance_sampled, model_input
from ..models.base import repeat_condition
from ..models.likelihoods import gaussian_decoder_missing
from ..registry import Registry
from ..data.axes import caller_axes, check_axes, to_axes


#: rows per chunk when samples are generated (and streamed to a file)
SAMPLE_CHUNK = 8192


class Capability:
    """A facade mixin: ``applies(model, objective)`` and ``needs`` (what a model must have, for messages)."""

    needs = ""

    if TYPE_CHECKING:  # what the facade (run.trained.TrainedModel) that the mixins are composed into provides
        model: Any
        objective: Any
        preprocess: Any
        name: str
        input_shape: tuple[int, ...]

        def dataset(self, data: Any) -> Any: ...

        def batch(self, data: Any, condition: Any = None) -> dict[str, torch.Tensor]: ...

        def infer(self, fn: Callable[[dict], torch.Tensor], batch: dict[str, torch.Tensor],
                  rows: int = ...) -> torch.Tensor: ...

        def _from_codes(self, z: torch.Tensor, condition: Any, fn: Callable, check: bool = True) -> np.ndarray: ...

        def predictive_moments(self, data: Any, samples: int = ..., *, seed: int = ..., condition: Any = ...,
                               combine: Callable | None = ..., axes: str | None = ...,
                               scale: float = ...) -> tuple[np.ndarray, np.ndarray]: ...

        def sample_chunks(self, n: int, condition: Any = None, *, seed: int = 0,
                          chunk: int = ..., layout: str = ...) -> Iterator[np.ndarray]: ...

        def in_layout(self, x: np.ndarray, layout: str | None) -> np.ndarray: ...

    @staticmethod
    def applies(model, objective) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


class Encoding(Capability):
    """Capability: encode and reconstruct: models with an encoder."""

    needs = "a model with an encoder (an autoencoder or a VAE)"

    @staticmethod
    def applies(model, objective) -> bool:
        return isinstance(model, Encodes)

    def encode(self, data: Any, condition: Any = None) -> np.ndarray:
        """Raw examples (N, *input_shape) -> codes (N, latent_dim); for a VAE the posterior mean."""
        return self.infer(lambda s: self.model.encode(model_input(s), s.get("c")), self.batch(data, condition)).numpy()

    def reconstruct(self, data: Any, condition: Any = None) -> np.ndarray:
        """Raw examples -> raw reconstructions, decode(encode(x)) (a denoising model: the denoised estimate), float32
        in the shape and layout of ``data`` (so ``reconstruct(x) - x`` compares like with like); data on another
        sample grid (``data.grids``) are answered on their own grid."""
        ds = self.dataset(data)
        out = self.infer(lambda s: self.model.decode(self.model.encode(model_input(s), s.get("c")), s.get("c")),
                         self.batch(ds, condition))
        raw = self.preprocess.on_input_grid(self.preprocess.to_raw(out, self.preprocess.factors(ds)), ds)
        return to_axes(raw, caller_axes(data, ds))


class Decoding(Capability):
    """Capability: decode codes to data: models with a decoder or generator."""

    needs = "a model with a decoder or a generator"

    @staticmethod
    def applies(model, objective) -> bool:
        return isinstance(model, Decodes)

    def decode(self, z: Any, condition: Any = None, *, layout: str = "input") -> np.ndarray:
        """Codes (N, latent_dim) -> raw-space outputs, float32 (a VAE gives its decoder's mean, a GAN its
        generator's output, through the EMA copy when there is one), in the layout of the data the run was trained
        on (``layout="input"``; ``"model"``: (N, D) or (N, C, H, W)). ConfigError for codes that are not numbers."""
        codes = to_numpy(z)
        if codes.dtype.kind not in "biuf":
            raise ConfigError(f"decode takes latent codes, numbers of shape (N, {self.model.latent_dim}); got "
                              f"{codes.dtype} values")
        check_axes(layout)
        return self.in_layout(self._from_codes(torch.as_tensor(codes.astype(np.float32), device="cpu"), condition,
                                               self.model.decode), layout)

    def _from_codes(self, z: torch.Tensor, condition: Any, fn: Callable, check: bool = True) -> np.ndarray:
        """fn(codes, condition vectors) over batches of z (N, latent_dim) -> raw units (``check``: flag conditions
        beyond the training coverage)."""
        b = {"x": z}
        c = self.preprocess.condition_vectors(len(z), condition, name=self.name, check=check)
        if c is not None:
            b["c"] = c
        return self.preprocess.to_raw(self.infer(lambda s: fn(s["x"], s.get("c")), b),
                                      self.preprocess.condition_factors(len(z), condition))


class Sampling(Capability):
    """Capability: sample from the prior: VAEs and GANs."""

    needs = "a model with a prior (a VAE) or a generator (a GAN)"

    @staticmethod
    def applies(model, objective) -> bool:
        return isinstance(model, HasPrior)

    def sample(self, n: int, condition: Any = None, *, seed: int = 0, layout: str = "input") -> np.ndarray:
        """Generate n examples (raw units, float32) from z ~ N(0, I) (a VAE: its prior sampler,
        ``--prior-sampler``): a VAE's p(x|z) (its mean; a draw for a hurdle
        decoder), or a GAN's generator. ``condition``: one label / parameter vector, or one per example.
        ``layout``: ``"input"`` the layout of the data the run was trained on ((N, H, W), (N, H, W, C) ...),
        ``"model"`` (N, D) or (N, C, H, W). Raises ConfigError when n examples would not fit in the free memory
        (``sample_chunks`` streams)."""
        if n < 1:
            raise ConfigError(f"the number of samples must be at least 1, got {n}")
        need = n * int(np.prod(self.input_shape)) * 4
        free = available_memory()
        if free is not None and need > 0.8 * free:
            raise ConfigError(f"{n} samples of shape {tuple(self.input_shape)} need {human_bytes(need)} of memory and "
                              f"{human_bytes(free)} are free; ask for fewer, or stream them to a file "
                              "(latentforge sample RUN -n N --out FILE.npz, or run.sample_chunks in Python)")
        return np.concatenate(list(self.sample_chunks(n, condition, seed=seed, layout=layout)))

    def sample_chunks(self, n: int, condition: Any = None, *, seed: int = 0, chunk: int = SAMPLE_CHUNK,
                      layout: str = "input"):
        """``sample`` in chunks of at most ``chunk`` rows (an iterator of raw arrays in ``layout``): the same numbers
        as ``sample(n)``, in bounded memory. Chunk i > 0 draws from its own seeded stream. The streams live on the
        model's device (``to``): one seed gives the same samples each time on one device; a CPU's and a GPU's
        streams differ."""
        check_axes(layout)
        for part in self._sample_chunks(n, condition, seed=seed, chunk=chunk):
            yield self.in_layout(part, layout)

    def _sample_chunks(self, n: int, condition: Any, *, seed: int, chunk: int):
        cond = None if condition is None else to_numpy(condition)
        per_example = cond is not None and cond.ndim > 0 and len(cond) == n and n > 1
        self.preprocess.flag_conditions(cond)  # once for all chunks
        for i, start in enumerate(range(0, n, chunk)):
            k = min(chunk, n - start)
            g = torch.Generator(device=self.model.device).manual_seed(
                seed if i == 0 else int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
            z = (self.model.draw_codes(k, g).to(self.model.dtype) if hasattr(self.model, "draw_codes")  # a VAE's
                 else torch.randn(k, self.model.latent_dim, generator=g, device=self.model.device,  # prior sampler
                                  dtype=self.model.dtype))
            c = cond[start:start + k] if per_example and cond is not None else condition
            if isinstance(self.model, HasPosterior):
                yield self._from_codes(z, c, lambda zz, cc: self.model.decode_dist(zz, cc).generate(g), check=False)
            else:
                yield self._from_codes(z, c, self.model.decode, check=False)


def available_memory() -> int | None:
    """Bytes of memory available for new allocations (Linux's MemAvailable; else free pages), None where
    unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human_bytes(n: float) -> str:
    """A byte count in words: 3.14 GB."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"  # pragma: no cover


class Posterior(Capability):
    """Capability: predictive uncertainty, denoising given measurement errors, importance-sampled likelihood: VAEs."""

    needs = "a model with a prior and a probabilistic decoder (a VAE)"

    @staticmethod
    def applies(model, objective) -> bool:
        return isinstance(model, HasPosterior)

    def predictive_moments(self, data: Any, samples: int = 100, *, seed: int = 0, condition: Any = None,
                           combine: Callable | None = None, axes: str | None = "caller",
                           scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the posterior predictive distribution of each example of ``data``
        (N, *input_shape), a mixture over latent draws (Kingma & Welling 2014; the moments of a mixture): codes
        z_k ~ q(z|x), k = 1..``samples``, are decoded to p(x|z_k), whose mean and variance ``combine(batch, p_k)``
        gives per draw, (mean_k, var_k) each (K, B, ...) in the model's scaled space (default: the decoder's own
        mean and variance, ``p_k.mean`` and ``p_k.stddev ** 2``). Returns (mean, std), float32 arrays in the data's
        raw units (the scaling undone) and in the layout ``axes`` ("caller": that of ``data``; ``"model"``: (N, D)
        or (N, C, H, W)): mean = E_k[mean_k], std = ``scale`` * sqrt(Var_k[mean_k] + E_k[var_k]) (law of total
        variance; ``predict`` passes the model's calibrated ``predictive_scale``). ``seed`` seeds the latent draws
        on the model's device. ``predict`` and ``denoise`` are built on it. Raises ConfigError for ``samples`` < 1."""
        if samples < 1:
            raise ConfigError(f"samples must be at least 1, got {samples}")
        moments = combine or decoder_moments
        g = torch.Generator(device=self.model.device).manual_seed(seed)  # draws where the network runs

        def one(b):
            q = self.model.encode_dist(model_input(b), b.get("c"))
            z = q.sample(g, n=samples)  # (K, B, latent)
            k, nb, d = z.shape
            p = self.model.decode_dist(z.reshape(k * nb, d), repeat_condition(b.get("c"), k)).unflatten(k)
            mean_k, var_k = moments(b, p)
            var = mean_k.var(0, unbiased=False) + var_k.mean(0)
            return torch.stack([mean_k.mean(0), scale * var.sqrt()], 1)  # (B, 2, ...)

        ds = self.dataset(data)
        f = self.preprocess.factors(ds)
        rows = max(1, 8 * 2048 // samples)  # about 16k decoded examples per pass, whatever the number of draws
        out = self.infer(one, self.batch(ds, condition), rows=rows)
        mean, std = self.preprocess.to_raw(out[:, 0], f), self.preprocess.sigma_to_raw(out[:, 1].numpy(), factors=f)
        axes = caller_axes(data, ds) if axes == "caller" else axes
        return (to_axes(self.preprocess.on_input_grid(mean, ds), axes),
                to_axes(self.preprocess.on_input_grid(std, ds), axes))

    def predict(self, data: Any, samples: int = 100, *, seed: int = 0, condition: Any = None,
                include_decoder_noise: bool = True, calibrated: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and standard deviation (raw units, float32, each in the shape and layout of ``data``) of
        the reconstruction, calibrated: mean +- std holds about 68 % and mean +- 2 std about 95 % of held-out values
        (``evaluate``'s calibration measures it).

        z_k ~ q(z|x) for k = 1..samples, decoded; std = c sqrt(Var_k[mean_k] + E_k[sigma_k^2]) where sigma_k is
        the decoder's own standard deviation (sqrt(p(1-p)) for a Bernoulli decoder) and c the model's
        ``predictive_scale``, the split-conformal one-sigma multiplier fitted on the validation rows after
        training (Lei et al. 2018; 1 for a model without a continuous predictive). ``calibrated=False`` gives the
        model's own mixture (c = 1), which over-covers whenever the codes carry most of the variance.
        """
        c = float(getattr(self.model, "predictive_scale", 1.0)) if calibrated else 1.0
        return self.predictive_moments(
            data, samples, seed=seed, condition=condition, scale=c,
            combine=lambda b, p: (p.mean, p.stddev.pow(2) if include_decoder_noise else torch.zeros_like(p.mean)))

    def denoise(self, data: Any, samples: int = 100, *, seed: int = 0,
                condition: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation (raw units, float32, each in the shape and layout of ``data``) of
        the noiseless signal behind measurements with known per-point sigma_i (data with ``sigma``, optionally
        ``mask``).

        A Gaussian decoder with measurement errors says: signal s ~ N(mu(z), sigma_model(z)^2) and
        x = s + N(0, sigma_i^2); its likelihood is N(x; mu, sigma_model^2 + sigma_i^2). Given z the signal's
        posterior is Gaussian with mean mu + w (x - mu) and variance w sigma_i^2, w = sigma_model^2 /
        (sigma_model^2 + sigma_i^2): a pixel measured much better than the model knows it follows the data,
        one measured worse follows the decoder; masked points get mu and sigma_model. Over z_k ~ q(z|x):
        mean = E_k[mean_k], var = Var_k[mean_k] + E_k[var_k]. ``reconstruct`` gives mu(z) at the posterior
        mean code alone, without the data. Raises ConfigError without a Gaussian decoder or without sigma."""
        missing = gaussian_decoder_missing(self.model)
        if missing is not None:
            raise ConfigError(f"denoise needs a Gaussian decoder and {self.name!r} has none: {missing} (train a vae "
                              "with --likelihood gaussian-hetero)")
        ds = self.dataset(data)
        if ds.sigma is None:
            raise ConfigError("denoise needs each point's measurement sigma; pass data with sigma (or ivar), "
                              "e.g. as_dataset(x, sigma=...)")
        return self.predictive_moments(
            ds, samples, seed=seed, condition=condition, axes=caller_axes(data, ds),
            combine=lambda b, p: p.signal_posterior(b["x"].unsqueeze(0), b["sigma"].unsqueeze(0),
                                            b["mask"].unsqueeze(0) if "mask" in b else None))

    def log_likelihood(self, data: Any, k: int = 1000, *, seed: int = 0, condition: Any = None,
                       batch_size: int = 100) -> dict[str, np.ndarray]:
        """Per-example ELBO (Monte Carlo over the same K draws) and IWAE estimate of log p(x) (Burda et al. 2016),
        each (N,) in nats per example **in the data's own units**: ``elbo``, ``iwae``; the same in the model's
        scaled space as ``elbo_scaled``, ``iwae_scaled``, and ``log_jacobian`` (N,), the scaling's
        log |det dt/dx| between them (``run.likelihood``). Raises ConfigError for a scaling without a
        log-Jacobian (one that changes the number of points)."""
        from .likelihood import in_data_units

        ds = self.dataset(data)
        ll = importance_sampled(self.model, self.batch(ds, condition), k, seed=seed, batch_size=batch_size)
        return in_data_units(self, ds, ll)


def decoder_moments(batch: dict, p) -> tuple[torch.Tensor, torch.Tensor]:
    """The decoder's own mean and variance per latent draw, p.mean and p.stddev ** 2 (what ``predict`` combines)."""
    return p.mean, p.stddev.pow(2)


class Scoring(Capability):
    """Capability: the discriminator's verdict on data: GANs."""

    needs = "a GAN's discriminator"

    @staticmethod
    def applies(model, objective) -> bool:
        return isinstance(model, Discriminates)

    def score(self, data: Any, condition: Any = None) -> np.ndarray:
        """The discriminator's probability that each example is real (N,) (a realism / anomaly score); for a
        critic its raw score (higher = more real-like; not a probability)."""
        out = self.infer(lambda s: self.model.discriminate(s["x"], s.get("c")), self.batch(data, condition))
        return self.objective.game.realness(out).numpy()


class Corrupting(Capability):
    """Capability: corrupt data as in training: denoising autoencoders."""

    needs = "a model trained on corrupted inputs (a denoising autoencoder)"

    @staticmethod
    def applies(model, objective) -> bool:
        return isinstance(objective, DenoisingObjective)

    def add_noise(self, x: Any, *, seed: int = 0) -> np.ndarray:
        """Corrupt raw examples the way this model was trained (kind and level from its config); float32 in the
        shape and layout of ``x``."""
        c = self.objective.config
        g = torch.Generator(device="cpu").manual_seed(seed)  # raw data are corrupted on the CPU: no network runs
        ds = self.dataset(x)
        noisy = corrupt(self.preprocess.to_model_space(ds), c.corruption, c.noise_level, generator=g, clip=c.clip)
        return to_axes(self.preprocess.to_raw(noisy), caller_axes(x, ds))


class Translating(Capability):
    """Capability: translate data from one domain into the other: models trained on two unpaired data sets."""

    needs = "a model trained on two data sets (cyclegan)"

    @staticmethod
    def applies(model, objective) -> bool:
        return isinstance(model, Translates)

    def translate(self, data: Any, direction: str = "a_to_b") -> np.ndarray:
        """Raw examples of one domain (N, *input_shape) -> their translations into the other, raw units, float32 in
        the shape and layout of ``data``: ``a_to_b`` (the data trained with ``--data`` into the ``--data-b``
        domain) or ``b_to_a``."""
        ds = self.dataset(data)
        out = self.preprocess.to_raw(self.infer(lambda s: self.model.translate(s["x"], direction), self.batch(ds)))
        return to_axes(out, caller_axes(data, ds))


#: the facade's capabilities; a run's class is composed from those that apply to its model and objective
CAPABILITIES: Registry[type[Capability]] = Registry("capability")
for _cap in (Encoding, Decoding, Sampling, Posterior, Scoring, Corrupting, Translating):
    CAPABILITIES.register(_cap.__name__.lower(), _cap)
