"""The shower validation in words (``showers.validate`` adds them as ``in_words``): what the classifiers' AUCs
beside their floors, the separation powers and the response say, with their uncertainties and the rows measured on."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...analysis.readable import fmt
from .classifiers import classifier_words


def _pm(value: Any, err: Any) -> str:
    return fmt(value) + (f" ± {fmt(err)}" if isinstance(err, float) and np.isfinite(err) else "")


def shower_words(v: dict[str, Any]) -> list[str]:
    """Sentences for the result of ``showers.validate``: what the AUC, the separation powers and the responses
    say, with their uncertainties and the rows measured on."""
    n = f"{v['n_reference']} reference and {v['n_generated']} generated showers"
    lines = classifier_words(v["classifiers"]) if "classifiers" in v else []
    s_tot = _pm(v['S_E_total_over_E_inc'], v.get('S_E_total_over_E_inc_err'))
    lines += [f"Separation power S of E_total/E_inc: {s_tot} (0: identical histograms, 1: disjoint; CaloChallenge; {n}).",
              f"The observable told apart best is {v['worst_observable']['name']} with S = "
              f"{_pm(v['worst_observable']['S'], v['worst_observable'].get('S_err'))}; the median S over "
              f"{len(v['separation_power'])} observables is "
              f"{fmt(float(np.median(list(v['separation_power'].values()))))}."]
    ref, gen = v.get("response_reference") or [], v.get("response_generated") or []
    pairs = [(r, g) for r in ref for g in gen if (r["E_low"], r["E_high"]) == (g["E_low"], g["E_high"])]
    if pairs:
        worst = max(pairs, key=lambda p: abs(p[1]["response"] / p[0]["response"] - 1))
        r, g = worst
        lines.append(f"Response E_total/E_inc in {len(pairs)} bins of incident energy: generated over reference is "
                     f"{fmt(g['response'] / r['response'])} at worst (incident energy {fmt(r['E_low'])} to "
                     f"{fmt(r['E_high'])} {r['unit']}: {fmt(g['response'])} against {fmt(r['response'])}, "
                     f"resolution {fmt(g['resolution'])} against {fmt(r['resolution'])}).")
    if v.get("negative_cells_fraction"):
        lines.append(f"{100 * v['negative_cells_fraction']:.1f} % of the generated cells were negative and were read "
                     "out as zero before these numbers (a cell deposits no negative energy; a non-negative "
                     "likelihood or the fractions-response scaling avoids them).")
    return lines
