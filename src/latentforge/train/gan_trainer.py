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
from ..errors import ArtifactError, TrainingDiverged
from .trainer import Batch, as_batch, load_optimizer_state, lr_factor, optimizer_state, set_lr, take

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
        self.model = model
        self.objective = objective
        self.config = config
        self.progress = progress
        self.callbacks = list(callbacks)
        o = objective.config
        betas = (o.beta1, o.beta2)
        self.opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=o.lr_d, betas=betas, fused=True)
        self.opt_g = torch.optim.Adam(model.generator.parameters(), lr=o.lr_g, betas=betas, fused=True)
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

    def fit(self, train: torch.Tensor | Batch, val: torch.Tensor | Batch | None = None) -> list[dict[str, Any]]:
        cfg, o = self.config, self.objective.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        train = as_batch(train)
        n = train["x"].shape[0]
        if self.real_diversity is None:
            self.real_diversity = diversity(train["x"][:DIVERSITY_N])
        if "c" in train and self.fixed_c is None:
            self.fixed_c = train["c"][torch.arange(DIVERSITY_N) % n]
        bar = tqdm(total=cfg.epochs, initial=self.epoch, desc="train", unit="epoch", disable=not self.progress,
                   leave=False, dynamic_ncols=True)
        autocast = dict(device_type="cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
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
                perm = torch.randperm(n, generator=self.generator)
                for b, start in enumerate(range(0, n, cfg.batch_size)):
                    batch = take(train, perm[start:start + cfg.batch_size])
                    g_phase_next = (b + 1) % o.n_critic == 0
                    self._phase(train_d=True, record_generator=g_phase_next)
                    with torch.autocast(**autocast):
                        d = self.objective.discriminator_terms(self.model, batch, self.generator,
                                                               keep_fake=g_phase_next)
                    fake = d.pop("fake", None)
                    self._step(self.opt_d, d["loss"], epoch, b, "discriminator")
                    gnorm["d"] += _grad_norm(self.model.discriminator.parameters())
                    self._add(sums, "d", d, batch["x"].shape[0])
                    counts["d"] += batch["x"].shape[0]
                    if g_phase_next:
                        self._phase(train_d=False)
                        for _ in range(o.g_steps):
                            with torch.autocast(**autocast):
                                g = self.objective.generator_terms(self.model, batch, self.generator, fake=fake)
                            fake = None  # a second generator step draws new samples
                            self._step(self.opt_g, g["loss"], epoch, b, "generator")
                            gnorm["g"] += _grad_norm(self.model.generator.parameters())
                            self.model.update_ema()
                            self._add(sums, "g", g, batch["x"].shape[0])
                            counts["g"] += batch["x"].shape[0]
                self.model.discriminator.requires_grad_(True)
                self.model.generator.requires_grad_(True)
                row = self._epoch_row(epoch, sums, counts, gnorm, val)
                row["seconds"] = round(time.perf_counter() - t0, 4)
                row["samples_per_s"] = round(n / max(row["seconds"], 1e-9), 1)
                self.epoch = epoch
                self.history.append(row)
                bar.update(1)
                bar.set_postfix({k: f"{row[k]:.3g}" for k in ("d_loss", "g_loss", "d_acc") if k in row})
                for cb in self.callbacks:
                    cb(self, row)
        finally:
            bar.close()
            self.model.discriminator.requires_grad_(True)
            self.model.generator.requires_grad_(True)
        self.model.eval()
        return self.history

    def _step(self, opt: torch.optim.Optimizer, loss: torch.Tensor, epoch: int, batch: int, who: str) -> None:
        if not torch.isfinite(loss):
            kept = f"the last good checkpoint (epoch {self.epoch}) is kept" if self.epoch else "no checkpoint yet"
            o = self.objective.config
            raise TrainingDiverged(
                f"the {who} loss became {float(loss.detach())} at epoch {epoch}, batch {batch}; {kept}. Try lower "
                f"learning rates (--lr-g {o.lr_g:g}, --lr-d {o.lr_d:g}), --loss wgan-gp, or check the data scaling.")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @staticmethod
    def _add(sums: dict, who: str, terms: dict, b: int) -> None:
        for k, v in terms.items():
            key = f"{who}_loss" if k == "loss" else k
            sums[key] = sums[key] + v.detach() * b if key in sums else v.detach() * b

    def _epoch_row(self, epoch: int, sums: dict, counts: dict, gnorm: dict, val) -> dict[str, Any]:
        row: dict[str, Any] = {"epoch": epoch}
        for k, v in sums.items():
            row[k] = float(v) / max(counts["g" if k in ("g_loss", "d_fake_g") else "d"], 1)
        n_d_steps = max(1, math.ceil(counts["d"] / self.config.batch_size))
        n_g_steps = max(1, math.ceil(counts["g"] / self.config.batch_size))
        row["grad_norm_d"] = gnorm["d"] / n_d_steps
        row["grad_norm_g"] = gnorm["g"] / n_g_steps
        row["train_loss"] = row.get("g_loss", float("nan"))  # the loss curve's generator line
        self.model.eval()
        with torch.no_grad():
            samples = self.model.generate(self.fixed_z, self.fixed_c)  # the live generator, not its lagging EMA
            row["diversity"] = diversity(samples)
            row["diversity_real"] = self.real_diversity
            if val is not None and len(val["x"]):
                logits = self.model.discriminate(val["x"], val.get("c"))
                row["d_val_real"] = float(logits.mean() if self.objective.wasserstein else torch.sigmoid(logits).mean())
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

    # ------------------------------------------------------------------ state
    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        meta = {"epoch": self.epoch, "history": self.history, "win_streak": self.win_streak,
                "real_diversity": self.real_diversity,
                "optim_d": optimizer_state(self.opt_d, "optim_d", tensors),
                "optim_g": optimizer_state(self.opt_g, "optim_g", tensors)}
        tensors["rng.generator"] = self.generator.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
            load_optimizer_state(self.opt_d, "optim_d", tensors, meta["optim_d"])
            load_optimizer_state(self.opt_g, "optim_g", tensors, meta["optim_g"])
            self.generator.set_state(tensors["rng.generator"])
            torch.set_rng_state(tensors["rng.torch"])
            self.epoch = int(meta["epoch"])
            self.history = list(meta["history"])
            self.win_streak = int(meta["win_streak"])
            self.real_diversity = meta["real_diversity"]
        except (KeyError, RuntimeError, ValueError) as e:
            raise ArtifactError(f"checkpoint does not fit this GAN / trainer ({e}); it belongs to another run") \
                from None
