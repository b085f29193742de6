"""The Python API: train a catalogue model on a dataset, load a run, and use it on raw data.

    import latentforge as lf
    run = lf.train("ae", "mnist", out="runs/ae", latent_dim=2, epochs=10)
    z = run.encode(images)             # raw data in, codes out
    x_hat = run.reconstruct(images)    # raw data in, raw data out (scaling undone)
    run = lf.load("runs/ae")
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .analysis import comparison_grid, latent_scatter, loss_curve, mse, psnr, save_figure
from .catalog import MODELS, ModelSpec
from .config import TrainConfig
from .data import ArrayDataset, Scaler, check_unit_range, corrupt, load_dataset, split_indices
from .errors import ArtifactError, ConfigError, DataError
from .io import (append_jsonl, check_run_config, load_tensors, read_json, save_tensors, write_json,
                 write_jsonl)
from .train import Trainer, evaluate_objective
from .train.trainer import meta_from_strings, meta_to_strings

INFER_BATCH = 2048
CONFIG_FILE, MODEL_FILE, TRANSFORM_FILE = "config.json", "model.safetensors", "transform.json"
METRICS_FILE, CHECKPOINT_FILE = "metrics.jsonl", "checkpoint.safetensors"
SPLITS = ("all", "train", "val", "test")


def as_dataset(data: Any, *, key: str | None = None, labels_key: str | None = None, labels: Any = None,
               channels_last: bool = False) -> ArrayDataset:
    """A built-in name, a file path, an ArrayDataset or an array (with optional labels array) -> ArrayDataset."""
    if isinstance(data, ArrayDataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_dataset(data, key=key, labels_key=labels_key,
                            labels=labels if isinstance(labels, (str, os.PathLike)) else None,
                            channels_last=channels_last)
    from .data import as_examples

    x = as_examples(data, channels_last=channels_last, what="array")
    y = None if labels is None or isinstance(labels, (str, os.PathLike)) else np.asarray(labels)
    return ArrayDataset(x, y, name="array", source="array")


class TrainedModel:
    """A model with its objective, data scaling and configuration: raw data in, raw data out."""

    def __init__(self, name: str, model: torch.nn.Module, objective, scaler: Scaler, train_config: TrainConfig,
                 data_info: dict | None = None, run_dir: str | os.PathLike | None = None,
                 history: list[dict] | None = None):
        self.name = name
        self.model = model.eval()
        self.objective = objective
        self.scaler = scaler
        self.train_config = train_config
        self.data_info = data_info or {}
        self.run_dir = Path(run_dir) if run_dir else None
        self.history = history or []

    # ------------------------------------------------------------------ description
    @property
    def spec(self) -> ModelSpec:
        return MODELS.get(self.name)

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.model.input_shape

    def config_dict(self) -> dict[str, Any]:
        return {
            "format": "latentforge-run", "version": 1, "latentforge_version": __version__,
            "model": self.name, "family": self.spec.family,
            "model_config": self.model.config.to_dict(), "objective_config": self.objective.config.to_dict(),
            "train_config": self.train_config.to_dict(), "data": self.data_info,
        }

    def info(self) -> dict[str, Any]:
        out = {"model": self.name, "summary": self.spec.summary, "n_parameters": self.n_parameters,
               "input_shape": list(self.input_shape), "latent_dim": self.model.latent_dim,
               "scaling": self.scaler.kind, "data": self.data_info,
               "model_config": self.model.config.to_dict(), "objective_config": self.objective.config.to_dict(),
               "train_config": self.train_config.to_dict()}
        if self.history:
            best = min(self.history, key=lambda r: r.get("val_loss", r["train_loss"]))
            out.update(epochs_trained=self.history[-1]["epoch"], best_epoch=best["epoch"],
                       best=dict((k, v) for k, v in best.items() if k.startswith(("train_", "val_"))))
        return out

    # ------------------------------------------------------------------ raw <-> model space
    def to_model_space(self, x: Any) -> torch.Tensor:
        """Raw examples -> scaled float tensor of the model's input shape."""
        from .data import as_examples

        x = x.x if isinstance(x, ArrayDataset) else as_examples(x, what="input")
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            raise DataError(f"the model takes examples of shape {tuple(self.input_shape)}, got {tuple(x.shape[1:])}")
        return torch.from_numpy(self.scaler.transform(x))

    def _batched(self, fn, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([fn(x[i:i + INFER_BATCH]) for i in range(0, x.shape[0], INFER_BATCH)])

    def encode(self, x: Any) -> np.ndarray:
        """Raw examples -> codes (N, latent_dim)."""
        return self._batched(self.model.encode, self.to_model_space(x)).numpy()

    def decode(self, z: Any) -> np.ndarray:
        """Codes (N, latent_dim) -> raw-space outputs."""
        z = torch.as_tensor(np.asarray(z, dtype=np.float32))
        return self.scaler.inverse_transform(self._batched(self.model.decode, z).numpy())

    def reconstruct(self, x: Any) -> np.ndarray:
        """Raw examples -> raw reconstructions (for a denoising model: the denoised estimate)."""
        return self.scaler.inverse_transform(self._batched(self.model.reconstruct, self.to_model_space(x)).numpy())

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
        return ds.subset(idx[split])

    def evaluate(self, data: Any, split: str = "all", *, seed: int = 0, **data_kw) -> dict[str, Any]:
        ds = self.select(data, split, **data_kw)
        x = self.to_model_space(ds)
        recon = self._batched(self.model.reconstruct, x).numpy()
        xs = x.numpy()
        out: dict[str, Any] = {"model": self.name, "data": str(getattr(ds, "source", "")), "split": split,
                               "n": len(ds), "recon_mse": mse(recon, xs),
                               "recon_mse_raw": mse(self.scaler.inverse_transform(recon), ds.x)}
        terms = evaluate_objective(self.model, self.objective, x, seed=seed)
        out.update({("loss" if k == "loss" else f"loss_{k}" if not k.startswith(("penalty_", "active")) else k): v
                    for k, v in terms.items()})
        peak = 1.0 if self.scaler.kind == "minmax" else float(xs.max() - xs.min())
        out["psnr_recon"] = psnr(xs, recon, peak)
        c = self.objective.config
        if hasattr(c, "corruption"):
            g = torch.Generator().manual_seed(seed)
            noisy = corrupt(x, c.corruption, c.noise_level, generator=g, clip=c.clip)
            den = self._batched(self.model.reconstruct, noisy).numpy()
            out.update(corruption=c.corruption, noise_level=c.noise_level, psnr_peak=peak,
                       psnr_noisy=psnr(xs, noisy.numpy(), peak), psnr_denoised=psnr(xs, den, peak))
            out["psnr_gain_db"] = out["psnr_denoised"] - out["psnr_noisy"]
        if hasattr(c, "active_threshold"):
            z = self._batched(self.model.encode, x).numpy()
            out["active_fraction"] = float(np.mean(np.abs(z) > c.active_threshold))
            out["active_threshold"] = c.active_threshold
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, run_dir: str | os.PathLike | None = None) -> Path:
        run_dir = Path(run_dir or self.run_dir or "")
        if not str(run_dir):
            raise ArtifactError("no run directory given; pass save(run_dir)")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / CONFIG_FILE, self.config_dict())
        write_json(run_dir / TRANSFORM_FILE, self.scaler.state_dict())
        save_tensors(run_dir / MODEL_FILE, self.model.state_dict(), metadata={"format": "latentforge-model"})
        self.run_dir = run_dir
        return run_dir

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> "TrainedModel":
        run_dir = Path(run_dir)
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
        scaler = Scaler.from_state_dict(read_json(run_dir / TRANSFORM_FILE, "transform state"))
        history = _read_metrics(run_dir / METRICS_FILE)
        return cls(cfg["model"], model, objective, scaler, tcfg, cfg.get("data", {}), run_dir, history)


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
        return
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ArtifactError(f"{out} already holds files; use --resume to continue that run, --overwrite to "
                                "replace it, or another --out")
        if not (out / CONFIG_FILE).exists():
            raise ArtifactError(f"{out} holds files but no latentforge run; refusing to overwrite it, choose "
                                "another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


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
          progress: bool = True, resume: bool = False, overwrite: bool = False, key: str | None = None,
          labels_key: str | None = None, labels: Any = None, channels_last: bool = False,
          **options: Any) -> TrainedModel:
    """Train catalogue model ``model`` on ``data``; options not in TrainConfig go to the model / objective.

    With ``out`` the run directory gets config.json, transform.json, metrics.jsonl, a checkpoint each epoch,
    model.safetensors and plots. ``resume=True`` continues from the checkpoint there.
    """
    spec = MODELS.get(model)
    tc_fields = set(TrainConfig.__dataclass_fields__)
    tc_opts = {k: options.pop(k) for k in list(options) if k in tc_fields}
    tc = (train_config or TrainConfig()).replace(**tc_opts) if tc_opts else (train_config or TrainConfig())

    ds = as_dataset(data, key=key, labels_key=labels_key, labels=labels, channels_last=channels_last)
    idx = split_indices(len(ds), val_fraction=tc.val_fraction, test_fraction=tc.test_fraction, seed=tc.seed)
    mcfg, ocfg = spec.configs(ds.example_shape, **options)
    data_info = {"source": ds.source, "n": len(ds), "example_shape": list(ds.example_shape),
                 **({"key": key} if key else {}), **({"labels_key": labels_key} if labels_key else {}),
                 **({"channels_last": True} if channels_last else {})}

    torch.manual_seed(tc.seed)  # initialisation
    net, objective = spec.build(mcfg, ocfg)
    scaler = Scaler(tc.scaling).fit(ds.x[idx["train"]])
    run = TrainedModel(model, net, objective, scaler, tc, data_info, out)
    x_train = torch.from_numpy(scaler.transform(ds.x[idx["train"]]))
    x_val = torch.from_numpy(scaler.transform(ds.x[idx["val"]])) if len(idx["val"]) else None
    if objective.needs_unit_range:
        for part, arr in (("training data", x_train), ("validation data", x_val)):
            if arr is not None:
                check_unit_range(arr.numpy(), what=f"{ds.source} {part} after {tc.scaling} scaling")

    callbacks = []
    out_dir = Path(out) if out else None
    if out_dir is not None:
        _prepare_out(out_dir, resume=resume, overwrite=overwrite)
        if resume:
            _resume_compatible(read_json(out_dir / CONFIG_FILE, "run configuration"), run.config_dict())
        write_json(out_dir / CONFIG_FILE, run.config_dict())
        write_json(out_dir / TRANSFORM_FILE, scaler.state_dict())
        callbacks.append(_checkpoint_callback(out_dir))

    trainer = Trainer(net, objective, tc, progress=progress, callbacks=callbacks)
    if resume and out_dir is not None:
        tensors, meta = load_tensors(out_dir / CHECKPOINT_FILE, "checkpoint")
        trainer.load_state_dict(tensors, meta_from_strings(meta))
        write_jsonl(out_dir / METRICS_FILE, trainer.history)  # drop lines newer than the checkpoint
    elif out_dir is not None:
        write_jsonl(out_dir / METRICS_FILE, [])
    trainer.fit(x_train, x_val)
    run.history = trainer.history
    run.model.eval()
    if out_dir is not None:
        run.save(out_dir)
        write_plots(run, ds.subset(idx["test"] if len(idx["test"]) else idx["train"]), out_dir)
    return run


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
        rows["reconstruction"] = run.reconstruct(x)
    save_figure(comparison_grid(rows, n=n, title=f"{run.name}: held-out examples"), out_dir / "reconstructions.png")
    paths.append(out_dir / "reconstructions.png")
    if full.y is not None:
        save_figure(latent_scatter(run.encode(full.x), full.y, title=f"{run.name} codes"), out_dir / "latent.png")
        paths.append(out_dir / "latent.png")
    return paths
