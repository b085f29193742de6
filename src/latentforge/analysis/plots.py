"""Plots: functions return matplotlib figures; ``save_figure`` writes a PNG (headless, atomic)."""

from __future__ import annotations

import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..io import atomic_write_bytes  # noqa: E402


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def loss_curve(history: list[dict]):
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    epochs = [r["epoch"] for r in history]
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        if history and key in history[0]:
            ax.plot(epochs, [r[key] for r in history], marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per example")
    ax.set_title("training curve")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _as_image(x: np.ndarray) -> np.ndarray:
    # (C, H, W) -> (H, W) or (H, W, C) for display
    return x[0] if x.shape[0] == 1 else np.moveaxis(x[:3], 0, -1).clip(0, 1)


def comparison_grid(rows: dict[str, np.ndarray], n: int = 10, title: str = ""):
    """Each entry is a row of examples (N, C, H, W) or (N, D): e.g. input / noisy / reconstruction."""
    names = list(rows)
    n = min(n, *(len(v) for v in rows.values()))
    first = rows[names[0]]
    if first.ndim == 4:
        fig, axes = plt.subplots(len(names), n, figsize=(1.1 * n, 1.2 * len(names)), squeeze=False)
        for r, name in enumerate(names):
            for c in range(n):
                ax = axes[r][c]
                ax.imshow(_as_image(rows[name][c]), cmap="gray", vmin=float(first.min()), vmax=float(first.max()))
                ax.set_xticks([])
                ax.set_yticks([])
            axes[r][0].set_ylabel(name, fontsize=8)
    else:
        fig, axes = plt.subplots(n, 1, figsize=(7, 1.2 * n), squeeze=False, sharex=True)
        for c in range(n):
            for name in names:
                axes[c][0].plot(rows[name][c].reshape(-1), lw=0.8, label=name)
        axes[0][0].legend(fontsize=7, loc="upper right")
        axes[-1][0].set_xlabel("feature")
    if title:
        fig.suptitle(title)
    return fig


def image_grid(x: np.ndarray, ncols: int | None = None, title: str = ""):
    """Images (N, C, H, W) in a grid without axes; grey levels scaled over the whole set."""
    n = len(x)
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(0.9 * ncols + 0.4, 0.9 * nrows + 0.6), squeeze=False)
    lo, hi = float(np.min(x)), float(np.max(x))
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
        if i < n:
            ax.imshow(_as_image(x[i]), cmap="gray", vmin=lo, vmax=hi)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def latent_scatter(z: np.ndarray, labels: np.ndarray | None = None, title: str = "latent space"):
    """2-D scatter of codes coloured by label; codes with more dimensions are shown by their PCA projection."""
    method = "latent dims 1-2"
    if z.shape[1] > 2:
        zc = z - z.mean(0)
        _, _, vt = np.linalg.svd(zc, full_matrices=False)
        z = zc @ vt[:2].T
        method = "PCA projection of the latent space"
    elif z.shape[1] == 1:
        z = np.concatenate([z, np.zeros_like(z)], 1)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    labels = None if labels is None else np.asarray(labels)
    if labels is not None and np.issubdtype(labels.dtype, np.integer) and len(np.unique(labels)) <= 20:
        cmap = plt.get_cmap("tab10" if len(np.unique(labels)) <= 10 else "tab20")
        for i, lab in enumerate(np.unique(labels)):
            sel = labels == lab
            ax.scatter(z[sel, 0], z[sel, 1], s=6, alpha=0.8, color=cmap(i), label=str(lab))
        ax.legend(title="label", markerscale=3, fontsize=7, loc="best")
    elif labels is not None:
        sc = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="viridis", s=6, alpha=0.8)
        fig.colorbar(sc, ax=ax, label="label")
    else:
        ax.scatter(z[:, 0], z[:, 1], s=6, alpha=0.8)
    ax.set_xlabel("z1" if method.startswith("latent") else "PC 1")
    ax.set_ylabel("z2" if method.startswith("latent") else "PC 2")
    ax.set_title(f"{title} ({method})")
    return fig


def random_code_comparison(ae_images: np.ndarray, vae_images: np.ndarray, ncols: int = 16):
    """Two panels of decoded random latent vectors: an autoencoder's and a VAE's (from its prior)."""
    n = min(ncols, len(ae_images), len(vae_images))
    rows = 2 if min(len(ae_images), len(vae_images)) >= 2 * n else 1
    fig, axes = plt.subplots(2 * rows, n, figsize=(0.75 * n, 0.8 * 2 * rows + 0.9), squeeze=False)
    for block, (images, name) in enumerate([(ae_images, "autoencoder"), (vae_images, "VAE")]):
        for r in range(rows):
            for c in range(n):
                ax = axes[block * rows + r][c]
                ax.imshow(_as_image(images[r * n + c]), cmap="gray", vmin=0, vmax=float(np.max(images)))
                ax.set_xticks([])
                ax.set_yticks([])
            axes[block * rows][0].set_ylabel(name, fontsize=8)
    fig.suptitle("the same random latent vectors z ~ N(0, I) through an autoencoder's decoder (top) and a "
                 "VAE's decoder (bottom)", fontsize=8)
    return fig
