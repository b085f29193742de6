"""One readable training loop for single-network models.

Batches are sliced from in-memory tensors with a seeded permutation (no per-sample Python work), Adam
updates, validation every epoch, early stopping on the validation loss, and a full, resumable state
(weights, optimiser, RNG streams, early-stopping bookkeeping, history). Writing that state to disk is
the caller's business (see ``latentforge.api``): the trainer hands it over through callbacks.
"""

from __future__ import annotations

import copy
import json
import math
import time
from typing import Any, Callable, Iterable

import torch
from tqdm.auto import tqdm

from ..config import TrainConfig
from ..data.stream import ChunkStream, is_stream
from ..errors import ArtifactError, TrainingDiverged
from . import runtime

EVAL_BATCH = 1024


def _mean_terms(sums: dict[str, float], n: int) -> dict[str, float]:
    return {k: v / n for k, v in sums.items()}


Batch = dict[str, torch.Tensor]  # "x" (B, ...) and optional "sigma", "mask", "c"


def as_batch(data: torch.Tensor | Batch) -> Batch:
    return {"x": data} if torch.is_tensor(data) else data


def take(data: Batch, index) -> Batch:
    """Rows ``index`` of every tensor in the batch dict (one gather per tensor, no per-sample work)."""
    return {k: v[index] for k, v in data.items()}


