"""The GAN training loop: alternating discriminator and generator updates with two optimisers.

Per batch of real examples: one discriminator (critic) step, with the generator frozen; after every
``n_critic`` of those, ``g_steps`` generator steps with the discriminator frozen (``requires_grad``
off, so no gradient is computed for the frozen network's weights at all). The EMA generator, when the
model has one, follows each generator step. Each epoch logs mean D(x), mean D(G(z)), the discriminator's
accuracy, both losses, both gradient norms and the diversity of a fixed batch of samples, and warns when
the discriminator wins outright or the samples collapse.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable, Iterable

import torch
from tqdm.auto import tqdm

from ..config import TrainConfig
from ..data.stream import is_stream
from ..errors import ArtifactError, TrainingDiverged
from . import runtime
from .trainer import (as_batch, epoch_batches, epoch_noise, load_optimizer_state, lr_factor, optimizer_state,
                      place_trainer, restore_rng, run_callbacks, save_rng, set_lr, step)

DIVERSITY_N = 64
WIN_ACC, WIN_EPOCHS = 0.98, 3
COLLAPSE_RATIO = 0.35


def _grad_norm(params) -> float:
    norms = [p.grad.detach().pow(2).sum() for p in params if p.grad is not None]
    return float(torch.stack(norms).sum().sqrt()) if norms else 0.0


def diversity(x: torch.Tensor) -> float:
    """Mean pairwise Euclidean distance within a batch (flattened examples)."""
    f = x.flatten(1).float()
    d = torch.cdist(f, f)
    n = f.shape[0]
    return float(d.sum() / (n * (n - 1)))


class GANTrainer:
    def __init__(self, model: torch.nn.Module, objective, config: TrainConfig, *, progress: bool = True,
                 callbacks: Iterable[Callable[["GANTrainer", dict], None]] = ()):
        place_trainer(self, model, objective, config, progress, callbacks)
        o = objective.config
        betas = (o.beta1, o.beta2)
        self.opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=o.lr_d, betas=betas, fused=True)
        self.opt_g = torch.optim.Adam(model.generator.parameters(), lr=o.lr_g, betas=betas, fused=True)
        self.scaler_d = runtime.grad_scaler(self.device, config.precision)
        self.scaler_g = runtime.grad_scaler(self.device, config.precision)
        # under torchrun each player is wrapped in its own DistributedDataParallel
        self.call_d = runtime.wrap(model.discriminator, model, self.device, self.dist)
        self.call_g = runtime.wrap(model.generator, model, self.device, self.dist)
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        self.fixed_z = torch.randn(DIVERSITY_N, model.latent_dim, generator=torch.Generator().manual_seed(config.seed + 3))
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.win_streak = 0
        self.real_diversity: float | None = None
        self.fixed_c: torch.Tensor | None = None

    def _phase(self, train_d: bool, record_generator: bool = False) -> None:
        """Freeze the network that is not being trained. In a discriminator step that is followed by a
        generator step, the generator's forward pass is recorded for reuse (its output reaches the
        discriminator detached, so the generator still gets no gradient)."""
        self.model.discriminator.requires_grad_(train_d)
        self.model.generator.requires_grad_(not train_d or record_generator)

    def fit(self, train, val=None) -> list[dict[str, Any]]:
        cfg, o = self.config, self.objective.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        stream = is_stream(train)
        train = train if stream else as_batch(train)
        val = val if val is None or is_stream(val) else as_batch(val)
        head = train.head(DIVERSITY_N) if stream else train["x"][:DIVERSITY_N]
        if self.real_diversity is None:
            self.real_diversity = diversity(head)
        if not stream and "c" in train and self.fixed_c is None:
            n = train["x"].shape[0]
            self.fixed_c = train["c"][torch.arange(DIVERSITY_N) % n]
        bar = tqdm(total=cfg.epochs, initial=self.epoch, desc="train", unit="epoch", disable=not self.progress,
                   leave=False, dynamic_ncols=True)
        # a generator pass recorded in the discriminator step is reused by the generator step; under DDP each
        # network's passes must go through its own wrapper, so the generator step draws its own samples there
        reuse = not self.dist.enabled
        try:
            while self.epoch < cfg.epochs:
                t0 = time.perf_counter()
                epoch = self.epoch + 1
                factor = lr_factor(cfg, epoch)
                set_lr(self.opt_d, o.lr_d * factor)
                set_lr(self.opt_g, o.lr_g * factor)
                self.model.train()
                sums: dict[str, torch.Tensor] = {}
                counts = {"d": 0, "g": 0}
                gnorm = {"d": 0.0, "g": 0.0}
                noise = epoch_noise(self.generator, self.device, self.dist)
                for b, batch in enumerate(epoch_batches(train, self.generator, cfg.batch_size, self.dist)):
                    batch = runtime.to_device(batch, self.device)
                    g_phase_next = (b + 1) % o.n_critic == 0
                    keep = g_phase_next and reuse
                    self._phase(train_d=True, record_generator=keep)
                    with runtime.autocast(self.device, cfg.precision), runtime.device_scope(self.device):
                        d = self.call_d(self.objective.discriminator_terms, batch, noise, keep_fake=keep)
                    fake = d.pop("fake", None)
                    self._step(self.opt_d, d["loss"], epoch, b, "discriminator", self.scaler_d)
                    gnorm["d"] += _grad_norm(self.model.discriminator.parameters())
                    self._add(sums, "d", d, batch["x"].shape[0])
                    counts["d"] += batch["x"].shape[0]
                    if g_phase_next:
                        self._phase(train_d=False)
                        for _ in range(o.g_steps):
                            with runtime.autocast(self.device, cfg.precision), runtime.device_scope(self.device):
                                g = self.call_g(self.objective.generator_terms, batch, noise, fake=fake)
                            fake = None  # a second generator step draws new samples
                            self._step(self.opt_g, g["loss"], epoch, b, "generator", self.scaler_g)
                            gnorm["g"] += _grad_norm(self.model.generator.parameters())
                            self.model.update_ema()
                            self._add(sums, "g", g, batch["x"].shape[0])
                            counts["g"] += batch["x"].shape[0]
                self.model.discriminator.requires_grad_(True)
                self.model.generator.requires_grad_(True)
                totals = self.dist.sum_dict({**sums, "__d": torch.tensor(float(counts["d"])),
                                             "__g": torch.tensor(float(counts["g"])),
                                             "__gnorm_d": torch.tensor(gnorm["d"]),
                                             "__gnorm_g": torch.tensor(gnorm["g"])}, self.device)
                counts = {"d": totals.pop("__d"), "g": totals.pop("__g")}
                w = self.dist.world
                gnorm = {"d": totals.pop("__gnorm_d") / w, "g": totals.pop("__gnorm_g") / w}
                row = self._epoch_row(epoch, totals, counts, gnorm, val)
                row["seconds"] = round(time.perf_counter() - t0, 4)
                row["samples_per_s"] = round(counts["d"] / max(row["seconds"], 1e-9), 1)
                self.epoch = epoch
                self.history.append(row)
                bar.update(1)
                bar.set_postfix({k: f"{row[k]:.3g}" for k in ("d_loss", "g_loss", "d_acc") if k in row})
                run_callbacks(self, row)
        finally:
            bar.close()
            self.model.discriminator.requires_grad_(True)
            self.model.generator.requires_grad_(True)
        self.model.to("cpu")
        self.model.eval()
        return self.history

    def _step(self, opt: torch.optim.Optimizer, loss: torch.Tensor, epoch: int, batch: int, who: str,
              scaler=None) -> None:
        if not torch.isfinite(loss):
            kept = f"the last good checkpoint (epoch {self.epoch}) is kept" if self.epoch else "no checkpoint yet"
            o = self.objective.config
            raise TrainingDiverged(
                f"the {who} loss became {float(loss.detach())} at epoch {epoch}, batch {batch}; {kept}. Try lower "
                f"learning rates (--lr-g {o.lr_g:g}, --lr-d {o.lr_d:g}), --loss wgan-gp, or check the data scaling.")
        opt.zero_grad(set_to_none=True)
        step(opt, loss, scaler)

    @staticmethod
    def _add(sums: dict, who: str, terms: dict, b: int) -> None:
        for k, v in terms.items():
            key = f"{who}_loss" if k == "loss" else k
            sums[key] = sums[key] + v.detach() * b if key in sums else v.detach() * b

    def _epoch_row(self, epoch: int, sums: dict, counts: dict, gnorm: dict, val) -> dict[str, Any]:
        row: dict[str, Any] = {"epoch": epoch}
        for k, v in sums.items():
            row[k] = float(v) / max(counts["g" if k in ("g_loss", "d_fake_g") else "d"], 1)
        per_rank = self.config.batch_size * self.dist.world  # steps of one rank (gradient norms are per rank)
        n_d_steps = max(1, math.ceil(counts["d"] / per_rank))
        n_g_steps = max(1, math.ceil(counts["g"] / per_rank))
        row["grad_norm_d"] = gnorm["d"] / n_d_steps
        row["grad_norm_g"] = gnorm["g"] / n_g_steps
        row["train_loss"] = row.get("g_loss", float("nan"))  # the loss curve's generator line
        self.model.eval()
        with torch.no_grad():
            fixed_c = self.fixed_c.to(self.device) if self.fixed_c is not None else None
            samples = self.model.generate(self.fixed_z.to(self.device), fixed_c)  # the live generator, not its EMA
            row["diversity"] = diversity(samples)
            row["diversity_real"] = self.real_diversity
            if val is not None and len(val if is_stream(val) else val["x"]):
                row["d_val_real"] = self._val_real(val)
        self.model.train()
        notes = []
        self.win_streak = self.win_streak + 1 if row.get("d_acc", 0) >= WIN_ACC else 0
        if self.win_streak >= WIN_EPOCHS:
            alt = "--loss ns" if self.objective.config.loss == "minimax" else "--loss wgan-gp"
            notes.append(f"the discriminator wins outright (accuracy >= {WIN_ACC} for {self.win_streak} epochs): the "
                         f"generator gets little signal; try {alt}, a lower --lr-d, more --g-steps, "
                         "or --label-smoothing 0.1")
        if row["diversity"] < COLLAPSE_RATIO * self.real_diversity:
            notes.append(f"possible mode collapse: samples are {row['diversity'] / self.real_diversity:.2f}x as "
                         "diverse as real data; try --loss wgan-gp, a lower --lr-g, or --label-smoothing 0.1")
        if notes:
            row["warnings"] = notes
            for note in notes:
                warnings.warn(f"epoch {epoch}: {note}", stacklevel=2)
        return row

    def _val_real(self, val) -> float:
        """Mean D(x) (a critic: mean score) over the validation data."""
        total, n = 0.0, 0
        parts = val.ordered(4096) if is_stream(val) else [val]
        for part in parts:
            part = runtime.to_device(part, self.device)
            logits = self.model.discriminate(part["x"], part.get("c")).float()
            total += float((logits if self.objective.wasserstein else torch.sigmoid(logits)).sum())
            n += logits.shape[0]
        return total / max(n, 1)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        meta = {"epoch": self.epoch, "history": self.history, "win_streak": self.win_streak,
                "real_diversity": self.real_diversity,
                "optim_d": optimizer_state(self.opt_d, "optim_d", tensors),
                "optim_g": optimizer_state(self.opt_g, "optim_g", tensors)}
        save_rng(tensors, self.generator, self.device)
        if self.scaler_d is not None:
            meta["grad_scalers"] = [self.scaler_d.state_dict(), self.scaler_g.state_dict()]
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
            load_optimizer_state(self.opt_d, "optim_d", tensors, meta["optim_d"])
            load_optimizer_state(self.opt_g, "optim_g", tensors, meta["optim_g"])
            restore_rng(tensors, self.generator, self.device)
            if self.scaler_d is not None and meta.get("grad_scalers"):
                self.scaler_d.load_state_dict(meta["grad_scalers"][0])
                self.scaler_g.load_state_dict(meta["grad_scalers"][1])
            self.epoch = int(meta["epoch"])
            self.history = list(meta["history"])
            self.win_streak = int(meta["win_streak"])
            self.real_diversity = meta["real_diversity"]
        except (KeyError, RuntimeError, ValueError) as e:
            raise ArtifactError(f"checkpoint does not fit this GAN / trainer ({e}); it belongs to another run") \
                from None
