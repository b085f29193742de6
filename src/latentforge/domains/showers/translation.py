"""A translator's work on showers (``analysis.hooks.TRANSLATION_MEASURES``): the separation power S of every
CaloChallenge observable (``validation``) between the target domain and the source before and after
translation, the shower classifier's AUC before and after, the correlation of each shower's total energy before
and after (1: the translation keeps which shower is which), and the before / after picture."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...data import ArrayDataset
from ...errors import DataError
from .files import is_shower_file, read_showers
from .validation import classifier_auc_with_error, observables, separation_power, separation_table

#: the observables drawn in the before / after picture of showers
SHOWN = ("E_total/E_inc", "E_layer1", "sparsity_layer1", "width_x_layer1")


def concerns(source: ArrayDataset, target: ArrayDataset) -> bool:
    """Both data sets are shower files."""
    return is_shower_file(source.source) and is_shower_file(target.source)


def _energies(ds: ArrayDataset) -> np.ndarray:
    """Incident energies (N, 1) of the shower-file rows ``ds`` holds."""
    e = read_showers(ds.source)["incident_energies"]
    return e[ds.info["index"]] if "index" in ds.info else e


def _geometry(target: ArrayDataset):
    """The shower geometry of the target domain's file (DataError when it has none)."""
    if target.info.get("geometry") is not None:  # read with the data (layout.py)
        return target.info["geometry"]
    found = read_showers(target.source)
    if found["geometry"] is None:
        raise DataError(f"{target.source}: {found['geometry_missing']}")
    return found["geometry"]


def measure(source: ArrayDataset, target: ArrayDataset, moved: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """``separation_power`` (observable -> {"before", "after"}), the classifier AUCs before / after with their
    errors, and ``total_energy_correlation``."""
    out: dict[str, Any] = {}
    e_src, e_tgt = _energies(source), _energies(target)
    geometry = _geometry(target)
    ref = {"showers": target.x, "incident_energies": e_tgt}
    before = separation_table(ref, {"showers": source.x, "incident_energies": e_src}, geometry)
    after = separation_table(ref, {"showers": moved, "incident_energies": e_src}, geometry)
    out["separation_power"] = {k: {"before": before[k], "after": after[k]} for k in before}
    out["auc_before"], out["auc_before_err"], _ = classifier_auc_with_error(target.x, source.x, e_tgt, e_src,
                                                                            geometry, seed=seed)
    out["auc_after"], out["auc_after_err"], _ = classifier_auc_with_error(target.x, moved, e_tgt, e_src,
                                                                          geometry, seed=seed)
    out["total_energy_correlation"] = float(np.corrcoef(source.x.sum(1), moved.sum(1))[0, 1])
    return out


def _figure(source: np.ndarray, moved: np.ndarray, target: np.ndarray, e_src: np.ndarray,
                       e_tgt: np.ndarray, geometry, title: str = "", unit: str = "GeV"):
    """Histograms of a few shower observables: target domain, source before and after translation, each panel
    titled with S before -> after."""
    import matplotlib.pyplot as plt

    from .figures import observable_label

    o_t, o_s, o_m = (observables(s, e, geometry) for s, e in ((target, e_tgt), (source, e_src), (moved, e_src)))
    fig, axes = plt.subplots(1, len(SHOWN), figsize=(3.3 * len(SHOWN), 2.9))
    for ax, name in zip(axes, SHOWN):
        lo, hi = np.quantile(np.concatenate([o_t[name], o_s[name]]), [0.002, 0.998])
        edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, 41)
        hists = [np.histogram(np.clip(o[name], lo, hi), edges)[0] for o in (o_t, o_s, o_m)]
        for h, label, style in zip(hists, ("target domain", "source", "translated"), ("-", ":", "--")):
            ax.stairs(h / max(h.sum(), 1), edges, label=label, linestyle=style)
        ax.set_title(f"{name}\nS {separation_power(hists[0], hists[1]):.3f} -> "
                     f"{separation_power(hists[0], hists[2]):.3f}", fontsize=8)
        ax.set_xlabel(observable_label(name, unit), fontsize=7)
        ax.set_ylabel("fraction of showers", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def figure(source: ArrayDataset, target: ArrayDataset, moved: np.ndarray, *, title: str = ""):
    """The before / after histograms of ``SHOWN`` in the target file's energy unit."""
    unit = target.info.get("energy_unit") or read_showers(target.source)["energy_unit"]
    return _figure(source.x, moved, target.x, _energies(source), _energies(target), _geometry(target), title=title,
                   unit=unit)
