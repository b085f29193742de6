"""Plots: functions return matplotlib figures; ``save_figure`` writes a PNG (headless, atomic)."""

from __future__ import annotations

import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..data.arrays import is_categorical  # noqa: E402
from ..io import atomic_write_bytes  # noqa: E402


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> None:
    """Write a matplotlib figure as a PNG (atomically) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def loss_curve(history: list[dict], ylabel: str = "loss per example"):
    """Per-epoch training (and validation) loss per example against the epoch; ``ylabel`` says what the loss is
    (``run_plots.loss_axis_label``: -ELBO in nats per example for a VAE)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    epochs = [r["epoch"] for r in history]
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        if history and key in history[0]:
            ax.plot(epochs, [r[key] for r in history], marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
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
    if first.ndim == 4:  # one picture, one row per entry, on the first row's grey scale
        stacked = np.concatenate([np.asarray(rows[name][:n], np.float32) for name in names])
        return image_grid(stacked, n, title, row_labels=names, value_range=(float(first.min()), float(first.max())))
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


def mosaic(x: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
    """Images (N, C, H, W) -> one (rows*(H+pad), cols*(W+pad)[, 3]) array, blank cells at the end: grey for one
    band, and for two bands their first; the first three bands as colours for three or more."""
    n, c, h, w = x.shape
    rows = int(np.ceil(n / ncols))
    out = np.full((rows * (h + pad) + pad, ncols * (w + pad) + pad, c), np.nan, dtype=np.float32)
    for i in range(n):
        r, k = divmod(i, ncols)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + k * (w + pad):pad + k * (w + pad) + w] = \
            np.moveaxis(x[i], 0, -1)
    return out[..., 0] if c < 3 else out[..., :3]


def image_grid(x: np.ndarray, ncols: int | None = None, title: str = "", *, row_labels=None, col_labels=None,
               value_range: tuple[float, float] | None = None):
    """Images (N, C, H, W) as one grid picture (a single imshow: fast for hundreds of images); ``row_labels`` /
    ``col_labels`` are written beside the rows / under the columns. Grey levels span ``value_range`` (data
    units; values beyond it saturate), by default the images' own minimum to maximum."""
    n = len(x)
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    lo, hi = value_range if value_range is not None else (float(np.min(x)), float(np.max(x)))
    m = np.clip(mosaic((np.asarray(x, np.float32) - lo) / max(hi - lo, 1e-12), ncols), 0, 1)  # gaps stay NaN
    rows = int(np.ceil(n / ncols))
    extra = 2.0 if row_labels is not None else 0.0
    scale = 0.75 if row_labels is not None or col_labels is not None else 0.55  # room for 9-point labels
    fig, ax = plt.subplots(figsize=(min(scale * ncols + 0.6 + extra, 16), min(scale * rows + 0.8, 14)))
    cmap = plt.get_cmap("gray").with_extremes(bad="#d8d8d8")
    ax.imshow(m, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    h, w = x.shape[-2] + 1, x.shape[-1] + 1  # cell size with its one-pixel gap
    for r, label in enumerate(row_labels or []):
        ax.text(-1, r * h + h / 2, label, ha="right", va="center", fontsize=9)
    for c, label in enumerate(col_labels or []):
        ax.text(c * w + w / 2, rows * h + 1, label, ha="center", va="top", fontsize=9)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def profile_grid(x: np.ndarray, title: str = "", ncols: int = 4):
    """Examples that are vectors (N, D) (or any shape, flattened) as small line plots, one panel each."""
    x = np.asarray(x).reshape(len(x), -1)
    rows = int(np.ceil(len(x) / ncols))
    fig, axes = plt.subplots(rows, ncols, figsize=(2.6 * ncols, 1.6 * rows), squeeze=False, sharex=True)
    for ax, row in zip(axes.flat, x):
        ax.plot(row, lw=0.7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(x):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("feature index", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("value (data units)", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def project_2d(z: np.ndarray, method: str = "pca", seed: int = 0) -> tuple[np.ndarray, str]:
    """(N, d) -> (N, 2) and the method's name: the codes themselves for d <= 2, else PCA or t-SNE."""
    if z.shape[1] == 2:
        return z, "latent dimensions 1 and 2"
    if z.shape[1] == 1:
        return np.concatenate([z, np.zeros_like(z)], 1), "latent dimension 1"
    if method == "pca":
        zc = z - z.mean(0)
        _, s, vt = np.linalg.svd(zc, full_matrices=False)
        share = (s[:2] ** 2).sum() / (s ** 2).sum()
        return zc @ vt[:2].T, f"PCA projection, {share:.0%} of the variance"
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(2, random_state=seed, init="pca", perplexity=min(30, len(z) - 1)).fit_transform(z), "t-SNE"
    raise ValueError(f"unknown projection {method!r}; choose pca or tsne")


def latent_scatter(z: np.ndarray, labels: np.ndarray | None = None, title: str = "latent space",
                   method: str | None = None, label_name: str = "label"):
    """2-D scatter of codes coloured by label: classes (integers, text) get a legend (a colour per class, up to
    20 named), a continuous parameter a colour bar. Codes with more dimensions are shown by their PCA
    projection; with ``method`` the points are already 2-D (a projection of that name)."""
    if method is None:
        z, method = project_2d(z)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    labels = None if labels is None else np.asarray(labels)
    if labels is not None and is_categorical(labels):
        classes = np.unique(labels)
        cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        for i, lab in enumerate(classes):
            sel = labels == lab
            ax.scatter(z[sel, 0], z[sel, 1], s=6, alpha=0.8, color=cmap(i % cmap.N),
                       label=str(lab) if i < 20 else None)
        ax.legend(title=label_name + ("" if len(classes) <= 20 else f" (first 20 of {len(classes)})"),
                  markerscale=3, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    elif labels is not None:
        sc = ax.scatter(z[:, 0], z[:, 1], c=labels.astype(np.float64), cmap="viridis", s=6, alpha=0.8)
        fig.colorbar(sc, ax=ax, label=label_name)
    else:
        ax.scatter(z[:, 0], z[:, 1], s=6, alpha=0.8)
    ax.set_xlabel("z1" if method.startswith("latent") else f"{method.split(' ')[0]} 1")
    ax.set_ylabel("z2" if method.startswith("latent") else f"{method.split(' ')[0]} 2")
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


def gan_curves(history: list[dict]):
    """Three panels per epoch: both losses; mean D(x) and D(G(z)); discriminator accuracy and sample diversity."""
    ep = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for key, label in (("d_loss", "discriminator"), ("g_loss", "generator")):
        axes[0].plot(ep, [r.get(key, np.nan) for r in history], marker="o", ms=3, label=label)
    axes[0].set_title("losses")
    for key, label in (("d_real", "D(x)"), ("d_fake", "D(G(z))")):
        axes[1].plot(ep, [r.get(key, np.nan) for r in history], marker="o", ms=3, label=label)
    axes[1].set_title("discriminator outputs")
    axes[2].plot(ep, [r.get("d_acc", np.nan) for r in history], marker="o", ms=3, label="D accuracy")
    div = [r.get("diversity", np.nan) / max(r.get("diversity_real") or 1.0, 1e-12) for r in history]
    axes[2].plot(ep, div, marker="s", ms=3, label="sample diversity / real")
    axes[2].set_title("diagnostics")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def generator_loss_curves():
    """Why the non-saturating loss trains better: both generator losses and their slopes against D(G(z))."""
    d = np.linspace(1e-3, 1 - 1e-3, 400)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot(d, np.log(1 - d), label="minimax: minimise log(1 - D(G(z)))")
    axes[0].plot(d, -np.log(d), label="non-saturating: minimise -log D(G(z))")
    axes[0].set_ylabel("generator loss")
    # derivatives with respect to the discriminator's logit a, D = sigmoid(a)
    axes[1].plot(d, -d, label="minimax: d/da log(1 - sigmoid(a)) = -D")
    axes[1].plot(d, -(1 - d), label="non-saturating: d/da -log sigmoid(a) = -(1 - D)")
    axes[1].set_ylabel("gradient w.r.t. the logit")
    for ax in axes:
        ax.set_xlabel("D(G(z))")
        ax.axvspan(0, 0.1, color="grey", alpha=0.15)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_title("early in training D(G(z)) is near 0 (shaded) ...")
    axes[1].set_title("... where the minimax gradient vanishes")
    return fig
