"""Metrics on arrays (numpy in, floats out)."""

from ..objectives.measures import active_fraction, mse, psnr

__all__ = ["active_fraction", "mse", "psnr"]
