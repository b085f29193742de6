"""Showers as a data kind: the energy unit of a run's cells, and mean layer images in it
(``analysis.hooks.DATA_KINDS``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...analysis.columns import data_info


def energy_unit(run, ds) -> str:
    """The energy unit of a shower file's cells (the run generates in its training file's unit)."""
    return str(run.data_info.get("energy_unit") or data_info(run, ds).get("energy_unit") or "GeV")


def detects(run, ds) -> bool:
    """Showers: the data carry a calorimeter geometry, or the run was trained on cells with an energy unit."""
    return data_info(run, ds).get("geometry") is not None or "energy_unit" in run.data_info


def reconstructions(run, ds, *, seed: int = 0, what: str = "held-out") -> list[tuple[Any, str]] | None:
    """Mean layer images of at most 2000 showers of ``ds`` and of their reconstructions; None without a
    geometry."""
    if ds.info.get("geometry") is None:
        return None
    from .report import layer_images_figure

    shown = ds.subset(np.arange(min(len(ds), 2000)))
    fig = layer_images_figure(shown.x, run.reconstruct(shown), ds.info["geometry"], energy_unit(run, ds),
                              names=("input", "reconstruction"))
    return [(fig, f"mean layer images of {len(shown)} {what} showers (top) and of their reconstructions")]


def samples(run, x: np.ndarray, ds, *, title: str = ""):
    """Mean layer images of the data ``ds`` and of generated showers ``x``; None without data or geometry."""
    if ds is None or ds.info.get("geometry") is None:
        return None
    from .report import layer_images_figure

    return layer_images_figure(ds.x, x, ds.info["geometry"], energy_unit(run, ds), names=("data", "generated"))
