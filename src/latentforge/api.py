"""The Python API: train a catalogue model on a dataset, load a run, and use it on raw data.

    import latentforge as lf
    run = lf.train("ae", "mnist", out="runs/ae", latent_dim=2, epochs=10)
    z = run.encode(images)             # raw data in, codes out
    x_hat = run.reconstruct(images)    # raw data in, raw data out (scaling undone)
    run = lf.load("runs/ae")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .analysis import comparison_grid, image_grid, latent_scatter, loss_curve, mse, psnr, save_figure
from .analysis.plots import gan_curves, generator_loss_curves
from .catalog import MODELS, ModelSpec
from .config import TrainConfig
from .data import ArrayDataset, Conditioner, Scaler, check_unit_range, corrupt, load_dataset, split_indices
from .errors import ArtifactError, ConfigError, DataError, LatentforgeError
from .io import (append_jsonl, check_run_config, load_tensors, read_json, remove_stale_temporaries, save_tensors,
                 write_error, write_json, write_jsonl)
from .models.base import repeat_condition
from .objectives.elbo import importance_weights, iwae_bound, model_input
from .train import Trainer, evaluate_objective, runtime
from .train.trainer import take
from .train.trainer import meta_from_strings, meta_to_strings

INFER_BATCH = 2048
CONFIG_FILE, MODEL_FILE, TRANSFORM_FILE = "config.json", "model.safetensors", "transform.json"
METRICS_FILE, CHECKPOINT_FILE = "metrics.jsonl", "checkpoint.safetensors"
SPLITS = ("all", "train", "val", "test")


DATA_KEYWORDS = ("key", "labels_key", "labels", "channels_last", "sigma_key", "ivar_key", "mask_key", "cond_key")


def as_dataset(data: Any, *, labels: Any = None, channels_last: bool = False, **keys: Any) -> ArrayDataset:
    """A built-in name, a file path, an ArrayDataset or an array (with optional labels array) -> ArrayDataset.

    ``keys``: key, labels_key, sigma_key, ivar_key, mask_key, cond_key name arrays inside .npz / HDF5 files.
    """
    if isinstance(data, ArrayDataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_dataset(data, labels=labels if isinstance(labels, (str, os.PathLike)) else None,
                            channels_last=channels_last, **{k: v for k, v in keys.items() if v is not None})
    from .data import as_examples

    x = as_examples(data, channels_last=channels_last, what="array")
    y = None if labels is None or isinstance(labels, (str, os.PathLike)) else np.asarray(labels)
    return ArrayDataset(x, y, name="array", source="array")


class TrainedModel:
    """A model with its objective, data scaling and configuration: raw data in, raw data out."""

    def __init__(self, name: str, model: torch.nn.Module, objective, scaler: Scaler, train_config: TrainConfig,
                 data_info: dict | None = None, run_dir: str | os.PathLike | None = None,
                 history: list[dict] | None = None, conditioner: Conditioner | None = None):
        self.name = name
        self.model = model.eval()
        self.objective = objective
        self.scaler = scaler
        self.conditioner = conditioner
        self.train_config = train_config
        self.data_info = data_info or {}
        self.run_dir = Path(run_dir) if run_dir else None
        self.history = history or []

    # ------------------------------------------------------------------ description
    @property
    def spec(self) -> ModelSpec:
        return MODELS.get(self.name)

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.model, "conditional", False))

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one raw example (the model's own may differ, see ``Scaler.model_shape``)."""
        return self.scaler.raw_shape(self.model.input_shape)

    def config_dict(self) -> dict[str, Any]:
        return {
            "format": "latentforge-run", "version": 1, "latentforge_version": __version__,
            "model": self.name, "family": self.family,
            "model_config": self.model.config.to_dict(), "objective_config": self.objective.config.to_dict(),
            "train_config": self.train_config.to_dict(), "data": self.data_info,
        }

    def transform_state(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict(),
                "condition": self.conditioner.state_dict() if self.conditioner else None}

    def info(self) -> dict[str, Any]:
        out = {"model": self.name, "family": self.family, "summary": self.spec.summary,
               "n_parameters": self.n_parameters, "input_shape": list(self.input_shape),
               "latent_dim": self.model.latent_dim, "scaling": self.scaler.kind, "data": self.data_info,
               "model_config": self.model.config.to_dict(), "objective_config": self.objective.config.to_dict(),
               "train_config": self.train_config.to_dict()}
        if self.conditioner:
            out["condition"] = self.conditioner.state_dict()
        if self.history and self.family == "gan":  # adversarial losses do not rank epochs
            out.update(epochs_trained=self.history[-1]["epoch"],
                       last={k: v for k, v in self.history[-1].items() if k not in ("epoch", "warnings")})
        elif self.history:
            best = min(self.history, key=lambda r: r.get("val_loss", r["train_loss"]))
            out.update(epochs_trained=self.history[-1]["epoch"], best_epoch=best["epoch"],
                       best=dict((k, v) for k, v in best.items() if k.startswith(("train_", "val_"))))
        return out

    # ------------------------------------------------------------------ raw <-> model space
    def _dataset(self, data: Any) -> ArrayDataset:
        ds = data if isinstance(data, ArrayDataset) else ArrayDataset(data, name="input")
        if tuple(ds.x.shape[1:]) != tuple(self.input_shape):
            raise DataError(f"the model takes examples of shape {tuple(self.input_shape)}, got {tuple(ds.x.shape[1:])}")
        return ds

    def to_model_space(self, data: Any) -> torch.Tensor:
        """Raw examples -> scaled float tensor of the model's input shape."""
        return torch.from_numpy(self.scaler.transform(self._dataset(data).x))

    def condition_vectors(self, n: int, condition: Any = None, ds: ArrayDataset | None = None) -> torch.Tensor:
        """Condition vectors (n, condition_dim) from explicit values, or from the dataset's labels / cond."""
        if not self.conditional:
            if condition is not None:
                raise ConfigError(f"model {self.name!r} is not conditional; drop the condition")
            return None
        kind = self.conditioner.kind
        if condition is None and ds is not None:
            condition = ds.y if kind == "label" else ds.cond
        if condition is None:
            what = "class labels" if kind == "label" else f"{self.conditioner.dim} parameter value(s) per example"
            raise ConfigError(f"model {self.name!r} is conditional: give a condition ({what}; CLI: --condition)")
        values = np.asarray(condition)
        if kind == "label":
            values = np.broadcast_to(values.reshape(-1), (n,)) if values.size in (1, n) else values
        else:
            values = values.reshape(-1, self.conditioner.dim)
            values = np.broadcast_to(values, (n, self.conditioner.dim)) if len(values) == 1 else values
        if len(values) != n:
            raise ConfigError(f"{len(values)} conditions for {n} examples; give one, or one per example")
        return torch.from_numpy(self.conditioner.transform(values))

    def batch(self, data: Any, condition: Any = None) -> dict[str, torch.Tensor]:
        """Raw data -> the model-space batch dict: x, and sigma / mask / c where they apply."""
        ds = self._dataset(data)
        f = self._factors(ds)  # per-example scale factors (median scaling), else None
        b = {"x": torch.from_numpy(self.scaler.transform(ds.x, factors=f))}
        if ds.sigma is not None:
            b["sigma"] = torch.from_numpy(self.scaler.sigma_to_model(ds.sigma, factors=f))
        if ds.mask is not None:
            if b["x"].shape != ds.mask.shape:
                raise ConfigError(f"{self.scaler.kind} scaling changes the example shape, so a per-point mask "
                                  "cannot follow it; use --scaling log, minmax, standard or none with masks")
            b["mask"] = torch.from_numpy(ds.mask)
        c = self.condition_vectors(len(ds), condition, ds)
        if c is not None:
            b["c"] = c
        return b

    def _map(self, fn, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """fn(batch slice) over slices of INFER_BATCH rows, concatenated; no gradients."""
        n = batch["x"].shape[0]
        device = next(self.model.parameters()).device  # the CPU, except during training on a GPU
        with torch.no_grad():
            return torch.cat([fn(runtime.to_device(take(batch, slice(i, i + INFER_BATCH)), device)).cpu()
                              for i in range(0, n, INFER_BATCH)])

    def _encode(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.family == "gan":
            raise ConfigError(f"{self.name!r} is a GAN: it has a generator but no encoder, so it cannot encode or "
                              "reconstruct; use sample, or an autoencoder / VAE")
        if self.family == "vae":
            return self.model.encode(model_input(b), b.get("c"))
        return self.model.encode(b["x"])

    def _decode(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return self.model.decode(z) if self.family == "autoencoder" else self.model.decode(z, c)

    def _raw(self, t: torch.Tensor, factors: np.ndarray | None = None) -> np.ndarray:
        return self.scaler.inverse_transform(t.numpy(), factors=factors)

    def _factors(self, ds: ArrayDataset) -> np.ndarray | None:
        """Each example's own scale factor under a per-example scaling (median), else None."""
        return self.scaler.factors(ds.x, ds.mask) if self.scaler.per_example else None

    def encode(self, data: Any, condition: Any = None) -> np.ndarray:
        """Raw examples -> codes (N, latent_dim); for a VAE the posterior mean."""
        return self._map(self._encode, self.batch(data, condition)).numpy()

    def decode(self, z: Any, condition: Any = None) -> np.ndarray:
        """Codes (N, latent_dim) -> raw-space outputs (a VAE gives its decoder's mean)."""
        return self._from_codes(torch.as_tensor(np.asarray(z, dtype=np.float32)), condition, self._decode)

    def _from_codes(self, z: torch.Tensor, condition: Any, fn) -> np.ndarray:
        """fn(codes, condition vectors) over batches of z -> raw units."""
        b = {"x": z}
        c = self.condition_vectors(len(z), condition)
        if c is not None:
            b["c"] = c
        return self._raw(self._map(lambda s: fn(s["x"], s.get("c")), b))

    def reconstruct(self, data: Any, condition: Any = None) -> np.ndarray:
        """Raw examples -> raw reconstructions (for a denoising model: the denoised estimate)."""
        ds = self._dataset(data)
        return self._raw(self._map(lambda s: self._decode(self._encode(s), s.get("c")), self.batch(ds, condition)),
                         self._factors(ds))

    def _need_vae(self, what: str) -> None:
        if self.family != "vae":
            raise ConfigError(f"{what} needs a model with a prior and a probabilistic decoder (a VAE); "
                              f"{self.name!r} is a {self.family}")

    def sample(self, n: int, condition: Any = None, *, seed: int = 0) -> np.ndarray:
        """Generate n examples (raw units): z ~ N(0, I) through the decoder's mean or the generator."""
        if self.family == "autoencoder":
            raise ConfigError(f"sampling needs a model with a prior (a VAE) or a generator (a GAN); {self.name!r} "
                              "is an autoencoder")
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.model.latent_dim, generator=g)
        if self.family == "vae":  # a hurdle decoder draws from p(x|z), zeros included; others give their mean
            return self._from_codes(z, condition, lambda zz, c: self.model.decode_draw(zz, c, g))
        return self._from_codes(z, condition, self._decode)

    def _over_latent_draws(self, data: Any, samples: int, seed: int, condition: Any,
                           combine) -> tuple[np.ndarray, np.ndarray]:
        """z_k ~ q(z|x), k = 1..samples, decoded to mu_k and sigma_model_k^2; ``combine(batch, mu, var_model)``
        gives each draw's (mean_k, var_k); returns the mixture's mean E_k[mean_k] and standard deviation
        sqrt(Var_k[mean_k] + E_k[var_k]) in raw units."""
        if samples < 1:
            raise ConfigError("samples must be >= 1")
        g = torch.Generator().manual_seed(seed)

        def one(b):
            q = self.model.encode_dist(model_input(b), b.get("c"))
            z = q.sample(g, n=samples)  # (K, B, latent)
            k, nb, d = z.shape
            cc = repeat_condition(b.get("c"), k)
            shape = self.model.input_shape
            mu = self.model.decode(z.reshape(k * nb, d), cc).reshape(k, nb, *shape)
            var_model = self.model.decode_std(z.reshape(k * nb, d), cc).reshape(k, nb, *shape).pow(2)
            mean_k, var_k = combine(b, mu, var_model)
            var = mean_k.var(0, unbiased=False) + var_k.mean(0)
            return torch.stack([mean_k.mean(0), var.sqrt()], 1)  # (B, 2, ...)

        ds = self._dataset(data)
        f = self._factors(ds)
        out = self._map(one, self.batch(ds, condition))
        return self._raw(out[:, 0], f), self.scaler.sigma_to_raw(out[:, 1].numpy(), factors=f)

    def predict(self, data: Any, samples: int = 100, *, seed: int = 0, condition: Any = None,
                include_decoder_noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and standard deviation (raw units) of the reconstruction.

        z_k ~ q(z|x) for k = 1..samples, decoded; var = Var_k[mean_k] + E_k[sigma_k^2] where sigma_k is the
        decoder's own standard deviation (sqrt(p(1-p)) for a Bernoulli decoder).
        """
        self._need_vae("predictive uncertainty")
        return self._over_latent_draws(
            data, samples, seed, condition,
            lambda b, mu, var_model: (mu, var_model if include_decoder_noise else torch.zeros_like(mu)))

    def denoise(self, data: Any, samples: int = 100, *, seed: int = 0,
                condition: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation (raw units) of the noiseless signal behind measurements with
        known per-point sigma_i (data with ``sigma``, optionally ``mask``).

        A Gaussian decoder with measurement errors says: signal s ~ N(mu(z), sigma_model(z)^2) and
        x = s + N(0, sigma_i^2); its likelihood is N(x; mu, sigma_model^2 + sigma_i^2). Given z the signal's
        posterior is Gaussian with mean mu + w (x - mu) and variance w sigma_i^2, w = sigma_model^2 /
        (sigma_model^2 + sigma_i^2): a pixel measured much better than the model knows it follows the data,
        one measured worse follows the decoder; masked points get mu and sigma_model. Over z_k ~ q(z|x):
        mean = E_k[mean_k], var = Var_k[mean_k] + E_k[var_k]. ``reconstruct`` gives mu(z) at the posterior
        mean code alone, without the data."""
        self._need_vae("denoising with measurement errors")
        if self.model.likelihood not in ("gaussian", "gaussian-shared", "gaussian-hetero"):
            raise ConfigError(f"denoise needs a Gaussian decoder; {self.name!r} has likelihood "
                              f"{self.model.likelihood!r} (train with --likelihood gaussian-hetero)")
        ds = self._dataset(data)
        if ds.sigma is None:
            raise ConfigError("denoise needs each point's measurement sigma; pass data with sigma (or ivar), "
                              "e.g. a spectra file or as_dataset(x, sigma=...)")

        def given_data(b, mu, var_model):
            var_meas = b["sigma"].pow(2).unsqueeze(0)
            masked = b["mask"].unsqueeze(0) if "mask" in b else torch.zeros(1, dtype=torch.bool)
            w = torch.where(masked, 0.0, var_model / (var_model + var_meas))  # weight of the measurement
            return mu + w * (b["x"].unsqueeze(0) - mu), torch.where(masked, var_model, w * var_meas)

        return self._over_latent_draws(ds, samples, seed, condition, given_data)

    def log_likelihood(self, data: Any, k: int = 1000, *, seed: int = 0, condition: Any = None,
                       batch_size: int = 100) -> dict[str, np.ndarray]:
        """Per-example ELBO (Monte Carlo over the same K draws) and IWAE estimate of log p(x), in nats."""
        self._need_vae("the log-likelihood")
        g = torch.Generator().manual_seed(seed)
        b = self.batch(data, condition)
        n = b["x"].shape[0]
        elbo, iwae = [], []
        for i in range(0, n, batch_size):
            lw = importance_weights(self.model, take(b, slice(i, i + batch_size)), k, generator=g)
            elbo.append(lw.mean(0))
            iwae.append(iwae_bound(lw))
        return {"elbo": torch.cat(elbo).numpy(), "iwae": torch.cat(iwae).numpy()}

    def score(self, data: Any, condition: Any = None) -> np.ndarray:
        """GAN: the discriminator's probability that each example is real (a realism / anomaly score);
        for a WGAN critic its raw score (higher = more real-like; not a probability)."""
        if self.family != "gan":
            raise ConfigError(f"score needs a GAN's discriminator; {self.name!r} is a {self.family}")
        logits = self._map(lambda s: self.model.discriminate(s["x"], s.get("c")), self.batch(data, condition))
        return (logits if self.objective.wasserstein else torch.sigmoid(logits)).numpy()

    def quality(self, data: Any, split: str = "all", *, n: int | None = None, seed: int = 0,
                **data_kw) -> dict[str, Any]:
        """Sample-quality metrics of generated data against real data (see ``analysis.quality``)."""
        from .analysis.quality import quality_metrics

        full = as_dataset(data, **data_kw)
        ds = self.select(full, split)
        real = self.batch(ds)
        n = n or len(ds)
        rng = np.random.default_rng(seed)
        pick = rng.integers(0, len(ds), size=n)  # conditions follow the real set's distribution
        cond = None
        if self.conditional:
            cond = ds.y[pick] if self.conditioner.kind == "label" else ds.cond[pick]
        fake = self.scaler.transform(self.sample(n, cond, seed=seed))
        clf, info = self.feature_classifier(full)
        return quality_metrics(clf, info, real["x"].numpy(), fake)

    def feature_classifier(self, data: Any, **data_kw):
        """The small classifier whose features score sample quality: trained (seeded) on the training split
        of ``data`` and kept in the run's ``classifier/`` folder."""
        from .analysis.quality import classifier_for

        full = as_dataset(data, **data_kw)
        tc = self.train_config
        idx = split_indices(len(full), val_fraction=tc.val_fraction, test_fraction=tc.test_fraction, seed=tc.seed)
        train_part = full.subset(idx["train"])
        where = (self.run_dir / "classifier") if self.run_dir else Path(tempfile.mkdtemp(prefix="lf-classifier-"))
        return classifier_for(where, self.scaler.transform(train_part.x), train_part.y, source=str(full.source),
                              seed=tc.seed)

    def add_noise(self, x: Any, *, seed: int = 0) -> np.ndarray:
        """Corrupt raw examples the way this model was trained (kind and level from its config)."""
        c = self.objective.config
        if not hasattr(c, "corruption"):
            raise ConfigError(f"model {self.name!r} was not trained with corruption; use a denoising model")
        g = torch.Generator().manual_seed(seed)
        noisy = corrupt(self.to_model_space(x), c.corruption, c.noise_level, generator=g, clip=c.clip)
        return self.scaler.inverse_transform(noisy.numpy())

    # ------------------------------------------------------------------ evaluation
    def select(self, data: Any, split: str = "all", **data_kw) -> ArrayDataset:
        """The chosen part of a dataset; train / val / test repeat the training run's seeded split."""
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        ds = as_dataset(data, **data_kw)
        if split == "all":
            return ds
        tc = self.train_config
        idx = split_indices(len(ds), val_fraction=tc.val_fraction, test_fraction=tc.test_fraction, seed=tc.seed)
        if len(idx[split]) == 0:
            raise DataError(f"the {split} split is empty (fraction 0 in training); use --split all")
        part = ds.subset(idx[split])
        part.info["index"] = idx[split]  # rows of the full dataset, for arrays kept beside it
        return part

    def evaluate(self, data: Any, split: str = "all", *, seed: int = 0, k: int = 1000, **data_kw) -> dict[str, Any]:
        """Metrics as a flat dict: recon_mse for every model; psnr_* for denoising models;
        elbo, nll_iwae (with K), kl for VAEs (nats per example)."""
        if self.family == "gan":
            return self._evaluate_gan(data, split, seed=seed, **data_kw)
        ds = self.select(data, split, **data_kw)
        b = self.batch(ds)
        x = b["x"]
        recon = self._map(lambda s: self._decode(self._encode(s), s.get("c")), b).numpy()
        xs = x.numpy()
        keep = ~ds.mask if ds.mask is not None else np.ones(xs.shape, bool)  # raw and model shapes agree here
        keep_raw = ~ds.mask if ds.mask is not None else np.ones(ds.x.shape, bool)
        out: dict[str, Any] = {"model": self.name, "data": str(getattr(ds, "source", "")), "split": split,
                               "n": len(ds), "recon_mse": mse(recon[keep], xs[keep]),
                               "recon_mse_raw": mse(self._raw(torch.from_numpy(recon), self._factors(ds))[keep_raw],
                                                    ds.x[keep_raw])}
        terms = evaluate_objective(self.model, self.objective, b, seed=seed)
        for name, v in terms.items():
            out[name if name == "loss" or name.startswith(("penalty_", "active")) else f"loss_{name}"] = v
        peak = 1.0 if self.scaler.kind == "minmax" else float(xs.max() - xs.min())
        out["psnr_recon"] = psnr(xs[keep], recon[keep], peak)
        c = self.objective.config
        if hasattr(c, "corruption"):
            g = torch.Generator().manual_seed(seed)
            noisy = corrupt(x, c.corruption, c.noise_level, generator=g, clip=c.clip)
            den = self._map(lambda s: self.model.reconstruct(s["x"]), {"x": noisy}).numpy()
            out.update(corruption=c.corruption, noise_level=c.noise_level, psnr_peak=peak,
                       psnr_noisy=psnr(xs, noisy.numpy(), peak), psnr_denoised=psnr(xs, den, peak))
            out["psnr_gain_db"] = out["psnr_denoised"] - out["psnr_noisy"]
        if hasattr(c, "active_threshold"):
            z = self._map(self._encode, b).numpy()
            out["active_fraction"] = float(np.mean(np.abs(z) > c.active_threshold))
            out["active_threshold"] = c.active_threshold
        if self.family == "vae" and _is_shower_file(ds.source):
            out["showers"] = self.shower_validation(ds, seed=seed)
        if self.family == "vae":
            ll = self.log_likelihood(ds, k, seed=seed)
            q_kl = self._map(lambda s: self.model.encode_dist(model_input(s), s.get("c")).kl(), b)
            out.update(elbo=float(ll["elbo"].mean()), nll_iwae=float(-ll["iwae"].mean()), K=k,
                       kl=float(q_kl.mean()), likelihood=self.model.likelihood,
                       beta=self.objective.config.beta)
        return out

    def _evaluate_gan(self, data: Any, split: str, *, seed: int, **data_kw) -> dict[str, Any]:
        ds = self.select(data, split, **data_kw)
        out: dict[str, Any] = {"model": self.name, "data": str(ds.source), "split": split, "n": len(ds),
                               "loss": self.objective.config.loss}
        terms = evaluate_objective(self.model, self.objective, self.batch(ds), seed=seed)
        out.update({k: v for k, v in terms.items() if k != "loss"})
        out["g_loss"] = terms["loss"]
        if ds.y is not None:
            out.update(self.quality(data, split, seed=seed, **data_kw))
        if _is_shower_file(ds.source):
            out["showers"] = self.shower_validation(ds, seed=seed)
        return out

    def shower_validation(self, ds: ArrayDataset, *, seed: int = 0) -> dict[str, Any]:
        """CaloChallenge-style comparison of generated with reference showers at the same conditions."""
        from .analysis.showers import validate
        from .data.simulators import read_showers

        ref = read_showers(ds.source)
        index = ds.info.get("index", np.arange(len(ds)))
        ref = {k: v[index] for k, v in ref.items()}
        cond = ds.cond if self.conditional else None
        gen = {"showers": self.sample(len(ds), cond, seed=seed), "incident_energies": ref["incident_energies"]}
        return validate(ref, gen, seed=seed)

    # ------------------------------------------------------------------ persistence
    def save(self, run_dir: str | os.PathLike | None = None) -> Path:
        run_dir = Path(run_dir or self.run_dir or "")
        if not str(run_dir):
            raise ArtifactError("no run directory given; pass save(run_dir)")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / CONFIG_FILE, self.config_dict())
        write_json(run_dir / TRANSFORM_FILE, self.transform_state())
        save_tensors(run_dir / MODEL_FILE, self.model.state_dict(), metadata={"format": "latentforge-model"})
        self.run_dir = run_dir
        return run_dir

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> "TrainedModel":
        try:
            return cls._load(Path(run_dir))
        except LatentforgeError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
            raise ArtifactError(f"{run_dir}: the run files do not fit together ({type(e).__name__}: {e}); the run "
                                "directory is damaged, retrain or restore it") from None

    @classmethod
    def _load(cls, run_dir: Path) -> "TrainedModel":
        if not run_dir.is_dir():
            raise ArtifactError(f"{run_dir}: no such run directory")
        cfg = check_run_config(read_json(run_dir / CONFIG_FILE, "run configuration"), run_dir / CONFIG_FILE)
        spec = MODELS.get(cfg["model"])
        try:
            mcfg = spec.model_config_class.from_dict(cfg["model_config"])
            ocfg = spec.objective_config_class.from_dict(cfg["objective_config"])
            tcfg = TrainConfig.from_dict(cfg.get("train_config", {}))
        except ConfigError as e:
            raise ArtifactError(f"{run_dir / CONFIG_FILE}: {e}") from None
        model, objective = spec.build(mcfg, ocfg)
        tensors, _ = load_tensors(run_dir / MODEL_FILE, "model file")
        try:
            model.load_state_dict(tensors)
        except RuntimeError as e:
            raise ArtifactError(f"{run_dir / MODEL_FILE}: weights do not match config.json ({e})") from None
        state = read_json(run_dir / TRANSFORM_FILE, "transform state")
        if not isinstance(state, dict) or "scaler" not in state:
            raise ArtifactError(f"{run_dir / TRANSFORM_FILE}: not a latentforge transform state")
        scaler = Scaler.from_state_dict(state["scaler"])
        conditioner = Conditioner.from_state_dict(state["condition"]) if state.get("condition") else None
        history = _read_metrics(run_dir / METRICS_FILE)
        return cls(cfg["model"], model, objective, scaler, tcfg, cfg.get("data", {}), run_dir, history, conditioner)


def _is_shower_file(source: Any) -> bool:
    s = str(source)
    if not s.lower().endswith((".h5", ".hdf5")) or not os.path.exists(s):
        return False
    import h5py

    try:
        with h5py.File(s, "r") as f:
            return f.attrs.get("kind") == "calorimeter-showers" or ("showers" in f and "incident_energies" in f)
    except OSError:
        return False


def _read_metrics(path: Path) -> list[dict]:
    import json

    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a torn last line from an interrupted write
    return rows


def load(run_dir: str | os.PathLike) -> TrainedModel:
    """Rebuild a trained model from its run directory (JSON config, then safetensors weights)."""
    return TrainedModel.load(run_dir)


def _prepare_out(out: Path, *, resume: bool, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"{out} exists and is not a directory; choose another --out")
    if resume:
        if not (out / CHECKPOINT_FILE).exists():
            raise ArtifactError(f"{out}: no {CHECKPOINT_FILE} to resume from; train without --resume first")
        remove_stale_temporaries(out)  # left by a run killed while writing
        return
    try:
        if out.exists() and any(out.iterdir()):
            if not overwrite:
                raise ArtifactError(f"{out} already holds files; use --resume to continue that run, --overwrite to "
                                    "replace it, or another --out")
            if not (out / CONFIG_FILE).exists():
                raise ArtifactError(f"{out} holds files but no latentforge run; refusing to overwrite it, choose "
                                    "another --out")
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
    except ArtifactError:
        raise
    except OSError as e:
        raise write_error(out, e, "prepare the run directory") from None


def _resume_compatible(saved: dict, new: dict) -> None:
    diffs = []
    for section in ("model", "model_config", "objective_config", "data"):
        if saved.get(section) != new.get(section):
            diffs.append(section)
    skip = set(TrainConfig.fields_not_in_config_hash)
    a = {k: v for k, v in saved.get("train_config", {}).items() if k not in skip}
    b = {k: v for k, v in new["train_config"].items() if k not in skip}
    if a != b:
        diffs.append("train_config (" + ", ".join(sorted(k for k in a if a.get(k) != b.get(k))) + ")")
    if diffs:
        raise ConfigError("cannot resume: the options differ from the saved run in " + "; ".join(diffs) +
                          "; only --epochs, --patience and --threads may change on resume")


def train(model: str, data: Any, *, out: str | os.PathLike | None = None, train_config: TrainConfig | None = None,
          progress: bool = True, resume: bool = False, overwrite: bool = False, **options: Any) -> TrainedModel:
    """Train catalogue model ``model`` on ``data``.

    ``options`` may hold TrainConfig fields (epochs, lr, seed ...), data keywords (key, labels, labels_key,
    sigma_key, ivar_key, mask_key, cond_key, channels_last) and the model's / objective's own options.
    With ``out`` the run directory gets config.json, transform.json, metrics.jsonl, a checkpoint each epoch,
    model.safetensors and plots. ``resume=True`` continues from the checkpoint there.
    """
    spec = MODELS.get(model)
    tc_fields = set(TrainConfig.__dataclass_fields__)
    tc_opts = {k: options.pop(k) for k in list(options) if k in tc_fields}
    base = train_config or TrainConfig(**spec.train_defaults)
    tc = base.replace(**tc_opts) if tc_opts else base
    data_kw = {k: options.pop(k) for k in list(options) if k in DATA_KEYWORDS}
    dist, _ = runtime.setup_distributed(tc.device)  # under torchrun: join the process group
    try:
        with contextlib.ExitStack() as cleanup:
            return _train(spec, model, data, data_kw, tc, options, dist, out=out, progress=progress, resume=resume,
                          overwrite=overwrite, cleanup=cleanup)
    finally:
        runtime.teardown_distributed()


def _train(spec: ModelSpec, model: str, data: Any, data_kw: dict, tc: TrainConfig, options: dict,
           dist: runtime.Dist, *, out, progress: bool, resume: bool, overwrite: bool,
           cleanup: contextlib.ExitStack) -> TrainedModel:
    stream = None
    if tc.stream:
        stream = _open_stream(spec, data, data_kw, options, tc)
        cleanup.callback(stream["file"].close)
        ds, idx, conditioner = stream["preview"], stream["idx"], None
        example_shape = stream["file"].example_shape
    else:
        ds = as_dataset(data, **data_kw)
        idx = split_indices(len(ds), val_fraction=tc.val_fraction, test_fraction=tc.test_fraction, seed=tc.seed)
        conditioner = _fit_conditioner(spec, options, ds, idx["train"])
        example_shape = ds.example_shape
    if conditioner is not None:
        options["condition_dim"] = conditioner.dim
    if stream:
        from .data.stream import TRAIN, VAL, ChunkStream, fit_scaler

        scaler = fit_scaler(stream["file"], stream["part"], tc.scaling, tc.chunk_size, seed=tc.seed)
    else:
        scaler = Scaler(tc.scaling).fit(ds.x[idx["train"]], None if ds.mask is None else ds.mask[idx["train"]])
    mcfg, ocfg = spec.configs(scaler.model_shape(example_shape), **options)
    data_info = {"source": ds.source, "n": stream["file"].n if stream else len(ds),
                 "example_shape": list(example_shape),
                 **{k: v for k, v in data_kw.items() if v and not isinstance(v, np.ndarray) and k != "labels"},
                 **({"labels": str(data_kw["labels"])} if isinstance(data_kw.get("labels"), (str, os.PathLike))
                    else {}),
                 **{f"has_{k}": True for k in ("sigma", "mask", "cond") if getattr(ds, k) is not None}}

    torch.manual_seed(tc.seed)  # initialisation
    net, objective = spec.build(mcfg, ocfg)
    if stream:
        f, part = stream["file"], stream["part"]
        kw = dict(chunk_size=tc.chunk_size, buffer_chunks=tc.buffer_chunks, unit_range=objective.needs_unit_range)
        train_b = ChunkStream(f, part, TRAIN, scaler, **kw)
        val_b = ChunkStream(f, part, VAL, scaler, **kw) if len(idx["val"]) else None
    run = TrainedModel(model, net, objective, scaler, tc, data_info, out, conditioner=conditioner)
    if not stream:
        train_b = run.batch(ds.subset(idx["train"]))
        val_b = run.batch(ds.subset(idx["val"])) if len(idx["val"]) else None
        if objective.needs_unit_range:
            for part_name, b in (("training data", train_b), ("validation data", val_b)):
                if b is not None:
                    check_unit_range(b["x"].numpy(), what=f"{ds.source} {part_name} after {tc.scaling} scaling")

    callbacks = []
    out_dir = Path(out) if out else None
    if out_dir is not None:
        if dist.is_main:  # only rank 0 writes; the others wait until the directory is ready
            _prepare_out(out_dir, resume=resume, overwrite=overwrite)
            if resume:
                _resume_compatible(read_json(out_dir / CONFIG_FILE, "run configuration"), run.config_dict())
            write_json(out_dir / CONFIG_FILE, run.config_dict())
            write_json(out_dir / TRANSFORM_FILE, run.transform_state())
        dist.barrier()
        callbacks.append(_checkpoint_callback(out_dir))

    if out_dir is not None and spec.family == "gan" and objective.config.sample_every:
        callbacks.append(_sample_grid_callback(run, out_dir, objective.config.sample_every))
    trainer = spec.trainer_class(net, objective, tc, progress=progress, callbacks=callbacks)
    if resume and out_dir is not None:
        tensors, meta = load_tensors(out_dir / CHECKPOINT_FILE, "checkpoint")
        trainer.load_state_dict(tensors, meta_from_strings(meta))
        if dist.is_main:
            write_jsonl(out_dir / METRICS_FILE, trainer.history)  # drop lines newer than the checkpoint
    elif out_dir is not None and dist.is_main:
        write_jsonl(out_dir / METRICS_FILE, [])
    trainer.fit(train_b, val_b)
    run.history = trainer.history
    run.model.eval()
    if out_dir is not None:
        if dist.is_main:
            run.save(out_dir)
            write_plots(run, ds.subset(idx["test"] if len(idx["test"]) and not stream else np.arange(len(ds))),
                        out_dir)
        dist.barrier()
    return run


def _open_stream(spec: ModelSpec, data: Any, data_kw: dict, options: dict, tc: TrainConfig) -> dict:
    """The chunked reader, the seeded split as a part label per row (1 train, 2 val, 3 test) and a small
    in-memory preview of held-out rows for the plots."""
    from .data.stream import TEST, TRAIN, VAL, ChunkedFile

    if not isinstance(data, (str, os.PathLike)):
        raise ConfigError("--stream reads a file (.npy or HDF5); give its path, or train without --stream")
    extra = [k for k in ("labels", "labels_key", "sigma_key", "ivar_key", "mask_key", "cond_key") if data_kw.get(k)]
    if extra:
        raise ConfigError(f"--stream takes the data array only; drop {', '.join(extra)} or train without --stream")
    fields = spec.model_config_class.__dataclass_fields__
    if "condition" in fields and options.get("condition", spec.model_defaults.get(
            "condition", fields["condition"].default)) != "none":
        raise ConfigError("--stream trains unconditional models only; use --condition none or train without --stream")
    f = ChunkedFile(data, key=data_kw.get("key"), channels_last=bool(data_kw.get("channels_last")))
    try:
        idx = split_indices(f.n, val_fraction=tc.val_fraction, test_fraction=tc.test_fraction, seed=tc.seed)
        part = np.zeros(f.n, np.int8)
        part[idx["train"]], part[idx["val"]], part[idx["test"]] = TRAIN, VAL, TEST
        show = idx["test"] if len(idx["test"]) else idx["train"]
        show = np.sort(show[:200])
        preview = ArrayDataset(f.take(show, tc.chunk_size), name=Path(data).name, source=str(data),
                               info={"index": show})
    except BaseException:
        f.close()
        raise
    return {"file": f, "idx": idx, "part": part, "preview": preview}


def _fit_conditioner(spec: ModelSpec, options: dict, ds: ArrayDataset, train_idx: np.ndarray):
    fields = spec.model_config_class.__dataclass_fields__
    if "condition" not in fields:
        return None
    kind = options.get("condition", spec.model_defaults.get("condition", fields["condition"].default))
    if kind == "none":
        return None
    if kind == "label":
        if ds.y is None:
            raise DataError(f"{ds.source}: conditioning on labels needs labels (npz/HDF5 key y or --labels-key, or "
                            "--labels FILE); or use --condition vector with --cond-key")
        return Conditioner("label").fit(ds.y[train_idx])
    if ds.cond is None:
        raise DataError(f"{ds.source}: conditioning on a parameter vector needs a cond array; name it with "
                        "--cond-key (npz key / HDF5 dataset of shape (N, P))")
    return Conditioner("vector").fit(ds.cond[train_idx])


def _sample_grid_callback(run: "TrainedModel", out_dir: Path, every: int):
    def save_grid(trainer, row: dict) -> None:
        if row["epoch"] % every == 0:
            save_figure(sample_grid_figure(run, seed=run.train_config.seed, title_suffix=f" (epoch {row['epoch']})"),
                        out_dir / "samples" / f"epoch_{row['epoch']:04d}.png")
            run.model.train()

    return save_grid


def _checkpoint_callback(out_dir: Path):
    def save_checkpoint(trainer: Trainer, row: dict) -> None:
        tensors, meta = trainer.state_dict()
        save_tensors(out_dir / CHECKPOINT_FILE, tensors, metadata=meta_to_strings(meta))
        append_jsonl(out_dir / METRICS_FILE, row)

    return save_checkpoint


def write_plots(run: TrainedModel, ds: ArrayDataset, out_dir: Path, n: int = 10) -> list[Path]:
    """loss.png, reconstructions.png and (with labels) latent.png for a trained run."""
    full = ds
    paths = []
    if run.family == "gan":
        if run.history:
            save_figure(gan_curves(run.history), out_dir / "loss.png")
            paths.append(out_dir / "loss.png")
        if len(run.input_shape) == 3:
            save_figure(sample_grid_figure(run, seed=run.train_config.seed), out_dir / "samples.png")
            paths.append(out_dir / "samples.png")
        if not run.objective.wasserstein:
            save_figure(generator_loss_curves(), out_dir / "generator_losses.png")
            paths.append(out_dir / "generator_losses.png")
        return paths
    ds = ds.subset(np.unique(np.linspace(0, len(ds) - 1, min(n, len(ds))).astype(int)))  # spread over the set
    if run.history:
        save_figure(loss_curve(run.history), out_dir / "loss.png")
        paths.append(out_dir / "loss.png")
    x = ds.x[:n]
    rows = {"input": x}
    if hasattr(run.objective.config, "corruption"):
        noisy = run.add_noise(x, seed=run.train_config.seed)
        rows.update(noisy=noisy, denoised=run.reconstruct(noisy))
    else:
        rows["reconstruction"] = run.reconstruct(ds)
    save_figure(comparison_grid(rows, n=n, title=f"{run.name}: held-out examples"), out_dir / "reconstructions.png")
    paths.append(out_dir / "reconstructions.png")
    if full.y is not None:
        save_figure(latent_scatter(run.encode(full), full.y, title=f"{run.name} codes"), out_dir / "latent.png")
        paths.append(out_dir / "latent.png")
    if run.family == "vae" and len(run.input_shape) == 3:
        save_figure(sample_grid_figure(run, seed=run.train_config.seed), out_dir / "samples.png")
        paths.append(out_dir / "samples.png")
    return paths


def sample_grid_figure(run: TrainedModel, n: int = 64, *, seed: int = 0, condition: Any = None,
                       title_suffix: str = ""):
    """Prior samples as an image grid; a label-conditional model gets one row per class."""
    if run.conditional and condition is None and run.conditioner.kind == "label":
        classes = run.conditioner.classes
        per = max(1, min(10, n // len(classes)))
        cond = np.repeat(np.asarray(classes), per)
        x = run.sample(len(cond), cond, seed=seed)
        return image_grid(x, ncols=per, title=f"{run.name}: samples, one row per class "
                                               f"({', '.join(map(str, classes))}){title_suffix}")
    x = run.sample(n, condition, seed=seed)
    return image_grid(x, title=f"{run.name}: samples from z ~ N(0, I){title_suffix}")
