"""One training loop for every objective.

The objective names its players (one network for most; a discriminator and a generator for a GAN), and the
trainer gives each a fused Adam optimiser, a learning-rate schedule, a gradient scaler (fp16) and, under
torchrun, its own DistributedDataParallel wrapper. Each epoch shuffles the training data with a seeded
permutation (no per-sample Python work), lets the objective take its steps batch by batch, averages the terms
it logs, validates, and keeps the best weights when the validation loss ranks epochs (early stopping). The
whole state (weights, optimisers, random streams, early-stopping bookkeeping, the objective's own counters,
history) is resumable bit for bit; writing it to disk is the caller's business, through callbacks.
"""

from __future__ import annotations

import copy
import math
import sys
import time
import warnings
from typing import Any, Callable, Iterable

import torch
from tqdm.auto import tqdm

from ..data.batches import Batch, as_batch, device_scope, noise_generator, prefetch, take, to_device
from ..errors import ArtifactError, ConfigError, TrainingDiverged
from ..objectives.base import Objective, Player, evaluate_objective
from ..spelling import speak, speak_all, switches
from . import distributed, runtime
from .compiled import CompiledSteps
from .config import TrainConfig, lr_factor
from .state import load_optimizer_state, optimizer_state, restore_rng, save_rng
from .timing import timing_step
from .watch import LossWatch, Step, divergence_message, grad_norm


def is_stream(data) -> bool:
    """True for data read chunk by chunk from a file (``data.stream.ChunkStream``)."""
    return hasattr(data, "ordered")


