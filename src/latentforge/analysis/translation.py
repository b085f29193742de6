"""How well a translator (a CycleGAN) moves data from one domain into the other, and how much of each example it
keeps on the way:

- ``auc_before`` / ``auc_after``: held-out AUC of a classifier telling the target domain from the source data as
  they are, and from their translations (0.5: indistinguishable): the mean over k folds (``metrics.kfold_auc``)
  with its standard error (``_err``), beside ``n_source`` and ``n_target``;
- for a science domain's data, the domain's own measures in place of the generic AUCs
  (``analysis.hooks.TRANSLATION_MEASURES``: e.g. its observables before and after translation);
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
from .hooks import TRANSLATION_MEASURES

OTHER = {"a_to_b": "b_to_a", "b_to_a": "a_to_b"}


def domain_auc(source: np.ndarray, target: np.ndarray, *, seed: int = 0) -> tuple[float, float]:
    """Held-out AUC of gradient-boosted trees telling ``target`` rows from ``source`` rows (flattened values):
    the mean over k folds (``metrics.held_out_auc``) and its standard error."""
    from .metrics import held_out_auc

    n = min(len(source), len(target))
    x = np.concatenate([np.asarray(source[:n]).reshape(n, -1), np.asarray(target[:n]).reshape(n, -1)]).astype(np.float64)
    y = np.concatenate([np.zeros(n), np.ones(n)])
    return held_out_auc(x, y, seed=seed)


def translation_report(run, source: ArrayDataset, target: ArrayDataset, *, direction: str = "a_to_b",
                       seed: int = 0) -> dict[str, Any]:
    """Translate ``source`` rows with ``run`` (``a_to_b``: source from the ``--data`` domain, target from the
    ``--data-b`` one) and compare with ``target`` rows (raw units). Returns the numbers described in the module
    docstring (and a domain's own measures, ``analysis.hooks.TRANSLATION_MEASURES``)."""
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
    own = next((m for _, m in TRANSLATION_MEASURES.items() if m.concerns(source, target)), None)
    if own is not None:
        out.update(own.measure(source, target, moved, seed=seed))
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


def translation_validation(run, full: ArrayDataset, split: str, *, seed: int = 0) -> dict[str, Any]:
    """``evaluate``'s translation numbers: ``split`` of the evaluated data (domain A) against the same seeded
    split of the run's second data set (re-read from where training found it); a domain's before / after picture
    goes into the run directory (``translation.png``)."""
    from ..io import RunLayout
    from .plots import save_figure

    source = run.select(full, split)
    target = run.select(run.data_info["data_b"]["source"], split)
    out = translation_report(run, source, target, seed=seed)
    own = next((m for _, m in TRANSLATION_MEASURES.items() if m.concerns(source, target)), None)
    if run.run_dir is not None and own is not None:
        path = RunLayout(run.run_dir).translation_plot
        save_figure(own.figure(source, target, run.translate(source), title=f"{run.name}: {split} split"), path)
        out["figure"] = str(path)
    return out
