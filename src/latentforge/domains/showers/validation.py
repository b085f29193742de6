"""CaloChallenge-style validation of generated calorimeter showers against reference ones, for any geometry.

Observables per shower, computed from the geometry (``geometry``; layer ids are those of the geometry):
E_total / E_inc, the energy of each layer, the centre of energy (x, y) and its width per layer in the geometry's
own transverse coordinates (mm; x = r cos alpha, y = r sin alpha for ring-and-sector layers, the CaloChallenge
convention), the sparsity per layer (fraction of empty cells), and the voxel-energy spectrum (log10 of the
non-empty cells, in the file's energy unit). Each is compared as two histograms with the separation power S = 1/2
sum (h1 - h2)^2 / (h1 + h2) (0: identical, 1: disjoint; CaloChallenge, arXiv 2410.21611). Classifiers trained to
tell the two sets apart give their k-fold held-out AUCs beside their floors (0.5: indistinguishable;
``classifiers``: the project's gradient-boosted trees on standardised log features, and the CaloChallenge's
DNN on linear voxels and on its high-level features, ``calo_dnn``). Response and resolution: mean and relative
spread of E_total / E_inc in bins of incident energy; with a known sampling fraction f_s also the calibrated
response E_total / (f_s E_inc).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .geometry import PolarLayer, ShowerGeometry
from ...errors import DataError
from ...analysis.fidelity import separation_power  # the one formula (CaloChallenge), re-exported for the shower modules

BINS = 40
#: geometries with more cells give the classifier their energy per ring (or per row) and layer, not per voxel
MAX_VOXEL_FEATURES = 1000
#: at most this many non-empty cells enter the voxel-energy histograms (a seeded subset beyond)
MAX_VOXELS = 2_000_000
#: observables computed per layer
PER_LAYER = ("E_layer", "centre_x", "centre_y", "width_x", "width_y", "sparsity")




def observables(showers: np.ndarray, energies: np.ndarray, geometry: ShowerGeometry) -> dict[str, np.ndarray]:
    """Per-shower observables, name -> (N,) float64: ``E_total/E_inc``, then per non-empty layer ``E_layer{id}``
    (energy unit of the data), ``centre_x_layer{id}``, ``centre_y_layer{id}``, ``width_x_layer{id}``,
    ``width_y_layer{id}`` (mm; 0 for an empty layer) and ``sparsity_layer{id}`` (fraction of cells <= 0).
    ``showers`` (N, geometry.n_cells), ``energies`` (N, 1) or (N,) in the showers' unit; DataError on a mismatch."""
    parts = geometry.split(np.asarray(showers, np.float64))
    e_inc = np.asarray(energies, np.float64).reshape(-1)
    out: dict[str, np.ndarray] = {"E_total/E_inc": sum(p.sum(1) for p in parts) / e_inc}
    for layer, cells in zip(geometry.layers, parts):
        x, y = layer.centres()
        e_layer = cells.sum(1)
        safe = np.where(e_layer > 0, e_layer, 1.0)
        ex, ey = cells @ x / safe, cells @ y / safe
        out[f"E_layer{layer.id}"] = e_layer
        out[f"centre_x_layer{layer.id}"] = ex
        out[f"centre_y_layer{layer.id}"] = ey
        out[f"width_x_layer{layer.id}"] = np.sqrt(np.maximum(cells @ x ** 2 / safe - ex ** 2, 0))
        out[f"width_y_layer{layer.id}"] = np.sqrt(np.maximum(cells @ y ** 2 / safe - ey ** 2, 0))
        out[f"sparsity_layer{layer.id}"] = (cells <= 0).mean(1)
    return out