class Trainer:
    """Fits ``model`` with ``objective`` under ``config``; ``callbacks(trainer, row)`` run after each epoch.

    Raises TrainingDiverged (naming the epoch and batch, the precision and what to try) when a loss becomes NaN
    or infinite. The losses are checked on the device and read every ``check_every`` steps (sooner when the
    streamed batches kept to name a bad step reach ``LossWatch.RECALL_BYTES``) and at each epoch's end
    (``watch.LossWatch``): no step waits for the GPU, and no step after the first bad one changes a weight.
    """

    #: optimiser steps between two reads of the losses' finiteness (each read waits for the device)
    check_every: int = 50

    def __init__(self, model: torch.nn.Module, objective: Objective, config: TrainConfig, *,
                 progress: bool = True, callbacks: Iterable[Callable[["Trainer", dict], None]] = ()):
        self.dist = distributed.current()
        self.device = runtime.resolve_device(config.device, self.dist.local_rank)
        # an explicit precision is checked now; auto is decided by timing a step on the first batch (fit)
        self.precision_choice: runtime.PrecisionChoice | None = None
        if config.precision != "auto":
            self.precision_choice = runtime.choose_precision(config.precision, self.device, risk=None)
        self.precision = self.precision_choice.precision if self.precision_choice else "fp32"
        self.model = model.to(self.device)
        self.objective = objective
        self.config = config
        # boolean options, so that advice read from Python says minibatch_std=True for --minibatch-std
        self._switches = switches(config, getattr(model, "config", None), getattr(objective, "config", None))
        self.progress = progress and self.dist.is_main  # rank 0 alone shows progress
        self.callbacks = list(callbacks)
        self.players: dict[str, Player] = {p.name: p for p in objective.players(model, config)}
        # the fused kernel updates all parameters in one pass (several times faster than the per-tensor loop)
        self.optimizers = {n: torch.optim.Adam(p.module.parameters(), lr=p.lr, betas=p.betas,
                                               weight_decay=p.weight_decay, fused=True)
                           for n, p in self.players.items()}
        self.grad_scalers = {n: runtime.grad_scaler(self.device, self.precision) for n in self.players}
        self.calls = {n: distributed.wrap(p.module, model, self.device, self.dist) for n, p in self.players.items()}
        # batch norm cannot normalise a batch of one in training: such a last batch is left for the next epoch
        norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
        self.min_batch = 2 if any(isinstance(m, norms) for m in model.modules()) else 1
        # one stream for shuffling and objective randomness (corruption, noise); the global RNG serves dropout
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        self.epoch = 0
        self.batch_index = 0
        self.history: list[dict[str, Any]] = []
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0
        self.stopped_early = False
        self._epoch_now = 0
        self._updates = 0  # optimiser steps taken in this process
        self.watch = LossWatch(self.device, self.check_every)
        self.compiled = CompiledSteps(self.device) if config.compile else None
        self._full_batch = True  # whether the batch being trained on has batch_size rows (compiled steps)
        self._resumed_precision: dict[str, Any] | None = None
        self.tf32 = False  # whether fp32 products ran on TF32 tensor cores (CUDA and config.tf32), set by fit
        self._reset_sums()

    @property
    def distributed(self) -> bool:
        return self.dist.enabled

    # ------------------------------------------------------------------ what an objective's step calls
    def forward(self, player: str, fn: Callable, *args: Any, **kwargs: Any):
        """``fn(model, *args, **kwargs)`` through the player's wrapper, under the training precision; compiled
        (``compiled.CompiledSteps``) with ``config.compile`` on a full batch."""
        if self.compiled is not None and self._full_batch:
            fn = self.compiled.of(fn)
        with runtime.autocast(self.device, self.precision), device_scope(self.device):
            return self.calls[player](fn, *args, **kwargs)

    def step(self, player: str, loss: torch.Tensor) -> None:
        """Backward and one optimiser step of ``player``, without reading anything from the device. A loss that
        is not finite stops training at the next read of the watch; from that step on, no update changes the
        weights (fused Adam's ``found_inf``; with fp16 the gradient scaler skips the step itself)."""
        bad = self.watch.record(loss, Step(self._epoch_now, self.batch_index, player, self._updates))
        opt = self.optimizers[player]
        self._updates += 1
        opt.zero_grad(set_to_none=True)
        scaler = self.grad_scalers[player]
        if scaler is None:
            loss.backward()
            opt.found_inf = bad  # type: ignore[attr-defined]  # read by the fused step: 1.0 skips it on the device
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        if self.players[player].log_grad_norm:
            self._gnorm[player] = self._gnorm[player] + grad_norm(self.players[player].module)
            self._steps[player] += 1

    def log(self, terms: dict[str, torch.Tensor], n: int) -> None:
        """Add terms of a step on ``n`` examples to the epoch's averages (kept as tensors: no sync per batch)."""
        for k, v in terms.items():
            v = v.detach().float() * n
            self._sums[k] = self._sums[k] + v if k in self._sums else v
            self._counts[k] = self._counts.get(k, 0) + n

    def _reset_sums(self) -> None:
        """Empty the epoch's running sums of logged terms, gradient norms and step counts."""
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._gnorm: dict[str, torch.Tensor | float] = {n: 0.0 for n, p in self.players.items() if p.log_grad_norm}
        self._steps = {n: 0 for n in self._gnorm}

    # ------------------------------------------------------------------ loop
    def fit(self, train, val=None) -> list[dict[str, Any]]:
        """Train until ``config.epochs`` (or early stopping); ``train`` / ``val``: tensors, batch dicts or
        streams. Returns the history, one row of averaged terms per epoch."""
        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        train = train if is_stream(train) else as_batch(train)
        val = val if val is None or is_stream(val) else as_batch(val)
        if self.device.type != "cpu" and not is_stream(train):
            # in-memory data moves to the device once, so batches are gathered there and the GPU never waits
            train = to_device(train, self.device)
        self.objective.begin_fit(self, train)
        with runtime.fp32_products(self.device, cfg.tf32) as tf32:
            self.tf32 = tf32
            return self._fit(train, val)

    def _fit(self, train, val) -> list[dict[str, Any]]:
        cfg = self.config
        self.choose_precision(train)
        self.watch.reset()
        bar = tqdm(total=cfg.epochs, initial=self.epoch, desc="train", unit="epoch", disable=not self.progress,
                   leave=False, dynamic_ncols=True)
        started = time.perf_counter()
        try:
            while self.epoch < cfg.epochs and not self.stopped_early:
                if cfg.time_limit and self.epoch and time.perf_counter() - started >= cfg.time_limit:
                    break  # the time budget is spent: the run ends here, complete
                row = self._epoch(train, val)
                self.history.append(row)
                bar.update(1)
                bar.set_postfix({k: f"{row[k]:.4g}" for k in ("train_loss", "val_loss", "d_loss", "g_loss")
                                 if k in row})
                self._run_callbacks(row)
        finally:
            bar.close()
            self.objective.end_fit(self)
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.model.to("cpu")  # inference works on the CPU copy
        self.model.eval()
        return self.history

    # ------------------------------------------------------------------ precision
    def choose_precision(self, train) -> runtime.PrecisionChoice:
        """Decide ``--precision auto`` for this model on this device (``runtime.choose_precision``): fp32 when the
        model declares bf16 unsafe, else bf16 only when a timed training step on the first batch of ``train`` is
        measured faster. A resumed run keeps the precision its checkpoint was trained in. Says the choice on
        stderr when progress is shown."""
        if self.precision_choice is not None:
            return self.precision_choice
        if self._resumed_precision is not None:
            p = self._resumed_precision
            choice = runtime.PrecisionChoice(p["precision"], f"auto: {p['precision']}, as in the run being resumed "
                                                             f"({p.get('precision_reason', 'no reason recorded')})", {})
        else:
            risk_of = getattr(self.model, "reduced_precision_risk", None)
            risk = risk_of() if callable(risk_of) else (f"{type(self.model).__name__} does not declare whether it "
                                                        "trains safely in bf16")
            batch = None if risk else self._first_batch(train)
            step = None if batch is None else timing_step(self, batch)
            key = (type(self.model).__name__, type(self.objective).__name__,
                   tuple(tuple(p.shape) for p in self.model.parameters()),
                   tuple(batch["x"].shape) if batch is not None else ())
            choice = runtime.choose_precision("auto", self.device, risk=risk, step=step, key=key)
        self.precision_choice, self.precision = choice, choice.precision
        if self.progress:
            tqdm.write(f"latentforge: training in {choice.precision} ({choice.reason})", file=sys.stderr)
        return choice

    def _first_batch(self, train) -> Batch | None:
        """One training batch (the first rows, at most batch_size), on the device, without touching the
        shuffling stream."""
        if is_stream(train):
            head = (train.head_batch(self.config.batch_size) if hasattr(train, "head_batch") else
                    train.head(self.config.batch_size) if hasattr(train, "head") else None)
            return None if head is None else to_device(as_batch(head), self.device)
        n = min(self.config.batch_size, train["x"].shape[0])
        return to_device(take(train, torch.arange(n, device=train["x"].device)), self.device) if n else None

    def _epoch(self, train, val) -> dict[str, Any]:
        cfg = self.config
        t0 = time.perf_counter()
        epoch = self.epoch + 1
        self.objective.begin_epoch(epoch)  # e.g. a KL warm-up; a function of the epoch only, so resumable
        factor = lr_factor(cfg, epoch)  # a function of the epoch: resumable
        for name, p in self.players.items():
            for group in self.optimizers[name].param_groups:
                group["lr"] = p.lr * factor
        self.model.train()
        self._reset_sums()
        self._epoch_now = epoch
        seen = 0
        noise = self._epoch_noise()
        for b, (batch, recall, held) in enumerate(self._batches(train)):
            self.batch_index = b
            self.watch.batch(epoch, b, recall, held)
            batch = to_device(batch, self.device)  # each (B, ...)
            self._full_batch = batch["x"].shape[0] == cfg.batch_size
            self.objective.train_step(self, batch, noise)
            seen += batch["x"].shape[0]
            if self.watch.due:
                self._check()
        self._check()  # the epoch's last steps: before anything of the epoch is kept
        extra: dict[str, torch.Tensor | float] = {"__n": float(seen)}
        extra.update({f"__count.{k}": float(v) for k, v in self._counts.items()})
        extra.update({f"__gnorm.{k}": v for k, v in self._gnorm.items()})
        extra.update({f"__steps.{k}": float(v) for k, v in self._steps.items()})
        totals = self.dist.sum_dict({**self._sums, **extra}, self.device)
        n = totals.pop("__n")
        counts = {k[len("__count."):]: totals.pop(k) for k in list(totals) if k.startswith("__count.")}
        gnorm = {k[len("__gnorm."):]: totals.pop(k) / self.dist.world for k in list(totals) if k.startswith("__gnorm.")}
        steps = {k[len("__steps."):]: totals.pop(k) / self.dist.world for k in list(totals) if k.startswith("__steps.")}
        row: dict[str, Any] = {"epoch": epoch}
        for name in self.players:
            row["lr" if len(self.players) == 1 else f"lr_{name}"] = self.optimizers[name].param_groups[0]["lr"]
        prefix = self.objective.train_prefix
        row.update({f"{prefix}{k}": v / max(counts[k], 1) for k, v in totals.items()})
        for name in gnorm:
            row[f"grad_norm_{name}"] = gnorm[name] / max(1.0, steps[name])
        if self.objective.ranks_epochs:
            self._validate(row, val, epoch)
        # the epoch's diagnostics and warnings, kept in the row (metrics.jsonl, the report) as they are said: with
        # flags on the command line, keyword arguments from Python
        notes = [speak(note, self._switches) for note in self.objective.end_epoch(self, row, val) or []]
        if "diagnostics" in row:
            row["diagnostics"] = speak_all(row["diagnostics"], self._switches)
        if notes:
            row["warnings"] = notes
            for note in notes:
                warnings.warn(f"epoch {epoch}: {note}", stacklevel=2)
        row["precision"] = self.precision
        row["seconds"] = round(time.perf_counter() - t0, 4)
        row["samples_per_s"] = round(n / max(row["seconds"], 1e-9), 1)
        self.epoch = epoch
        return row

    def _validate(self, row: dict[str, Any], val, epoch: int) -> None:
        """Validation terms, and the early-stopping bookkeeping on the monitored loss."""
        if val is not None and len(val if is_stream(val) else val["x"]):
            row.update({f"val_{k}": v for k, v in self.dist.mean_dict(self.evaluate(val), self.device).items()})
        monitor = row.get("val_loss", row["train_loss"])
        if not math.isfinite(monitor):
            raise TrainingDiverged(divergence_message(self, None, monitor))
        if monitor < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = monitor, epoch, 0
            self.best_state = copy.deepcopy(self.model.state_dict())
        else:
            self.bad_epochs += 1
            if self.config.patience and self.bad_epochs >= self.config.patience:
                self.stopped_early = True

    def evaluate(self, data: torch.Tensor | Batch) -> dict[str, float]:
        return evaluate_objective(self.model, self.objective, data, seed=self.config.seed + 2)

    def _epoch_noise(self) -> torch.Generator:
        """The stream for the objective's randomness this epoch. One process on a CPU: the shuffling stream
        itself. On a GPU or with several ranks: a stream on the device seeded from it (per rank, so ranks draw
        different noise while the shuffling stream stays identical on all of them)."""
        if self.device.type == "cpu" and not self.dist.enabled:
            return self.generator
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=self.generator))
        return noise_generator(self.device, seed + self.dist.rank)

    def _check(self) -> None:
        """Read the watch; TrainingDiverged naming the first step whose loss was not finite."""
        bad = self.watch.first_bad(self.dist)
        if bad is not None:
            raise TrainingDiverged(divergence_message(self, bad, bad.value))

    def _batches(self, train):
        """This rank's shuffled batches for one epoch, each with a function that gives its ``x`` again (for a
        divergence message) and the bytes that function keeps alive: its slice of one seeded permutation (in
        memory: nothing held), or its share of the chunks (a stream: the host batch is held)."""
        if is_stream(train):
            # the next batch is copied to the device while this one trains (a no-op on a CPU)
            for host, batch in prefetch(train.batches(self.generator, self.config.batch_size, self.dist.rank,
                                                      self.dist.world, min_batch=self.min_batch), self.device):
                yield batch, (lambda x=host["x"]: x), host["x"].nbytes
            return
        perm = self.dist.shard(torch.randperm(train["x"].shape[0], generator=self.generator))
        if perm.shape[0] < self.min_batch:
            raise ConfigError(f"{perm.shape[0]} training example(s) per process: the model's batch norm needs at "
                              "least 2 examples per batch; give more data, or a model without batch norm (e.g. "
                              "--norm none)")
        if perm.shape[0] % self.config.batch_size < self.min_batch and perm.shape[0] % self.config.batch_size:
            perm = perm[:-(perm.shape[0] % self.config.batch_size)]  # the lone last example waits for next epoch
        perm = perm.to(train["x"].device)
        for start in range(0, perm.shape[0], self.config.batch_size):
            index = perm[start:start + self.config.batch_size]
            yield take(train, index), (lambda i=index: train["x"][i]), 0

    def _run_callbacks(self, row: dict) -> None:
        """Callbacks write files: rank 0 runs them, the other ranks wait for it."""
        if self.dist.is_main:
            for cb in self.callbacks:
                cb(self, row)
        self.dist.barrier()

    # ------------------------------------------------------------------ state
    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(tensors, json-able metadata) that restore this trainer exactly."""
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        if self.best_state is not None:
            tensors.update({f"best.{k}": v for k, v in self.best_state.items()})
        optim = {n: optimizer_state(opt, f"optim_{n}", tensors) for n, opt in self.optimizers.items()}
        save_rng(tensors, self.generator, self.device)
        meta = {
            "epoch": self.epoch, "best_loss": self.best_loss, "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs, "stopped_early": self.stopped_early, "history": self.history,
            "optim": optim, "objective": self.objective.state_dict(),
            "grad_scalers": {n: s.state_dict() for n, s in self.grad_scalers.items() if s is not None},
            "precision": self.precision_choice.as_dict() if self.precision_choice else None,
        }
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        try:
            self.model.load_state_dict(part("model."))
            self.best_state = part("best.") or None
            for n, opt in self.optimizers.items():
                load_optimizer_state(opt, f"optim_{n}", tensors, meta["optim"][n])
            restore_rng(tensors, self.generator, self.device)
            for n, s in self.grad_scalers.items():
                if s is not None and n in meta.get("grad_scalers", {}):
                    s.load_state_dict(meta["grad_scalers"][n])
            self.epoch = int(meta["epoch"])
            self.best_loss = float(meta["best_loss"])
            self.best_epoch = int(meta["best_epoch"])
            self.bad_epochs = int(meta["bad_epochs"])
            self.stopped_early = bool(meta["stopped_early"])
            self.history = list(meta["history"])
            self.objective.load_state_dict(meta.get("objective", {}))
            self._resumed_precision = meta.get("precision") or None
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise ArtifactError(f"checkpoint does not fit this model / trainer ({e}); it belongs to another run") \
                from None
