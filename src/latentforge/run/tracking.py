"""Experiment tracking: callbacks that send a run's metrics, learning rates, options and sample grids to
TensorBoard or MLflow while it trains. Both libraries are optional extras, imported only when used.

    lf.train("vae", "mnist", out="runs/vae", callbacks=[TensorBoardLogger("tb"), MLflowLogger("mlruns")])
    latentforge train vae --data mnist --out runs/vae --log-to tensorboard:tb --log-to mlflow:mlruns

Each epoch logs every number of its ``metrics.jsonl`` line (``train_loss``, ``val_loss``, ``lr`` ...) at step =
the epoch, so curves of a resumed run continue where they stopped. Models that generate images also log a grid
of 64 prior samples (drawn with the run's seed, the same z every time) every ``image_every`` epochs.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import ConfigError
from .callbacks import Callback

if TYPE_CHECKING:  # pragma: no cover
    from ..training import Trainer
    from .trained import TrainedModel

TENSORBOARD_INSTALL = "pip install 'latentforge[tensorboard]'"
MLFLOW_INSTALL = "pip install 'latentforge[mlflow]'"


def require(module: str, what: str, install: str) -> None:
    """ConfigError naming the extra to install when ``module`` is not importable."""
    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{what} needs the {module} package, which is not installed; install it with {install}")


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a metrics row, without the epoch itself (booleans and lists left out)."""
    return {k: float(v) for k, v in row.items()
            if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def run_label(run: TrainedModel) -> str:
    """The name a tracker shows for a run: its directory's name, or the model's name without one."""
    return run.run_dir.name if run.run_dir is not None else run.name


def flat_options(run: TrainedModel) -> dict[str, str]:
    """The run's model, objective and training options as ``section.name -> text`` (for MLflow params)."""
    config = run.config_dict()
    out = {"model": str(config.get("model", run.name))}
    for section, prefix in (("model_config", "model"), ("objective_config", "objective"), ("train_config", "train")):
        for k, v in (config.get(section) or {}).items():
            out[f"{prefix}.{k}"] = json.dumps(v) if isinstance(v, (list, dict)) else str(v)
    return out


class TrackingCallback(Callback):
    """What both trackers share: when to draw a sample grid, and drawing it."""

    def __init__(self, *, image_every: int | None = None, images: int = 64):
        if image_every is not None and image_every < 0:
            raise ConfigError(f"image_every must be >= 0 (0: no sample grids), got {image_every}")
        if images < 1:
            raise ConfigError(f"images must be >= 1, got {images}")
        self.image_every = image_every
        self.images = images
        self.run: TrainedModel | None = None
        self._every = 0

    def on_fit_start(self, run: TrainedModel) -> None:
        self.run = run
        every = self.image_every
        if every is None:  # the objective's own schedule (GANs: --sample-every), else every epoch
            every = run.objective.sample_grid_every or 1
        self._every = every if run.can("sampling") and len(run.input_shape) == 3 else 0

    def sample_grid(self, row: dict[str, Any]):
        """(H, W, 3) uint8 grid of samples when this epoch is due for one (and the model makes images), else None."""
        if not self._every or self.run is None or row["epoch"] % self._every:
            return None
        from ..analysis.figures import sample_grid_image

        try:
            return sample_grid_image(self.run, self.images, seed=self.run.train_config.seed)
        finally:
            self.run.model.train()  # sampling switched the model to evaluation mode


class TensorBoardLogger(TrackingCallback):
    """Write TensorBoard event files to ``log_dir/NAME`` (NAME: the run directory's name, or the model's).

    Scalars: every number of each epoch's metrics row under its own name (``train_loss``, ``val_loss``, ``lr``,
    ``d_loss`` ...), step = epoch. Text ``config``: the run's configuration (JSON). Image ``samples``: a grid of
    prior samples every ``image_every`` epochs (default: the objective's ``--sample-every`` for GANs, else every
    epoch; 0: never) for models that generate images. View with ``tensorboard --logdir log_dir``.

    The files are written by tensorboardX (``pip install 'latentforge[tensorboard]'``); viewing them needs the
    ``tensorboard`` package. Raises ConfigError when tensorboardX is not installed.
    """

    def __init__(self, log_dir: str | os.PathLike, *, image_every: int | None = None, images: int = 64):
        super().__init__(image_every=image_every, images=images)
        require("tensorboardX", "logging to TensorBoard", TENSORBOARD_INSTALL)
        self.log_dir = Path(log_dir)
        self.writer: Any = None

    def on_fit_start(self, run: TrainedModel) -> None:
        from tensorboardX import SummaryWriter

        super().on_fit_start(run)
        # tensorboardX names an event file by the second it was opened: a resumed run opened within the same
        # second would overwrite the first file's events, so each writer gets its own suffix, in nanoseconds so
        # that TensorBoard, which reads a directory's files in name order, reads them in the order written
        self.writer = SummaryWriter(logdir=str(self.log_dir / run_label(run)),
                                    filename_suffix=f".{time.time_ns():020d}.{os.getpid()}")
        text = json.dumps(run.config_dict(), indent=2, default=str)
        self.writer.add_text("config", "\n".join("    " + line for line in text.splitlines()), 0)  # as code

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        step = int(row["epoch"])
        for key, value in scalars(row).items():
            self.writer.add_scalar(key, value, step)
        grid = self.sample_grid(row)
        if grid is not None:
            self.writer.add_image("samples", grid, step, dataformats="HWC")
        self.writer.flush()

    def on_fit_end(self, run: TrainedModel) -> None:
        self.close()

    def on_fit_error(self, run: TrainedModel, error: BaseException) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class MLflowLogger(TrackingCallback):
    """Log the run to MLflow: one MLflow run per fit, named after the run directory (or the model), in
    experiment ``experiment``.

    ``tracking`` is a folder (MLflow's local file store, no server: view with
    ``mlflow ui --backend-store-uri FOLDER``) or any MLflow tracking URI (``sqlite:///mlflow.db``,
    ``http://host:5000``). Params: the model, objective and training options (``model.latent_dim``,
    ``train.lr`` ...); metrics: every number of each epoch's metrics row, step = epoch; artifacts:
    ``config.json`` and, for image models, ``samples/epoch_NNNN.png`` every ``image_every`` epochs (default: the
    objective's ``--sample-every`` for GANs, else every epoch; 0: never). The MLflow run ends FINISHED, or FAILED
    when training stops with an error.

    MLflow keeps its file store in maintenance mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE`` is set;
    for a folder this logger sets it to ``true`` in this process unless you set it yourself.
    Needs ``mlflow-skinny`` (``pip install 'latentforge[mlflow]'``) or ``mlflow``; raises ConfigError otherwise.
    """

    def __init__(self, tracking: str | os.PathLike, *, experiment: str = "latentforge", image_every: int | None = None,
                 images: int = 64):
        super().__init__(image_every=image_every, images=images)
        require("mlflow", "logging to MLflow", MLFLOW_INSTALL)
        text = str(tracking)
        self.is_folder = "://" not in text
        self.tracking_uri = Path(text).resolve().as_uri() if self.is_folder else text
        self.experiment = experiment
        self.client: Any = None
        self.run_id: str | None = None

    def on_fit_start(self, run: TrainedModel) -> None:
        if self.is_folder:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.tracking import MlflowClient

        super().on_fit_start(run)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        found = self.client.get_experiment_by_name(self.experiment)
        experiment_id = found.experiment_id if found is not None else self.client.create_experiment(self.experiment)
        self.run_id = self.client.create_run(experiment_id, run_name=run_label(run),
                                             tags={"latentforge.model": run.name}).info.run_id
        from mlflow.entities import Param

        params = [Param(k, v[:500]) for k, v in flat_options(run).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[start:start + 100])
        self.client.log_dict(self.run_id, run.config_dict(), "config.json")

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        import time

        from mlflow.entities import Metric

        step, now = int(row["epoch"]), int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in scalars(row).items()])
        grid = self.sample_grid(row)
        if grid is not None:
            self.client.log_image(self.run_id, grid, artifact_file=f"samples/epoch_{step:04d}.png")

    def on_fit_end(self, run: TrainedModel) -> None:
        self.end("FINISHED")

    def on_fit_error(self, run: TrainedModel, error: BaseException) -> None:
        self.end("FAILED")

    def end(self, status: str) -> None:
        """Mark the MLflow run as ended with ``status``."""
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, status)
            self.client = None


TRACKERS = {"tensorboard": TensorBoardLogger, "mlflow": MLflowLogger}


def tracking_callbacks(specs: Sequence[str] | None) -> list[Callback]:
    """Callbacks from ``KIND:WHERE`` texts (the CLI's ``--log-to``): ``tensorboard:DIR``, ``mlflow:DIR`` or
    ``mlflow:URI``. Raises ConfigError for an unknown kind, a missing place, or a tracker not installed."""
    out: list[Callback] = []
    for spec in specs or ():
        kind, sep, where = str(spec).partition(":")
        if kind not in TRACKERS:
            raise ConfigError(f"--log-to {spec}: unknown tracker {kind!r}; use tensorboard:DIR or mlflow:DIR")
        if not sep or not where:
            raise ConfigError(f"--log-to {spec}: say where to log, e.g. --log-to {kind}:runs/{kind}")
        out.append(TRACKERS[kind](where))
    return out
