"""Figures of the shower validation: histograms of observables (reference against generated) and the
separation power of each per-layer observable along the depth of the calorimeter."""

from __future__ import annotations

import numpy as np

from .validation import PER_LAYER, hist_pair, observables, separation_power, voxel_values

#: units of the observables, by name prefix, for axis labels ({unit}: the data's energy unit)
_UNITS = {"E_total/E_inc": "", "E_layer": "{unit}", "centre": "mm", "width": "mm", "sparsity": "fraction"}


def observable_label(name: str, unit: str) -> str:
    """An observable's axis label with its unit (energies in ``unit``, positions and widths in mm)."""
    for prefix, u in _UNITS.items():
        if name.startswith(prefix):
            u = u.format(unit=unit)
            return f"{name} ({u})" if u else name
    return name


def default_names(geometry) -> list[str]:
    """E_total / E_inc and the per-layer observables of at most three layers (first, middle, last)."""
    layers = geometry.layers
    picked = sorted({0, len(layers) // 2, len(layers) - 1})
    return ["E_total/E_inc"] + [f"{kind}_layer{layers[k].id}" if kind != "E_layer" else f"E_layer{layers[k].id}"
                                for k in picked for kind in PER_LAYER]


def histogram_figure(ref: dict, gen: dict, names: list[str] | None = None):
    """Normalised histograms of observables, reference against generated, each titled with its separation power,
    and the voxel-energy spectrum (``ref`` carries ``geometry`` and ``energy_unit``)."""
    import matplotlib.pyplot as plt

    g, unit = ref["geometry"], ref.get("energy_unit", "GeV")
    o_ref = observables(ref["showers"], ref["incident_energies"], g)
    o_gen = observables(gen["showers"], gen["incident_energies"], g)
    names = names or default_names(g)
    cols = 4
    rows = int(np.ceil((len(names) + 1) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.5 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        h1, h2, edges = hist_pair(o_ref[name], o_gen[name])
        ax.stairs(h1 / max(h1.sum(), 1), edges, label="reference")
        ax.stairs(h2 / max(h2.sum(), 1), edges, label="generated")
        ax.set_title(f"S = {separation_power(h1, h2):.3f}", fontsize=8)
        ax.set_xlabel(observable_label(name, unit), fontsize=7)
        ax.set_ylabel("fraction of showers", fontsize=7)
        ax.tick_params(labelsize=6)
    ax = axes.flat[len(names)]
    h1, h2, edges = hist_pair(voxel_values(ref["showers"]), voxel_values(gen["showers"]), log=True)
    ax.stairs(h1 / h1.sum(), edges, label="reference")
    ax.stairs(h2 / h2.sum(), edges, label="generated")
    ax.set_title(f"S = {separation_power(h1, h2):.3f}", fontsize=8)
    ax.set_xlabel(f"log10 voxel energy ({unit})", fontsize=7)
    ax.set_ylabel("fraction of voxels", fontsize=7)
    ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(names) + 1:]:
        ax.axis("off")
    fig.suptitle(f"{g.name}: reference vs generated", fontsize=9)
    fig.tight_layout()
    return fig


def layer_profile_figure(separation: dict[str, float], geometry):
    """Separation power of each per-layer observable against the layer id (log scale)."""
    import matplotlib.pyplot as plt

    ids = [layer.id for layer in geometry.layers]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for kind in PER_LAYER:
        s = [separation.get(f"{kind}{i}" if kind == "E_layer" else f"{kind}_layer{i}", np.nan) for i in ids]
        ax.plot(ids, np.maximum(s, 1e-5), marker="o", ms=3, label=kind)
    ax.set_yscale("log")
    ax.set_xlabel("layer id")
    ax.set_ylabel("separation power S")
    ax.set_title(f"{geometry.name}: per-layer observables", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
