"""CaloChallenge-style validation of generated calorimeter showers against reference ones.

Observables per shower: energy per layer, E_total / E_inc, centre of energy (x, y) and its width per layer,
sparsity (fraction of empty cells) per layer; and the voxel-energy spectrum. Each is compared as two
histograms with the separation power S = 1/2 sum (h1 - h2)^2 / (h1 + h2) (0: identical, 1: disjoint).
A classifier (gradient-boosted trees on standardised features) trained to tell the two sets apart gives its
held-out AUC (0.5: indistinguishable). Response and resolution: mean and spread of E_total / E_inc in bins
of incident energy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.simulators.showers import LAYERS, layer_slices

BINS = 40


def separation_power(h1: np.ndarray, h2: np.ndarray) -> float:
    """S = 1/2 sum_i (h1_i - h2_i)^2 / (h1_i + h2_i) over normalised histograms (empty bins skipped)."""
    h1 = np.asarray(h1, np.float64)
    h2 = np.asarray(h2, np.float64)
    h1, h2 = h1 / h1.sum(), h2 / h2.sum()
    s = h1 + h2
    keep = s > 0
    return float(0.5 * np.sum((h1[keep] - h2[keep]) ** 2 / s[keep]))


def _centres(n: int, width: float) -> np.ndarray:
    return (np.arange(n) + 0.5) * width / n - width / 2


def observables(showers: np.ndarray, energies: np.ndarray) -> dict[str, np.ndarray]:
    """Per-shower observables (name -> (N,) array)."""
    showers = np.asarray(showers, np.float64)
    e_inc = np.asarray(energies, np.float64).reshape(-1)
    out: dict[str, np.ndarray] = {}
    total = showers.sum(1)
    out["E_total/E_inc"] = total / e_inc
    for k, (sl, (rows, cols, _, _)) in enumerate(zip(layer_slices(), LAYERS)):
        cells = showers[:, sl].reshape(len(showers), rows, cols)
        e_layer = cells.sum((1, 2))
        out[f"E_layer{k}"] = e_layer
        safe = np.where(e_layer > 0, e_layer, 1.0)
        xc, yc = _centres(cols, 480.0), _centres(rows, 480.0)
        ex = (cells.sum(1) * xc).sum(1) / safe
        ey = (cells.sum(2) * yc).sum(1) / safe
        out[f"centre_x_layer{k}"] = ex
        out[f"centre_y_layer{k}"] = ey
        out[f"width_x_layer{k}"] = np.sqrt(np.maximum((cells.sum(1) * xc ** 2).sum(1) / safe - ex ** 2, 0))
        out[f"sparsity_layer{k}"] = (cells.reshape(len(showers), -1) <= 1e-6).mean(1)
    return out


def _hist_pair(a: np.ndarray, b: np.ndarray, bins: int = BINS, log: bool = False):
    if log:
        a, b = np.log10(a[a > 1e-6]), np.log10(b[b > 1e-6])
    lo, hi = np.quantile(a, [0.001, 0.999]) if len(a) else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1e-6
    edges = np.linspace(lo, hi, bins + 1)
    ca, cb = np.clip(a, lo, hi), np.clip(b, lo, hi)
    return np.histogram(ca, edges)[0], np.histogram(cb, edges)[0], edges


def separation_table(ref: dict, gen: dict) -> dict[str, float]:
    """Separation power of every observable and of the voxel-energy spectrum (log10 of non-empty cells)."""
    out = {}
    o_ref = observables(ref["showers"], ref["incident_energies"])
    o_gen = observables(gen["showers"], gen["incident_energies"])
    for name in o_ref:
        h1, h2, _ = _hist_pair(o_ref[name], o_gen[name])
        out[name] = separation_power(h1, h2)
    h1, h2, _ = _hist_pair(np.asarray(ref["showers"]).ravel(), np.asarray(gen["showers"]).ravel(), log=True)
    out["voxel_energy"] = separation_power(h1, h2)
    return out


def classifier_auc(ref: np.ndarray, gen: np.ndarray, ref_e: np.ndarray, gen_e: np.ndarray, *, seed: int = 0) -> float:
    """Held-out AUC of gradient-boosted trees telling reference from generated showers (0.5 = cannot)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    def features(s, e):
        s = np.asarray(s, np.float64)
        e = np.asarray(e, np.float64).reshape(-1, 1)
        obs = observables(s, e)
        return np.concatenate([np.log10(s / e + 1e-7), np.log10(e), np.stack(list(obs.values()), 1)], 1)

    n = min(len(ref), len(gen))
    x = np.concatenate([features(ref[:n], ref_e[:n]), features(gen[:n], gen_e[:n])])
    x = (x - x.mean(0)) / (x.std(0) + 1e-12)
    y = np.concatenate([np.zeros(n), np.ones(n)])
    perm = np.random.default_rng(seed).permutation(2 * n)
    half = n
    tr, te = perm[:half], perm[half:]
    clf = HistGradientBoostingClassifier(max_iter=200, random_state=seed).fit(x[tr], y[tr])
    return float(roc_auc_score(y[te], clf.predict_proba(x[te])[:, 1]))


