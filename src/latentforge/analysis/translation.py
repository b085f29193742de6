"""How well a translator (a CycleGAN) moves data from one domain into the other, and how much of each example it
keeps on the way:

- ``auc_before`` / ``auc_after``: held-out AUC of a classifier telling the target domain from the source data as
  they are, and from their translations (0.5: indistinguishable), each with its bootstrap standard error
  (``_err``) over the scored rows, beside ``n_source`` and ``n_target``;
- for calorimeter showers, the separation power S of every CaloChallenge observable (``analysis.showers``)
  between the target domain and the source before and after translation, and the correlation of each shower's
  total energy before and after (1: the translation keeps which shower is which);
- ``cycle_error``: mean |F(G(x)) - x| in the model's scaled space ([0, 1]) and, relative to the mean |x|, in raw
  units: what the round trip loses;
- ``two_sample``: the project's classifier two-sample test of every generating model (``analysis.fidelity``:
  k-fold AUC of translated vs target rows in the model's scaled space, with the floor the same classifier reaches
  on two halves of the target rows), so that a translation's AUC reads like any generator's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import ArrayDataset
from ..domains.showers.files import is_shower_file, read_showers
from ..domains.showers.validation import classifier_auc_with_error, observables, separation_power, separation_table

#: the observables drawn in the before / after picture of showers
SHOWN = ("E_total/E_inc", "E_layer1", "sparsity_layer1", "width_x_layer1")
OTHER = {"a_to_b": "b_to_a", "b_to_a": "a_to_b"}


def domain_auc(source: np.ndarray, target: np.ndarray, *, seed: int = 0) -> tuple[float, float]:
    """Held-out AUC of gradient-boosted trees telling ``target`` rows from ``source`` rows (flattened values;
    half of the rows train, half test) and its bootstrap standard error over the scored rows."""
    from .metrics import held_out_auc

    n = min(len(source), len(target))
    x = np.concatenate([np.asarray(source[:n]).reshape(n, -1), np.asarray(target[:n]).reshape(n, -1)]).astype(np.float64)
    y = np.concatenate([np.zeros(n), np.ones(n)])
    return held_out_auc(x, y, seed=seed)


def _energies(ds: ArrayDataset) -> np.ndarray:
    """Incident energies (N, 1) of the shower-file rows ``ds`` holds."""
    e = read_showers(ds.source)["incident_energies"]
    return e[ds.info["index"]] if "index" in ds.info else e


def _geometry(target: ArrayDataset):
    """The shower geometry of the target domain's file (DataError when it has none)."""
    from ..errors import DataError

    if target.info.get("geometry") is not None:  # read with the data (data/layouts.py)
        return target.info["geometry"]
    found = read_showers(target.source)
    if found["geometry"] is None:
        raise DataError(f"{target.source}: {found['geometry_missing']}")
    return found["geometry"]


def translation_report(run, source: ArrayDataset, target: ArrayDataset, *, direction: str = "a_to_b",
                       seed: int = 0) -> dict[str, Any]:
    """Translate ``source`` rows with ``run`` (``a_to_b``: source from the ``--data`` domain, target from the
    ``--data-b`` one) and compare with ``target`` rows (raw units). Returns the numbers described in the module
    docstring; ``separation_power`` maps each shower observable to {"before", "after"}."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "openmp"):  # the tree classifiers' OpenMP threads crawl on a shared, busy CPU
        return _report(run, source, target, direction, seed)


def _report(run, source: ArrayDataset, target: ArrayDataset, direction: str, seed: int) -> dict[str, Any]:
    from .quality import check_rows

    check_rows(len(source), len(target), "the translation's classifier AUC", ("source", "target"))
    moved = run.translate(source, direction)
    back = run.translate(moved, OTHER[direction])
    def scaled(x):
        return run.preprocess.to_model_space(x).numpy()

    out: dict[str, Any] = {
        "direction": direction, "n_source": len(source), "n_target": len(target),
        "cycle_error": float(np.abs(scaled(back) - scaled(source)).mean()),
        "cycle_error_raw_relative": float(np.abs(back - source.x).mean() / max(np.abs(source.x).mean(), 1e-30)),
    }
    if is_shower_file(source.source) and is_shower_file(target.source):
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
    else:
        out["auc_before"], out["auc_before_err"] = domain_auc(source.x, target.x, seed=seed)
        out["auc_after"], out["auc_after_err"] = domain_auc(moved, target.x, seed=seed)
    from ..errors import DataError
    from .fidelity import fidelity_words, two_sample_test

    out["in_words"] = [
        f"classifier AUC, target rows vs source rows: {out['auc_before']:.3f} +- {out['auc_before_err']:.3f} before "
        f"translation, {out['auc_after']:.3f} +- {out['auc_after_err']:.3f} after (0.5: indistinguishable; "
        f"{len(source)} source, {len(target)} target rows); cycle error {out['cycle_error']:.3g} (scaled space, "
        f"mean |F(G(x)) - x|), {100 * out['cycle_error_raw_relative']:.1f} % of the mean |x| in data units"]
    try:
        two = two_sample_test(scaled(target.x), scaled(moved), seed=seed)
    except DataError as e:  # too few rows for the k-fold test: said, not left out quietly
        out["two_sample_skipped"] = str(e)
        out["in_words"].append("two-sample test not computed: " + str(e))
        return out
    two["in_words"] = [w.replace("generated vs real rows", "translated vs target rows")
                       .replace("(real vs real)", "(target vs target)") for w in fidelity_words(two)]
    out["two_sample"] = two
    out["in_words"] += two["in_words"]
    return out


def translation_figure(source: np.ndarray, moved: np.ndarray, target: np.ndarray, e_src: np.ndarray,
                       e_tgt: np.ndarray, geometry, title: str = "", unit: str = "GeV"):
    """Histograms of a few shower observables: target domain, source before and after translation, each panel
    titled with S before -> after."""
    import matplotlib.pyplot as plt

    from ..domains.showers.figures import observable_label

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


def translation_validation(run, full: ArrayDataset, split: str, *, seed: int = 0) -> dict[str, Any]:
    """``evaluate``'s translation numbers: ``split`` of the evaluated data (domain A) against the same seeded
    split of the run's second data set (re-read from where training found it); the before / after picture of
    shower observables goes into the run directory (``translation.png``)."""
    from ..io import RunLayout
    from .plots import save_figure

    source = run.select(full, split)
    target = run.select(run.data_info["data_b"]["source"], split)
    out = translation_report(run, source, target, seed=seed)
    if run.run_dir is not None and "separation_power" in out:
        path = RunLayout(run.run_dir).translation_plot
        save_figure(translation_figure(source.x, run.translate(source), target.x, _energies(source),
                                       _energies(target), _geometry(target), title=f"{run.name}: {split} split",
                                       unit=target.info.get("energy_unit") or read_showers(target.source)["energy_unit"]),
                    path)
        out["figure"] = str(path)
    return out
