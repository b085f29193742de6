"""The shower validation's classifier tests side by side, each with its floor (``showers.validate`` adds them as
``classifiers``):

- ``project``: the project's classifier, gradient-boosted trees on log10 cell (or ring) shares of E_inc, log10
  E_inc and every observable (``showers.project_classifier``);
- ``calochallenge_low_level``: the CaloChallenge's DNN on linear voxels / E_inc (``calo_dnn``);
- ``calochallenge_high_level``: the CaloChallenge's DNN on its high-level features (``calo_dnn``).

Rows: the reference showers are split at random (seeded) into halves A and B. Each classifier tells reference half
A from generated showers at half B's incident energies (the generated rows made at B's rows' conditions when the
generated set is paired row by row with the reference, as ``evaluate`` makes it; else a seeded subset of as many
generated rows), and, as its **floor**, reference half A from reference half B: what a generator
indistinguishable from the reference would score with this many showers (the simulator against itself when the
reference is simulated). Both sides hold the same rows of half A, at most ``MAX_PER_SIDE``.

Errors: every AUC is the mean over k folds (``metrics.kfold_auc``) with its standard error (``_err``: standard
deviation of the fold AUCs over sqrt(k)) and the fold spread (``_std``). A classifier that cannot run on so few
rows is reported with its reason under ``skipped``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .geometry import ShowerGeometry
from ...errors import DataError
from .calo_dnn import EPOCHS, dnn_auc
from ...analysis.metrics import FOLDS

#: showers per side at most (a seeded subset beyond): the DNN's cost grows with rows x cells
MAX_PER_SIDE = 5000
#: the classifiers, in the order they are reported, with their names in words
NAMES = {"project": "the project's classifier (gradient-boosted trees on log10 cell shares and observables)",
         "calochallenge_low_level": "the CaloChallenge's low-level DNN classifier (linear voxels / E_inc)",
         "calochallenge_high_level": "the CaloChallenge's high-level DNN classifier (layer energies, centres of "
                                     "energy and widths, sparsity, E_total)"}
KEEP = ("auc", "auc_err", "auc_std", "fold_aucs")
FLOOR = {"auc": "floor", "auc_err": "floor_err", "auc_std": "floor_std", "fold_aucs": "floor_fold_aucs"}


def _sides(ref: dict, gen: dict, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Row numbers of reference half A, reference half B and the generated rows, and whether they are paired."""
    n_ref, n_gen = len(ref["showers"]), len(gen["showers"])
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_ref)
    n = min(n_ref // 2, MAX_PER_SIDE)
    a, b = perm[:n], perm[n_ref // 2:][:n]
    paired = n_gen == n_ref and np.array_equal(np.asarray(ref["incident_energies"]).reshape(-1),
                                                np.asarray(gen["incident_energies"]).reshape(-1))
    g = b if paired else np.sort(rng.permutation(n_gen)[:min(n, n_gen)])
    return a, b, g, paired


def _run(name: str, one: tuple, two: tuple, geometry, unit, seed, folds, epochs, project) -> dict[str, Any]:
    """Classifier ``name`` on sets ``one`` and ``two`` (showers, incident energies): its k-fold dict."""
    if name == "project":
        return project(one[0], two[0], one[1], two[1], geometry, seed=seed, folds=folds)
    kind = "low" if name == "calochallenge_low_level" else "high"
    return dnn_auc(one[0], two[0], one[1], two[1], unit=unit, features=kind, geometry=geometry, folds=folds,
                   epochs=epochs, seed=seed)


def _describe(name: str, test: dict, epochs: int) -> dict[str, Any]:
    if name == "project":
        return {"classifier": "scikit-learn HistGradientBoostingClassifier, 200 trees",
                "features": f"log10 {test['kind']} shares of E_inc, log10 E_inc, every observable (standardised)"}
    return {"classifier": f"the CaloChallenge's DNN (3 x 512 LeakyReLU, Adam 2e-4, best validation epoch of at most "
                          f"{epochs})", "features": test["features"], "epochs": epochs}


def classifier_comparison(ref: dict, gen: dict, geometry: ShowerGeometry, *, unit: str = "MeV", seed: int = 0,
                          folds: int = FOLDS, dnn_epochs: int = EPOCHS, floors: dict | None = None,
                          project: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """The three classifiers of the module docstring on ``ref`` and ``gen`` (dicts with ``showers`` (N, cells)
    and ``incident_energies`` (N, 1), both in ``unit``): {name: {"auc", "auc_err", "auc_std", "fold_aucs",
    "floor", "floor_err", "floor_std", "floor_fold_aucs", "classifier", "features"}, "n_per_side", "folds",
    "pairing", "skipped": {name: reason}}. ``dnn_epochs``: the DNNs' epochs at most (the challenge's 50).
    ``floors``: the result of an earlier call on the same reference with the same seed and folds (another
    generator's), whose floors are reused instead of measured again (they depend on the reference alone).
    ``project``: the project's classifier, ``showers.project_classifier`` (``showers.validate`` passes it; None
    leaves it out)."""
    a, b, g, paired = _sides(ref, gen, seed)
    n = int(min(len(a), len(g)))
    reuse = floors if floors and floors.get("n_per_side") == n and floors.get("folds") == folds else {}
    out: dict[str, Any] = {
        "n_per_side": n, "folds": folds,
        "pairing": ("reference half A against the generated showers made at reference half B's conditions; floor: "
                    "half A against half B" if paired else
                    "reference half A against a seeded subset of the generated showers; floor: half A against half B")}
    s, e, gs, ge = ref["showers"], ref["incident_energies"], gen["showers"], gen["incident_energies"]
    skipped = {}
    for name in NAMES:
        if name == "project" and project is None:
            continue
        try:
            test = _run(name, (s[a], e[a]), (gs[g], ge[g]), geometry, unit, seed, folds, dnn_epochs, project)
            if name in reuse:
                floor = {k: reuse[name][FLOOR[k]] for k in KEEP}
            else:
                floor = _run(name, (s[a], e[a]), (s[b], e[b]), geometry, unit, seed, folds, dnn_epochs, project)
        except DataError as err:
            skipped[name] = str(err)
            continue
        out[name] = {**{k: test[k] for k in KEEP}, **{FLOOR[k]: floor[k] for k in KEEP},
                     **_describe(name, test, dnn_epochs)}
    if skipped:
        out["skipped"] = skipped
    return out


def classifier_words(c: dict[str, Any]) -> list[str]:
    """One sentence per classifier of ``classifier_comparison``'s result, with its floor and errors."""
    from ...analysis.readable import fmt

    def pm(v: float, e: float) -> str:
        return f"{fmt(v)} ± {fmt(e)}"

    lines = []
    for name, what in NAMES.items():
        r = c.get(name)
        if r is None:
            if name in c.get("skipped", {}):
                lines.append(f"{what[0].upper()}{what[1:]}: not run ({c['skipped'][name]}).")
            continue
        lines.append(f"{what[0].upper()}{what[1:]} tells generated from reference showers with k-fold held-out AUC "
                     f"{pm(r['auc'], r['auc_err'])}; floor, reference against reference: "
                     f"{pm(r['floor'], r['floor_err'])} (mean ± standard error over {c['folds']} folds, fold spread "
                     f"{fmt(r['auc_std'])} / {fmt(r['floor_std'])}; {c['n_per_side']} showers a side; 0.5: "
                     "indistinguishable, 1: always told apart).")
    return lines
