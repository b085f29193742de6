"""Defaults chosen from the user's data for what the user did not set, and said out loud.

- Real-valued data (images with negative values or non-integer values beyond [0, 1]; tables with anything but
  0 / 1 values) gets a loss or likelihood that fits it: squared error with an identity output for autoencoders,
  a Gaussian with one learned sigma for VAEs, and per-feature standard scaling; a BCE loss or Bernoulli
  likelihood needs data in [0, 1] and is kept for images, grey levels and binary tables (scaled to [0, 1] by
  min-max, held-out rows clipped to it).
- Tables that stay on a [0, 1] scale (GANs, binary data) are scaled per column (minmax-feature), so a narrow
  column is not squeezed to a constant by a wide one.
- Denoising models get widths that fit the input (hidden 512,256 and a 64-d code for MNIST-sized images).
- Epochs: about 1500 optimiser steps, between 20 and 100 epochs (early stopping still applies).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..catalog import ModelSpec
from ..data.scaling import SCALINGS
from ..models.likelihoods import LIKELIHOODS
from ..objectives.autoencoder import RECONSTRUCTION_LOSSES, DenoisingObjective, ReconstructionObjective
from ..training.config import TrainConfig

TARGET_STEPS = 1500
EPOCH_RANGE = (20, 100)


def _all_in(x: np.ndarray, test, rows: int = 65536) -> bool:
    """``test(chunk)`` holds for every chunk of rows: checks every value without a full-size temporary."""
    flat = x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(-1, 1)
    return all(bool(test(flat[i:i + rows])) for i in range(0, len(flat), rows))


def is_real_valued(x: np.ndarray, *, whole_numbers: bool = False) -> bool:
    """True for data that is not intensities. Images (N, C, H, W): negative values, or values beyond [0, 1] that
    are not whole numbers (grey levels and counts are whole). Vectors (N, D), i.e. tables: anything but 0 / 1
    values, since a column in [0, 1] is a measurement with its own units, not a pixel's intensity. Every value is
    checked (a strided subsample can miss the one non-integer column); ``whole_numbers``: the values came as
    integers (``ArrayDataset.whole_numbers``), so that test is known."""
    lo, hi = float(np.min(x)), float(np.max(x))
    if lo < 0:
        return True
    if x.ndim <= 2:
        return not (hi <= 1 and _all_in(x, lambda c: np.all((c == 0) | (c == 1))))
    if hi <= 1 or whole_numbers:
        return False
    return not _all_in(x, lambda c: np.all(c == np.round(c)))


def choose(spec: ModelSpec, x: np.ndarray, n_train: int, given: set[str], train_config: TrainConfig, *,
           whole_numbers: bool = False) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(model / objective options, TrainConfig values, notes) for the settings not in ``given``.
    ``whole_numbers``: the data came as integers (``ArrayDataset.whole_numbers``)."""
    options: dict[str, Any] = {}
    train: dict[str, Any] = {}
    names = spec.option_names()

    def default(name):
        return spec.default(name)

    # what real-valued data would change; the data are looked at only when something would
    real_options: dict[str, Any] = {}
    if (issubclass(spec.objective_class, ReconstructionObjective) and "loss" not in given
            and RECONSTRUCTION_LOSSES.get(default("loss")).on_logits):
        real_options["loss"] = "mse"
        if "output" in names and "output" not in given:
            real_options["output"] = "identity"
    if "likelihood" in names and "likelihood" not in given and LIKELIHOODS.get(default("likelihood")).unit_range:
        real_options["likelihood"] = "gaussian-shared"
    if "clip" in names and "clip" not in given:
        real_options["clip"] = False  # corrupted inputs of standardised data are not confined to [0, 1]
    if real_options and is_real_valued(x, whole_numbers=whole_numbers):
        options.update(real_options)
        if "scaling" not in given and "scaling" not in spec.train_defaults:
            train["scaling"] = "standard"
    if (x.ndim == 2 and "scaling" not in given and "scaling" not in spec.train_defaults and "scaling" not in train
            and SCALINGS.get(train_config.scaling).per_feature_kind and x.shape[1] > 1):
        # a table's columns keep their own ranges (a GAN's [0, 1] output)
        train["scaling"] = SCALINGS.get(train_config.scaling).per_feature_kind
    if issubclass(spec.objective_class, DenoisingObjective) and x.ndim > 1:
        d = int(np.prod(x.shape[1:]))
        if "hidden" in names and "hidden" not in given:
            h1 = int(min(512, max(32, 2 ** round(math.log2(max(d * 0.66, 1))))))
            options["hidden"] = (h1, max(h1 // 2, 16))
        if "latent_dim" in names and "latent_dim" not in given:
            options["latent_dim"] = int(min(64, max(8, d // 12)))
    if "epochs" not in given:
        batch = train_config.batch_size
        steps = max(1, math.ceil(n_train / batch))
        train["epochs"] = int(min(EPOCH_RANGE[1], max(EPOCH_RANGE[0], round(TARGET_STEPS / steps))))
    notes = [f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in {**options, **train}.items()]
    return options, train, notes