@torch.no_grad()
def evaluate_objective(model: torch.nn.Module, objective: Callable, data: torch.Tensor | Batch | ChunkStream, *,
                       seed: int) -> dict[str, float]:
    """Objective terms averaged over ``data`` in eval mode; randomness from ``seed``, so repeatable.
    ``data`` may be in memory or a stream of chunks; batches go to the model's device."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    g = runtime.noise_generator(device, seed)
    sums: dict[str, float] = {}
    n = 0
    if is_stream(data):
        batches = data.ordered(EVAL_BATCH)
    else:
        data = as_batch(data)
        batches = (take(data, slice(s, s + EVAL_BATCH)) for s in range(0, data["x"].shape[0], EVAL_BATCH))
    with runtime.device_scope(device):
        for batch in batches:
            batch = runtime.to_device(batch, device)
            b = batch["x"].shape[0]
            for k, v in objective(model, batch, g).items():
                sums[k] = sums.get(k, 0.0) + float(v) * b
            n += b
    model.train(was_training)
    return _mean_terms(sums, max(n, 1))


def lr_factor(config: TrainConfig, epoch: int) -> float:
    """Learning-rate multiplier for 1-based ``epoch``: 1 (constant) or a cosine from 1 down to 0.01."""
    if config.lr_schedule == "constant" or config.epochs <= 1:
        return 1.0
    t = (epoch - 1) / (config.epochs - 1)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def place_trainer(trainer, model: torch.nn.Module, objective, config: TrainConfig, progress: bool,
                  callbacks) -> None:
    """What every trainer sets up first: the process group it runs in, its device (the model moved there,
    the precision checked against it), and progress bar / callbacks (rank 0 alone shows progress)."""
    trainer.dist = runtime.current()
    trainer.device = runtime.resolve_device(config.device, trainer.dist.local_rank)
    runtime.check_precision(config.precision, trainer.device)
    trainer.model = model.to(trainer.device)
    trainer.objective = objective
    trainer.config = config
    trainer.progress = progress and trainer.dist.is_main
    trainer.callbacks = list(callbacks)


class Trainer:
    def __init__(self, model: torch.nn.Module, objective: Callable, config: TrainConfig, *,
                 progress: bool = True, callbacks: Iterable[Callable[["Trainer", dict], None]] = ()):
        place_trainer(self, model, objective, config, progress, callbacks)
        # the fused kernel updates all parameters in one pass (several times faster than the per-tensor loop)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                          fused=True)
        self.grad_scaler = runtime.grad_scaler(self.device, config.precision)
        # one stream for shuffling and objective randomness (corruption); the global torch RNG serves dropout
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        self.call = runtime.wrap(model, model, self.device, self.dist)  # DDP under torchrun
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0
        self.stopped_early = False

    # ------------------------------------------------------------------ loop
    def fit(self, train: torch.Tensor | Batch | ChunkStream,
            val: torch.Tensor | Batch | ChunkStream | None = None) -> list[dict[str, Any]]:
        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        train = train if is_stream(train) else as_batch(train)
        val = val if val is None or is_stream(val) else as_batch(val)
        begin_epoch = getattr(self.objective, "begin_epoch", None)
        bar = tqdm(total=cfg.epochs, initial=self.epoch, desc="train", unit="epoch", disable=not self.progress,
                   leave=False, dynamic_ncols=True)
        try:
            while self.epoch < cfg.epochs and not self.stopped_early:
                t0 = time.perf_counter()
                epoch = self.epoch + 1
                if begin_epoch is not None:  # e.g. a KL warm-up; a function of the epoch only, so resumable
                    begin_epoch(epoch)
                set_lr(self.optimizer, cfg.lr * lr_factor(cfg, epoch))  # a function of the epoch: resumable
                self.model.train()
                sums: dict[str, torch.Tensor] = {}
                seen = 0
                noise = epoch_noise(self.generator, self.device, self.dist)
                for b, batch in enumerate(epoch_batches(train, self.generator, cfg.batch_size, self.dist)):
                    batch = runtime.to_device(batch, self.device)  # each (B, ...)
                    with runtime.autocast(self.device, cfg.precision), runtime.device_scope(self.device):
                        terms = self.call(self.objective, batch, noise)
                    loss = terms["loss"]
                    if not torch.isfinite(loss):
                        raise TrainingDiverged(self._diverged_message(epoch, b, float(loss.detach())))
                    self.optimizer.zero_grad(set_to_none=True)
                    step(self.optimizer, loss, self.grad_scaler)
                    b_size = batch["x"].shape[0]
                    seen += b_size
                    for k, v in terms.items():  # stays a tensor: no conversion per batch
                        sums[k] = sums[k] + v.detach() * b_size if k in sums else v.detach() * b_size
                totals = self.dist.sum_dict({**sums, "__n": torch.tensor(float(seen))}, self.device)
                n = totals.pop("__n")
                row: dict[str, Any] = {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]}
                row.update({f"train_{k}": v / max(n, 1) for k, v in totals.items()})
                if val is not None and len(val if is_stream(val) else val["x"]):
                    row.update({f"val_{k}": v for k, v in self.dist.mean_dict(self.evaluate(val),
                                                                              self.device).items()})
                monitor = row.get("val_loss", row["train_loss"])
                if not math.isfinite(monitor):
                    raise TrainingDiverged(self._diverged_message(epoch, None, monitor))
                if monitor < self.best_loss:
                    self.best_loss, self.best_epoch, self.bad_epochs = monitor, epoch, 0
                    self.best_state = copy.deepcopy(self.model.state_dict())
                else:
                    self.bad_epochs += 1
                    if cfg.patience and self.bad_epochs >= cfg.patience:
                        self.stopped_early = True
                row["seconds"] = round(time.perf_counter() - t0, 4)
                row["samples_per_s"] = round(n / max(row["seconds"], 1e-9), 1)
                self.epoch = epoch
                self.history.append(row)
                bar.update(1)
                bar.set_postfix({k: f"{row[k]:.4g}" for k in ("train_loss", "val_loss") if k in row})
                run_callbacks(self, row)
        finally:
            bar.close()
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.model.to("cpu")  # inference (TrainedModel) works on the CPU copy
        return self.history

    def evaluate(self, data: torch.Tensor | Batch) -> dict[str, float]:
        return evaluate_objective(self.model, self.objective, data, seed=self.config.seed + 2)

    def _diverged_message(self, epoch: int, batch: int | None, value: float) -> str:
        where = f"epoch {epoch}" + (f", batch {batch}" if batch is not None else " (validation)")
        kept = (f"the last good checkpoint (epoch {self.epoch}) is kept" if self.epoch else
                "no epoch finished, so there is no checkpoint")
        return (f"the loss became {value} at {where}; {kept}. Try a lower learning rate (--lr, now "
                f"{self.config.lr:g}), check the data scaling (--scaling) and that the loss fits the data "
                "(bce needs values in [0, 1]), or a smaller model.")

    # ------------------------------------------------------------------ state
    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(tensors, json-able metadata) that restore this trainer exactly."""
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        if self.best_state is not None:
            tensors.update({f"best.{k}": v for k, v in self.best_state.items()})
        opt_meta = optimizer_state(self.optimizer, "optim", tensors)
        save_rng(tensors, self.generator, self.device)
        meta = {
            "epoch": self.epoch, "best_loss": self.best_loss, "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs, "stopped_early": self.stopped_early, "history": self.history,
            "optim": opt_meta,
            "grad_scaler": self.grad_scaler.state_dict() if self.grad_scaler is not None else None,
        }
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        try:
            self.model.load_state_dict(part("model."))
            best = part("best.")
            self.best_state = best or None
            load_optimizer_state(self.optimizer, "optim", tensors, meta["optim"])
            restore_rng(tensors, self.generator, self.device)
            if self.grad_scaler is not None and meta.get("grad_scaler"):
                self.grad_scaler.load_state_dict(meta["grad_scaler"])
            self.epoch = int(meta["epoch"])
            self.best_loss = float(meta["best_loss"])
            self.best_epoch = int(meta["best_epoch"])
            self.bad_epochs = int(meta["bad_epochs"])
            self.stopped_early = bool(meta["stopped_early"])
            self.history = list(meta["history"])
        except (KeyError, RuntimeError, ValueError) as e:
            raise ArtifactError(f"checkpoint does not fit this model / trainer ({e}); it belongs to another run") \
                from None