def hist_pair(a: np.ndarray, b: np.ndarray, bins: int = BINS, log: bool = False):
    """Two histograms of ``a`` and ``b`` on common edges spanning the 0.1-99.9 % quantiles of ``a`` (values
    beyond go to the end bins); ``log``: of log10 of the positive values. -> (h_a, h_b, edges)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if log:
        a, b = np.log10(a[a > 0]), np.log10(b[b > 0])
    lo, hi = np.quantile(a, [0.001, 0.999]) if len(a) else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5 * max(abs(lo), 1e-6), hi + 0.5 * max(abs(hi), 1e-6)
    edges = np.linspace(lo, hi, bins + 1)
    return np.histogram(np.clip(a, lo, hi), edges)[0], np.histogram(np.clip(b, lo, hi), edges)[0], edges


def voxel_values(showers: np.ndarray, seed: int = 0) -> np.ndarray:
    """The non-empty cell energies of a set of showers (at most MAX_VOXELS, a seeded subset beyond)."""
    v = np.asarray(showers).ravel()
    v = v[v > 0]
    if len(v) > MAX_VOXELS:
        v = v[np.random.default_rng(seed).choice(len(v), MAX_VOXELS, replace=False)]
    return v


def separation_table(ref: dict, gen: dict, geometry: ShowerGeometry) -> dict[str, float]:
    """Separation power of every observable and of the voxel-energy spectrum (``voxel_energy``)."""
    o_ref = observables(ref["showers"], ref["incident_energies"], geometry)
    o_gen = observables(gen["showers"], gen["incident_energies"], geometry)
    out = {name: separation_power(*hist_pair(o_ref[name], o_gen[name])[:2]) for name in o_ref}
    h1, h2, _ = hist_pair(voxel_values(ref["showers"]), voxel_values(gen["showers"]), log=True)
    out["voxel_energy"] = separation_power(h1, h2)
    return out


def classifier_features(showers: np.ndarray, energies: np.ndarray, geometry: ShowerGeometry) -> tuple[np.ndarray, str]:
    """Features of each shower for the classifier and their kind: log10 of every cell's share of E_inc (``voxels``)
    up to MAX_VOXEL_FEATURES cells, else of each ring's (or grid row's) energy per layer (``rings``); then
    log10 E_inc and every observable."""
    s = np.asarray(showers, np.float64)
    e = np.asarray(energies, np.float64).reshape(-1, 1)
    if geometry.n_cells <= MAX_VOXEL_FEATURES:
        cells, kind = s, "voxels"
    else:
        rings = []
        for layer, part in zip(geometry.layers, geometry.split(s)):
            if isinstance(layer, PolarLayer):
                rings.append(part.reshape(len(s), layer.n_alpha, layer.n_r).sum(1))
            else:
                rings.append(part.reshape(len(s), layer.rows, layer.cols).sum(2))
        cells, kind = np.concatenate(rings, 1), "rings"
    obs = observables(s, e, geometry)
    return np.concatenate([np.log10(cells / e + 1e-7), np.log10(e), np.stack(list(obs.values()), 1)], 1), kind


def classifier_auc(ref: np.ndarray, gen: np.ndarray, ref_e: np.ndarray, gen_e: np.ndarray,
                   geometry: ShowerGeometry, *, seed: int = 0) -> tuple[float, str]:
    """Held-out AUC of the project's classifier (``project_classifier``) telling reference from generated showers
    (0.5 = cannot) and the kind of features used."""
    auc, _, kind = classifier_auc_with_error(ref, gen, ref_e, gen_e, geometry, seed=seed)
    return auc, kind


def classifier_auc_with_error(ref: np.ndarray, gen: np.ndarray, ref_e: np.ndarray, gen_e: np.ndarray,
                              geometry: ShowerGeometry, *, seed: int = 0) -> tuple[float, float, str]:
    """``classifier_auc`` with its k-fold standard error: (auc, err, kind)."""
    r = project_classifier(ref, gen, ref_e, gen_e, geometry, seed=seed)
    return r["auc"], r["auc_err"], r["kind"]


def project_classifier(ref: np.ndarray, gen: np.ndarray, ref_e: np.ndarray, gen_e: np.ndarray,
                       geometry: ShowerGeometry, *, seed: int = 0, folds: int | None = None) -> dict[str, Any]:
    """The project's classifier test: gradient-boosted trees (``metrics.boosted_trees``, 200 trees) on
    ``classifier_features`` (standardised over both sets) telling ``gen`` (N, cells) from ``ref`` (M, cells) at
    incident energies ``gen_e`` / ``ref_e`` (one unit), the smaller count of each, by ``metrics.kfold_auc``:
    its dict (``auc`` the mean of the fold AUCs, ``auc_err`` their standard error, ...) and ``kind``."""
    from ...analysis.metrics import FOLDS, boosted_trees, kfold_auc

    n = min(len(ref), len(gen))
    fr, kind = classifier_features(ref[:n], ref_e[:n], geometry)
    fg, _ = classifier_features(gen[:n], gen_e[:n], geometry)
    x = np.concatenate([fr, fg])
    x = (x - x.mean(0)) / (x.std(0) + 1e-12)
    y = np.concatenate([np.zeros(n), np.ones(n)])
    folds = folds or FOLDS
    return {**kfold_auc(x, y, boosted_trees(seed=seed), folds=folds, seed=seed), "kind": kind}


def separation_errors(ref: dict, gen: dict, geometry: ShowerGeometry, *, n_boot: int = 50,
                      seed: int = 0) -> dict[str, float]:
    """Bootstrap standard error of every observable's separation power (showers of each set drawn with
    replacement ``n_boot`` times, the same draws for every observable; the histogram edges of the full sets
    kept): name -> standard error."""
    o_ref = observables(ref["showers"], ref["incident_energies"], geometry)
    o_gen = observables(gen["showers"], gen["incident_energies"], geometry)
    n_r, n_g = len(ref["showers"]), len(gen["showers"])
    rng = np.random.default_rng(seed)
    draws = [(rng.integers(0, n_r, n_r), rng.integers(0, n_g, n_g)) for _ in range(n_boot)]
    out = {}
    for name in o_ref:
        edges = hist_pair(o_ref[name], o_gen[name])[2]
        k = len(edges) - 1

        def bins(v):
            return np.clip(np.searchsorted(edges, np.clip(v, edges[0], edges[-1]), side="right") - 1, 0, k - 1)

        b_r, b_g = bins(o_ref[name]), bins(o_gen[name])
        values = [separation_power(np.bincount(b_r[i], minlength=k), np.bincount(b_g[j], minlength=k))
                  for i, j in draws]
        out[name] = float(np.std(values, ddof=1)) if n_boot > 1 else float("nan")
    return out


def response(data: dict, bins: int = 6) -> list[dict[str, Any]]:
    """Per log-spaced bin of incident energy (unit ``data["energy_unit"]``): n, the mean deposited fraction
    E_total / E_inc (``response``), its relative spread (``resolution``) and, when ``data`` states its
    ``sampling_fraction`` f_s, the calibrated response E_total / (f_s E_inc). Bins with < 5 showers are left out."""
    e = np.asarray(data["incident_energies"], np.float64).reshape(-1)
    r = np.asarray(data["showers"], np.float64).sum(1) / e
    fs = data.get("sampling_fraction")
    unit = data.get("energy_unit", "GeV")
    edges = np.geomspace(e.min(), e.max() * 1.0001, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (e >= lo) & (e < hi)
        if sel.sum() >= 5:
            row = {"E_low": float(lo), "E_high": float(hi), "unit": unit, "n": int(sel.sum()),
                   "response": float(r[sel].mean()), "resolution": float(r[sel].std() / r[sel].mean())}
            if fs:
                row["calibrated_response"] = float(r[sel].mean() / fs)
            rows.append(row)
    return rows


def validate(ref: dict, gen: dict, *, seed: int = 0, folds: int | None = None, dnn_epochs: int | None = None,
             floors: dict | None = None) -> dict[str, Any]:
    """Separation power of every observable, the classifier tests beside their floors (``classifiers``:
    the project's boosted trees and the CaloChallenge's low- and high-level DNNs, ``folds`` folds, the DNNs
    trained ``dnn_epochs`` epochs; the challenge's 5 and 50 by default) and the response / resolution of
    reference and generated showers (dicts with ``showers`` (N, cells) and ``incident_energies`` (N, 1) in one
    unit; the reference also gives ``geometry``, ``energy_unit`` and optionally ``sampling_fraction``). ``auc``,
    ``auc_err`` and ``auc_features`` are the project classifier's (``classifiers["project"]``). ``floors``: the
    ``classifiers`` of an earlier call on the same reference, whose floors are reused."""
    from .calo_dnn import EPOCHS
    from ...analysis.metrics import FOLDS
    from .classifiers import classifier_comparison

    geometry = ref["geometry"]
    gen = {**{k: ref.get(k) for k in ("energy_unit", "sampling_fraction")}, **gen}
    # a calorimeter cell reads no negative energy: a model with a Gaussian decoder (standard scaling) draws some,
    # which have no observable (log of a negative share, a negative width); they are read out as zero, and how
    # many there were is reported
    negative = float(np.mean(np.asarray(gen["showers"]) < 0))
    if negative:
        gen = {**gen, "showers": np.clip(gen["showers"], 0.0, None)}
    sep = separation_table(ref, gen, geometry)
    sep_err = separation_errors(ref, gen, geometry, seed=seed)
    classifiers = classifier_comparison(ref, gen, geometry, unit=ref.get("energy_unit") or "GeV", seed=seed,
                                        folds=folds or FOLDS, dnn_epochs=dnn_epochs or EPOCHS, floors=floors,
                                        project=project_classifier)
    project = classifiers.get("project") or {}
    worst = max((k for k in sep if k != "E_total/E_inc"), key=lambda k: sep[k])
    out = {"geometry": geometry.name, "n_cells": geometry.n_cells, "energy_unit": ref.get("energy_unit", "GeV"),
           "n_reference": int(len(ref["showers"])), "n_generated": int(len(gen["showers"])),
           "separation_power": sep, "separation_power_err": sep_err, "auc": project.get("auc", float("nan")),
           "auc_err": project.get("auc_err", float("nan")), "auc_floor": project.get("floor", float("nan")),
           "auc_features": "voxels" if geometry.n_cells <= MAX_VOXEL_FEATURES else "rings",
           "classifiers": classifiers, "S_E_total_over_E_inc": sep["E_total/E_inc"],
           "S_E_total_over_E_inc_err": sep_err["E_total/E_inc"],
           "worst_observable": {"name": worst, "S": sep[worst], "S_err": sep_err.get(worst, float("nan"))},
           "uncertainty": ("classifiers: mean ± standard error of the AUC over k folds (its spread over folds: "
                           "_std), beside the floor of reference half A against reference half B; separation "
                           "powers: bootstrap standard errors over showers with the histogram edges kept; the "
                           "voxel-energy spectrum's S has none"),
           "response_reference": response(ref), "response_generated": response(gen),
           "negative_cells_fraction": negative}
    from .words import shower_words

    out["in_words"] = shower_words(out)
    return out


def shower_validation(run, ds, *, seed: int = 0) -> dict[str, Any]:
    """CaloChallenge-style comparison of ``run``'s generated showers with the reference showers of ``ds`` (rows
    of a shower file in any known layout) at the same incident energies (and particles)."""
    from .files import read_showers

    from ...analysis.quality import check_rows

    check_rows(len(ds), len(ds), "the shower validation", ("reference", "generated"))
    ref = read_showers(ds.source)
    if ref["geometry"] is None:
        raise DataError(f"{ds.source}: {ref['geometry_missing']}")
    index = ds.info.get("index", np.arange(len(ds)))
    ref.update({k: ref[k][index] for k in ("showers", "incident_energies", "conditions")})
    cond = ds.cond if run.conditional else None
    showers = run.sample(len(ds), cond, seed=seed, layout="model")
    unit = run.data_info.get("energy_unit")  # the unit the run generates in: its training file's
    if unit and unit != ref["energy_unit"]:  # a reference in another unit: compare like with like
        from .files import to_gev

        ratio = to_gev(np.asarray(1.0), unit) / to_gev(np.asarray(1.0), ref["energy_unit"])
        showers = (showers * ratio).astype(np.float32)
    gen = {"showers": showers, "incident_energies": ref["incident_energies"]}
    return validate(ref, gen, seed=seed)
