"""Metrics, plots and reports."""

from .metrics import active_fraction, mse, psnr
from .plots import comparison_grid, image_grid, latent_scatter, loss_curve, save_figure

__all__ = ["active_fraction", "comparison_grid", "image_grid", "latent_scatter", "loss_curve", "mse", "psnr", "save_figure"]