def step(opt: torch.optim.Optimizer, loss: torch.Tensor, scaler=None) -> None:
    """Backward and update; with an fp16 gradient scaler, through it."""
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()


def save_rng(tensors: dict[str, torch.Tensor], generator: torch.Generator, device: torch.device) -> None:
    """The trainer's seeded stream, the global torch RNG (dropout) and, on a GPU, its RNG into ``tensors``."""
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)


def restore_rng(tensors: dict[str, torch.Tensor], generator: torch.Generator, device: torch.device) -> None:
    """Inverse of ``save_rng``."""
    generator.set_state(tensors["rng.generator"])
    torch.set_rng_state(tensors["rng.torch"])
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)


def epoch_noise(generator: torch.Generator, device: torch.device, dist: runtime.Dist) -> torch.Generator:
    """The stream for the objective's randomness this epoch. One process on a CPU: the shuffling stream
    itself. On a GPU or with several ranks: a stream on the device seeded from it (per rank, so ranks draw
    different noise while the shuffling stream stays identical on all of them)."""
    if device.type == "cpu" and not dist.enabled:
        return generator
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
    return runtime.noise_generator(device, seed + dist.rank)


def epoch_batches(train, generator: torch.Generator, batch_size: int, dist: runtime.Dist):
    """This rank's shuffled batches for one epoch: its slice of one seeded permutation (in memory), or its
    share of the chunks (a stream)."""
    if is_stream(train):
        yield from train.batches(generator, batch_size, dist.rank, dist.world)
        return
    perm = dist.shard(torch.randperm(train["x"].shape[0], generator=generator))
    for start in range(0, perm.shape[0], batch_size):
        yield take(train, perm[start:start + batch_size])


def run_callbacks(trainer, row: dict) -> None:
    """Callbacks write files: rank 0 runs them, the other ranks wait for it."""
    if trainer.dist.is_main:
        for cb in trainer.callbacks:
            cb(trainer, row)
    trainer.dist.barrier()


def optimizer_state(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Put the optimiser's tensors into ``tensors`` under ``prefix.``; return the JSON-able rest."""
    sd = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.{idx}.{k}"] = v
            else:
                scalars.setdefault(str(idx), {})[k] = v
    return {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor],
                         meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith(prefix + "."):
            idx, name = k[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(idx), {})[name] = v
    for idx, sc in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(sc)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def meta_to_strings(meta: dict[str, Any]) -> dict[str, str]:
    return {"trainer": json.dumps(meta)}


def meta_from_strings(meta: dict[str, str]) -> dict[str, Any]:
    try:
        return json.loads(meta["trainer"])
    except (KeyError, json.JSONDecodeError) as e:
        raise ArtifactError(f"checkpoint metadata is missing or damaged ({e})") from None
