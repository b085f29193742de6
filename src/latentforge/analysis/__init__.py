"""Metrics, plots and reports. The names below load on first use, so that a science domain can register its
hooks (``analysis.hooks``, ``analysis.validations``) without loading the plotting code."""

from __future__ import annotations

import importlib
from typing import Any

_FROM = {"active_fraction": "metrics", "mse": "metrics", "psnr": "metrics", "comparison_grid": "plots",
         "image_grid": "plots", "latent_scatter": "plots", "loss_curve": "plots", "save_figure": "plots"}

__all__ = ["active_fraction", "comparison_grid", "image_grid", "latent_scatter", "loss_curve", "mse", "psnr", "save_figure"]


def __getattr__(name: str) -> Any:
    if name in _FROM:
        return getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
