"""The trained model: network + objective + preprocessing, used on raw data; saved and loaded as a run.

``TrainedModel.compose(...)`` builds the object whose class holds exactly the capabilities its network and
objective declare (``run.capabilities``). Loading rebuilds everything from JSON, then reads the tensors with
safetensors: a run directory can never execute code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..version import __version__
from ..catalog import MODELS, ModelSpec
from ..data import ArrayDataset, as_dataset
from ..data.batches import take, to_device
from ..errors import ArtifactError, CapabilityError, ConfigError, LatentforgeError
from ..models.base import ConfiguredModel
from ..models.own import check_own_networks
from ..models.vae import upgrade_state_dict
from ..io import RunLayout, check_run_config, load_tensors, read_json, read_metrics, save_tensors, write_json
from ..training.config import TrainConfig
from ..data.axes import to_axes
from .capabilities import CAPABILITIES, Capability
from .preprocess import Preprocessor

#: rows per batch at inference
INFER_BATCH = 2048
_COMPOSED: dict[tuple, type] = {}


class TrainedModel:
    """A model with its objective, preprocessing and configuration: raw data in, raw data out.

    The methods beyond this base class come from the capabilities of the model (see ``run.capabilities``):
    ``encode`` / ``reconstruct`` (an encoder), ``decode`` (a decoder or generator), ``sample`` (a prior),
    ``predict`` / ``denoise`` / ``log_likelihood`` (a posterior), ``score`` (a discriminator), ``add_noise``
    (a denoising objective). ``evaluate`` composes the objective's metrics with the domain validations that
    apply to the data (``run.evaluate``).
    """

    def __init__(self, name: str, model: ConfiguredModel, objective, preprocess: Preprocessor,
                 train_config: TrainConfig, data_info: dict | None = None, run_dir: str | os.PathLike | None = None,
                 history: list[dict] | None = None, runtime: dict | None = None):
        self.name = name
        self.model = model.eval()
        self.objective = objective
        self.preprocess = preprocess
        self.train_config = train_config
        self.data_info = data_info or {}
        self.run_dir = Path(run_dir) if run_dir else None
        self.history = history or []
        #: how the training ran (the precision chosen and why), recorded in config.json
        self.runtime = runtime or {}

    @classmethod
    def compose(cls, name: str, model: torch.nn.Module, objective, preprocess: Preprocessor,
                train_config: TrainConfig, **kw: Any) -> "TrainedModel":
        """A TrainedModel whose class carries the capabilities that apply to ``model`` and ``objective``."""
        caps = tuple(c for _, c in CAPABILITIES.items() if c.applies(model, objective))
        if caps not in _COMPOSED:
            _COMPOSED[caps] = type("TrainedModel", (*caps, cls), {"__doc__": cls.__doc__,
                                                                  "__module__": cls.__module__})
        return _COMPOSED[caps](name, model, objective, preprocess, train_config, **kw)

    def __repr__(self) -> str:
        """One line: the model, its parameter count, what it can do, the data it was trained on and its folder."""
        n_params = sum(p.numel() for p in self.model.parameters())
        caps = sorted({m for c in type(self).__mro__[1:] if c.__module__.endswith("capabilities")
                       for m, v in vars(c).items() if callable(v) and not m.startswith("_") and m != "applies"})
        shape = "x".join(map(str, self.data_info.get("example_shape", []))) or "?"
        source = self.data_info.get("source", "data")
        where = f", run_dir='{self.run_dir}'" if self.run_dir else ""
        return (f"<TrainedModel {self.name}: {n_params:,} parameters, examples of shape {shape} from {source!r}; "
                f"methods: {', '.join(caps) or 'evaluate'}{where}>")

    def __reduce__(self):
        # the composed class is made at run time: rebuild it from its parts (for pickle users; latentforge itself
        # saves runs as safetensors + JSON, never pickles)
        return (rebuild, (self.name, self.model, self.objective, self.preprocess, self.train_config),
                {k: v for k, v in self.__dict__.items()
                 if k not in ("name", "model", "objective", "preprocess", "train_config")})

    def __getattr__(self, attr: str):
        # called only when normal lookup fails: a capability method this model lacks gets a clear message
        if not attr.startswith("_"):
            for _, cap in CAPABILITIES.items():
                if attr in vars(cap) and callable(vars(cap)[attr]) and not isinstance(self, cap):
                    raise CapabilityError(f"{attr} needs {cap.needs}; {self.name!r} offers "
                                          f"{', '.join(self.methods()) or 'no such method'}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    def can(self, capability: type[Capability] | str) -> bool:
        """Whether this run has a capability (a class of ``run.capabilities`` or its registry name)."""
        cap = CAPABILITIES.get(capability) if isinstance(capability, str) else capability
        return isinstance(self, cap)

    # ------------------------------------------------------------------ description
    @property
    def spec(self) -> ModelSpec:
        return MODELS.get(self.name)

    def methods(self) -> list[str]:
        """The capability methods this run offers (encode, decode, sample, predict ...)."""
        return [m for _, c in CAPABILITIES.items() if isinstance(self, c)
                for m, f in vars(c).items() if callable(f) and not m.startswith("_") and m not in vars(Capability)
                and m != "applies"]

    @property
    def conditional(self) -> bool:
        return self.preprocess.conditioner is not None

    @property
    def conditioner(self):
        return self.preprocess.conditioner

    @property
    def scaler(self):
        return self.preprocess.scaler

    @property
    def device(self) -> torch.device:
        """Where the network runs: every method moves its data there in batches of rows and returns numpy arrays
        on the CPU."""
        return self.model.device

    def to(self, device: str | torch.device) -> "TrainedModel":
        """Run the network on ``device`` from now on (in place; returns this object): ``cpu``, ``cuda``, ``mps``,
        ``auto`` (a CUDA GPU when one is visible, else Apple's GPU, else the CPU) or a ``torch.device``. Raises
        ConfigError for an unknown name or a GPU that is not there (``training.runtime.resolve_device``)."""
        from ..training.runtime import resolve_device

        self.model.to(device if isinstance(device, torch.device) else resolve_device(str(device)))
        return self

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one raw example (the model's own may differ: ``fractions`` scaling adds the total)."""
        return self.preprocess.input_shape

    def config_dict(self) -> dict[str, Any]:
        return {
            "format": "latentforge-run", "version": 1, "latentforge_version": __version__, "model": self.name,
            "model_config": self.model.config.to_dict(), "objective_config": self.objective.config.to_dict(),
            "train_config": self.train_config.to_dict(), "data": self.data_info,
            **({"runtime": self.runtime} if self.runtime else {}),
            # your own networks: their class names only (a run never holds code); loading needs them passed again
            **({"own_networks": self.model.own_networks} if getattr(self.model, "own_networks", None) else {}),
        }

    def info(self) -> dict[str, Any]:
        """A JSON-able description: model, size, configs, data and the training result."""
        out = {"model": self.name, "summary": self.spec.summary, "capabilities": [
                   n for n, c in CAPABILITIES.items() if isinstance(self, c)],
               "n_parameters": self.n_parameters, "input_shape": list(self.input_shape),
               "latent_dim": self.model.latent_dim, "scaling": self.scaler.kind, "data": self.data_info,
               "model_config": self.model.config.to_dict(), "objective_config": self.objective.config.to_dict(),
               "train_config": self.train_config.to_dict()}
        if self.conditioner:
            out["condition"] = self.conditioner.state_dict()
        if self.history and not self.objective.ranks_epochs:  # adversarial losses do not rank epochs
            out.update(epochs_trained=self.history[-1]["epoch"],
                       last={k: v for k, v in self.history[-1].items() if k not in ("epoch", "warnings")})
        elif self.history:
            best = min(self.history, key=lambda r: r.get("val_loss", r["train_loss"]))
            out.update(epochs_trained=self.history[-1]["epoch"], best_epoch=best["epoch"],
                       best=dict((k, v) for k, v in best.items() if k.startswith(("train_", "val_"))))
        return out

    # ------------------------------------------------------------------ raw <-> model space
    def dataset(self, data: Any) -> ArrayDataset:
        """``data`` (a dataset or an array of raw examples) checked against the model's example shape."""
        return self.preprocess.dataset(data)

    def select(self, data: Any, split: str = "all", **data_kw: Any) -> ArrayDataset:
        """The chosen part of a dataset; train / val / test repeat the training run's seeded split, which names rows
        by position: ConfigError for data that holds training rows but is not the training data as it was (another
        order, a part, or more rows), where those positions are other rows (``unseen`` selects by value)."""
        if split in ("train", "val", "test"):
            ds = as_dataset(data, **data_kw) if not isinstance(data, ArrayDataset) else data
            if not self.is_training_data(ds):
                seen = self.preprocess.seen_in(ds)
                if seen is not None and seen.any():
                    raise ConfigError(f"--split {split} picks rows by their position in the training data, but this "
                                      f"data holds {int(seen.sum())} training rows in another order or beside other "
                                      "rows; use --split unseen (or auto) to measure the rows training did not see")
            return self.preprocess.select(ds, split)
        return self.preprocess.select(data, split, **data_kw)

    def training_data(self) -> ArrayDataset:
        """The data this run was trained on, read again from where training found it (its resolved path, with the
        same keys and labels). ConfigError when it came from Python objects (arrays, tensors ...), which cannot be
        read again: pass the data explicitly then."""
        from ..data import DATA_KEYWORDS
        from ..data.builtin import DATASETS

        info = self.data_info
        source = info.get("path") or info.get("source")
        glob_like = any(ch in str(source) for ch in "*?[")
        if source is None or not (os.path.exists(str(source)) or str(source) in DATASETS or glob_like):
            raise ConfigError(f"this run was trained on {info.get('source', 'data')!r} (given from Python, or moved), "
                              "which cannot be read again; pass the data (CLI: --data FILE)")
        kw = {k: info[k] for k in DATA_KEYWORDS if isinstance(info.get(k), (str, bool))}
        return as_dataset(source, **kw)

    def training_rows(self, data: Any = None) -> ArrayDataset:
        """The rows this run was fitted on (its seeded train split), what every baseline is fitted on: taken from
        ``data`` when ``data`` is the training data (``is_training_data``), else from the training data read again
        (``training_data``). Never the evaluated rows: a baseline fitted on them would see what it is scored on.
        Raises ConfigError when the training data can be neither recognised in ``data`` nor read again."""
        if data is not None:
            ds = as_dataset(data) if not isinstance(data, ArrayDataset) else data
            if self.is_training_data(ds):
                return self.preprocess.select(ds, "train")
        try:
            source = self.training_data()
        except ConfigError as e:
            raise ConfigError(f"the baselines are fitted on the run's training rows, and {e}") from None
        if not self.is_training_data(source):
            raise ConfigError(f"the training data at {self.data_info.get('path') or self.data_info.get('source')} "
                              "has changed since training, so its training rows are unknown; pass the data the "
                              "run was trained on")
        return self.preprocess.select(source, "train")

    def is_training_data(self, data: Any) -> bool:
        """Whether ``data`` is the data this run was trained on, recognised by what it is (number of rows, shape
        and a checksum of the values), not by how its path is spelled."""
        saved = self.data_info.get("fingerprint")
        if saved is None:  # a run of an earlier version, or streamed: the resolved path is what is known
            path = self.data_info.get("path")
            return path is not None and isinstance(data, (str, os.PathLike)) and os.path.exists(str(data)) and \
                str(Path(data).resolve()) == path
        ds = as_dataset(data) if not isinstance(data, ArrayDataset) else data
        return len(ds) == saved["n"] and ds.fingerprint() == saved

    def resolve_split(self, data: Any, split: str = "auto") -> str:
        """``auto``, for models with an encoder or that translate (a GAN's sample quality is measured against the
        whole real set: all rows): the test split when ``data`` is this run's training data (``is_training_data``);
        ``unseen`` (the rows training did not see) when it holds some of the training rows in another order or
        beside others; else all rows. Other names are kept."""
        if split != "auto":
            return split
        if not self.can("encoding") and not self.can("translating"):
            return "all"
        if self.is_training_data(data) and self.train_config.test_fraction > 0:
            return "test"
        ds = as_dataset(data) if not isinstance(data, ArrayDataset) else data
        seen = self.preprocess.seen_in(ds)  # training rows inside other data: a subset, a shuffled or larger copy
        return "unseen" if seen is not None and seen.any() and not seen.all() else "all"

    @property
    def input_axes(self) -> str | None:
        """The layout of the data this run was trained on (``ND``, ``NHW``, ``NCHW``, ``NHWC``; None: the model's
        own, for data given as an ArrayDataset or by a run of an earlier version)."""
        return self.data_info.get("axes")

    def in_layout(self, x: np.ndarray, layout: str | None = "input") -> np.ndarray:
        """Generated examples in the model's layout ((N, D) or (N, C, H, W)) -> ``layout``: ``"input"`` the layout
        of the training data (``input_axes``), ``"model"`` / None unchanged, or one of ``data.axes.AXES``."""
        if layout in (None, "model"):
            return x
        return to_axes(x, self.input_axes if layout == "input" else layout)

    def to_model_space(self, data: Any) -> torch.Tensor:
        """Raw examples -> scaled float tensor of the model's input shape."""
        return self.preprocess.to_model_space(data)

    def condition_vectors(self, n: int, condition: Any = None, ds: ArrayDataset | None = None):
        """Condition vectors (n, condition_dim) from explicit values, or from the dataset's labels / cond."""
        return self.preprocess.condition_vectors(n, condition, ds, name=self.name)

    def batch(self, data: Any, condition: Any = None) -> dict[str, torch.Tensor]:
        """Raw data -> the model-space batch dict: x, and sigma / mask / c where they apply."""
        return self.preprocess.batch(data, condition, name=self.name)

    def infer(self, fn: Callable[[dict], torch.Tensor], batch: dict[str, torch.Tensor],
              rows: int = INFER_BATCH) -> torch.Tensor:
        """fn(batch slice) over slices of ``rows`` rows, concatenated on the CPU; no gradients, the network in
        evaluation mode (batch norm with its running statistics, no dropout), its mode restored after."""
        n = batch["x"].shape[0]
        device = self.device  # ``to`` chooses it (training on a GPU: the trainer's)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return torch.cat([fn(to_device(take(batch, slice(i, i + rows)), device)).cpu()
                                  for i in range(0, n, rows)])
        finally:
            self.model.train(was_training)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, data: Any, split: str = "auto", *, seed: int = 0, **options: Any) -> dict[str, Any]:
        """Metrics as a dict (see ``run.evaluate.evaluate``); ``split="auto"``: the held-out test split when
        ``data`` is the training data (recognised by its values), else every row; the dict says which."""
        from .evaluate import evaluate

        return evaluate(self, data, split, seed=seed, **options)

    # ------------------------------------------------------------------ persistence
    def save(self, run_dir: str | os.PathLike | None = None) -> Path:
        """Write config.json, transform.json and model.safetensors (atomically) into ``run_dir``."""
        run_dir = Path(run_dir or self.run_dir or "")
        if not str(run_dir):
            raise ArtifactError("no run directory given; pass save(run_dir)")
        layout = RunLayout(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(layout.config, self.config_dict())
        write_json(layout.transform, self.preprocess.state_dict())
        save_tensors(layout.model, self.model.state_dict(), metadata={"format": "latentforge-model"})
        seen = self.preprocess.seen_rows
        if seen is not None:
            save_tensors(layout.training_rows, {"row_hashes": torch.from_numpy(seen.view(np.int64))},
                         metadata={"format": "latentforge-training-rows"})
        self.run_dir = run_dir
        return run_dir

    @classmethod
    def load(cls, run_dir: str | os.PathLike, device: str | torch.device = "cpu",
             networks: dict[str, torch.nn.Module] | None = None) -> "TrainedModel":
        """Rebuild a run from its directory, its network on ``device`` (see ``to``); ``networks``: the modules of a
        run trained with your own networks (role -> fresh ``nn.Module`` of the same classes; their weights are
        read from the run). A missing, damaged or foreign run, or own networks whose weights do not fit, raise
        ArtifactError; a device that is not there, or own networks missing or not wanted, ConfigError."""
        if not isinstance(device, torch.device):
            from ..training.runtime import resolve_device

            device = resolve_device(str(device))  # before any file is read: a wrong device fails fast
        try:
            run = cls._load(Path(run_dir), networks or {})
        except LatentforgeError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
            raise ArtifactError(f"{run_dir}: the run files do not fit together ({type(e).__name__}: {e}); the run "
                                "directory is damaged, retrain or restore it") from None
        return run.to(device)

    @classmethod
    def _load(cls, run_dir: Path, networks: dict[str, torch.nn.Module]) -> "TrainedModel":
        if not run_dir.is_dir():
            raise ArtifactError(f"{run_dir}: no such run directory")
        layout = RunLayout(run_dir)
        cfg = check_run_config(read_json(layout.config, "run configuration"), layout.config)
        spec = MODELS.get(cfg["model"])
        try:
            mcfg = spec.model_config_class.from_dict(cfg["model_config"])
            ocfg = spec.objective_config_class.from_dict(cfg["objective_config"])
            tcfg = TrainConfig.from_dict(cfg.get("train_config", {}))
        except ConfigError as e:
            raise ArtifactError(f"{layout.config}: {e}") from None
        check_own_networks(run_dir, cfg.get("own_networks") or {}, networks)
        model, objective = spec.build(mcfg, ocfg, networks)
        tensors, _ = load_tensors(layout.model, "model file")
        try:
            model.load_state_dict(upgrade_state_dict(tensors, model))
        except RuntimeError as e:
            if networks:
                said = " ".join(str(e).split())
                raise ArtifactError(f"{layout.model}: the weights do not fit the networks passed ({said[:300]}); "
                                    "pass modules built as in training") from None
            raise ArtifactError(f"{layout.model}: weights do not match config.json ({e})") from None
        state = read_json(layout.transform, "transform state")
        try:
            preprocess = Preprocessor.from_state_dict(state, model.input_shape, tcfg)
        except ArtifactError as e:
            raise ArtifactError(f"{layout.transform}: {e}") from None
        if layout.training_rows.exists():
            rows, _ = load_tensors(layout.training_rows, "training-row hashes")
            preprocess.seen_rows = rows["row_hashes"].numpy().view(np.uint64)
        return cls.compose(cfg["model"], model, objective, preprocess, tcfg, data_info=cfg.get("data", {}),
                           run_dir=run_dir, history=read_metrics(layout.metrics), runtime=cfg.get("runtime"))


def rebuild(name, model, objective, preprocess, train_config) -> TrainedModel:
    """A TrainedModel from its parts (what ``TrainedModel.__reduce__`` gives pickle)."""
    return TrainedModel.compose(name, model, objective, preprocess, train_config)


def load(run_dir: str | os.PathLike, device: str | torch.device = "cpu", *, encoder: torch.nn.Module | None = None,
         decoder: torch.nn.Module | None = None, generator: torch.nn.Module | None = None,
         discriminator: torch.nn.Module | None = None) -> TrainedModel:
    """Rebuild a trained model from its run directory (JSON config, then safetensors weights), its network on
    ``device``: ``cpu`` (the default), ``cuda``, ``mps`` or ``auto`` (see ``TrainedModel.to``). Results come back
    as numpy arrays on the CPU whatever the device.

    A run trained with your own networks (``lf.train(..., encoder=..., decoder=...)``) holds their weights but
    not their code (a run directory never runs code): pass the same roles again, modules built as in training;
    their weights are replaced by the run's. ConfigError when they are missing (naming the classes), or given
    for a run of built-in networks; ArtifactError when their weights do not fit."""
    given = {"encoder": encoder, "decoder": decoder, "generator": generator, "discriminator": discriminator}
    return TrainedModel.load(run_dir, device, {k: v for k, v in given.items() if v is not None})
