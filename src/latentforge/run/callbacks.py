"""The callback protocol of ``latentforge.train(..., callbacks=[...])``: code of yours that runs while a model
trains, e.g. to send its metrics to an experiment tracker (``run.tracking`` has TensorBoard and MLflow ones).

    class PrintLoss(lf.Callback):
        def on_epoch_end(self, trainer, row):
            print(row["epoch"], row["train_loss"])

    lf.train("ae", "digits", epochs=5, callbacks=[PrintLoss()])

Under ``torchrun`` the hooks run in the process of rank 0 only (the others wait at a barrier), like the writes
of the run directory.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ..training import Trainer
    from .trained import TrainedModel


class Callback:
    """Hooks called by ``latentforge.train``; subclass and override the ones you need (each does nothing here).

    - ``on_fit_start(run)``: once, before the first epoch (of a resumed run too); ``run`` is the
      ``TrainedModel`` being trained (``run.config_dict()``, ``run.name``, ``run.run_dir``, ``run.sample`` ...).
    - ``on_epoch_end(trainer, row)``: after each epoch, once the run directory has its checkpoint for it.
      ``row`` is that epoch's line of ``metrics.jsonl``: ``epoch`` (1-based), learning rates (``lr``, or
      ``lr_g`` / ``lr_d`` for a GAN), averaged training terms (``train_loss`` ...), validation terms
      (``val_loss`` ...), ``seconds``, ``samples_per_s`` and, when there were any, ``warnings`` (a list of text).
      ``trainer`` is the ``latentforge.training.Trainer`` (``trainer.model``, ``trainer.epoch``).
    - ``on_fit_end(run)``: once, after training and after the run directory is written (best weights loaded,
      ``run.history`` complete).
    - ``on_fit_error(run, error)``: instead of ``on_fit_end`` when training stopped with an exception
      (``error``, e.g. ``TrainingDiverged``, ``KeyboardInterrupt``); the exception is raised again afterwards.

    An exception raised by a hook stops training like any other error.
    """

    def on_fit_start(self, run: TrainedModel) -> None:
        """Before the first epoch."""

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        """After each epoch, with its metrics."""

    def on_fit_end(self, run: TrainedModel) -> None:
        """After training, once the run is written."""

    def on_fit_error(self, run: TrainedModel, error: BaseException) -> None:
        """When training stopped with ``error``."""


class EpochEndCallback(Callback):
    """A plain function ``fn(trainer, row)`` run after each epoch, as a Callback."""

    def __init__(self, fn: Callable[[Any, dict[str, Any]], None]):
        self.fn = fn

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        self.fn(trainer, row)

    def __repr__(self) -> str:
        return f"EpochEndCallback({getattr(self.fn, '__name__', self.fn)!r})"


def as_callbacks(items: Iterable[Callback | Callable[[Any, dict[str, Any]], None]] | None) -> list[Callback]:
    """Callback objects as given; plain functions ``fn(trainer, row)`` become epoch-end callbacks.
    Raises ConfigError for anything else (and for a single callback not put in a list)."""
    if items is None:
        return []
    if isinstance(items, Callback) or callable(items):
        raise ConfigError("callbacks takes a list: callbacks=[cb], not callbacks=cb")
    out: list[Callback] = []
    for item in items:
        if isinstance(item, Callback):
            out.append(item)
        elif isinstance(item, type) and issubclass(item, Callback):
            raise ConfigError(f"callbacks holds the class {item.__name__}, not an instance; write {item.__name__}()")
        elif callable(item) and not isinstance(item, type):
            out.append(EpochEndCallback(item))
        else:
            raise ConfigError(f"callbacks holds {type(item).__name__} {item!r}; give latentforge.Callback objects "
                              "or functions fn(trainer, row)")
    return out


@contextlib.contextmanager
def fit_hooks(callbacks: list[Callback], run: TrainedModel, *, enabled: bool = True) -> Iterator[None]:
    """``on_fit_start`` now, then ``on_fit_end`` when the block ends, or ``on_fit_error`` (for every callback,
    also those whose start did not run) when it or a start hook raises. ``enabled=False`` (ranks other than 0):
    no hook runs."""
    if not enabled or not callbacks:
        yield
        return
    try:
        for cb in callbacks:
            cb.on_fit_start(run)
        yield
    except BaseException as error:
        for cb in callbacks:
            with contextlib.suppress(Exception):  # the training error is the one to report
                cb.on_fit_error(run, error)
        raise
    for cb in callbacks:
        cb.on_fit_end(run)