def response(data: dict, bins: int = 6) -> list[dict[str, float]]:
    """Mean and relative spread of E_total / E_inc in log-spaced bins of incident energy."""
    e = np.asarray(data["incident_energies"], np.float64).reshape(-1)
    r = np.asarray(data["showers"], np.float64).sum(1) / e
    edges = np.geomspace(e.min(), e.max() * 1.0001, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (e >= lo) & (e < hi)
        if sel.sum() >= 5:
            rows.append({"E_low": float(lo), "E_high": float(hi), "n": int(sel.sum()),
                         "response": float(r[sel].mean()), "resolution": float(r[sel].std() / r[sel].mean())})
    return rows


def validate(ref: dict, gen: dict, *, seed: int = 0) -> dict[str, Any]:
    """Separation power of every observable, the classifier AUC and the response / resolution of reference
    and generated showers (dicts with ``showers`` (N, cells) and ``incident_energies`` (N, 1))."""
    sep = separation_table(ref, gen)
    return {"separation_power": sep, "auc": classifier_auc(ref["showers"], gen["showers"], ref["incident_energies"],
                                                            gen["incident_energies"], seed=seed),
            "response_reference": response(ref), "response_generated": response(gen),
            "S_E_total_over_E_inc": sep["E_total/E_inc"]}


def histogram_figure(ref: dict, gen: dict, names: list[str] | None = None):
    """Normalised histograms of each observable, reference against generated, with its separation power."""
    import matplotlib.pyplot as plt

    o_ref = observables(ref["showers"], ref["incident_energies"])
    o_gen = observables(gen["showers"], gen["incident_energies"])
    names = names or list(o_ref)
    cols = 4
    rows = int(np.ceil((len(names) + 1) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        h1, h2, edges = _hist_pair(o_ref[name], o_gen[name])
        ax.stairs(h1 / max(h1.sum(), 1), edges, label="reference")
        ax.stairs(h2 / max(h2.sum(), 1), edges, label="generated")
        ax.set_title(f"{name}  S={separation_power(h1, h2):.3f}", fontsize=8)
        ax.tick_params(labelsize=6)
    ax = axes.flat[len(names)]
    h1, h2, edges = _hist_pair(np.asarray(ref["showers"]).ravel(), np.asarray(gen["showers"]).ravel(), log=True)
    ax.stairs(h1 / h1.sum(), edges, label="reference")
    ax.stairs(h2 / h2.sum(), edges, label="generated")
    ax.set_title(f"log10 voxel energy  S={separation_power(h1, h2):.3f}", fontsize=8)
    ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(names) + 1:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def shower_validation(run, ds, *, seed: int = 0) -> dict[str, Any]:
    """CaloChallenge-style comparison of ``run``'s generated showers with the reference showers of ``ds`` (rows
    of a shower file) at the same incident energies."""
    from ..data.simulators import read_showers

    ref = read_showers(ds.source)
    index = ds.info.get("index", np.arange(len(ds)))
    ref = {k: v[index] for k, v in ref.items()}
    cond = ds.cond if run.conditional else None
    gen = {"showers": run.sample(len(ds), cond, seed=seed), "incident_energies": ref["incident_energies"]}
    return validate(ref, gen, seed=seed)
