"""First-layer filters of a network that reads whole images with a fully connected layer (an MLP autoencoder's
encoder, a denoising autoencoder's): each unit's weights drawn as an image patch, and how localised they are.

Vincent, Larochelle, Bengio & Manzagol (2008, "Extracting and composing robust features with denoising
autoencoders", figure 3): with more input corruption the filters of a denoising autoencoder turn from noise-like
global patterns into local stroke and blob detectors.

Localisation of a filter w over pixels p: the share of its energy sum_p (w_p s_p)^2 (summed over channels) inside
a disc of radius ``RADIUS`` x min(H, W) around its energy centroid, with s_p the pixel's standard deviation in the
data (what pixel p contributes to the unit's input variance; weights on pixels that never vary, such as MNIST's
empty border, keep their random initial values and say nothing about the filter). A filter spread evenly over a
28 x 28 image scores about 0.09 (the disc's share of the area); a local detector close to 1.
"""

from __future__ import annotations

import math

import numpy as np
from torch import nn

#: radius of the localisation disc as a fraction of the image's shorter side (28 x 28: 4.7 pixels)
RADIUS = 1 / 6


def first_layer_filters(model: nn.Module) -> np.ndarray | None:
    """Weights (K, C, H, W) of the first layer of the network that reads the data (an autoencoder's or VAE's
    ``encoder``, else a GAN's ``discriminator``) when that layer is fully connected over the whole image (C, H, W)
    (a condition appended to the input is left out); None otherwise (a convolutional first layer, vector data)."""
    shape = tuple(getattr(model, "input_shape", ()))
    if len(shape) != 3:
        return None
    d = math.prod(shape)
    for part in ("encoder", "discriminator"):
        net = getattr(model, part, None)
        if not isinstance(net, nn.Module):
            continue
        first = next((m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))), None)
        if isinstance(first, nn.Linear) and first.in_features >= d:
            return first.weight.detach()[:, :d].float().cpu().numpy().reshape(-1, *shape)
        return None
    return None


def localisation(filters: np.ndarray, pixel_std: np.ndarray | None = None, radius: float = RADIUS) -> np.ndarray:
    """Per filter (K, C, H, W) -> (K,): the share of its energy within ``radius`` x min(H, W) pixels of its energy
    centroid (0-1; larger = more localised). ``pixel_std`` (C, H, W): the data's standard deviation per pixel,
    weighting each weight by how much its pixel varies (None: the bare weights)."""
    f = np.asarray(filters, np.float64)
    if pixel_std is not None:
        f = f * np.asarray(pixel_std, np.float64)[None]
    energy = (f ** 2).sum(1)  # (K, H, W)
    k, h, w = energy.shape
    total = energy.reshape(k, -1).sum(1)
    yy, xx = np.mgrid[0:h, 0:w]
    safe = np.where(total > 0, total, 1.0)
    cy = (energy * yy).reshape(k, -1).sum(1) / safe
    cx = (energy * xx).reshape(k, -1).sum(1) / safe
    inside = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2 <= (radius * min(h, w)) ** 2
    return np.where(total > 0, (energy * inside).reshape(k, -1).sum(1) / safe, 0.0)


def strongest(filters: np.ndarray, n: int = 64) -> np.ndarray:
    """The ``n`` filters with the largest weight norm (K, C, H, W) -> (min(n, K), C, H, W), strongest first."""
    norms = np.sqrt((np.asarray(filters) ** 2).reshape(len(filters), -1).sum(1))
    return filters[np.argsort(-norms)[:n]]


def filter_mosaic(filters: np.ndarray, ncols: int = 8, pad: int = 1) -> np.ndarray:
    """Filters (K, C, H, W) as one 2-D picture: each patch scaled to its own max |w| (0 at mid-grey), the
    channels averaged; padding NaN (drawn as background)."""
    f = np.asarray(filters, np.float64).mean(1)  # (K, H, W)
    k, h, w = f.shape
    scale = np.abs(f).reshape(k, -1).max(1)
    f = 0.5 + 0.5 * f / np.where(scale > 0, scale, 1.0)[:, None, None]
    rows = int(math.ceil(k / ncols))
    out = np.full((rows * (h + pad) - pad, ncols * (w + pad) - pad), np.nan)
    for i in range(k):
        r, c = divmod(i, ncols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = f[i]
    return out


def filters_figure(panels: dict[str, np.ndarray], ncols: int = 8, pixel_std: np.ndarray | None = None):
    """One panel per named filter set (title -> (K, C, H, W)), side by side, each titled with its median
    localisation (weighted by ``pixel_std``, see ``localisation``)."""
    import matplotlib.pyplot as plt

    rows = max(int(math.ceil(len(f) / ncols)) for f in panels.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 0.45 * rows + 1.2), squeeze=False)
    cmap = plt.get_cmap("gray").with_extremes(bad="#d8d8d8")
    for ax, (title, filters) in zip(axes[0], panels.items()):
        ax.imshow(filter_mosaic(filters, ncols), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{title}\nmedian localisation of these {len(filters)}: "
                     f"{np.median(localisation(filters, pixel_std)):.3f}", fontsize=9)
        ax.axis("off")
    fig.suptitle("first-layer filters (one hidden unit's weights per patch; grey = 0)", fontsize=9)
    fig.tight_layout()
    return fig


def filters_summary(model: nn.Module, pixel_std: np.ndarray | None = None) -> dict | None:
    """Number of first-layer filters and their localisation (median, and of the 64 strongest); None without."""
    f = first_layer_filters(model)
    if f is None:
        return None
    return {"n_filters": int(len(f)), "localisation_median": float(np.median(localisation(f, pixel_std))),
            "localisation_median_strongest_64": float(np.median(localisation(strongest(f), pixel_std)))}

